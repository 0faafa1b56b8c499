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

  @Test
  void weightsOfOneGiveTheUnweightedThreshold() {
    SplittableRandom random = new SplittableRandom(11);
    double[] scores = new double[503];
    for (int i = 0; i < scores.length; i++) {
      scores[i] = Math.floor(random.nextDouble() * 40); // plenty of ties
    }
    double[] ones = new double[scores.length];
    java.util.Arrays.fill(ones, 1.0);
    for (int percent = 0; percent <= 100; percent += 5) {
      double fraction = percent / 100.0;
      assertThat(ThresholdCalibrator.threshold(scores, ones, fraction)).as("fraction %s", fraction)
          .isEqualTo(ThresholdCalibrator.threshold(scores, fraction));
    }
  }

  @Test
  void aHeavyScoreCountsAsManyAndTheWeightedFractionIsNeverExceeded() {
    double[] scores = {4, 3, 2, 1};
    double[] weights = {3, 1, 1, 1}; // the top score stands for three items out of six

    assertThat(ThresholdCalibrator.threshold(scores, weights, 0.5)).isEqualTo(3.5);
    assertThat(ThresholdCalibrator.threshold(scores, weights, 0.49)).isEqualTo(4.0); // 3 of 6 is too much
    assertThat(ThresholdCalibrator.threshold(scores, weights, 5.0 / 6)).isEqualTo(1.5);

    SplittableRandom random = new SplittableRandom(13);
    double[] many = new double[400];
    double[] w = new double[400];
    double total = 0;
    for (int i = 0; i < many.length; i++) {
      many[i] = Math.floor(random.nextDouble() * 30);
      w[i] = random.nextBoolean() ? 1.0 : 20.0;
      total += w[i];
    }
    for (int percent = 0; percent <= 100; percent += 10) {
      double threshold = ThresholdCalibrator.threshold(many, w, percent / 100.0);
      double deferredWeight = 0;
      for (int i = 0; i < many.length; i++) {
        deferredWeight += many[i] > threshold ? w[i] : 0;
      }
      assertThat(deferredWeight / total).as("%d%%", percent).isLessThanOrEqualTo(percent / 100.0 + 1e-9);
    }
  }

  @Test
  void rejectsBadWeightsNamingThem() {
    assertThatThrownBy(() -> ThresholdCalibrator.threshold(ONE_TO_TEN, new double[3], 0.3))
        .hasMessageContaining("3 weights for 10 scores");
    double[] weights = {1, 1, 1, 1, 1, 1, 1, 0, 1, 1};
    assertThatThrownBy(() -> ThresholdCalibrator.threshold(ONE_TO_TEN, weights, 0.3))
        .hasMessageContaining("weights[7]");
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
