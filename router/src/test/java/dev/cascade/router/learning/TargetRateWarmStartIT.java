package dev.cascade.router.learning;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.embedded.EmbeddedKafka;
import dev.cascade.router.features.UncertaintyFeatures;
import dev.cascade.router.policy.DeferralPolicy;
import dev.cascade.router.policy.TargetRateController;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.serde.CascadeSerdes;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

/**
 * A starting router seeds its target-rate controller from the newest outcomes on the topic: which
 * outcomes are chosen, and the read from a real broker.
 */
class TargetRateWarmStartIT {

  private static final UncertaintyFeatures FEATURES = SyntheticExamples.randomFeatures(new SplittableRandom(1));

  private static RoutingOutcome outcome(int i, String rule, Long version, double score, long completedAt) {
    return SyntheticOutcomes.accepted("r" + i, FEATURES).setRule(rule).setRuleVersion(version).setScore(score)
        .setCompletedAtMs(completedAt).build();
  }

  @Test
  void perRuleKeyTheNewestScoredOutcomesAreChosenOldestFirst() {
    List<RoutingOutcome> outcomes = new ArrayList<>();
    outcomes.add(outcome(0, "chow-sum", null, 100, 1));
    outcomes.add(outcome(1, "posthoc-quantile", 3L, 7, 6));
    outcomes.add(outcome(2, "posthoc-quantile", 3L, 5, 4));
    outcomes.add(outcome(3, "chow-sum", null, 9, 5)); // the fallback rule scored it: another key
    outcomes.add(outcome(7, "posthoc-quantile", 3L, 4, 2)); // older than the newest 2 of its key
    outcomes.add(outcome(4, "posthoc-quantile", 3L, 6, 3));
    RoutingOutcome cached = outcome(5, "posthoc-quantile", 3L, 50, 7);
    cached.setCacheHit(true); // not scored by the small model: left out
    outcomes.add(cached);
    RoutingOutcome failed = outcome(6, "posthoc-quantile", 3L, 60, 8);
    failed.setSmallFailure("batch timed out");
    outcomes.add(failed);

    Map<String, double[]> chosen = TargetRateWarmStart.choose(outcomes, 4);
    assertThat(chosen).containsOnlyKeys("posthoc-quantile@0.0#v3", "chow-sum@0.0");
    assertThat(chosen.get("posthoc-quantile@0.0#v3")).containsExactly(4, 6, 5, 7);
    assertThat(chosen.get("chow-sum@0.0")).containsExactly(100, 9);
    assertThat(TargetRateWarmStart.choose(outcomes, 2).get("posthoc-quantile@0.0#v3")).as("the newest 2")
        .containsExactly(5, 7);
    assertThat(TargetRateWarmStart.choose(List.of(cached, failed), 4)).isEmpty();
  }

  private static dev.cascade.schemas.avro.TierAnswer tierAnswer(int tier, String rule, double score, boolean early) {
    return dev.cascade.schemas.avro.TierAnswer.newBuilder().setTier(tier).setModel("t" + tier).setText("x")
        .setTokens(List.of()).setTokenLogprobs(List.of()).setRule(rule).setScore(rule == null ? null : score)
        .setThreshold(rule == null ? null : 1.0).setDeferred(true).setCostUnits(1).setLatencyMs(1)
        .setStoppedEarly(early).build();
  }

  @Test
  void aTierShortOfItsWindowIsReadFurtherBack() {
    Map<Integer, Map<String, double[]>> full = Map.of(1, Map.of("chow-sum", new double[1_000]));
    assertThat(TargetRateWarmStart.furtherBack(full, 2_000, 1_000)).isEqualTo(1_000);
    assertThat(TargetRateWarmStart.furtherBack(Map.of(), 2_000, 1_000)).as("no tier answers").isEqualTo(1_000);
    Map<Integer, Map<String, double[]>> short400 = Map.of(1, Map.of("chow-sum", new double[1_000]),
        2, Map.of("chow-sum", new double[400]));
    // 400 of 2,000 outcomes reach tier 2: 1.25 × 1,000 / 0.2 = 6,250.
    assertThat(TargetRateWarmStart.furtherBack(short400, 2_000, 1_000)).isEqualTo(6_250);
    assertThat(TargetRateWarmStart.furtherBack(Map.of(2, Map.of("chow-sum", new double[10])), 2_000, 1_000))
        .as("at most 8 times the window").isEqualTo(8_000);
    assertThat(TargetRateWarmStart.furtherBack(short400, 900, 1_000)).as("the first read held the topic").isEqualTo(1_000);
  }

  @Test
  void answersStoppedEarlySeedTheirTierWhereverTheyStopped() {
    List<RoutingOutcome> outcomes = new ArrayList<>();
    for (int i = 0; i < 100; i++) {
      RoutingOutcome o = outcome(i, "chow-sum", null, 1, 10_000 - i);
      // Tier 1 under a target: answers above 80 stopped at a stop threshold of 80 (their threshold 1.0).
      // Tier 2 under a fixed threshold with early deferral: stopped at the threshold itself. Tier 3:
      // stopped, from a writer that did not record where it was asked to stop.
      dev.cascade.schemas.avro.TierAnswer underTarget = tierAnswer(1, "chow-sum", i, i > 80);
      underTarget.setStopThreshold(i > 80 ? 80.0 : null);
      dev.cascade.schemas.avro.TierAnswer fixed = tierAnswer(2, "chow-sum", i, i > 80);
      fixed.setStopThreshold(1.0);
      o.setTierAnswers(List.of(underTarget, fixed, tierAnswer(3, "chow-sum", i, i == 90), tierAnswer(4, null, 0, false)));
      outcomes.add(o);
    }
    // A prefix's score is a lower bound of its whole answer's: seeding with it beats a cold window.
    Map<Integer, Map<String, double[]>> chosen = TargetRateWarmStart.chooseTiers(outcomes, 300);
    assertThat(chosen).containsOnlyKeys(1, 2, 3);
    assertThat(chosen.get(2).get("chow-sum")).hasSize(100);
  }

