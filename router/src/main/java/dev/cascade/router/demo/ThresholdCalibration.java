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
    double[] scores = new double[examples.size()];
    List<String> prompts = new ArrayList<>();
    for (Example e : examples) {
      prompts.add(e.prompt());
    }
    for (int start = 0; start < prompts.size(); start += batchSize) {
      List<String> batch = prompts.subList(start, Math.min(prompts.size(), start + batchSize));
      List<Generation> generations = small.generate(batch, maxNewTokens);
      for (int j = 0; j < generations.size(); j++) {
        Generation g = generations.get(j);
        scores[start + j] = rule.score(FeatureExtractor.extract(g.tokenLogprobs(), g.entropies()), g.embedding());
      }
      progress.accept(start + batch.size());
    }
    return ThresholdCalibrator.threshold(scores, fraction);
  }
}
