package dev.cascade.router.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Each router instance holds the target rate with its own controller, on the requests its
 * partitions bring (spread by request id). The rate over all instances holds when instances are
 * added or removed: a new instance starts cold (the policy's threshold until it has seen {@code
 * minObservations} scores), a removed one's traffic moves to the others.
 */
class TargetRateInstancesTest {

  private static final DeferralPolicy TARGET = new DeferralPolicy("chow-sum", 0.0, 0.5, 0.05, 0.3, 1, "test", 0, "");

  @Test
  void theRateOverAllInstancesHoldsAsInstancesComeAndGo() {
    for (long seed = 1; seed <= 5; seed++) {
      SplittableRandom random = new SplittableRandom(seed);
      List<TargetRateController> instances = new ArrayList<>(List.of(new TargetRateController(),
          new TargetRateController()));
      int escalated = 0;
      int counted = 0;
      for (int i = 0; i < 12_000; i++) {
        if (i == 4_000) {
          instances.add(new TargetRateController()); // scale out: a cold third instance
        }
        if (i == 8_000) {
          instances.remove(0); // scale in: its partitions move to the others
        }
        TargetRateController owner = instances.get(Math.floorMod(("r" + i).hashCode(), instances.size()));
        double score = random.nextGaussian();
        double threshold = owner.threshold(TARGET, "chow-sum");
        Decision d = PolicyDecider.decide("r" + i, score, threshold, TARGET.explorationRate());
        owner.observe(TARGET, "chow-sum", score, d.escalates());
        // Measured over the 1,000 requests that begin 1,000 after each change (and after warm-up).
        if (i >= 1_000 && i % 4_000 >= 1_000 && i % 4_000 < 2_000) {
          escalated += d.escalates() ? 1 : 0;
          counted++;
        }
      }
      assertThat(escalated / (double) counted).as("seed " + seed).isCloseTo(0.3, within(0.02));
    }
  }

  @Test
  void aSeededInstanceHoldsTheTargetFromItsFirstRequest() {
    SplittableRandom random = new SplittableRandom(7);
    double[] logged = new double[1_000];
    for (int i = 0; i < logged.length; i++) {
      logged[i] = random.nextGaussian();
    }
    TargetRateController cold = new TargetRateController();
    TargetRateController seeded = new TargetRateController();
    assertThat(seeded.seed(Map.of("chow-sum", logged))).isEqualTo(1_000);
    // Cold, its first requests are decided by the configured threshold (0.5: about 31% escalated
    // by score with this traffic, plus exploration); seeded, by the window's quantile at once.
    assertThat(cold.threshold(TARGET, "chow-sum")).isEqualTo(0.5);
    double threshold = seeded.threshold(TARGET, "chow-sum");
    double[] sorted = logged.clone();
    java.util.Arrays.sort(sorted);
    // (r - e) / (1 - e) = 0.2632 of the scores above it
    assertThat(threshold).isBetween(sorted[(int) (0.7368 * 999) - 1], sorted[(int) (0.7368 * 999) + 1]);
    int escalated = 0;
    for (int i = 0; i < 200; i++) {
      double score = random.nextGaussian();
      Decision d = PolicyDecider.decide("s" + i, score, seeded.threshold(TARGET, "chow-sum"), TARGET.explorationRate());
      seeded.observe(TARGET, "chow-sum", score, d.escalates());
      escalated += d.escalates() ? 1 : 0;
    }
    assertThat(escalated / 200.0).isCloseTo(0.3, within(0.06));
    // Under another rule key the seed does not apply: that key warms up on its own.
    assertThat(seeded.threshold(TARGET, "chow-sum@0.0#v2")).isEqualTo(0.5);
  }

