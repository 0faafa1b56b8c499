package dev.cascade.router.rules;

import dev.cascade.router.features.UncertaintyFeatures;

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
}
