package dev.cascade.router.api;

import dev.cascade.router.topology.CascadeTopology;
import dev.cascade.router.topology.ReplyTopics;
import dev.cascade.schemas.avro.CascadeRequest;
import dev.cascade.schemas.avro.CascadeResponse;
import dev.cascade.schemas.avro.DeadLetter;
import dev.cascade.schemas.serde.CascadeSerdes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The front door's Kafka side: produces requests to the requests topic and picks this instance's
 * responses off its reply topic (or, in shared mode, off the responses topic).
 *
 * <p>Replies, {@code front-door.replies=own-topic} (the default): at start this instance creates a
 * reply topic of its own, {@code <topic.reply-prefix><instance id>}, with one partition and the
 * responses topic's replication factor and topic settings (retention and so on), and reads only
 * that. The router writes the response to a request whose {@code reply_to} is this instance's id
 * there, and a copy of the dead letter of such a request (marked by the {@code
 * cascade.dead-letter} header), in the same transaction as the rest of its output (see {@code
 * ReplyTopics}). So the reader fetches and decodes only its own replies, however many instances
 * there are. The topic is not deleted when the instance stops (a router may still be writing a
 * late reply to it, and a write to a deleted topic would stall its stream thread or re-create the
 * topic): the records in it expire with its retention, and the empty topics of instances that are
 * gone are for the operator to delete (README, "Front-door replies").
 *
 * <p>Replies, {@code front-door.replies=shared}: one consumer <em>assigned</em> every partition
 * of the responses and dead-letter topics; it skips replies whose {@code cascade.reply-to} header
 * names another instance without decoding them, but still fetches them, so its cost grows with the
 * number of instances. The router replies there to an instance that has no reply topic.
 *
 * <p>Either way: one consumer per front-door instance, {@code read_committed} (so it sees only
 * responses the router committed, exactly one per request), from the end at start-up, with no
 * consumer group (a group would split the partitions between instances, so an instance would
 * miss its own replies). It keeps only responses whose {@code reply_to} is this instance's id and
 * whose request id and {@code created_at_ms} match a call still waiting here; a response nobody
 * waits for any more (its deadline passed, its caller left) reaches nobody. Nothing is committed:
 * a restarted instance has a new id and no callers waiting.
 */
final class KafkaRequestChannel implements RequestChannel {

  private static final Logger LOG = LoggerFactory.getLogger(KafkaRequestChannel.class);

  private record Waiting(long createdAtMs, CompletableFuture<CascadeResponse> response) {}

  private final String instanceId;
  private final String requestsTopic;
  private final KafkaProducer<String, CascadeRequest> producer;
  private final KafkaConsumer<byte[], byte[]> consumer;
  private final Deserializer<CascadeResponse> responses = CascadeSerdes.responses().deserializer();
  private final Deserializer<DeadLetter> deadLetters = CascadeSerdes.deadLetters().deserializer();
  private final Deserializer<CascadeRequest> requests = CascadeSerdes.requests().deserializer();
  private final String responsesTopic;
  private final Map<String, Waiting> waiting = new ConcurrentHashMap<>();
  private final AtomicLong lastCreatedAtMs = new AtomicLong();
  private final AtomicLong delivered = new AtomicLong();
  private final AtomicLong unclaimed = new AtomicLong();
  private final AtomicLong skipped = new AtomicLong();
  private final AtomicLong read = new AtomicLong();
  /** This instance's own reply topic; null in shared mode. */
  private final String replyTopic;
  private final byte[] instanceIdBytes;
  private final Thread reader;
  private final CountDownLatch readerStopped = new CountDownLatch(1);
  private volatile boolean running = true;
  private volatile boolean readerHealthy = true;

  private KafkaRequestChannel(String instanceId, String requestsTopic, String responsesTopic, String replyTopic,
      KafkaProducer<String, CascadeRequest> producer, KafkaConsumer<byte[], byte[]> consumer) {
    this.instanceId = instanceId;
    this.replyTopic = replyTopic;
    this.instanceIdBytes = instanceId.getBytes(java.nio.charset.StandardCharsets.UTF_8);
    this.responsesTopic = responsesTopic;
    this.requestsTopic = requestsTopic;
    this.producer = producer;
    this.consumer = consumer;
    this.reader = new Thread(this::readReplies, "front-door-replies-" + instanceId);
    this.reader.setDaemon(true);
  }

