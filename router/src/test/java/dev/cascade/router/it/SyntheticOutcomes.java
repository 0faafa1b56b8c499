package dev.cascade.router.it;

import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.serde.CascadeSerdes;
import java.util.Map;
import java.util.SplittableRandom;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

/** Writes {@link dev.cascade.router.learning.SyntheticOutcomes#learnable} outcomes to a topic. */
final class SyntheticOutcomes {

  private SyntheticOutcomes() {}

  static void write(String bootstrapServers, String topic, String idPrefix, int n, long seed) {
    SplittableRandom random = new SplittableRandom(seed);
    try (KafkaProducer<String, RoutingOutcome> producer = new KafkaProducer<>(Map.of(
        ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers, ProducerConfig.ACKS_CONFIG, "all"),
        new StringSerializer(), CascadeSerdes.outcomes().serializer())) {
      for (int i = 0; i < n; i++) {
        RoutingOutcome outcome = dev.cascade.router.learning.SyntheticOutcomes.learnable(random, idPrefix + i);
        producer.send(new ProducerRecord<>(topic, outcome.getRequestId(), outcome));
      }
      producer.flush();
    }
  }
}