  @Test
  void aSeedShorterThanTheWarmUpLeavesTheRestOfItAndNonFiniteScoresAreLeftOut() {
    TargetRateController c = new TargetRateController();
    double[] few = new double[150];
    java.util.Arrays.fill(few, 1.0);
    few[3] = Double.NaN;
    assertThat(c.seed(Map.of("chow-sum", few))).isEqualTo(149);
    assertThat(c.scoresSeen()).as("taken up by the key's first request").isZero();
    assertThat(c.threshold(TARGET, "chow-sum")).as("still warming up").isEqualTo(0.5);
    assertThat(c.scoresSeen()).isEqualTo(149);
    for (int i = 0; i < 51; i++) {
      c.observe(TARGET, "chow-sum", 1.0 + i, false);
    }
    assertThat(c.threshold(TARGET, "chow-sum")).as("warm after 200 scores").isNotEqualTo(0.5);
    assertThat(c.seed(Map.of("chow-sum", new double[] {Double.NaN}))).isZero();
    assertThat(c.scoresSeen()).as("an empty seed changes nothing").isEqualTo(200);
  }

  @Test
  void aSeedLongerThanTheWindowKeepsItsNewestScores() {
    TargetRateController c = new TargetRateController(100, 50);
    double[] scores = new double[300];
    for (int i = 0; i < scores.length; i++) {
      scores[i] = i < 200 ? 1_000 + i : i - 200; // the oldest 200 far above the newest 100
    }
    assertThat(c.seed(Map.of("k", scores))).isEqualTo(100);
    DeferralPolicy half = new DeferralPolicy("chow-sum", 0.0, 0.5, 0.0, 0.5, 1, "test", 0, "");
    assertThat(c.threshold(half, "k")).isBetween(45.0, 55.0);
  }

  @Test
  void theSeedOfTheKeyThePolicyInForceNamesIsTakenEvenWhenAnotherKeyCameFirst() {
    double[] old = new double[300];
    double[] next = new double[300];
    for (int i = 0; i < 300; i++) {
      old[i] = i; // 0..299
      next[i] = 1_000 + i; // 1000..1299
    }
    TargetRateController c = new TargetRateController();
    c.seed(Map.of("posthoc-quantile@0.0#v1", old, "posthoc-quantile@0.0#v2", next));
    // One request scored by the fallback rule first (no seed for its key): the seeds wait.
    c.observe(TARGET, "chow-sum@0.0", 3.0, false);
    double t = c.threshold(TARGET, "posthoc-quantile@0.0#v2");
    assertThat(t).as("from v2's seed: about its 74th percentile").isBetween(1_200.0, 1_240.0);
    // Used once: v1, which the router never ran here, starts cold.
    assertThat(c.threshold(TARGET, "posthoc-quantile@0.0#v1")).isEqualTo(0.5);
  }

  @Test
  void seedsAreDroppedOnceAWindowHasWarmedUpOnItsOwnScores() {
    TargetRateController c = new TargetRateController();
    c.seed(Map.of("b", new double[] {1, 2, 3}));
    for (int i = 0; i < TargetRateController.DEFAULT_MIN_OBSERVATIONS; i++) {
      c.observe(TARGET, "a", i, false);
    }
    c.observe(TARGET, "b", 1.0, false);
    assertThat(c.scoresSeen()).as("b starts cold: its seed is stale by now").isEqualTo(1);
  }

  @Test
  void aSeedThatComesAfterTheKeysFirstRequestsGoesBeforeThem() {
    TargetRateController c = new TargetRateController();
    for (int i = 0; i < 3; i++) {
      c.observe(TARGET, "k", 5_000.0 + i, false); // decided cold while the router's read went on
    }
    double[] seed = new double[300];
    java.util.Arrays.fill(seed, 1.0);
    c.seed(Map.of("k", seed));
    assertThat(c.scoresSeen()).isEqualTo(303);
    assertThat(c.observations()).isEqualTo(303);
    assertThat(c.threshold(TARGET, "k")).as("warm now").isNotEqualTo(0.5);
  }
}
