package dev.cascade.router.config;

import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.streams.StreamsConfig;

/**
 * Checks the {@code kafka.*} settings as the Kafka clients would, while the configuration loads:
 * before a command connects to Kafka or loads a model, a value a client refuses stops it with an
 * error naming the {@code kafka.} key and where it came from.
 */
final class KafkaSettings {
  /** The settings of the clients the commands make (Kafka Streams makes the other three inside). */
  private static final List<ConfigDef> CLIENTS = List.of(AdminClientConfig.configDef(), ConsumerConfig.configDef(),
      ProducerConfig.configDef(), StreamsConfig.configDef());

  /**
   * The Kafka settings the router and learner set from their own keys (or always, exactly-once), which
   * a {@code kafka.*} value would not change: refused, naming the key to set instead.
   */
  static final Map<String, String> OWNED = Map.of(
      "bootstrap.servers", "bootstrap.servers: set that",
      StreamsConfig.APPLICATION_ID_CONFIG, "application.id (learn.application-id for the learner): set that",
      StreamsConfig.STATE_DIR_CONFIG, "state.dir: set that",
      StreamsConfig.REPLICATION_FACTOR_CONFIG, "topic.replication-factor: set that",
      StreamsConfig.NUM_STREAM_THREADS_CONFIG, "streams.threads: set that",
      StreamsConfig.PROCESSING_GUARANTEE_CONFIG, "nothing: it always processes exactly once (exactly_once_v2)");

  private KafkaSettings() {}

  /** Whether {@code name} is a setting of one of the Kafka clients (admin, consumer, producer, Streams). */
  static boolean isClientSetting(String name) {
    return CLIENTS.stream().anyMatch(def -> def.configKeys().containsKey(name));
  }

  /**
   * Parses and validates each setting a client knows (others pass: Kafka passes unknown settings to
   * plugins), and what the admin client checks across settings.
   *
   * @param kafka the settings, {@code kafka.} removed
   * @param source where a setting (named without {@code kafka.}) came from
   * @throws ConfigException naming the first setting a client refuses
   */
  static void check(Map<String, String> kafka, Function<String, String> source) {
    for (Map.Entry<String, String> e : kafka.entrySet()) {
      String owner = OWNED.get(e.getKey());
      if (owner != null) {
        throw new ConfigException("kafka." + e.getKey(), "the router sets this Kafka setting itself, from " + owner
            + ", and a kafka.* value would be overwritten (from " + source.apply(e.getKey()) + ")");
      }
      String typo = nearMiss(e.getKey());
      if (typo != null) {
        throw new ConfigException("kafka." + e.getKey(), "no Kafka client (admin, consumer, producer, Streams) has"
            + " this setting; did you mean kafka." + typo + "? (from " + source.apply(e.getKey()) + "; a plugin's own"
            + " setting passes as it is, unless it is this close to a client's)");
      }
      for (ConfigDef def : CLIENTS) {
        ConfigDef.ConfigKey key = def.configKeys().get(e.getKey());
        if (key == null) {
          continue;
        }
        try {
          Object value = ConfigDef.parseType(key.name, e.getValue().trim(), key.type);
          if (key.validator != null) {
            key.validator.ensureValid(key.name, value);
          }
        } catch (org.apache.kafka.common.config.ConfigException refused) {
          throw refused(e.getKey(), refused.getMessage(), source);
        }
      }
    }
    // KafkaAdminClient's own rule, checked when it starts (topics are checked first of all).
    String apiTimeout = AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG;
    if (kafka.containsKey(apiTimeout)) {
      int requestTimeout = Integer.parseInt(kafka.getOrDefault(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG,
          String.valueOf(AdminClientConfig.configDef().defaultValues().get(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG))).trim());
      if (Integer.parseInt(kafka.get(apiTimeout).trim()) < requestTimeout) {
        throw refused(apiTimeout, "must be no smaller than kafka." + AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG + " ("
            + requestTimeout + ")", source);
      }
    }
  }

  /** What Kafka Streams passes to one of its clients, or to its topics, with the rest of the name. */
  private static final List<String> STREAMS_PREFIXES = List.of(StreamsConfig.MAIN_CONSUMER_PREFIX,
      StreamsConfig.RESTORE_CONSUMER_PREFIX, StreamsConfig.GLOBAL_CONSUMER_PREFIX, StreamsConfig.CONSUMER_PREFIX,
      StreamsConfig.PRODUCER_PREFIX, StreamsConfig.ADMIN_CLIENT_PREFIX, StreamsConfig.TOPIC_PREFIX);

  /**
   * The client setting {@code name} is a slip of (one no client has, within 2 edits of one that a
   * client has, 3 for names of 16 characters or more), or null: a setting a client has, one of Kafka
   * Streams' prefixed ones, or one far from every client's (a plugin's own, which Kafka passes on).
   */
  static String nearMiss(String name) {
    if (isClientSetting(name) || STREAMS_PREFIXES.stream().anyMatch(name::startsWith)) {
      return null;
    }
    java.util.Set<String> known = new java.util.TreeSet<>();
    CLIENTS.forEach(def -> known.addAll(def.configKeys().keySet()));
    return KeySuggestion.within(name, known, name.length() >= 16 ? 3 : 2).orElse(null);
  }

  private static ConfigException refused(String name, String reason, Function<String, String> source) {
    return new ConfigException("kafka." + name, "refused by the Kafka client: " + reason + " (from "
        + source.apply(name) + ")");
  }
}
