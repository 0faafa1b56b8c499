package dev.cascade.loadtest;

import dev.cascade.models.Generation;
import dev.cascade.models.TextGenerator;
import dev.cascade.models.TextGenerators;
import dev.cascade.router.demo.Example;
import dev.cascade.router.demo.Examples;
import dev.cascade.router.features.FeatureExtractor;
import dev.cascade.router.features.UncertaintyFeatures;
import dev.cascade.router.learning.LearnedRules;
import dev.cascade.router.rules.DeferralRule;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * What scoring costs per request, one request at a time ({@code DeferralRule.score}) against a
 * micro-batch of 32 in one call ({@code DeferralRule.scores}, what the router does), for the
 * shipped learned rules and Chow-Quantile. Features and embeddings are the bundled small model's
 * answers to the first 320 validation prompts. One thread, wall time, 2 s per measurement, 3
 * repetitions.
 *
 * <pre>
 * java -cp router/target/cascade.jar:loadtest/target/classes -Dai.djl.offline=true dev.cascade.loadtest.ScoringBenchmark
 * </pre>
 */
public final class ScoringBenchmark {

  private static final int BATCH = 32;

  private ScoringBenchmark() {}

  public static void main(String[] args) {
    List<String> prompts = Examples.bundled("validation").subList(0, 10 * BATCH).stream().map(Example::prompt).toList();
    List<UncertaintyFeatures> features = new ArrayList<>();
    List<float[]> embeddings = new ArrayList<>();
    try (TextGenerator small = TextGenerators.load("small", "OnnxRuntime")) {
      for (Generation g : small.generate(prompts, small.info().maxNewTokensLimit())) {
        features.add(FeatureExtractor.extract(g.tokenLogprobs(), g.entropies()));
        embeddings.add(g.embedding());
      }
    }
    List<DeferralRule> rules = new ArrayList<>(LearnedRules.bundledRules());
    rules.add(LearnedRules.bundled().create("chow-quantile", 0));
    double sink = 0;
    for (DeferralRule rule : rules) {
      for (int rep = 1; rep <= 3; rep++) {
        long t0 = System.nanoTime();
        long single = 0;
        while (System.nanoTime() - t0 < 2e9) {
          for (int i = 0; i < features.size(); i++) {
            sink += rule.score(features.get(i), embeddings.get(i));
            single++;
          }
        }
        double singleUs = (System.nanoTime() - t0) / 1e3 / single;
        long t1 = System.nanoTime();
        long batched = 0;
        while (System.nanoTime() - t1 < 2e9) {
          for (int s = 0; s < features.size(); s += BATCH) {
            double[] scores = rule.scores(features.subList(s, s + BATCH), embeddings.subList(s, s + BATCH));
            sink += scores[0];
            batched += BATCH;
          }
        }
        double batchUs = (System.nanoTime() - t1) / 1e3 / batched;
        System.out.printf(Locale.ROOT, "%s, repetition %d: one at a time %.2f us per request, %d in one call %.2f us"
            + " per request%n", rule.name(), rep, singleUs, BATCH, batchUs);
      }
    }
    if (Double.isNaN(sink)) {
      System.out.println("(a score was NaN)");
    }
  }
}
