package dev.cascade.router.demo;

import dev.cascade.models.Generation;
import dev.cascade.models.TextGenerator;
import dev.cascade.router.features.FeatureExtractor;
import dev.cascade.router.learning.LearnedRule;
import dev.cascade.router.learning.RuleInfo;
import dev.cascade.router.policy.ThresholdCalibrator;
import dev.cascade.router.rules.DeferralRule;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalDouble;
import java.util.function.IntConsumer;

/**
 * Picks the threshold at which a rule defers a target fraction of a dataset: by running the small
 * model on it, or, for a learned rule, from the calibration scores its artifact carries.
 */
public final class ThresholdCalibration {

  private ThresholdCalibration() {}

  /**
   * Scores every example's small-model answer with {@code rule} and returns the threshold that
   * defers {@code fraction} of them.
   *
   * @param progress called with the number of examples scored so far
   */
  public static double calibrate(TextGenerator small, List<Example> examples, DeferralRule rule, double fraction,
      int maxNewTokens, int batchSize, IntConsumer progress) {
    List<Generation> generations = new ArrayList<>(examples.size());
    for (int start = 0; start < examples.size(); start += batchSize) {
      List<String> batch = examples.subList(start, Math.min(examples.size(), start + batchSize)).stream()
          .map(Example::prompt).toList();
      generations.addAll(small.generate(batch, maxNewTokens));
      progress.accept(generations.size());
    }
    return calibrate(generations, rule, fraction);
  }

  /** As above, from generations already made (one per example, in order). */
  public static double calibrate(List<Generation> generations, DeferralRule rule, double fraction) {
    return ThresholdCalibrator.threshold(scores(generations, rule), fraction);
  }

  /** {@code rule}'s score of each generation, in order, as the router scores an answer. */
  public static double[] scores(List<Generation> generations, DeferralRule rule) {
    double[] scores = new double[generations.size()];
    for (int i = 0; i < scores.length; i++) {
      Generation g = generations.get(i);
      scores[i] = rule.score(FeatureExtractor.extract(g.tokenLogprobs(), g.entropies()), g.embedding());
    }
    return scores;
  }

  /**
   * The threshold at which {@code rule} defers {@code targetFraction} of the examples its artifact
   * holds calibration scores for: scores on examples the rule did not train on (for a rule from
   * {@code train-rule}, each training example's score by the cross-validation model that held it
   * out), so the threshold is free of the optimism of scoring the rule's own training data. Where
   * the artifact records calibration weights (e.g. inverse propensities of outcomes), it is the
   * weighted quantile: {@link ThresholdCalibrator#threshold(double[], double[], double)}.
   *
   * <p>The scores come from the cross-validation models, each fit on {@code (k−1)/k} of the
   * examples, not from the refit rule itself; their distribution stands in for the refit rule's on
   * new data from the same source.
   *
   * @param targetFraction in [0, 1]
   * @return empty when the artifact carries no calibration scores (one written before they were
   *     recorded)
   * @throws IllegalArgumentException if the fraction is out of range, or a recorded score or weight
   *     is invalid
   */
  public static OptionalDouble fromArtifact(LearnedRule rule, double targetFraction) {
    RuleInfo info = rule.info();
    double[] scores = info.calibrationScores();
    if (!(targetFraction >= 0.0 && targetFraction <= 1.0)) {
      throw new IllegalArgumentException("targetFraction must be in [0, 1], was " + targetFraction);
    }
    if (scores.length == 0) {
      return OptionalDouble.empty();
    }
    double[] weights = info.calibrationWeights();
    return OptionalDouble.of(weights.length == 0
        ? ThresholdCalibrator.threshold(scores, targetFraction)
        : ThresholdCalibrator.threshold(scores, weights, targetFraction));
  }
}
