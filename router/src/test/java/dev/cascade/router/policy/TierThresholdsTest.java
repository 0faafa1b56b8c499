package dev.cascade.router.policy;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** The thresholds a middle tier decides by: fixed, or held at a target share of the requests reaching it. */
class TierThresholdsTest {

  private static final TierPolicy FIXED = new TierPolicy("chow-sum", 0.0, 5.0);

  @Test
  void aFixedThresholdDecidesByItselfAndStillFillsTheWindow() {
    TierThresholds thresholds = new TierThresholds();
    assertThat(thresholds.decide(1, FIXED, 5.0, false)).isEqualTo(new TierThresholds.Decided(5.0, false));
    assertThat(thresholds.decide(1, FIXED, 5.01, false)).isEqualTo(new TierThresholds.Decided(5.0, true));
    assertThat(thresholds.scoresSeen(1)).isEqualTo(2);
    assertThat(thresholds.scoresSeen(2)).as("each tier has its own window").isZero();
  }

  @Test
  void aTargetRateHoldsTheShareOfTheRequestsReachingTheTierThatItPassesOn() {
    TierThresholds thresholds = new TierThresholds();
    // Scores whose 5.0 threshold would pass on about 61% (exponential, mean 10): the target says 25%.
    TierPolicy held = FIXED.withTargetEscalationRate(0.25);
    Random random = new Random(7);
    int passedInWarmUp = 0;
    for (int i = 0; i < TargetRateController.DEFAULT_MIN_OBSERVATIONS; i++) {
      double score = -10 * Math.log(1 - random.nextDouble());
      TierThresholds.Decided d = thresholds.decide(1, held, score, false);
      assertThat(d.threshold()).as("the configured threshold until the tier has seen 200 scores").isEqualTo(5.0);
      passedInWarmUp += d.passOn() ? 1 : 0;
    }
    assertThat(passedInWarmUp).isBetween(100, 145);
    int passed = 0;
    int n = 4_000;
    for (int i = 0; i < n; i++) {
      double score = -10 * Math.log(1 - random.nextDouble());
      TierThresholds.Decided d = thresholds.decide(1, held, score, false);
      assertThat(d.passOn()).isEqualTo(score > d.threshold());
      passed += d.passOn() ? 1 : 0;
    }
    assertThat(passed / (double) n).isBetween(0.23, 0.27);
  }

  @Test
  void aTargetAfterAnswersThatMayHaveStoppedEarlyStartsAFreshWindow() {
    TierThresholds thresholds = new TierThresholds(100, 20);
    for (int i = 0; i < 100; i++) {
      thresholds.decide(1, FIXED, i * 0.1, true);
    }
    // Prefix scores are not what whole answers score: the target's window starts afresh, and its
    // first 20 decisions use the configured threshold.
    TierPolicy held = FIXED.withTargetEscalationRate(0.5);
    assertThat(thresholds.decide(1, held, 1.0, false).threshold()).isEqualTo(5.0);
    assertThat(thresholds.scoresSeen(1)).isEqualTo(1);
    for (int i = 0; i < 40; i++) {
      thresholds.decide(1, held, i % 2 == 0 ? 1.0 : 2.0, false);
    }
    assertThat(thresholds.decide(1, held, 1.5, false).threshold()).isBetween(1.0, 2.0);
  }

  @Test
  void aTargetOfOnePassesEverythingOnAndTheRuleKeysTheWindow() {
    TierThresholds thresholds = new TierThresholds();
    assertThat(thresholds.decide(1, FIXED.withTargetEscalationRate(1.0), 0.0, false))
        .isEqualTo(new TierThresholds.Decided(Double.NEGATIVE_INFINITY, true));
    thresholds.decide(1, FIXED, 1.0, false);
    assertThat(thresholds.scoresSeen(1)).isEqualTo(2);
    thresholds.decide(1, new TierPolicy("chow-average", 0.0, 1.0), 1.0, false);
    assertThat(thresholds.scoresSeen(1)).as("another rule's scores are not comparable").isEqualTo(1);
  }
}
