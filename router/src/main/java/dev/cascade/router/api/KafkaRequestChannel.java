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
 * there are. No other instance reads the topic (its name holds this instance's random id, and it
 * is created here or the start fails), and routers write to it only the replies to requests sent
 * from here. So when the instance closes, once every request it sent has had its reply (response
 * or dead-letter copy) read back here, nothing will be written to the topic any more, and it is
 * deleted. While a request is still unanswered it is kept: a router may still write that late
 * reply, and a write to a deleted topic would stall its stream thread or re-create the topic. The
 * topic of an instance that stopped so, or was killed, is deleted by another front door's {@link
 * ReplyTopicReaper} once it has gone unread and unwritten for the grace. A failed start deletes the
 * topic it created.
 *
 * <p>While it runs, the instance is a member of the consumer group named after its reply topic
 * ({@link ReplyTopicMembership}), and its id says so ({@link ReplyTopics#MEMBER_ID_PREFIX}): that
 * membership is how the reapers tell its topic from an orphan. Should its topic be deleted all the
 * same (the instance cut off from the brokers for longer than the grace), the reaper in this
 * process re-creates it ({@link #recreateReplyTopic()}) and the reader reads it from its start.
 *
 * <p>Replies, {@code front-door.replies=shared}: one consumer <em>assigned</em> every partition
 * of the responses and dead-letter topics; it skips replies whose {@code cascade.reply-to} header
 * names another instance without decoding them, but still fetches them, so its cost grows with the
 * number of instances. The router replies there to an instance that has no reply topic.
 *
 * <p>Either way: one reader per front-door instance, {@code read_committed} (so it sees only
 * responses the router committed, exactly one per request), from the end at start-up, with no
 * consumer group (a shared group would split the partitions between instances, so an instance
 * would miss its own replies; the membership above is a group of one that reads nothing). It
 * keeps only responses whose {@code reply_to} is this instance's id and whose request id and
 * {@code created_at_ms} match a call still waiting here; a response nobody
 * waits for any more (its deadline passed, its caller left) reaches nobody. Nothing is committed:
 * a restarted instance has a new id and no callers waiting.
 */
final class KafkaRequestChannel implements RequestChannel {

  private static final Logger LOG = LoggerFactory.getLogger(KafkaRequestChannel.class);

  private record Waiting(long createdAtMs, CompletableFuture<CascadeResponse> response) {}

  /**
   * The longest the producer waits in a send for the requests topic's metadata (or for buffer
   * space), its {@code max.block.ms} unless {@code kafka.max.block.ms} sets one. Kafka's default is
   * 60 s, and a producer that has lost every broker forgets the topic's metadata: a send that waits
   * this long means Kafka is gone, and its call (with those queued behind it) is answered so.
   */
  static final Duration SEND_BLOCK = Duration.ofSeconds(5);

  private final String instanceId;
  private final KafkaProducer<String, CascadeRequest> producer;
  /** Sends the requests from a thread of its own: a caller never waits on the producer. */
  private final RequestSender sender;
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
  /**
   * Requests submitted (less those known never to have been written: see {@link RequestSender}),
   * and replies to them read back.
   */
  private final AtomicLong sent = new AtomicLong();
  private final AtomicLong replies = new AtomicLong();
  /** Orders a submit's check of {@code accepting}, its count in {@code sent} and its hand-over to the sender before close's count. */
  private final Object sending = new Object();
  private final Map<String, Object> clientProps;
  /** This instance's own reply topic; null in shared mode. */
  private final String replyTopic;
  /** The reply topics' prefix ({@code topic.reply-prefix}); null in shared mode. */
  private final String replyPrefix;
  /** Keeps this instance in its reply topic's consumer group; null in shared mode. */
  private final ReplyTopicMembership membership;
  /** Set when the reply topic was re-created: the reader reads it again from its start. */
  private volatile boolean rewind;
  private final byte[] instanceIdBytes;
  private final Thread reader;
  private final CountDownLatch readerStopped = new CountDownLatch(1);
  /** Takes requests; false once close() has begun. */
  private volatile boolean accepting = true;
  /** The reply reader reads on; false once close() has drained the replies it waits for. */
  private volatile boolean running = true;
  private volatile boolean readerHealthy = true;

  private KafkaRequestChannel(String instanceId, String requestsTopic, String responsesTopic, String replyTopic,
      String replyPrefix, ReplyTopicMembership membership, KafkaProducer<String, CascadeRequest> producer,
      KafkaConsumer<byte[], byte[]> consumer, Map<String, Object> clientProps) {
    this.clientProps = Map.copyOf(clientProps);
    this.instanceId = instanceId;
    this.replyTopic = replyTopic;
    this.replyPrefix = replyPrefix;
    this.membership = membership;
    this.instanceIdBytes = instanceId.getBytes(java.nio.charset.StandardCharsets.UTF_8);
    this.responsesTopic = responsesTopic;
    this.producer = producer;
    this.consumer = consumer;
    this.reader = new Thread(this::readReplies, "front-door-replies-" + instanceId);
    this.reader.setDaemon(true);
    this.sender = new RequestSender(producer, requestsTopic, "front-door-requests-" + instanceId,
        sent::decrementAndGet);
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
   * instance's reply topic, {@code replyPrefix + instance id}, reads only that, and joins the
   * consumer group of the same name for as long as it runs ({@link ReplyTopicMembership}).
   *
   * @param replyPrefix the reply topics' prefix ({@code topic.reply-prefix}); null: shared mode
   * @throws IllegalStateException if a topic does not exist, or the reply topic cannot be created
   */
  static KafkaRequestChannel start(Map<String, Object> clientProps, String requestsTopic, String responsesTopic,
      String deadLettersTopic, String replyPrefix) {
    String instanceId = ReplyTopics.newInstanceId();
    String replyTopic = replyPrefix == null ? null : ReplyTopics.topicName(replyPrefix, instanceId);
    if (replyTopic != null) {
      createReplyTopic(clientProps, responsesTopic, replyPrefix, replyTopic);
    }
    Map<String, Object> producerProps = new HashMap<>(clientProps);
    producerProps.put(ProducerConfig.ACKS_CONFIG, "all");
    producerProps.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    producerProps.put(ProducerConfig.LINGER_MS_CONFIG, 1);
    producerProps.put(ProducerConfig.CLIENT_ID_CONFIG, instanceId + "-requests");
    producerProps.putIfAbsent(ProducerConfig.MAX_BLOCK_MS_CONFIG, (int) SEND_BLOCK.toMillis());
    Map<String, Object> consumerProps = new HashMap<>(clientProps);
    consumerProps.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    consumerProps.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    consumerProps.put(ConsumerConfig.CLIENT_ID_CONFIG, instanceId + "-replies");
    consumerProps.remove(ConsumerConfig.GROUP_ID_CONFIG);
    KafkaProducer<String, CascadeRequest> producer = new KafkaProducer<>(producerProps, new StringSerializer(),
        CascadeSerdes.requests().serializer());
    KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(consumerProps, new ByteArrayDeserializer(),
        new ByteArrayDeserializer());
    ReplyTopicMembership membership = null;
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
      if (replyTopic != null) {
        membership = ReplyTopicMembership.start(clientProps, replyTopic, instanceId);
      }
    } catch (RuntimeException e) {
      if (membership != null) {
        membership.close();
      }
      consumer.close();
      producer.close();
      if (replyTopic != null) {
        deleteReplyTopic(clientProps, replyTopic, instanceId); // nothing was sent: nothing will be written to it
      }
      throw e;
    }
    KafkaRequestChannel channel = new KafkaRequestChannel(instanceId, requestsTopic, responsesTopic, replyTopic,
        replyPrefix, membership, producer, consumer, clientProps);
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
    synchronized (sending) {
      if (accepting) {
        // Counted before it is sent: close() keeps the reply topic while a request counted here has no reply.
        sent.incrementAndGet();
        sender.send(stamped, response); // returns at once: the caller's wait starts now
        return response;
      }
    }
    response.completeExceptionally(new IllegalStateException("the front door is closed"));
    return response;
  }

  private void readReplies() {
    try {
      while (running) {
        try {
          if (rewind) {
            rewind = false;
            consumer.seekToBeginning(consumer.assignment());
          }
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
    if (replyTopic != null) {
      replies.incrementAndGet(); // on its own topic, every record is the one reply to a request of its own
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

  /** Requests sent from this instance whose reply has not been read back (own-topic mode; 0 in shared mode). */
  long unanswered() {
    return replyTopic == null ? 0 : sent.get() - replies.get();
  }

  /** How long close() waits for the replies to requests still unanswered, reading on. */
  static final Duration REPLY_DRAIN = Duration.ofSeconds(5);

  /**
   * Stops: new requests are refused; in own-topic mode the reader reads on for up to {@link
   * #REPLY_DRAIN} while requests sent from here are unanswered; calls still waiting then fail.
   * Then the reply topic is deleted if every request sent from here has had its reply (nothing
   * will be written to it any more), and kept, with a log line, if not.
   */
  @Override
  public void close() {
    close(REPLY_DRAIN);
  }

  /**
   * No reply read for, and the reply topic kept for the other front doors' reapers, with a log
   * line: deleting it could only time out.
   */
  @Override
  public void closeClusterLost() {
    close(Duration.ZERO, true);
  }

  void close(Duration drain) {
    close(drain, false);
  }

  private void close(Duration drain, boolean clusterLost) {
    synchronized (sending) {
      if (!accepting) {
        return;
      }
      accepting = false;
    }
    long deadline = System.nanoTime() + drain.toNanos();
    while (unanswered() > 0 && System.nanoTime() < deadline && reader.isAlive()) {
      try {
        Thread.sleep(20);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
    }
    running = false;
    consumer.wakeup();
    try {
      readerStopped.await(10, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    sender.close(); // before the producer: what it has not sent never is
    producer.close(Duration.ofSeconds(5));
    for (Waiting w : List.copyOf(waiting.values())) {
      w.response().completeExceptionally(new IllegalStateException("the front door is shutting down"));
    }
    if (replyTopic == null) {
      return;
    }
    membership.close();
    long unanswered = unanswered();
    if (clusterLost) {
      LOG.info("front door {} keeps its reply topic {}: the Kafka cluster is not answering, so it cannot be deleted"
          + " now; the other front doors' reapers delete it once it has gone unwritten for"
          + " front-door.reply-topic-reaper.grace-ms (README, \"Front-door replies\")", instanceId, replyTopic);
    } else if (unanswered > 0) {
      LOG.info("front door {} keeps its reply topic {}: {} of the requests it sent have had no reply, which a router"
          + " may still write there; the other front doors' reapers delete it once it has gone unwritten for"
          + " front-door.reply-topic-reaper.grace-ms (README, \"Front-door replies\")", instanceId, replyTopic,
          unanswered);
    } else {
      deleteReplyTopic(clientProps, replyTopic, instanceId);
    }
  }

  /**
   * Creates this instance's reply topic again, found missing while the instance runs (deleted by a
   * reaper while this instance was cut off from the brokers for longer than the grace, or by hand):
   * without it the routers answer this instance on the shared topic, which it does not read, so
   * every call would time out. The reader then reads the new topic from its start. Nothing once
   * the instance is closing, nor in shared mode; a topic that exists after all is left as it is.
   *
   * @return whether the topic was created
   */
  boolean recreateReplyTopic() {
    if (replyTopic == null || !accepting) {
      return false;
    }
    try {
      createReplyTopic(clientProps, responsesTopic, replyPrefix, replyTopic);
    } catch (IllegalStateException e) {
      if (!(e.getCause() instanceof org.apache.kafka.common.errors.TopicExistsException)) {
        LOG.warn("front door {} cannot re-create its reply topic {}: {}", instanceId, replyTopic, e.getMessage());
      }
      return false;
    }
    rewind = true;
    LOG.warn("front door {}: its reply topic {} was gone (deleted while this instance was not a member of its consumer"
        + " group for longer than front-door.reply-topic-reaper.grace-ms, or by hand); re-created it: replies to"
        + " requests sent before may be lost", instanceId, replyTopic);
    return true;
  }

  /** Deletes {@code topic}; a failure is logged, not thrown. */
  private static void deleteReplyTopic(Map<String, Object> clientProps, String topic, String instanceId) {
    Admin admin = null;
    try {
      admin = Admin.create(clientProps);
      admin.deleteTopics(List.of(topic)).all().get(10, TimeUnit.SECONDS);
      LOG.info("front door {} deleted its reply topic {}", instanceId, topic);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      LOG.warn("front door {}: interrupted while deleting its reply topic {}; delete it by hand", instanceId, topic);
    } catch (ExecutionException e) {
      if (e.getCause() instanceof UnknownTopicOrPartitionException) {
        LOG.info("front door {}: its reply topic {} is gone already", instanceId, topic);
      } else {
        LOG.warn("front door {} could not delete its reply topic {} ({}); delete it by hand (README, \"Front-door"
            + " replies\")", instanceId, topic, e.getCause().toString());
      }
    } catch (java.util.concurrent.TimeoutException | RuntimeException e) {
      LOG.warn("front door {} could not delete its reply topic {} ({}); delete it by hand (README, \"Front-door"
          + " replies\")", instanceId, topic, e.toString());
    } finally {
      if (admin != null) {
        admin.close(Duration.ofSeconds(2));
      }
    }
  }
}
