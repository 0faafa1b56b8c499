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

  /**
   * Writes {@code n} outcomes to {@code topic}, which must exist (the embedded broker creates no
   * topic on first use): the first write waits for its acknowledgement, so a missing topic fails
   * here within seconds instead of blocking every one of the {@code n} sends for a minute each.
   */
  static void write(String bootstrapServers, String topic, String idPrefix, int n, long seed) {
    SplittableRandom random = new SplittableRandom(seed);
    try (KafkaProducer<String, RoutingOutcome> producer = new KafkaProducer<>(Map.of(
        ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers, ProducerConfig.ACKS_CONFIG, "all",
        ProducerConfig.MAX_BLOCK_MS_CONFIG, 15_000),
        new StringSerializer(), CascadeSerdes.outcomes().serializer())) {
      for (int i = 0; i < n; i++) {
        RoutingOutcome outcome = dev.cascade.router.learning.SyntheticOutcomes.learnable(random, idPrefix + i);
        java.util.concurrent.Future<?> sent = producer.send(new ProducerRecord<>(topic, outcome.getRequestId(), outcome));
        if (i == 0) {
          try {
            sent.get(30, java.util.concurrent.TimeUnit.SECONDS);
          } catch (Exception e) {
            throw new IllegalStateException("could not write to " + topic + " (does it exist yet?): " + e, e);
          }
        }
      }
      producer.flush();
    }
  }
}
