package dev.cascade.router.rules;

import dev.cascade.router.features.UncertaintyFeatures;
import java.util.List;

/**
 * Turns the uncertainty features of one small-model generation into a deferral score.
 *
 * <p>Contract: higher means more likely to defer; the score is finite for any valid features; the
 * same features always give the same score; implementations are immutable and thread-safe.
 */
public interface DeferralRule {

  /** The rule's name as a policy and the evaluation spell it, e.g. {@code chow-quantile-0.1}. */
  String name();

  /** The deferral score of one generation: higher means more likely to need the large model. */
  double score(UncertaintyFeatures features);

  /**
   * The deferral score given also the small model's embedding of the generation ({@code null} when
   * the model exports none). Rules that use no embedding ignore it: the default is {@link
   * #score(UncertaintyFeatures)}.
   */
  default double score(UncertaintyFeatures features, float[] embedding) {
    return score(features);
  }

  /**
   * Whether the score depends on the generation's embedding, which exists only once decoding has
   * ended (so such a rule cannot score a generation still being decoded). The default is false.
   */
  default boolean usesEmbedding() {
    return false;
  }

  /**
   * The scores of many generations in one call, in order: each the same as {@link
   * #score(UncertaintyFeatures, float[])} gives for that generation alone. The router scores each
   * micro-batch with one call. The default scores one at a time; a rule whose model predicts a batch
   * faster than its rows one by one (a tree ensemble) overrides it.
   *
   * @param embeddings one per generation (entries may be null), or null for none
   * @throws IllegalArgumentException if {@code embeddings} is not as long as {@code features}
   */
  default double[] scores(List<UncertaintyFeatures> features, List<float[]> embeddings) {
    if (embeddings != null && embeddings.size() != features.size()) {
      throw new IllegalArgumentException(features.size() + " feature sets but " + embeddings.size() + " embeddings");
    }
    double[] out = new double[features.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = score(features.get(i), embeddings == null ? null : embeddings.get(i));
    }
    return out;
  }
}
