package dev.cascade.router.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.embedded.EmbeddedKafka;
import dev.cascade.router.learner.ContinuousLearner;
import dev.cascade.router.policy.DeferralPolicy;
import dev.cascade.router.topology.CascadeTopology;
import dev.cascade.router.topology.PolicyRecords;
import dev.cascade.schemas.serde.CascadeSerdes;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code learn.respect-pins} (on by default) on a real broker: the learner's first rule replaces
 * the configured closed-form rule as before; once an operator pins a version, the next rule the
 * learner earns goes to the rules topic only, and the operator's policy stays the newest on the
 * policy topic, as a {@code read_committed} reader sees it.
 */
class LearnerPinIT {

  private static final String RULES = "cascade.rules";
  private static final String POLICY = "cascade.policy";

  @TempDir
  Path stateDir;

  @Test
  void anOperatorsPinHoldsWhileTheLearnerKeepsPublishingRuleVersions() throws Exception {
    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
      String bootstrap = kafka.bootstrapServers();
      CascadeConfig config = CascadeConfig.load(null, Map.of(), Map.ofEntries(
          Map.entry("bootstrap.servers", bootstrap), Map.entry("state.dir", stateDir.toString()),
          Map.entry("topic.partitions", "2"), Map.entry("policy.rule", "chow-sum"), Map.entry("policy.threshold", "12"),
          Map.entry("learn.min-labels", "300"), Map.entry("learn.retrain-every-labels", "300"),
          Map.entry("learn.min-holdout", "80"), Map.entry("learn.holdout-fraction", "0.3"),
          Map.entry("learn.feedback-window-ms", "0"), Map.entry("learn.bootstrap-resamples", "300")));
      PrometheusRegistry metrics = new PrometheusRegistry();
      try (ContinuousLearner learner = ContinuousLearner.start(config, metrics)) {
        SyntheticOutcomes.write(bootstrap, "cascade.outcomes", "a-", 450, 21);
        // Chow-Sum, a closed-form rule, is no pin: the first rule is published with a policy naming it.
        awaitRounds(metrics, 1);
        assertThat(trainings(metrics, "published")).as("the first round, over the configured chow-sum").isEqualTo(1);
        // The round is counted when it ends; its policy is readable (read_committed) once the
        // learner's transaction commits, at its next commit.
        List<DeferralPolicy> before = policies(bootstrap);
        for (long until = System.currentTimeMillis() + 60_000; before.isEmpty() && System.currentTimeMillis() < until; ) {
          Thread.sleep(100);
          before = policies(bootstrap);
        }
        assertThat(before).hasSize(1);
        assertThat(before.get(0).updatedBy()).isEqualTo("learner");
        assertThat(before.get(0).ruleSpec()).isEqualTo("posthoc-quantile@1");

        // An operator rolls back to the shipped version, as `policy set --rule posthoc-quantile@0` would.
        DeferralPolicy pin = new DeferralPolicy("posthoc-quantile", 0.0, 0.5, 0.05, 0.0, before.get(0).version() + 1,
            "admin@127.0.0.1", System.currentTimeMillis(), "roll back", 0L, List.of(), "chow-sum", null);
        try (KafkaProducer<String, dev.cascade.schemas.avro.DeferralPolicy> producer = new KafkaProducer<>(Map.of(
            ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap, ProducerConfig.ACKS_CONFIG, "all"),
            new StringSerializer(), CascadeSerdes.policies().serializer())) {
          producer.send(new ProducerRecord<>(POLICY, CascadeTopology.POLICY_KEY, PolicyRecords.toAvro(pin))).get();
        }
        // Written after the pin: the trainer reads the pin long before these reach it through the
        // label join and the examples topic, so the next round's champion is the pinned version.
        SyntheticOutcomes.write(bootstrap, "cascade.outcomes", "b-", 400, 22);
        awaitRounds(metrics, 2);
        assertThat(trainings(metrics, "published_held"))
            .as("the second round's challenger beat the pinned version; only its rule was published").isEqualTo(1);
        assertThat(trainings(metrics, "published")).isEqualTo(1);
      }
      List<String> ruleKeys = new ArrayList<>();
      LearnerKillIT.read(bootstrap, RULES, r -> ruleKeys.add(r.key()));
      assertThat(ruleKeys).containsExactly("posthoc-quantile@1", "posthoc-quantile@2");
      List<DeferralPolicy> after = policies(bootstrap);
      assertThat(after).hasSize(2);
      assertThat(after.get(1).updatedBy()).as("the newest policy is still the operator's").isEqualTo("admin@127.0.0.1");
      assertThat(after.get(1).ruleSpec()).isEqualTo("posthoc-quantile@0");
    }
  }

  private static List<DeferralPolicy> policies(String bootstrap) {
    List<DeferralPolicy> out = new ArrayList<>();
    LearnerKillIT.read(bootstrap, POLICY, r -> out.add(PolicyRecords.fromAvro(CascadeSerdes.policies().decode(r.value()))));
    return out;
  }

  /** Waits (at most 3 minutes) until the learner has finished {@code n} rounds, whatever their result. */
  private static void awaitRounds(PrometheusRegistry metrics, int n) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofMinutes(3).toNanos();
    while (trainings(metrics, null) < n && System.nanoTime() < deadline) {
      Thread.sleep(200);
    }
    assertThat(trainings(metrics, null)).as("rounds finished").isGreaterThanOrEqualTo(n);
  }

  /** {@code cascade_learner_trainings_total} for {@code result}, or over every result when it is null. */
  private static double trainings(PrometheusRegistry metrics, String result) {
    return metrics.scrape().stream().filter(s -> s.getMetadata().getName().equals("cascade_learner_trainings"))
        .flatMap(s -> ((CounterSnapshot) s).getDataPoints().stream())
        .filter(d -> result == null || result.equals(d.getLabels().get("result")))
        .mapToDouble(CounterSnapshot.CounterDataPointSnapshot::getValue).sum();
  }
}
