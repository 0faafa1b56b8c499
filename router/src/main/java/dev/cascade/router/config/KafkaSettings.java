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

  private static ConfigException refused(String name, String reason, Function<String, String> source) {
    return new ConfigException("kafka." + name, "refused by the Kafka client: " + reason + " (from "
        + source.apply(name) + ")");
  }
}