  /**
   * Connects in shared mode ({@code front-door.replies=shared}): positions the reply consumer at
   * the end of every partition of {@code responsesTopic} and {@code deadLettersTopic} (so no reply
   * to a call made after this returns can be missed) and starts reading. A request of this
   * instance's that the router dead-letters (a duplicate id, a prompt the router refuses) fails its
   * call with the router's reason instead of leaving it to time out.
   *
   * @param clientProps bootstrap servers and Kafka client overrides
   * @throws IllegalStateException if a topic does not exist
   */
  static KafkaRequestChannel start(Map<String, Object> clientProps, String requestsTopic, String responsesTopic,
      String deadLettersTopic) {
    return start(clientProps, requestsTopic, responsesTopic, deadLettersTopic, null);
  }

  /**
   * As above, but with a {@code replyPrefix} ({@code front-door.replies=own-topic}): creates this
   * instance's reply topic, {@code replyPrefix + instance id}, and reads only that.
   *
   * @param replyPrefix the reply topics' prefix ({@code topic.reply-prefix}); null: shared mode
   * @throws IllegalStateException if a topic does not exist, or the reply topic cannot be created
   */
  static KafkaRequestChannel start(Map<String, Object> clientProps, String requestsTopic, String responsesTopic,
      String deadLettersTopic, String replyPrefix) {
    String instanceId = ReplyTopics.INSTANCE_ID_PREFIX + UUID.randomUUID();
    String replyTopic = replyPrefix == null ? null : ReplyTopics.topicName(replyPrefix, instanceId);
    if (replyTopic != null) {
      createReplyTopic(clientProps, responsesTopic, replyPrefix, replyTopic);
    }
    Map<String, Object> producerProps = new HashMap<>(clientProps);
    producerProps.put(ProducerConfig.ACKS_CONFIG, "all");
    producerProps.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    producerProps.put(ProducerConfig.LINGER_MS_CONFIG, 1);
    producerProps.put(ProducerConfig.CLIENT_ID_CONFIG, instanceId + "-requests");
    Map<String, Object> consumerProps = new HashMap<>(clientProps);
    consumerProps.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    consumerProps.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    consumerProps.put(ConsumerConfig.CLIENT_ID_CONFIG, instanceId + "-replies");
    consumerProps.remove(ConsumerConfig.GROUP_ID_CONFIG);
    KafkaProducer<String, CascadeRequest> producer = new KafkaProducer<>(producerProps, new StringSerializer(),
        CascadeSerdes.requests().serializer());
    KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(consumerProps, new ByteArrayDeserializer(),
        new ByteArrayDeserializer());
    try {
      List<TopicPartition> partitions = new ArrayList<>();
      List<String> topics = replyTopic == null ? List.of(responsesTopic, deadLettersTopic) : List.of(replyTopic);
      for (String topic : topics) {
        List<PartitionInfo> infos = partitionsOf(consumer, topic, replyTopic == null ? Duration.ZERO
            : Duration.ofSeconds(30));
        if (infos.isEmpty()) {
          throw new IllegalStateException("topic '" + topic + "' does not exist");
        }
        infos.forEach(p -> partitions.add(new TopicPartition(topic, p.partition())));
      }
      consumer.assign(partitions);
      consumer.seekToEnd(partitions);
      partitions.forEach(consumer::position);
    } catch (RuntimeException e) {
      consumer.close();
      producer.close();
      throw e;
    }
    KafkaRequestChannel channel = new KafkaRequestChannel(instanceId, requestsTopic, responsesTopic, replyTopic,
        producer, consumer);
    LOG.info("front door {} reads its replies from {}", instanceId, replyTopic != null ? "its own topic " + replyTopic
        : "the shared topics " + responsesTopic + " and " + deadLettersTopic + " (front-door.replies=shared)");
    channel.reader.start();
    return channel;
  }

