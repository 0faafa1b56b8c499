package dev.cascade.router.learning;

import dev.cascade.router.features.FeatureExtractor;
import dev.cascade.router.features.UncertaintyFeatures;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Predicate;

/** Synthetic deferral examples: random generations whose label is a known function of them. */
public final class SyntheticExamples {

  private SyntheticExamples() {}

  /** Random features of a generation of 1-30 tokens, log-probs in (-4, 0]. */
  public static UncertaintyFeatures randomFeatures(SplittableRandom random) {
    int length = 1 + random.nextInt(30);
    float[] logprobs = new float[length];
    float[] entropies = new float[length];
    for (int i = 0; i < length; i++) {
      logprobs[i] = (float) -(random.nextDouble() * random.nextDouble() * 4);
      entropies[i] = (float) (random.nextDouble() * 3);
    }
    return FeatureExtractor.extract(logprobs, entropies);
  }

  static float[] randomEmbedding(SplittableRandom random, int length) {
    float[] embedding = new float[length];
    for (int i = 0; i < length; i++) {
      embedding[i] = (float) random.nextGaussian();
    }
    return embedding;
  }

  /**
   * {@code n} examples where deferring helps exactly where {@code benefit} holds (small wrong,
   * large right); elsewhere both models are right, or (a third of the rest) both wrong.
   */
  static List<DeferralExample> labelled(
      int n, long seed, int embeddingLength, Predicate<DeferralExample> benefit) {
    SplittableRandom random = new SplittableRandom(seed);
    List<DeferralExample> examples = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      UncertaintyFeatures features = randomFeatures(random);
      float[] embedding = embeddingLength == 0 ? null : randomEmbedding(random, embeddingLength);
      DeferralExample unlabelled = new DeferralExample(features, embedding, false, true);
      if (benefit.test(unlabelled)) {
        examples.add(unlabelled);
      } else {
        boolean both = random.nextInt(3) != 0;
        examples.add(new DeferralExample(features, embedding, both, both));
      }
    }
    return examples;
  }
}
