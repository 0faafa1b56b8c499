package dev.cascade.router.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Random;
import org.junit.jupiter.api.Test;

class MiddleTiersTest {

  /**
   * A middle tier's threshold is calibrated on the examples that reach it, not on the whole split:
   * here the examples the small model defers score high under the middle model, so a threshold set
   * on the whole split would pass on far more than the asked share of the tier's real traffic.
   */
  @Test
  void aTiersThresholdPassesOnTheAskedShareOfTheExamplesThatReachIt() {
    Random random = new Random(7);
    int n = 2_000;
    double[] scores = new double[n];
    boolean[] reaches = new boolean[n];
    for (int k = 0; k < n; k++) {
      reaches[k] = k % 4 == 0; // the small model defers a quarter
      scores[k] = (reaches[k] ? 2.0 : 0.0) + random.nextDouble(); // and those are harder for the middle one
    }
    boolean[] before = reaches.clone();
    double threshold = MiddleTiers.passOn(scores, reaches, 0.3, "medium");

    int reached = 0;
    int passed = 0;
    int passedOverall = 0;
    for (int k = 0; k < n; k++) {
      passedOverall += scores[k] > threshold ? 1 : 0;
      if (before[k]) {
        reached++;
        passed += scores[k] > threshold ? 1 : 0;
      }
      // Only examples that reached the tier and scored above its threshold go on.
      assertThat(reaches[k]).isEqualTo(before[k] && scores[k] > threshold);
    }
    assertThat(passed / (double) reached).isCloseTo(0.3, org.assertj.core.data.Offset.offset(0.01));
    // On the whole split the same threshold would pass on far less: the calibration is on the
    // tier's own traffic.
    assertThat(passedOverall / (double) n).isLessThan(0.1);
  }

  @Test
  void aSecondTierSeesOnlyWhatTheFirstPassedOn() {
    double[] first = {0.1, 0.9, 0.8, 0.2, 0.7, 0.95};
    double[] second = {5, 1, 2, 5, 3, 4};
    boolean[] reaches = {true, true, true, true, true, false};
    MiddleTiers.passOn(first, reaches, 0.6, "medium");
    // Of the five that reached it, the three highest first-tier scores (0.9, 0.8, 0.7) go on.
    assertThat(reaches).containsExactly(false, true, true, false, true, false);
    double threshold = MiddleTiers.passOn(second, reaches, 1.0 / 3, "large-ish");
    // Calibrated on second-tier scores 1, 2, 3 only (not the 5s the first tier kept): one goes on.
    assertThat(threshold).isBetween(2.0, 3.0);
    assertThat(reaches).containsExactly(false, false, false, false, true, false);
  }

  @Test
  void aTierNothingReachesIsRefusedWithAClearMessage() {
    assertThatThrownBy(() -> MiddleTiers.passOn(new double[] {1, 2}, new boolean[] {false, false}, 0.3, "medium"))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("no validation example reaches tier medium");
  }
}
