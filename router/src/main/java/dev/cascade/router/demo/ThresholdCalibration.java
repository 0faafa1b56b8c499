package dev.cascade.router.demo;

import dev.cascade.models.Generation;
import dev.cascade.models.TextGenerator;
import dev.cascade.router.features.FeatureExtractor;
import dev.cascade.router.policy.ThresholdCalibrator;
import dev.cascade.router.rules.DeferralRule;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntConsumer;

/** Picks the threshold at which a rule defers a target fraction of a dataset, by running the small model on it. */
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
    double[] scores = new double[generations.size()];
    for (int i = 0; i < scores.length; i++) {
      Generation g = generations.get(i);
      scores[i] = rule.score(FeatureExtractor.extract(g.tokenLogprobs(), g.entropies()), g.embedding());
    }
    return ThresholdCalibrator.threshold(scores, fraction);
  }
}