  /**
   * The partitions of {@code topic}; a topic just created may take a moment to show in the
   * metadata of the broker asked, so it is asked again for up to {@code wait}.
   */
  private static List<PartitionInfo> partitionsOf(KafkaConsumer<byte[], byte[]> consumer, String topic,
      Duration wait) {
    long deadline = System.nanoTime() + wait.toNanos();
    while (true) {
      List<PartitionInfo> infos = consumer.partitionsFor(topic, Duration.ofSeconds(30));
      if ((infos != null && !infos.isEmpty()) || System.nanoTime() >= deadline) {
        return infos == null ? List.of() : infos;
      }
      try {
        Thread.sleep(100);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return List.of();
      }
    }
  }

  /**
   * Creates {@code replyTopic}: one partition, and the responses topic's replication factor and
   * topic-level settings (those set on it, not the broker's defaults).
   */
  private static void createReplyTopic(Map<String, Object> clientProps, String responsesTopic, String replyPrefix,
      String replyTopic) {
    try (Admin admin = Admin.create(clientProps)) {
      TopicDescription responses;
      try {
        responses = admin.describeTopics(List.of(responsesTopic)).allTopicNames().get(30, TimeUnit.SECONDS)
            .get(responsesTopic);
      } catch (ExecutionException e) {
        if (e.getCause() instanceof UnknownTopicOrPartitionException) {
          throw new IllegalStateException("topic '" + responsesTopic + "' does not exist");
        }
        throw e;
      }
      short replication = (short) responses.partitions().get(0).replicas().size();
      Map<String, String> settings = new HashMap<>();
      ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, responsesTopic);
      try {
        Config config = admin.describeConfigs(List.of(resource)).all().get(30, TimeUnit.SECONDS).get(resource);
        for (ConfigEntry entry : config.entries()) {
          if (entry.source() == ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG && entry.value() != null) {
            settings.put(entry.name(), entry.value());
          }
        }
      } catch (ExecutionException e) {
        LOG.warn("cannot read the settings of {} ({}); reply topic {} gets the broker's defaults", responsesTopic,
            e.getCause().toString(), replyTopic);
      }
      admin.createTopics(List.of(new NewTopic(replyTopic, 1, replication).configs(settings))).all()
          .get(30, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while creating reply topic " + replyTopic, e);
    } catch (ExecutionException | java.util.concurrent.TimeoutException e) {
      Throwable cause = e instanceof ExecutionException ? e.getCause() : e;
      throw new IllegalStateException("front-door.replies=own-topic: cannot create this front door's reply topic '"
          + replyTopic + "': " + cause + ". Let the front door's Kafka principal create, describe and read topics"
          + " prefixed '" + replyPrefix + "' (topic.reply-prefix) and the routers' write and describe them, or set front-door.replies=shared", cause);
    }
  }

  @Override
  public String instanceId() {
    return instanceId;
  }

  @Override
  public CompletableFuture<CascadeResponse> submit(CascadeRequest request) {
    CompletableFuture<CascadeResponse> response = new CompletableFuture<>();
    if (!running) {
      response.completeExceptionally(new IllegalStateException("the front door is closed"));
      return response;
    }
    long createdAtMs = lastCreatedAtMs.updateAndGet(last -> Math.max(System.currentTimeMillis(), last + 1));
    CascadeRequest stamped = CascadeRequest.newBuilder(request).setReplyTo(instanceId).setCreatedAtMs(createdAtMs)
        .build();
    String id = stamped.getRequestId();
    Waiting entry = new Waiting(createdAtMs, response);
    if (waiting.putIfAbsent(id, entry) != null) {
      response.completeExceptionally(new DuplicateRequestException(id));
      return response;
    }
    // However the wait ends (answer, deadline, cancellation, send failure), it stops waiting here.
    response.whenComplete((r, e) -> waiting.remove(id, entry));
    try {
      producer.send(new ProducerRecord<>(requestsTopic, id, stamped), (metadata, e) -> {
        if (e != null) {
          response.completeExceptionally(e);
        }
      });
    } catch (RuntimeException e) {
      response.completeExceptionally(e);
    }
    return response;
  }

