package dev.cascade.router.learning;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cascade.router.evaluation.CascadeEvaluation;
import dev.cascade.router.features.UncertaintyFeatures;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class RuleTrainerTest {

  private static final RuleTrainer.Options FAST = new RuleTrainer.Options(3, 7L,
      List.of(LearnerSpec.logisticRegression(5, 0.1), LearnerSpec.xgboost(60, 3, 0.2)));

  @Test
  void findsTheOneFeatureTheLabelDependsOn() {
    // Deferring helps exactly when the median token log-prob is below -1; 24 other features are noise.
    List<DeferralExample> train = SyntheticExamples.labelled(1500, 1, 0, e -> median(e) < -1.0);
    List<DeferralExample> test = SyntheticExamples.labelled(1000, 2, 0, e -> median(e) < -1.0);

    RuleTrainer.TrainingResult result = RuleTrainer.train(
        FeatureSet.QUANTILE, train, "synthetic", 1, FAST, RuleTrainer.Progress.NONE);
    LearnedRule rule = result.rule();

    CascadeEvaluation evaluation = evaluation(test);
    double[] scores = new double[test.size()];
    for (int i = 0; i < scores.length; i++) {
      scores[i] = rule.score(test.get(i).features());
    }
    assertThat(evaluation.metrics(scores).oracleSharePct()).isGreaterThan(95.0);
    // The score ranks by that feature: a lower median is never scored as less in need of deferral
    // by much, across the threshold.
    double below = 0;
    double above = 0;
    int nBelow = 0;
    for (int i = 0; i < scores.length; i++) {
      if (median(test.get(i)) < -1.0) {
        below += scores[i];
        nBelow++;
      } else {
        above += scores[i];
      }
    }
    assertThat(below / nBelow).isGreaterThan(0.8);
    assertThat(above / (scores.length - nBelow)).isLessThan(0.2);
    assertThat(rule.name()).isEqualTo("posthoc-quantile");
    assertThat(rule.info().featureNames()).isEqualTo(UncertaintyFeatures.names());
    assertThat(rule.info().validationMetrics())
        .containsKeys("cv_auc_df", "cv_auc_df_chow_sum", "cv_auc_df_random", "cv_auc_df_oracle")
        .containsKey("cv_auc_df:" + FAST.candidates().get(0).id());
    assertThat(result.candidates()).hasSize(2);
  }

  @Test
  void choosesTheLearnerWithTheHigherCrossValidatedAucDf() {
    // Deferring helps only in a band of the sequence log-prob: not monotone, so no linear model
    // can rank it, and gradient boosting can.
    List<DeferralExample> examples = SyntheticExamples.labelled(1500, 3, 0,
        e -> e.features().logprobSum() < -8 && e.features().logprobSum() > -16);

    RuleTrainer.TrainingResult result = RuleTrainer.train(
        FeatureSet.QUANTILE, examples, "synthetic", 1, FAST, RuleTrainer.Progress.NONE);

    RuleTrainer.CandidateResult logistic = result.candidates().get(0);
    RuleTrainer.CandidateResult boosted = result.candidates().get(1);
    assertThat(boosted.cvAucDf()).isGreaterThan(logistic.cvAucDf() + 0.01);
    assertThat(result.rule().info().learner()).isEqualTo(boosted.learner());
    assertThat(result.rule().info().validationMetrics().get("cv_auc_df")).isEqualTo(boosted.cvAucDf());
    // Chow-Sum ranks by the sum itself, monotonically, so it must trail the boosted trees too.
    assertThat(boosted.cvAucDf()).isGreaterThan(result.chowSumCvAucDf());
  }

  @Test
  void reportsEveryFitToProgress() {
    List<DeferralExample> examples = SyntheticExamples.labelled(300, 4, 0, e -> median(e) < -1.0);
    List<String> fits = new ArrayList<>();

    RuleTrainer.train(FeatureSet.QUANTILE, examples, "synthetic", 1, FAST, fits::add);

    assertThat(fits).hasSize(FAST.fits());
  }

  @Test
  void refusesTooFewExamplesOrOneClass() {
    List<DeferralExample> none = SyntheticExamples.labelled(200, 5, 0, e -> false);

    assertThatThrownBy(() -> RuleTrainer.train(
        FeatureSet.QUANTILE, none, "synthetic", 1, FAST, RuleTrainer.Progress.NONE))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("0 where deferring helps");
  }

  @Test
  void embedRuleNeedsAnEmbeddingOnEveryExample() {
    List<DeferralExample> examples = SyntheticExamples.labelled(200, 6, 0, e -> median(e) < -1.0);

    assertThatThrownBy(() -> RuleTrainer.train(
        FeatureSet.EMBED, examples, "synthetic", 1, FAST, RuleTrainer.Progress.NONE))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("embedding");
  }

  static double median(DeferralExample e) {
    return e.features().logprobQuantile(0.5);
  }

  static CascadeEvaluation evaluation(List<DeferralExample> examples) {
    boolean[] small = new boolean[examples.size()];
    boolean[] large = new boolean[examples.size()];
    for (int i = 0; i < small.length; i++) {
      small[i] = examples.get(i).smallCorrect();
      large[i] = examples.get(i).largeCorrect();
    }
    return new CascadeEvaluation(small, large);
  }
}
