package dev.cascade.router.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.embedded.EmbeddedKafka;
import dev.cascade.router.learner.ContinuousLearner;
import dev.cascade.router.learning.SyntheticTierOutcomes;
import dev.cascade.router.policy.DeferralPolicy;
import dev.cascade.router.policy.TierPolicy;
import dev.cascade.router.topology.CascadeTopology;
import dev.cascade.router.topology.PolicyRecords;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.serde.CascadeSerdes;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import java.nio.file.Path;
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
 * {@code learn.tier-answer-value} on a real broker: an operator's policy has medium (tier 1)
 * serving too much (threshold 4, exploring 0.2); outcomes of 8,000 requests reaching it are on the
 * outcomes topic. The learner's tier tuner writes one policy moving medium's threshold to where
 * passing on pays (about 1.29 for 100 units a right answer and large at 10 a call), keeping every
 * other setting; its next rounds, on the same outcomes, keep it (no second policy).
 */
class TierTunerIT {

  private static final String POLICY = "cascade.policy";

  @TempDir
  Path stateDir;

  @Test
  void theLearnerMovesAMiddleTiersThresholdToWherePassingOnPaysAndThenHoldsIt() throws Exception {
    TierPolicy medium = new TierPolicy("chow-sum", 0.0, 4.0, 0.0, 0.2);
    PrometheusRegistry metrics = new PrometheusRegistry();
    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
      String bootstrap = kafka.bootstrapServers();
      tune(bootstrap, Map.of(), operator(medium), metrics, r -> SyntheticTierOutcomes.outcome(r, medium, 4.0), () -> {
        List<DeferralPolicy> written = awaitPolicies(bootstrap, 2);
        DeferralPolicy tuned = written.get(1);
        assertThat(tuned.updatedBy()).isEqualTo("learner");
        assertThat(tuned.version()).isEqualTo(4);
        assertThat(tuned.tierPolicies()).hasSize(1);
        assertThat(tuned.tierPolicies().get(0).threshold()).isCloseTo(BEST, within(0.4));
        assertThat(tuned.tierPolicies().get(0).explorationRate()).isEqualTo(0.2);
        assertThat(tuned.rule()).isEqualTo("chow-sum");
        assertThat(tuned.threshold()).isEqualTo(12.0);
        assertThat(tuned.reason()).contains("tier 1 threshold").contains("was 4.0000");
        awaitKeptThenIdle(metrics, "1", bootstrap, SyntheticTierOutcomes.outcome(
            SyntheticTierOutcomes.population(1, 99, "later-").get(0), medium, 4.0));
      });
      assertThat(policies(bootstrap)).hasSize(2);
    }
  }

  /**
   * The next round decides on the tuned policy: nothing better shown, nothing written. Then, with
   * no new outcome or feedback and the same policy, the rounds every second decide nothing (they
   * could not differ) until an outcome is written: the round after it decides again, and keeps.
   */
  private static void awaitKeptThenIdle(PrometheusRegistry metrics, String tier, String bootstrap,
      RoutingOutcome another) throws Exception {
    assertThat(tunings(metrics, tier, "retuned")).isEqualTo(1);
    awaitTunings(metrics, tier, "kept", 1);
    Thread.sleep(3_500); // three rounds' time
    assertThat(tunings(metrics, tier, "kept")).as("rounds with nothing new decide nothing").isEqualTo(1);
    try (KafkaProducer<String, RoutingOutcome> outcomes = new KafkaProducer<>(Map.of(
        ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap, ProducerConfig.ACKS_CONFIG, "all"),
        new StringSerializer(), CascadeSerdes.outcomes().serializer())) {
      outcomes.send(new ProducerRecord<>("cascade.outcomes", another.getRequestId(), another)).get();
    }
    awaitTunings(metrics, tier, "kept", 2);
    assertThat(tunings(metrics, tier, "retuned")).isEqualTo(1);
  }

  private static void awaitTunings(PrometheusRegistry metrics, String tier, String result, int n)
      throws InterruptedException {
    long deadline = System.currentTimeMillis() + 60_000;
    while (tunings(metrics, tier, result) < n && System.currentTimeMillis() < deadline) {
      Thread.sleep(200);
    }
    assertThat(tunings(metrics, tier, result)).isGreaterThanOrEqualTo(n);
  }

  /**
   * {@code learn.small-answer-value}: the operator's policy has the small model passing on too
   * little (Chow-Sum at 4, exploring 0.2, no middle tier); the outcomes of 8,000 requests are on the
   * topic, the small model in medium's place. The learner writes one policy moving the small
   * model's threshold to where passing on pays, every other setting kept, and then holds it.
   */
  @Test
  void theLearnerMovesTheSmallModelsThresholdToWherePassingOnPaysAndThenHoldsIt() throws Exception {
    PrometheusRegistry metrics = new PrometheusRegistry();
    DeferralPolicy operator = new DeferralPolicy("chow-sum", 0.0, 4.0, 0.2, 0.0, 3, "admin@127.0.0.1",
        System.currentTimeMillis(), "two tiers", null, List.of("chow-average"), "chow-sum", null, List.of());
    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
      String bootstrap = kafka.bootstrapServers();
      tune(bootstrap, Map.of("learn.tier-answer-value", "0", "learn.small-answer-value", "100"), operator, metrics,
          r -> SyntheticTierOutcomes.smallOutcome(r, operator), () -> {
            DeferralPolicy tuned = awaitPolicies(bootstrap, 2).get(1);
            assertThat(tuned.updatedBy()).isEqualTo("learner");
            assertThat(tuned.version()).isEqualTo(4);
            assertThat(tuned.threshold()).isCloseTo(BEST, within(0.4));
            assertThat(tuned.rule()).isEqualTo("chow-sum");
            assertThat(tuned.explorationRate()).isEqualTo(0.2);
            assertThat(tuned.shadowRules()).containsExactly("chow-average");
            assertThat(tuned.reason()).contains("small model threshold").contains("was 4.0000");
            awaitKeptThenIdle(metrics, "0", bootstrap, SyntheticTierOutcomes.smallOutcome(
                SyntheticTierOutcomes.population(1, 99, "later-").get(0), operator));
          });
      assertThat(policies(bootstrap)).hasSize(2);
    }
  }

  @Test
  void offeredChowAverageTheLearnerGivesItToATierWhoseAnswerLengthsSayNothing() throws Exception {
    // Medium's answers have 1 to 20 tokens, each with the request's score as its -log p: Chow-Sum
    // (in force) is the score times a length unrelated to being right, Chow-Average the score.
    TierPolicy medium = new TierPolicy("chow-sum", 0.0, 40.0, 0.0, 0.2);
    java.util.SplittableRandom lengths = new java.util.SplittableRandom(5);
    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
      String bootstrap = kafka.bootstrapServers();
      tune(bootstrap, Map.of("learn.tier-rules", "chow-sum,chow-average"), operator(medium), new PrometheusRegistry(),
          r -> SyntheticTierOutcomes.outcome(r, medium, 40.0,
              java.util.Collections.nCopies(1 + lengths.nextInt(20), (float) -r.score())), () -> {
            DeferralPolicy tuned = awaitPolicies(bootstrap, 2).get(1);
            assertThat(tuned.updatedBy()).isEqualTo("learner");
            TierPolicy tier = tuned.tierPolicies().get(0);
            assertThat(tier.rule()).isEqualTo("chow-average");
            assertThat(tier.threshold()).isCloseTo(BEST, within(0.4));
            assertThat(tier.explorationRate()).isEqualTo(0.2);
            assertThat(tuned.reason()).contains("tier 1 rule chow-average (was chow-sum) threshold");
          });
    }
  }

  /** Where passing on starts to pay at 100 units a right answer, large at 10 a call. */
  private static final double BEST = -3 * Math.log(0.75 - SyntheticTierOutcomes.LARGE_COST / 100);

  /** Checks made while the learner runs. */
  private interface WhileRunning {
    void check() throws Exception;
  }

  /** An operator's policy with {@code medium} as tier 1. */
  private static DeferralPolicy operator(TierPolicy medium) {
    return new DeferralPolicy("chow-sum", 0.0, 12.0, 0.0, 0.0, 3, "admin@127.0.0.1",
        System.currentTimeMillis(), "three tiers", null, List.of(), "chow-sum", null, List.of(medium));
  }

  /**
   * Writes {@code operator}'s policy and the outcomes of 8,000 requests, then starts a learner
   * tuning the middle tiers at 100 units a right answer (rounds every second, {@code extra} keys
   * too), and runs {@code checks} while the learner runs.
   */
  private void tune(String bootstrap, Map<String, String> extra, DeferralPolicy operator, PrometheusRegistry metrics,
      java.util.function.Function<SyntheticTierOutcomes.Request, RoutingOutcome> outcome, WhileRunning checks)
      throws Exception {
    Map<String, String> keys = new java.util.HashMap<>(Map.ofEntries(
        Map.entry("bootstrap.servers", bootstrap), Map.entry("state.dir", stateDir.toString()),
        Map.entry("topic.partitions", "2"), Map.entry("policy.rule", "chow-sum"), Map.entry("policy.threshold", "12"),
        // The small model's rule is not trained here: only the tier tuner writes policies.
        Map.entry("learn.retrain-every-labels", "10000000"), Map.entry("learn.feedback-window-ms", "0"),
        Map.entry("learn.tier-answer-value", "100"), Map.entry("learn.tier-every-ms", "1000")));
    keys.putAll(extra);
    CascadeConfig config = CascadeConfig.load(null, Map.of(), keys);
    // Everything is on the topics before the learner starts, so its first round reads all of it: a
    // round that read part of the outcomes while they were written would choose on fewer of them.
    dev.cascade.router.topics.TopicProvisioner.ensure(dev.cascade.router.CascadeRouter.clientProperties(config),
        dev.cascade.router.topics.TopicProvisioner.specs(config.topics(), 2, (short) 1));
    try (KafkaProducer<String, dev.cascade.schemas.avro.DeferralPolicy> policies = new KafkaProducer<>(Map.of(
            ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap, ProducerConfig.ACKS_CONFIG, "all"),
            new StringSerializer(), CascadeSerdes.policies().serializer());
        KafkaProducer<String, RoutingOutcome> outcomes = new KafkaProducer<>(Map.of(
            ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap, ProducerConfig.ACKS_CONFIG, "all"),
            new StringSerializer(), CascadeSerdes.outcomes().serializer())) {
      policies.send(new ProducerRecord<>(POLICY, CascadeTopology.POLICY_KEY, PolicyRecords.toAvro(operator))).get();
      for (SyntheticTierOutcomes.Request r : SyntheticTierOutcomes.population(8_000, 11, "t-")) {
        outcomes.send(new ProducerRecord<>("cascade.outcomes", r.id(), outcome.apply(r)));
      }
      outcomes.flush();
    }
    try (ContinuousLearner learner = ContinuousLearner.start(config, metrics)) {
      checks.check();
    }
  }

  private static List<DeferralPolicy> awaitPolicies(String bootstrap, int n) throws InterruptedException {
    List<DeferralPolicy> read = policies(bootstrap);
    for (long until = System.currentTimeMillis() + 90_000; read.size() < n && System.currentTimeMillis() < until; ) {
      Thread.sleep(200);
      read = policies(bootstrap);
    }
    assertThat(read).hasSize(n);
    return read;
  }

  private static List<DeferralPolicy> policies(String bootstrap) {
    List<DeferralPolicy> out = new ArrayList<>();
    LearnerKillIT.read(bootstrap, POLICY, r -> out.add(PolicyRecords.fromAvro(CascadeSerdes.policies().decode(r.value()))));
    return out;
  }

  /** {@code cascade_learner_tier_tunings_total} for {@code tier} (0: the small model) and {@code result}. */
  private static double tunings(PrometheusRegistry metrics, String tier, String result) {
    return metrics.scrape().stream().filter(s -> s.getMetadata().getName().equals("cascade_learner_tier_tunings"))
        .flatMap(s -> ((CounterSnapshot) s).getDataPoints().stream())
        .filter(d -> tier.equals(d.getLabels().get("tier")) && result.equals(d.getLabels().get("result")))
        .mapToDouble(CounterSnapshot.CounterDataPointSnapshot::getValue).sum();
  }
}
