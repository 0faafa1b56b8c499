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
    assertThat(thresholds.decide(1, FIXED, 5.0)).isEqualTo(new TierThresholds.Decided(5.0, false));
    assertThat(thresholds.decide(1, FIXED, 5.01)).isEqualTo(new TierThresholds.Decided(5.0, true));
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
      TierThresholds.Decided d = thresholds.decide(1, held, score);
      assertThat(d.threshold()).as("the configured threshold until the tier has seen 200 scores").isEqualTo(5.0);
      passedInWarmUp += d.passOn() ? 1 : 0;
    }
    assertThat(passedInWarmUp).isBetween(100, 145);
    int passed = 0;
    int n = 4_000;
    for (int i = 0; i < n; i++) {
      double score = -10 * Math.log(1 - random.nextDouble());
      TierThresholds.Decided d = thresholds.decide(1, held, score);
      assertThat(d.passOn()).isEqualTo(score > d.threshold());
      passed += d.passOn() ? 1 : 0;
    }
    assertThat(passed / (double) n).isBetween(0.23, 0.27);
  }

  @Test
  void underATargetAnswersStopOnlyAboveTheStopThresholdAndKeepTheWindow() {
    TierThresholds thresholds = new TierThresholds(1000, 20, 0.1);
    assertThat(thresholds.stopThreshold(1, FIXED)).as("a fixed threshold stops at itself").isEqualTo(5.0);
    TierPolicy held = FIXED.withTargetEscalationRate(0.3);
    assertThat(thresholds.stopThreshold(1, held)).as("none during the warm-up").isEqualTo(Double.POSITIVE_INFINITY);
    for (int i = 0; i < 1000; i++) {
      double score = (i * 37 % 1000) / 100.0; // 0.00 to 9.99, evenly
      double stop = thresholds.stopThreshold(1, held);
      boolean stops = score > stop;
      // The answers that stopped: prefixes just past the stop threshold, always passed on.
      TierThresholds.Decided d = thresholds.decide(null, 1, held, stops ? stop + 0.01 : score, stops);
      if (stops) {
        assertThat(d.passOn()).isTrue();
      }
    }
    assertThat(thresholds.scoresSeen(1)).as("one window: answers that may stop under a target").isEqualTo(1000);
    double decision = thresholds.decide(1, held, 0.0).threshold();
    assertThat(decision).isCloseTo(7.0, org.assertj.core.data.Offset.offset(0.5));
    // Evenly spread scores: as far above the decision threshold as the 10 points below it span.
    assertThat(thresholds.stopThreshold(1, held)).isCloseTo(decision + 1.0, org.assertj.core.data.Offset.offset(0.3));
  }

  /**
   * A target set after a spell at a fixed threshold with early deferral reads its threshold from
   * the spell's scores at once: the stopped answers' prefix scores sit just above the fixed
   * threshold, below their whole answers' scores, so the threshold read lies between the fixed one
   * and the one the whole answers would give, and the target's own scores take it there.
   */
  @Test
  void aTargetAfterAnswersThatMayHaveStoppedEarlyStartsFromTheirWindow() {
    TierThresholds thresholds = new TierThresholds(100, 20);
    for (int i = 0; i < 100; i++) {
      double whole = i * 0.1; // 0.0 to 9.9: a target of 0.3 is right at 7.0
      boolean stopped = whole > 5.0;
      TierThresholds.Decided d = thresholds.decide(null, 1, FIXED, stopped ? 5.0 + 0.001 * i : whole, stopped);
      assertThat(d.passOn()).isEqualTo(stopped);
    }
    TierPolicy held = FIXED.withTargetEscalationRate(0.3);
    double first = thresholds.decide(1, held, 1.0).threshold();
    assertThat(first).as("read from the spell's window, not the configured 5.0").isGreaterThan(5.0).isLessThan(7.0);
    assertThat(thresholds.scoresSeen(1)).isEqualTo(101);
    for (int i = 0; i < 200; i++) {
      thresholds.decide(1, held, (i * 37 % 100) * 0.1);
    }
    assertThat(thresholds.decide(1, held, 1.0).threshold()).isCloseTo(7.0, org.assertj.core.data.Offset.offset(0.5));
  }

  @Test
  void anExploredAnswerIsPassedOnWithTheExplorationRateAsItsPropensity() {
    TierThresholds thresholds = new TierThresholds();
    TierPolicy exploring = FIXED.withExplorationRate(0.2);
    int explored = 0;
    int served = 0;
    for (int i = 0; i < 5_000; i++) {
      String id = "r" + i;
      double score = (i % 100) / 10.0; // 0.0 to 9.9: half above 5.0
      TierThresholds.Decided d = thresholds.decide(id, 1, exploring, score, false);
      if (score > 5.0) {
        assertThat(d).isEqualTo(new TierThresholds.Decided(5.0, true, false));
        assertThat(d.propensity(exploring)).isEqualTo(1.0);
      } else {
        assertThat(d.explored()).isEqualTo(exploring.explores(id, 1));
        assertThat(d.passOn()).isEqualTo(d.explored());
        assertThat(d.propensity(exploring)).as("explored or served, its chance of going on").isEqualTo(0.2);
        explored += d.explored() ? 1 : 0;
        served += d.passOn() ? 0 : 1;
      }
    }
    assertThat(explored / (double) (explored + served)).isBetween(0.18, 0.22);
    assertThat(thresholds.decide("r1", 1, FIXED, 0.0, false).explored()).as("rate 0").isFalse();
    assertThat(thresholds.decide(null, 1, new TierPolicy("chow-sum", 0.0, 5.0, 0.0, 1.0), 0.0, false).explored())
        .as("no request id: nothing to draw on").isFalse();
  }

  @Test
  void underATargetTheExploredAnswersCountTowardIt() {
    TierThresholds thresholds = new TierThresholds();
    TierPolicy held = FIXED.withTargetEscalationRate(0.3).withExplorationRate(0.1);
    Random random = new Random(11);
    int passed = 0;
    int explored = 0;
    int n = 6_000;
    for (int i = 0; i < n; i++) {
      double score = -10 * Math.log(1 - random.nextDouble());
      TierThresholds.Decided d = thresholds.decide("q" + i, 1, held, score, false);
      if (i >= 1_000) {
        passed += d.passOn() ? 1 : 0;
        explored += d.explored() ? 1 : 0;
      }
    }
    assertThat(passed / (n - 1_000.0)).as("deferred plus explored hold the target").isBetween(0.27, 0.33);
    assertThat(explored / (n - 1_000.0)).as("a tenth of the ~70% the rule serves").isBetween(0.05, 0.09);
  }

  @Test
  void aTargetOfOnePassesEverythingOnAndTheRuleKeysTheWindow() {
    TierThresholds thresholds = new TierThresholds();
    assertThat(thresholds.decide(1, FIXED.withTargetEscalationRate(1.0), 0.0))
        .isEqualTo(new TierThresholds.Decided(Double.NEGATIVE_INFINITY, true));
    thresholds.decide(1, FIXED, 1.0);
    assertThat(thresholds.scoresSeen(1)).isEqualTo(2);
    thresholds.decide(1, new TierPolicy("chow-average", 0.0, 1.0), 1.0);
    assertThat(thresholds.scoresSeen(1)).as("another rule's scores are not comparable").isEqualTo(1);
  }
}