  private void readReplies() {
    try {
      while (running) {
        try {
          for (ConsumerRecord<byte[], byte[]> record : consumer.poll(Duration.ofMillis(200))) {
            accept(record);
          }
          readerHealthy = true;
        } catch (WakeupException e) {
          if (running) {
            LOG.error("reply consumer of {} woken unexpectedly; reading on", instanceId, e);
          }
        } catch (RuntimeException e) {
          // Health says NOT_SERVING until a poll succeeds again; the consumer keeps its positions.
          if (readerHealthy) {
            LOG.error("reply consumer of {} failed; retrying every second, health NOT_SERVING meanwhile", instanceId, e);
          }
          readerHealthy = false;
          Thread.sleep(1_000);
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (Throwable e) {
      readerHealthy = false;
      LOG.error("reply reader of {} died; health NOT_SERVING, waiting calls will time out", instanceId, e);
    } finally {
      consumer.close(Duration.ofSeconds(5));
      readerStopped.countDown();
    }
  }

  private void accept(ConsumerRecord<byte[], byte[]> record) {
    read.incrementAndGet();
    if (record.value() == null) {
      return;
    }
    boolean deadLetter = replyTopic == null ? !record.topic().equals(responsesTopic)
        : record.headers().lastHeader(CascadeTopology.DEAD_LETTER_HEADER) != null;
    if (deadLetter) {
      refused(record);
      return;
    }
    // Another instance's reply (on the shared topic), told by its header without decoding it
    // (records written before the header existed carry none and are decoded as before).
    org.apache.kafka.common.header.Header replyTo = record.headers().lastHeader(CascadeTopology.REPLY_TO_HEADER);
    if (replyTo != null && !java.util.Arrays.equals(replyTo.value(), instanceIdBytes)) {
      skipped.incrementAndGet();
      return;
    }
    CascadeResponse response;
    try {
      response = responses.deserialize(record.topic(), record.value());
    } catch (RuntimeException e) {
      LOG.warn("undecodable record at {}-{}@{} on the responses topic: {}", record.topic(), record.partition(),
          record.offset(), e.toString());
      return;
    }
    if (!instanceId.equals(response.getReplyTo())) {
      return;
    }
    Waiting entry = waiting.get(response.getRequestId());
    if (entry != null && entry.createdAtMs() == response.getCreatedAtMs() && entry.response().complete(response)) {
      delivered.incrementAndGet();
    } else {
      unclaimed.incrementAndGet();
      LOG.debug("response to {} arrived after its caller stopped waiting; delivered to nobody", response.getRequestId());
    }
  }

  private void refused(ConsumerRecord<byte[], byte[]> record) {
    CascadeRequest request;
    DeadLetter dead;
    try {
      dead = deadLetters.deserialize(record.topic(), record.value());
      if (dead.getValue() == null) {
        return;
      }
      byte[] original = new byte[dead.getValue().remaining()];
      dead.getValue().duplicate().get(original);
      request = requests.deserialize(dead.getTopic(), original);
    } catch (RuntimeException e) {
      return; // not a request of ours (or not a request at all)
    }
    if (!instanceId.equals(request.getReplyTo())) {
      return;
    }
    Waiting entry = waiting.get(request.getRequestId());
    if (entry != null && entry.createdAtMs() == request.getCreatedAtMs()) {
      entry.response().completeExceptionally(new RefusedRequestException(dead.getStage(), dead.getReason()));
    }
  }

  /** Responses handed to a waiting call. */
  long delivered() {
    return delivered.get();
  }

  /** Responses addressed to this instance that nobody waited for any more (late ones), dropped. */
  long unclaimed() {
    return unclaimed.get();
  }

  @Override
  public boolean healthy() {
    return readerHealthy && reader.isAlive();
  }

  /** Records the reply reader has fetched, of every kind (its own replies, others', dead letters). */
  long recordsRead() {
    return read.get();
  }

  /** This instance's own reply topic, or null in shared mode. */
  String replyTopic() {
    return replyTopic;
  }

  /** Replies to other instances, skipped by their header without being decoded. */
  long skippedByHeader() {
    return skipped.get();
  }

  /** Calls waiting for their response now. */
  int waiting() {
    return waiting.size();
  }

  @Override
  public void close() {
    if (!running) {
      return;
    }
    running = false;
    consumer.wakeup();
    try {
      readerStopped.await(10, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    producer.close(Duration.ofSeconds(5));
    for (Waiting w : List.copyOf(waiting.values())) {
      w.response().completeExceptionally(new IllegalStateException("the front door is shutting down"));
    }
  }
}
