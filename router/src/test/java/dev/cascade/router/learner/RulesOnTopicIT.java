package dev.cascade.router.learner;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.embedded.EmbeddedKafka;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

/**
 * The rules a fresh learner waits for: the keys on a real rules topic whose last record is not a
 * tombstone, committed ones only; none for a topic that does not exist or a broker that cannot be
 * reached in time.
 */
class RulesOnTopicIT {

  @Test
  void theKeysWhoseLastRecordIsARuleAreTheOnesOnTheTopic() throws Exception {
    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
      Map<String, Object> client = Map.of("bootstrap.servers", kafka.bootstrapServers());
      try (Admin admin = Admin.create(client)) {
        admin.createTopics(List.of(new NewTopic("rules", 1, (short) 1))).all().get();
      }
      assertThat(RulesOnTopic.read(client, "rules", Duration.ofSeconds(10))).as("empty topic").isEmpty();
      try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(Map.of(
          ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(), ProducerConfig.ACKS_CONFIG, "all"),
          new StringSerializer(), new ByteArraySerializer())) {
        producer.send(new ProducerRecord<>("rules", "posthoc-quantile@1", new byte[] {1})).get();
        producer.send(new ProducerRecord<>("rules", "posthoc-quantile@2", new byte[] {2})).get();
        producer.send(new ProducerRecord<>("rules", "posthoc-embed@3", new byte[] {3})).get();
        producer.send(new ProducerRecord<>("rules", "posthoc-quantile@2", null)).get(); // removed
      }
      assertThat(RulesOnTopic.read(client, "rules", Duration.ofSeconds(10)))
          .containsExactlyInAnyOrder("posthoc-quantile@1", "posthoc-embed@3");
      assertThat(RulesOnTopic.read(client, "no-such-topic", Duration.ofSeconds(5))).isEmpty();
    }
    // The broker gone: nothing to wait for, after the timeout.
    assertThat(RulesOnTopic.read(Map.of("bootstrap.servers", "127.0.0.1:1"), "rules", Duration.ofSeconds(2)))
        .isEmpty();
  }
}
