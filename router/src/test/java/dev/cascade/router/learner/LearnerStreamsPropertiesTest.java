package dev.cascade.router.learner;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.config.CascadeConfig;
import java.nio.file.Path;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.streams.StreamsConfig;
import org.junit.jupiter.api.Test;

/** The learner's Kafka Streams settings: a killed learner's group moves on in seconds, as the router's does. */
class LearnerStreamsPropertiesTest {

  private static Properties of(Map<String, String> overrides) {
    CascadeConfig config = CascadeConfig.load(null, Map.of(), overrides);
    return ContinuousLearner.streamsProperties(config, "cascade-learner", Path.of("/tmp/learner-state"));
  }

  @Test
  void failsOverInSecondsUnderExactlyOnce() {
    Properties props = of(Map.of("bootstrap.servers", "localhost:9092"));
    assertThat(props.get(StreamsConfig.PROCESSING_GUARANTEE_CONFIG)).isEqualTo(StreamsConfig.EXACTLY_ONCE_V2);
    assertThat(props.get(StreamsConfig.consumerPrefix("session.timeout.ms"))).isEqualTo(6_000);
    assertThat(props.get(StreamsConfig.consumerPrefix("heartbeat.interval.ms"))).isEqualTo(1_500);
    assertThat(props.get(StreamsConfig.producerPrefix("transaction.timeout.ms"))).isEqualTo(5_000);
    assertThat(props.get(StreamsConfig.STATE_DIR_CONFIG)).isEqualTo(Path.of("/tmp/learner-state").toString());
  }

  @Test
  void anOperatorsKafkaKeyWins() {
    Properties props = of(Map.of("bootstrap.servers", "localhost:9092", "kafka.session.timeout.ms", "20000"));
    assertThat(props.get("session.timeout.ms")).isEqualTo("20000");
    assertThat(props).doesNotContainKey(StreamsConfig.consumerPrefix("session.timeout.ms"));
  }
}
