package dev.cascade.router;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.config.CascadeConfig;
import java.nio.file.Path;
import java.util.Map;
import java.util.Properties;
import org.junit.jupiter.api.Test;

/** What the router gives Kafka Streams: its own needs always, its tuning unless an override says otherwise. */
class StreamsPropertiesTest {

  private static Properties of(Map<String, String> flags) {
    return CascadeRouter.streamsProperties(CascadeConfig.load(null, Map.of(), flags), Path.of("/tmp/state"));
  }

  @Test
  void theRoutersTuningAppliesByDefault() {
    Properties p = of(Map.of("bootstrap.servers", "k:9092"));
    assertThat(p).containsEntry("processing.guarantee", "exactly_once_v2")
        .containsEntry("bootstrap.servers", "k:9092")
        .containsEntry("commit.interval.ms", 100)
        .containsEntry("poll.ms", 5L)
        .containsEntry("producer.linger.ms", 5)
        .containsEntry("consumer.max.poll.records", 500)
        .containsEntry("producer.retry.backoff.ms", 5L)
        .containsEntry("state.dir", "/tmp/state");
  }

  @Test
  void kafkaOverridesWinOverTheRoutersTuningButNotOverExactlyOnce() {
    Properties p = of(Map.of("kafka.commit.interval.ms", "20", "kafka.poll.ms", "50", "kafka.linger.ms", "0",
        "kafka.max.poll.records", "100", "kafka.retry.backoff.ms", "100"));
    assertThat(p).containsEntry("commit.interval.ms", "20").containsEntry("poll.ms", "50")
        .containsEntry("linger.ms", "0").containsEntry("max.poll.records", "100")
        .containsEntry("retry.backoff.ms", "100")
        .doesNotContainKeys("producer.linger.ms", "consumer.max.poll.records", "producer.retry.backoff.ms")
        .containsEntry("processing.guarantee", "exactly_once_v2");
    // a setting the router owns is refused as the configuration loads, naming the key to set instead
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> of(Map.of("kafka.processing.guarantee", "at_least_once")))
        .hasMessageContaining("kafka.processing.guarantee: the router sets this Kafka setting itself, from nothing: it"
            + " always processes exactly once");
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> of(Map.of("kafka.num.stream.threads", "4")))
        .hasMessageContaining("from streams.threads: set that");
  }
}
