package dev.cascade.router.learning;

import dev.cascade.router.config.CascadeConfig;
import dev.cascade.schemas.avro.Feedback;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.serde.CascadeSerdes;
import dev.cascade.schemas.serde.SchemaDecodingException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.function.BiConsumer;
import java.util.function.Consumer;
import java.util.function.Function;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Reads a topic once, from its start (or its newest records) to its end at the time of the call,
 * with {@code read_committed} isolation (so aborted transactions never count): the routing
 * outcomes and feedback of {@code train-rule --outcomes} and {@code eval --outcomes}, the
 * outcomes a starting router's target-rate controllers are seeded from, and the dead letters
 * {@code cascade dead-letters} prints. Partitions are assigned directly, without a consumer group,
 * and no offsets are committed.
 */
public final class TopicSnapshot {

  /**
   * What one read saw.
   *
   * @param records the records read (tombstones included)
   * @param undecodable the records that were not a {@code RoutingOutcome} ({@code Feedback}) or were tombstones
   * @param range the topic and, per partition, the offsets read, e.g. {@code topic t: 0[0,120) 1[0,98)}
   */
  public record Read(long records, long undecodable, String range) {}

  private TopicSnapshot() {}

  /**
   * The Kafka client settings for reading: the configuration's {@code kafka.*} pass-through keys
   * and the brokers, {@code bootstrapServers} when given, else the {@code bootstrap.servers} key.
   *
   * @param flag the option that named the topic, for the error message (e.g. {@code --outcomes})
   * @throws IllegalArgumentException if no brokers are given either way
   */
  public static Map<String, Object> clientProperties(String bootstrapServers, CascadeConfig config, String flag) {
    String servers = bootstrapServers != null ? bootstrapServers : config.get(CascadeConfig.BOOTSTRAP_SERVERS);
    if (servers == null || servers.isBlank()) {
      throw new IllegalArgumentException(flag + " needs --bootstrap-servers (or the bootstrap.servers key)");
    }
    Map<String, Object> props = new HashMap<>(config.kafkaOverrides());
    props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, servers);
    return props;
  }

  /**
   * Hands every outcome on {@code topic} to {@code each}, in partition order.
   *
   * @param clientProperties at least the brokers ({@link #clientProperties})
   * @param progress told the number of records to read, then of each one read
   * @throws IllegalArgumentException if the topic does not exist
   */
  public static Read read(Map<String, Object> clientProperties, String topic, Consumer<RoutingOutcome> each,
      CascadeAnswers.Progress progress) {
    return read(clientProperties, topic, each, progress, Long.MAX_VALUE);
  }

  /**
   * Hands about the newest {@code newest} outcomes on {@code topic} to {@code each}, in partition
   * order: what the last {@code ⌈4 × newest / partitions⌉} offsets of each partition hold. Requests
   * are spread over the partitions by id, and under exactly-once every transaction's commit marker
   * takes an offset of each partition it wrote (about half of them at a light load, one outcome per
   * transaction), so that leaves room for both.
   *
   * @throws IllegalArgumentException if the topic does not exist
   */
  public static Read readNewest(Map<String, Object> clientProperties, String topic, Consumer<RoutingOutcome> each,
      long newest) {
    return read(clientProperties, topic, each, CascadeAnswers.Progress.NONE, newest);
  }

  /**
   * Hands every feedback record on {@code topic} (the doors' {@code topic.feedback}) to {@code
   * each} with its key, in partition order: the feedback {@code eval --outcomes} and {@code
   * train-rule --outcomes} join to the outcomes ({@link FeedbackJoin}).
   *
   * @throws IllegalArgumentException if the topic does not exist
   */
  public static Read readFeedback(Map<String, Object> clientProperties, String topic, BiConsumer<String, Feedback> each,
      CascadeAnswers.Progress progress) {
    return readFeedback(clientProperties, topic, each, progress, Long.MAX_VALUE);
  }

  /** As above, about the newest {@code newest} records only (as {@link #readNewest} reads outcomes). */
  public static Read readFeedback(Map<String, Object> clientProperties, String topic, BiConsumer<String, Feedback> each,
      CascadeAnswers.Progress progress, long newest) {
    return read(clientProperties, topic, CascadeSerdes.feedback()::decode, each, progress, newest);
  }

  /**
   * Hands the dead letters on {@code topic} to {@code each} with their record keys, in partition
   * order: the newest {@code newest} offsets' worth of each partition's share, or all with
   * {@link Long#MAX_VALUE}.
   */
  public static Read readDeadLetters(Map<String, Object> clientProperties, String topic,
      BiConsumer<String, dev.cascade.schemas.avro.DeadLetter> each, long newest) {
    return read(clientProperties, topic, CascadeSerdes.deadLetters()::decode, each, CascadeAnswers.Progress.NONE,
        newest);
  }

  /**
   * The topic's end offsets ({@code read_committed}: the last stable offsets) by partition, in
   * partition order; empty when it does not exist. One metadata request, nothing read: a caller
   * that reads the topic again and again can tell whether anything was written since.
   */
  public static Map<Integer, Long> endOffsets(Map<String, Object> clientProperties, String topic) {
    try (EndOffsets ends = new EndOffsets(clientProperties)) {
      return ends.of(topic);
    }
  }

  /**
   * {@link #endOffsets(Map, String)} asked again and again over one consumer (one connection), not
   * a new one each time. Like any Kafka consumer, used and closed by one thread.
   */
  public static final class EndOffsets implements AutoCloseable {
    private final KafkaConsumer<byte[], byte[]> consumer;

    public EndOffsets(Map<String, Object> clientProperties) {
      Map<String, Object> props = new HashMap<>(clientProperties);
      props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
      props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
      consumer = new KafkaConsumer<>(props, new ByteArrayDeserializer(), new ByteArrayDeserializer());
    }

    /** {@code topic}'s end offsets now, by partition, in partition order; empty when it does not exist. */
    public Map<Integer, Long> of(String topic) {
      List<TopicPartition> partitions = consumer.partitionsFor(topic, Duration.ofSeconds(30)).stream()
          .map(p -> new TopicPartition(p.topic(), p.partition())).toList();
      Map<Integer, Long> out = new java.util.TreeMap<>();
      consumer.endOffsets(partitions, Duration.ofSeconds(30)).forEach((p, end) -> out.put(p.partition(), end));
      return out;
    }

    @Override
    public void close() {
      consumer.close(Duration.ofSeconds(5));
    }
  }

  private static Read read(Map<String, Object> clientProperties, String topic, Consumer<RoutingOutcome> each,
      CascadeAnswers.Progress progress, long newest) {
    Objects.requireNonNull(each, "each");
    return read(clientProperties, topic, CascadeSerdes.outcomes()::decode, (key, outcome) -> each.accept(outcome),
        progress, newest);
  }

  private static <T> Read read(Map<String, Object> clientProperties, String topic, Function<byte[], T> decoder,
      BiConsumer<String, T> each, CascadeAnswers.Progress progress, long newest) {
    Objects.requireNonNull(each, "each");
    Map<String, Object> props = new HashMap<>(clientProperties);
    props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    props.putIfAbsent(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 2000);
    // A broker that is down: a warning every 10 s at most, not every second.
    props.putIfAbsent(ConsumerConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, 10_000);
    long records = 0;
    long undecodable = 0;
    StringBuilder range = new StringBuilder("topic " + topic + ":");
    dev.cascade.router.topics.BootstrapNames.await(props.get(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG), 30_000, null);
    try (KafkaConsumer<byte[], byte[]> consumer =
        new KafkaConsumer<>(props, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
      List<TopicPartition> partitions;
      try {
        partitions = consumer.partitionsFor(topic, Duration.ofSeconds(30)).stream()
            .map(p -> new TopicPartition(p.topic(), p.partition())).toList();
      } catch (org.apache.kafka.common.errors.TimeoutException expired) {
        throw dev.cascade.router.topics.KafkaUnreachableException.of(props, 30_000, null, expired);
      }
      if (partitions.isEmpty()) {
        throw new IllegalArgumentException("topic '" + topic + "' does not exist");
      }
      consumer.assign(partitions);
      Map<TopicPartition, Long> begin = new HashMap<>(consumer.beginningOffsets(partitions));
      Map<TopicPartition, Long> end = consumer.endOffsets(partitions);
      long lastPerPartition = newest == Long.MAX_VALUE ? Long.MAX_VALUE
          : (4 * newest + partitions.size() - 1) / partitions.size();
      for (TopicPartition p : partitions) {
        begin.put(p, Math.max(begin.get(p), end.get(p) - Math.min(lastPerPartition, end.get(p))));
        consumer.seek(p, begin.get(p));
      }
      long total = 0;
      for (TopicPartition p : partitions) {
        total += end.get(p) - begin.get(p);
        range.append(String.format(Locale.ROOT, " %d[%d,%d)", p.partition(), begin.get(p), end.get(p)));
      }
      progress.begin("reading " + topic, total);
      try {
        // With read_committed the end offset is the last stable offset: a position at it means done.
        while (partitions.stream().anyMatch(p -> consumer.position(p) < end.get(p))) {
          for (ConsumerRecord<byte[], byte[]> record : consumer.poll(Duration.ofMillis(500))) {
            if (record.offset() >= end.get(new TopicPartition(record.topic(), record.partition()))) {
              continue; // written after the read began
            }
            progress.advance(1);
            records++;
            if (record.value() == null) {
              undecodable++;
              continue;
            }
            T value;
            try {
              value = decoder.apply(record.value());
            } catch (SchemaDecodingException e) {
              undecodable++;
              continue;
            }
            each.accept(record.key() == null ? null : new String(record.key(), StandardCharsets.UTF_8), value);
          }
        }
      } finally {
        progress.end();
      }
    }
    return new Read(records, undecodable, range.toString());
  }
}