  @Test
  void theMiddleTiersAreSeededPerTierAndRule() {
    List<RoutingOutcome> outcomes = new ArrayList<>();
    for (int i = 0; i < 400; i++) {
      // Tier 1 scored 0 to 399 by chow-sum (newest last: completed in reverse order of i), tier 2
      // by chow-average with one answer stopped early, the last tier unscored.
      RoutingOutcome o = outcome(i, "chow-sum", null, 1, 10_000 - i);
      o.setTierAnswers(List.of(tierAnswer(1, "chow-sum", i, false), tierAnswer(2, "chow-average", i, i == 7),
          tierAnswer(3, null, 0, false)));
      outcomes.add(o);
    }
    Map<Integer, Map<String, double[]>> chosen = TargetRateWarmStart.chooseTiers(outcomes, 300);
    assertThat(chosen).containsOnlyKeys(1, 2);
    assertThat(chosen.get(1)).containsOnlyKeys("chow-sum");
    assertThat(chosen.get(2)).containsOnlyKeys("chow-average");
    assertThat(chosen.get(1).get("chow-sum")).as("the newest 300, oldest first").hasSize(300)
        .startsWith(299, 298).endsWith(1, 0);

    dev.cascade.router.policy.TierThresholds tiers = new dev.cascade.router.policy.TierThresholds();
    tiers.seed(chosen);
    // Warm at once: 300 seeded scores, 0 to 299, and a target of 0.3 puts the threshold near 209.
    dev.cascade.router.policy.TierThresholds.Decided d = tiers.decide(1,
        new dev.cascade.router.policy.TierPolicy("chow-sum", 0, 1.0, 0.3), 250);
    assertThat(d.threshold()).isBetween(200.0, 215.0);
    assertThat(d.passOn()).isTrue();
    assertThat(tiers.scoresSeen(1)).isEqualTo(301);
  }

  @Test
  void aControllerIsSeededFromTheNewestOutcomesOnTheTopic() throws Exception {
    String topic = "outcomes-warm-start";
    SplittableRandom random = new SplittableRandom(3);
    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
      Map<String, Object> client = Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
      try (Admin admin = Admin.create(client)) {
        admin.createTopics(List.of(new NewTopic(topic, 3, (short) 1))).all().get();
      }
      Map<String, Object> producerConfig = Map.of(
          ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(), ProducerConfig.ACKS_CONFIG, "all");
      try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(producerConfig, new StringSerializer(),
          new ByteArraySerializer())) {
        // 6,000 outcomes: the oldest 5,000 score around 10, the newest 1,000 around 0.
        for (int i = 0; i < 6_000; i++) {
          double score = (i < 5_000 ? 10 : 0) + random.nextGaussian();
          RoutingOutcome o = outcome(i, "chow-sum", null, score, 1_000 + i);
          // Every fifth one escalated to a middle tier, which scored it 100 times as high.
          o.setTierAnswers(i % 5 == 0 ? List.of(tierAnswer(1, "chow-sum", 100 * score, false)) : List.of());
          producer.send(new ProducerRecord<>(topic, "r" + i, CascadeSerdes.outcomes().encode(o)));
        }
        producer.send(new ProducerRecord<>(topic, "junk", new byte[] {1, 2, 3})); // skipped, not fatal
      }
      TargetRateController controller = new TargetRateController();
      dev.cascade.router.policy.TierThresholds tiers = new dev.cascade.router.policy.TierThresholds();
      TargetRateWarmStart.Seeded seeded = TargetRateWarmStart.seed(controller, tiers, client, topic, 1_000);
      assertThat(seeded.scoresByKey()).containsExactly(Map.entry("chow-sum@0.0", 1_000));
      // The small model's read held about 800 tier answers, short of the tier's window: a second
      // read, further back (here the whole topic), seeds its 1,000 newest answers, 200 of them from
      // the newest 1,000 outcomes (around 0) and 800 older (around 1,000).
      assertThat(seeded.tierScores()).containsExactly(Map.entry("tier 1 chow-sum", 1_000));
      dev.cascade.router.policy.TierThresholds.Decided tier = tiers.decide(1,
          new dev.cascade.router.policy.TierPolicy("chow-sum", 0, 5_000, 0.3), 0);
      assertThat(tier.threshold()).as("warm at once, not the configured 5,000").isBetween(500.0, 1_200.0);
      // The last ⌈4 × 1,000 / 3⌉ = 1,334 offsets of each partition (about 2,000 records each here):
      // more than the window, not the whole topic; then the whole topic for the tier.
      assertThat(seeded.outcomesRead()).as("records read").isBetween(9_000L, 10_012L);
      DeferralPolicy target = new DeferralPolicy("chow-sum", 0.0, 99.0, 0.0, 0.3, 1, "test", 0, "");
      // Warm at once, on the newest scores only: the 70th percentile of N(0, 1) is 0.52.
      assertThat(controller.threshold(target, "chow-sum@0.0")).isBetween(0.3, 0.8);
      assertThat(controller.scoresSeen()).isEqualTo(1_000);
    }
  }
}
