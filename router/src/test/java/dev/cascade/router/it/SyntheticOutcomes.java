package dev.cascade.router.it;

import dev.cascade.router.features.UncertaintyFeatures;
import dev.cascade.router.learning.SyntheticExamples;
import dev.cascade.schemas.avro.Decision;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.avro.ServedBy;
import dev.cascade.schemas.avro.StageLatencies;
import dev.cascade.schemas.serde.CascadeSerdes;
import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Labelled routing outcomes whose benefit a learned rule can see and Chow-Sum sees poorly:
 * deferring helps where the median token log-prob is low, whatever the length. All deferred (so
 * both models' correctness is known) and labelled by a reference.
 */
final class SyntheticOutcomes {

  private SyntheticOutcomes() {}

  static void write(String bootstrapServers, String topic, String idPrefix, int n, long seed) {
    SplittableRandom random = new SplittableRandom(seed);
    try (KafkaProducer<String, RoutingOutcome> producer = new KafkaProducer<>(Map.of(
        ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers, ProducerConfig.ACKS_CONFIG, "all"),
        new StringSerializer(), CascadeSerdes.outcomes().serializer())) {
      for (int i = 0; i < n; i++) {
        UncertaintyFeatures features = SyntheticExamples.randomFeatures(random);
        boolean helps = features.logprobQuantile(0.5) < -1.0;
        boolean bothRight = !helps && random.nextInt(3) != 0;
        RoutingOutcome outcome = RoutingOutcome.newBuilder()
            .setRequestId(idPrefix + i).setPrompt("synthetic prompt " + idPrefix + i)
            .setSmallText(helps || !bothRight ? "wrong" : "right").setFeatures(new HashMap<>(features.asMap()))
            .setRule("chow-sum").setScore(-features.logprobSum()).setThreshold(12).setPolicyVersion(0)
            .setDecision(Decision.DEFER).setPropensity(1.0).setServedBy(ServedBy.LARGE)
            .setLargeText(helps || bothRight ? "right" : "also wrong").setReference("right")
            .setSmallCorrect(!helps && bothRight).setLargeCorrect(helps || bothRight)
            .setLatencies(StageLatencies.newBuilder().build()).setCreatedAtMs(0).setCompletedAtMs(0).build();
        producer.send(new ProducerRecord<>(topic, outcome.getRequestId(), outcome));
      }
      producer.flush();
    }
  }
}
