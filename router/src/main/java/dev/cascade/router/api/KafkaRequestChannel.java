package dev.cascade.router.api;

import dev.cascade.router.topology.CascadeTopology;
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
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The front door's Kafka side: produces requests to the requests topic and picks this instance's
 * responses off the responses topic.
 *
 * <p>Replies: one consumer per front-door instance, {@code read_committed} (so it sees only
 * responses the router committed, exactly one per request), <em>assigned</em> every partition of
 * the responses topic from its end at start-up, with no consumer group. It keeps only responses
 * whose {@code reply_to} is this instance's id and whose request id and {@code created_at_ms}
 * match a call still waiting here, and ignores the rest. Why not a consumer group: a group would
 * split the partitions between instances, so an instance would receive other instances' replies
 * and miss its own (the response's partition follows its request id, not its waiting instance).
 * Why it takes none of the others' replies: {@code reply_to} names the one instance whose caller
 * waits, so each response reaches at most one caller, and a response nobody waits for any more
 * (its deadline passed, its caller left) reaches nobody; it stays on the topic for Kafka clients.
 * Nothing is committed: a restarted instance has no callers waiting, so it starts from the end.
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
  private final byte[] instanceIdBytes;
  private final Thread reader;
  private final CountDownLatch readerStopped = new CountDownLatch(1);
  private volatile boolean running = true;
  private volatile boolean readerHealthy = true;

  private KafkaRequestChannel(String instanceId, String requestsTopic, String responsesTopic,
      KafkaProducer<String, CascadeRequest> producer, KafkaConsumer<byte[], byte[]> consumer) {
    this.instanceId = instanceId;
    this.instanceIdBytes = instanceId.getBytes(java.nio.charset.StandardCharsets.UTF_8);
    this.responsesTopic = responsesTopic;
    this.requestsTopic = requestsTopic;
    this.producer = producer;
    this.consumer = consumer;
    this.reader = new Thread(this::readReplies, "front-door-replies-" + instanceId);
    this.reader.setDaemon(true);
  }

  /**
   * Connects, positions the reply consumer at the end of every partition of {@code responsesTopic}
   * and {@code deadLettersTopic} (so no reply to a call made after this returns can be missed) and
   * starts reading. A request of this instance's that the router dead-letters (a duplicate id, a
   * prompt the router refuses) fails its call with the router's reason instead of leaving it to
   * time out.
   *
   * @param clientProps bootstrap servers and Kafka client overrides
   * @throws IllegalStateException if a topic does not exist
   */
  static KafkaRequestChannel start(Map<String, Object> clientProps, String requestsTopic, String responsesTopic,
      String deadLettersTopic) {
    String instanceId = "front-door-" + UUID.randomUUID();
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
      for (String topic : List.of(responsesTopic, deadLettersTopic)) {
        List<PartitionInfo> infos = consumer.partitionsFor(topic, Duration.ofSeconds(30));
        if (infos == null || infos.isEmpty()) {
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
    KafkaRequestChannel channel = new KafkaRequestChannel(instanceId, requestsTopic, responsesTopic, producer,
        consumer);
    channel.reader.start();
    return channel;
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
    if (record.value() == null) {
      return;
    }
    if (!record.topic().equals(responsesTopic)) {
      refused(record);
      return;
    }
    // Another instance's reply, told by its header without decoding it (records written before
    // the header existed carry none and are decoded as before).
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
