package dev.cascade.router.learner;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The keys the rules topic holds now ({@code NAME@VERSION}, each whose last record is not a
 * tombstone), read to its end with a consumer of its own ({@code read_committed}). The trainer
 * reads them when its task starts and holds its first round until its own source has delivered each
 * of them, so that a learner started against a topic it has not read yet neither trains a version
 * that is already there nor judges its challenger against a champion it has not loaded.
 */
final class RulesOnTopic {

  private static final Logger LOG = LoggerFactory.getLogger(RulesOnTopic.class);

  /** How long the read may take before it gives up (the trainer then does not wait). */
  static final Duration READ_TIMEOUT = Duration.ofSeconds(15);

  /** Reads nothing: the trainer does not wait (the in-process tests, which feed the topic themselves). */
  static final Supplier<Set<String>> NONE = Set::of;

  private RulesOnTopic() {}

  /** A reader of {@code topic}'s keys with these client properties, read each time it is asked. */
  static Supplier<Set<String>> reader(Map<String, Object> client, String topic) {
    return () -> read(client, topic, READ_TIMEOUT);
  }

  /**
   * The keys on {@code topic} now; empty when the topic does not exist or cannot be read within
   * {@code timeout} (logged: the trainer then starts its rounds without waiting).
   */
  static Set<String> read(Map<String, Object> client, String topic, Duration timeout) {
    Map<String, Object> props = new HashMap<>(client);
    props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    props.remove(ConsumerConfig.GROUP_ID_CONFIG);
    long deadline = System.nanoTime() + timeout.toNanos();
    try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(props, new StringDeserializer(),
        new ByteArrayDeserializer())) {
      List<PartitionInfo> infos = consumer.partitionsFor(topic, timeout);
      if (infos == null || infos.isEmpty()) {
        return Set.of();
      }
      List<TopicPartition> partitions = new ArrayList<>();
      infos.forEach(p -> partitions.add(new TopicPartition(topic, p.partition())));
      consumer.assign(partitions);
      consumer.seekToBeginning(partitions);
      Map<TopicPartition, Long> end = consumer.endOffsets(partitions, timeout);
      Map<String, Boolean> present = new HashMap<>();
      while (partitions.stream().anyMatch(p -> consumer.position(p) < end.get(p))) {
        if (System.nanoTime() > deadline) {
          throw new org.apache.kafka.common.errors.TimeoutException("read not finished in " + timeout.toMillis()
              + " ms");
        }
        for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(200))) {
          if (r.key() != null) {
            present.put(r.key(), r.value() != null);
          }
        }
      }
      Set<String> keys = new java.util.TreeSet<>();
      present.forEach((key, there) -> {
        if (there) {
          keys.add(key);
        }
      });
      return keys;
    } catch (RuntimeException e) {
      LOG.warn("could not read the rules topic {} to its end ({}); the trainer's first round does not wait for the"
          + " rules it holds", topic, e.getMessage());
      return Set.of();
    }
  }
}
