package dev.cascade.router.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class ThresholdCalibratorTest {

  private static final double[] ONE_TO_TEN = {4, 9, 1, 7, 10, 2, 8, 3, 6, 5};

  @Test
  void defersTheTargetFractionWithTheThresholdMidwayInTheGap() {
    double threshold = ThresholdCalibrator.threshold(ONE_TO_TEN, 0.3);

    assertThat(threshold).isEqualTo(7.5);
    assertThat(deferred(ONE_TO_TEN, threshold)).isEqualTo(3);
  }

  @Test
  void zeroDefersNothingAndOneDefersEverythingWithAFiniteThreshold() {
    double none = ThresholdCalibrator.threshold(ONE_TO_TEN, 0.0);
    double all = ThresholdCalibrator.threshold(ONE_TO_TEN, 1.0);

    assertThat(deferred(ONE_TO_TEN, none)).isZero();
    assertThat(deferred(ONE_TO_TEN, all)).isEqualTo(10);
    assertThat(all).isFinite().isLessThan(1.0);
  }

  @Test
  void aTiedBlockAtTheBoundaryStaysOnTheAcceptSide() {
    double[] scores = {3, 2, 2, 2, 1};

    double threshold = ThresholdCalibrator.threshold(scores, 0.4);

    assertThat(deferred(scores, threshold)).isEqualTo(1);
  }

  @Test
  void neverDefersMoreThanTheTargetOnTheSample() {
    SplittableRandom random = new SplittableRandom(7);
    double[] scores = new double[997];
    for (int i = 0; i < scores.length; i++) {
      scores[i] = Math.floor(random.nextDouble() * 50); // plenty of ties
    }
    for (int percent = 0; percent <= 100; percent += 5) {
      double fraction = percent / 100.0;
      int deferred = deferred(scores, ThresholdCalibrator.threshold(scores, fraction));
      assertThat(deferred).as("fraction %s", fraction).isLessThanOrEqualTo((int) Math.floor(fraction * 997 + 1e-9));
      assertThat(deferred).as("fraction %s", fraction).isGreaterThan((int) (fraction * 997) - 60);
    }
  }

  @Test
  void roundsTheItemCountDownWithoutBinaryRoundingSurprises() {
    // 0.57 * 100 is 56.99999999999999 in binary.
    double[] scores = new double[100];
    for (int i = 0; i < 100; i++) {
      scores[i] = i;
    }

    assertThat(deferred(scores, ThresholdCalibrator.threshold(scores, 0.57))).isEqualTo(57);
  }

  @Test
  void adjacentDoublesStillSplit() {
    double[] scores = {1.0, Math.nextUp(1.0)};

    assertThat(deferred(scores, ThresholdCalibrator.threshold(scores, 0.5))).isEqualTo(1);
  }

  @Test
  void acceptsAList() {
    assertThat(ThresholdCalibrator.threshold(List.of(1.0, 2.0, 3.0, 4.0), 0.5)).isEqualTo(2.5);
  }

  @Test
  void rejectsBadInputNamingIt() {
    assertThatThrownBy(() -> ThresholdCalibrator.threshold(new double[0], 0.3))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("empty");
    assertThatThrownBy(() -> ThresholdCalibrator.threshold(new double[] {1, Double.NaN}, 0.3))
        .hasMessageContaining("scores[1]");
    assertThatThrownBy(() -> ThresholdCalibrator.threshold(ONE_TO_TEN, 1.2))
        .hasMessageContaining("fraction");
  }

  private static int deferred(double[] scores, double threshold) {
    int count = 0;
    for (double score : scores) {
      if (score > threshold) {
        count++;
      }
    }
    return count;
  }
}
