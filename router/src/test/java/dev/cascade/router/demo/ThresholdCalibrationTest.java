package dev.cascade.router.demo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cascade.router.learning.LearnedRule;
import dev.cascade.router.learning.LearnedRules;
import dev.cascade.router.learning.RuleInfo;
import org.junit.jupiter.api.Test;

/** {@link ThresholdCalibration#fromArtifact}: the threshold from a rule's own out-of-sample scores. */
class ThresholdCalibrationTest {

  private static LearnedRule withCalibration(double[] scores, double[] weights) {
    LearnedRule shipped = LearnedRules.bundledRules().get(0);
    RuleInfo info = shipped.info().withCalibration(scores, weights, new long[0]);
    return shipped.withInfo(info);
  }

  @Test
  void defersTheTargetFractionOfTheRecordedScores() {
    LearnedRule rule = withCalibration(new double[] {.4, .9, .1, .7, 1, .2, .8, .3, .6, .5}, null);

    assertThat(ThresholdCalibration.fromArtifact(rule, 0.3)).hasValue(0.75);
    assertThat(ThresholdCalibration.fromArtifact(rule, 0.0)).hasValue(1.0);
  }

  @Test
  void recordedWeightsMakeItTheWeightedQuantile() {
    double[] scores = {.4, .3, .2, .1};

    // Unweighted, half of four scores is two; the top one weighs three of six, so it alone is half.
    assertThat(ThresholdCalibration.fromArtifact(withCalibration(scores, null), 0.5)).hasValue(0.25);
    assertThat(ThresholdCalibration.fromArtifact(withCalibration(scores, new double[] {3, 1, 1, 1}), 0.5))
        .hasValue(0.35);
  }

  @Test
  void anArtifactWithoutCalibrationScoresGivesNothing() {
    LearnedRule rule = withCalibration(new double[0], null);

    assertThat(ThresholdCalibration.fromArtifact(rule, 0.2)).isEmpty();
    assertThatThrownBy(() -> ThresholdCalibration.fromArtifact(rule, 1.5)).hasMessageContaining("targetFraction");
  }

  @Test
  void theShippedRulesCarryOutOfFoldScoresForTheirValidationSplit() {
    for (LearnedRule rule : LearnedRules.bundledRules()) {
      double[] scores = rule.info().calibrationScores();
      assertThat(scores).as(rule.name()).hasSize(3500);
      double threshold = ThresholdCalibration.fromArtifact(rule, 0.2).orElseThrow();
      long deferred = java.util.Arrays.stream(scores).filter(s -> s > threshold).count();
      assertThat(deferred).as(rule.name()).isLessThanOrEqualTo(700).isGreaterThan(650);
    }
  }
}
