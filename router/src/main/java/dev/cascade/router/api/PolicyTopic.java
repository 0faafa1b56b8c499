package dev.cascade.router.api;

import dev.cascade.router.logging.LogLimiter;
import dev.cascade.router.policy.DeferralPolicy;
import dev.cascade.router.topology.CascadeTopology;
import dev.cascade.router.topology.PolicyRecords;
import dev.cascade.schemas.serde.CascadeSerdes;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The policy topic as a {@link PolicyStore}: the same compacted topic, key
 * {@link CascadeTopology#POLICY_KEY}, that every router instance reads as a global table. A
 * consumer (assigned, no group, from the beginning) follows it. As on the routers: a record that
 * cannot be decoded is skipped and the policy in force stays; after one that decodes but is not a
 * valid policy the configured default is in force.
 *
 * <p>A policy topic that is deleted under it is noticed at the reader's next empty poll: the
 * reader stops fetching it (the Kafka consumer would otherwise fetch it again and log a warning
 * about it about a thousand times a second), keeps the policy it has, logs one line and looks for the topic again
 * after 1 s, then 2, 4, up to {@link #MISSING_CHECK_MAX} apart, with a line at most once a minute
 * while it stays missing and one when it is back (read again from its beginning);
 * {@code cascade_policy_topic_missing} is 1 meanwhile.
 */
public final class PolicyTopic implements PolicyStore {

  private static final Logger LOG = LoggerFactory.getLogger(PolicyTopic.class);
  /** How long a write waits for the topic's metadata before it fails, never sent. */
  static final Duration SEND_MAX_BLOCK = Duration.ofSeconds(8);
  /** How long one produce request waits for the broker's answer. */
  static final Duration SEND_REQUEST_TIMEOUT = Duration.ofSeconds(7);
  /** How long after it is sent a write is retried before it fails for good. */
  static final Duration SEND_DELIVERY_TIMEOUT = Duration.ofSeconds(8);

  /** The first wait before looking for a missing topic again; doubled after each look. */
  static final Duration MISSING_CHECK_FIRST = Duration.ofSeconds(1);
  /** The longest wait between two looks for a missing topic. */
  static final Duration MISSING_CHECK_MAX = Duration.ofSeconds(10);
  /** How often a topic that stays missing is logged again. */
  static final Duration MISSING_LOG_INTERVAL = Duration.ofMinutes(1);
  /** How long one look for the topic (a metadata request when it is not in the consumer's cache) may take. */
  private static final Duration LOOK_TIMEOUT = Duration.ofSeconds(5);

  private final String topic;
  private final KafkaProducer<String, dev.cascade.schemas.avro.DeferralPolicy> producer;
  private final KafkaConsumer<byte[], byte[]> consumer;
  private final Deserializer<dev.cascade.schemas.avro.DeferralPolicy> policies = CascadeSerdes.policies().deserializer();
  private final List<Consumer<DeferralPolicy>> listeners = new CopyOnWriteArrayList<>();
  private final Object progress = new Object();
  private final Map<Integer, Long> readUpTo = new HashMap<>();
  private final Thread reader;
  private final DeferralPolicy fallback;
  private volatile DeferralPolicy current;
  private volatile long highestVersion;
  private volatile boolean running = true;
  private volatile RuntimeException failure;
  private final Object pause = new Object();
  private final LogLimiter<String> stillMissing = LogLimiter.oncePer(MISSING_LOG_INTERVAL);
  private volatile boolean missing;
  private long missingSinceNanos;
  private volatile long looks;

  private PolicyTopic(String topic, DeferralPolicy fallback,
      KafkaProducer<String, dev.cascade.schemas.avro.DeferralPolicy> producer, KafkaConsumer<byte[], byte[]> consumer) {
    this.topic = topic;
    this.fallback = fallback;
    this.current = fallback;
    this.producer = producer;
    this.consumer = consumer;
    this.reader = new Thread(this::follow, "policy-topic-reader");
    this.reader.setDaemon(true);
  }

  /**
   * Connects, reads the topic up to its end (so {@link #current()} is right from the start) and
   * keeps following it.
   *
   * @param fallback the policy in force while the topic holds none (the configured default)
   */
  public static PolicyTopic start(Map<String, Object> clientProps, String topic, DeferralPolicy fallback) {
    return start(clientProps, topic, fallback, null);
  }

  /** As above, with {@code cascade_policy_topic_missing} registered on {@code registry} (null: none). */
  static PolicyTopic start(Map<String, Object> clientProps, String topic, DeferralPolicy fallback,
      PrometheusRegistry registry) {
    Map<String, Object> producerProps = new HashMap<>(clientProps);
    producerProps.put(ProducerConfig.ACKS_CONFIG, "all");
    producerProps.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    // A write either lands or fails for good within these, so that a caller told "not written" is
    // not overruled by the producer's retries minutes later (Kafka's default gives up after 120 s).
    producerProps.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, (int) SEND_MAX_BLOCK.toMillis());
    producerProps.put(ProducerConfig.LINGER_MS_CONFIG, 0);
    producerProps.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, (int) SEND_REQUEST_TIMEOUT.toMillis());
    producerProps.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, (int) SEND_DELIVERY_TIMEOUT.toMillis());
    Map<String, Object> consumerProps = new HashMap<>(clientProps);
    consumerProps.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    consumerProps.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    consumerProps.remove(ConsumerConfig.GROUP_ID_CONFIG);
    // Looking for a deleted policy topic must not create it again (uncompacted) on a broker that
    // creates topics on demand.
    consumerProps.put(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, false);
    consumerProps.putIfAbsent(ConsumerConfig.CLIENT_ID_CONFIG, "front-door-policy-" + java.util.UUID.randomUUID());
    KafkaProducer<String, dev.cascade.schemas.avro.DeferralPolicy> producer = new KafkaProducer<>(producerProps,
        new StringSerializer(), CascadeSerdes.policies().serializer());
    KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(consumerProps, new ByteArrayDeserializer(),
        new ByteArrayDeserializer());
    PolicyTopic store = new PolicyTopic(topic, fallback, producer, consumer);
    try {
      List<PartitionInfo> infos = consumer.partitionsFor(topic, Duration.ofSeconds(30));
      if (infos == null || infos.isEmpty()) {
        throw new IllegalStateException("policy topic '" + topic + "' does not exist");
      }
      List<TopicPartition> partitions = new ArrayList<>();
      infos.forEach(p -> partitions.add(new TopicPartition(topic, p.partition())));
      consumer.assign(partitions);
      consumer.seekToBeginning(partitions);
      Map<TopicPartition, Long> end = consumer.endOffsets(partitions);
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (!caughtUp(consumer, end)) {
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException("could not read the policy topic '" + topic + "' to its end within 30 s");
        }
        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(100))) {
          store.accept(r, false);
        }
      }
    } catch (RuntimeException e) {
      consumer.close();
      producer.close();
      throw e;
    }
    if (registry != null) {
      registerMissingGauge(registry, () -> store.missing);
    }
    store.reader.start();
    return store;
  }

  /** Registers {@code cascade_policy_topic_missing}, 1 while {@code missing} says so. */
  public static void registerMissingGauge(PrometheusRegistry registry, BooleanSupplier missing) {
    GaugeWithCallback.builder().name("cascade_policy_topic_missing")
        .help("1 while the front door's policy reader finds the policy topic missing (deleted): GetPolicy and"
            + " WatchPolicy keep the last policy it read; 0 otherwise")
        .callback(cb -> cb.call(missing.getAsBoolean() ? 1 : 0)).register(registry);
  }

  /** Whether the reader found the topic missing and has not found it back yet. */
  boolean missing() {
    return missing;
  }

  /** How many times the reader has looked for the topic since it found it missing. */
  long looks() {
    return looks;
  }

  private static boolean caughtUp(KafkaConsumer<?, ?> consumer, Map<TopicPartition, Long> end) {
    for (Map.Entry<TopicPartition, Long> e : end.entrySet()) {
      if (consumer.position(e.getKey()) < e.getValue()) {
        return false;
      }
    }
    return true;
  }

  @Override
  public long highestVersion() {
    return Math.max(highestVersion, current.version());
  }

  @Override
  public DeferralPolicy current() {
    return current;
  }

  @Override
  public void publish(DeferralPolicy policy, Duration timeout) {
    if (missing) {
      // Nothing sent: the reader knows it is gone, and a write would wait for it (or, on a broker that
      // creates topics on demand, create it again uncompacted).
      throw new PolicyStoreException("the policy topic '" + topic + "' is missing (deleted?): policy version "
          + policy.version() + " not written; create it again (compacted, as the routers' start does) and retry",
          null);
    }
    long deadline = System.nanoTime() + timeout.toNanos();
    RecordMetadata written;
    try {
      // The producer fails the write for good within its block and delivery timeouts; waiting
      // that long (not the caller's timeout) makes "not written" final.
      written = producer.send(new ProducerRecord<>(topic, CascadeTopology.POLICY_KEY, PolicyRecords.toAvro(policy)))
          .get(SEND_DELIVERY_TIMEOUT.plus(SEND_MAX_BLOCK).plusSeconds(5).toNanos(), TimeUnit.NANOSECONDS);
    } catch (ExecutionException e) {
      Throwable cause = e.getCause();
      throw new PolicyStoreException("policy version " + policy.version() + " not written to " + topic + ": "
          + (cause instanceof org.apache.kafka.common.errors.TimeoutException
              ? "the broker did not take it within " + SEND_DELIVERY_TIMEOUT.toSeconds() + " s (" + cause.getMessage()
                  + "); it was not retried after that: policy get shows what is in force"
              : String.valueOf(cause)), cause);
    } catch (TimeoutException e) {
      throw new PolicyStoreException("writing policy version " + policy.version() + " to " + topic + " timed out"
          + " without an answer from the producer; it may still land: policy get shows what is in force", e);
    } catch (org.apache.kafka.common.KafkaException e) {
      // send() itself: no metadata for the topic within the block timeout, or a closed producer.
      throw new PolicyStoreException("policy version " + policy.version() + " not written to " + topic + ": " + e,
          e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new PolicyStoreException("interrupted while writing policy version " + policy.version(), e);
    }
    synchronized (progress) {
      while (readUpTo.getOrDefault(written.partition(), 0L) <= written.offset()) {
        long left = deadline - System.nanoTime();
        if (left <= 0 || failure != null) {
          throw new PolicyStoreException("policy version " + policy.version() + " was written at offset "
              + written.offset() + " but not read back within " + timeout, failure);
        }
        try {
          TimeUnit.NANOSECONDS.timedWait(progress, left);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new PolicyStoreException("interrupted while reading back policy version " + policy.version(), e);
        }
      }
    }
  }

  @Override
  public AutoCloseable subscribe(Consumer<DeferralPolicy> listener) {
    listeners.add(listener);
    return () -> listeners.remove(listener);
  }

  private void follow() {
    try {
      while (running) {
        if (missing) {
          lookForTheTopic();
          continue;
        }
        ConsumerRecords<byte[], byte[]> records = consumer.poll(Duration.ofMillis(100));
        for (ConsumerRecord<byte[], byte[]> r : records) {
          accept(r, true);
        }
        // While the topic is assigned its partitions are in the consumer's metadata: no request.
        if (records.isEmpty() && partitions().isEmpty()) {
          topicGone();
        }
      }
    } catch (WakeupException e) {
      if (running) {
        failure = e;
      }
    } catch (RuntimeException e) {
      failure = e;
      LOG.error("the policy topic reader failed; GetPolicy and WatchPolicy will not see further changes", e);
    } finally {
      consumer.close(Duration.ofSeconds(5));
      synchronized (progress) {
        progress.notifyAll();
      }
    }
  }

  /** The topic's partitions as the cluster knows them; empty when it does not exist, or cannot tell in time. */
  private List<TopicPartition> partitions() {
    List<PartitionInfo> infos;
    try {
      infos = consumer.partitionsFor(topic, LOOK_TIMEOUT);
    } catch (WakeupException | org.apache.kafka.common.errors.InterruptException e) {
      throw e;
    } catch (KafkaException e) {
      return missing ? List.of() : consumer.assignment().stream().toList(); // cannot tell: as before
    }
    List<TopicPartition> partitions = new ArrayList<>();
    if (infos != null) {
      infos.forEach(p -> partitions.add(new TopicPartition(topic, p.partition())));
    }
    return partitions;
  }

  private void topicGone() {
    missing = true;
    missingSinceNanos = System.nanoTime();
    looks = 0;
    // Unassigned, the consumer neither fetches the partitions nor asks for their metadata.
    consumer.assign(List.of());
    stillMissing.admit(topic);
    LOG.warn("the policy topic '{}' is missing (deleted?): GetPolicy and WatchPolicy keep policy version {}; looking"
        + " for the topic again after {} s, then up to {} s apart (a line at most every {} s until it is back;"
        + " cascade_policy_topic_missing is 1)", topic, current.version(),
        MISSING_CHECK_FIRST.toSeconds(), MISSING_CHECK_MAX.toSeconds(), MISSING_LOG_INTERVAL.toSeconds());
  }

  private void lookForTheTopic() {
    long wait = Math.min(MISSING_CHECK_MAX.toMillis(), MISSING_CHECK_FIRST.toMillis() << Math.min(looks, 20));
    synchronized (pause) {
      try {
        if (running) {
          pause.wait(wait);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        running = false;
        return;
      }
    }
    if (!running) {
      return;
    }
    looks++;
    List<TopicPartition> partitions = partitions();
    long missingForS = Math.round((System.nanoTime() - missingSinceNanos) / 1e9);
    if (partitions.isEmpty()) {
      LogLimiter.Pass pass = stillMissing.admit(topic);
      if (pass != null) {
        LOG.warn("the policy topic '{}' is still missing, for {} s ({} looks for it, {} not logged since the last"
            + " line); policy version {} stays in force", topic, missingForS, looks, pass.suppressed(),
            current.version());
      }
      return;
    }
    synchronized (progress) {
      readUpTo.clear(); // a topic created anew numbers its offsets from 0 again
    }
    consumer.assign(partitions);
    consumer.seekToBeginning(partitions);
    missing = false;
    LOG.info("the policy topic '{}' is back after {} s missing ({} partitions): reading it from its beginning; policy"
        + " version {} stays in force until it holds another", topic, missingForS, partitions.size(),
        current.version());
  }

  private void accept(ConsumerRecord<byte[], byte[]> r, boolean notify) {
    try {
      if (CascadeTopology.POLICY_KEY.equals(r.key() == null ? null : new String(r.key(),
          java.nio.charset.StandardCharsets.UTF_8)) && r.value() != null) {
        dev.cascade.schemas.avro.DeferralPolicy avro;
        try {
          avro = policies.deserialize(r.topic(), r.value());
        } catch (dev.cascade.schemas.serde.SchemaDecodingException e) {
          LOG.error("policy record at offset {} cannot be decoded and is skipped ({}); policy version {} stays in force",
              r.offset(), e.getMessage(), current.version());
          return;
        }
        highestVersion = Math.max(highestVersion, avro.getVersion());
        DeferralPolicy policy = PolicyRecords.fromAvro(avro);
        current = policy;
        if (notify) {
          for (Consumer<DeferralPolicy> listener : listeners) {
            try {
              listener.accept(policy);
            } catch (RuntimeException e) {
              LOG.warn("a policy listener failed: {}", e.toString());
            }
          }
        }
      }
    } catch (RuntimeException e) {
      LOG.error("policy record at offset {} is unusable ({}); the configured default is in force", r.offset(),
          e.getMessage());
      current = fallback;
    } finally {
      synchronized (progress) {
        readUpTo.put(r.partition(), r.offset() + 1);
        progress.notifyAll();
      }
    }
  }

  @Override
  public void close() {
    if (!running) {
      return;
    }
    running = false;
    synchronized (pause) {
      pause.notifyAll();
    }
    consumer.wakeup();
    try {
      reader.join(10_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    producer.close(Duration.ofSeconds(5));
  }
}
