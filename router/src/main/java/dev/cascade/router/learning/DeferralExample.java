package dev.cascade.router.learning;

import dev.cascade.router.features.UncertaintyFeatures;
import java.util.Objects;

/**
 * One training example of a learned deferral rule: the small model's uncertainty features (and
 * embedding, where known) and whether each model answered correctly.
 *
 * <p>The label is the <em>benefit of deferring</em>: the large model right where the small one is
 * wrong (Gupta et al.'s golden deferral label, the quality difference, cut at zero). Not merely
 * "the small model is wrong": the least confident answers are often ones the large model gets wrong
 * too, and deferring those only costs.
 *
 * @param features the small model's uncertainty features
 * @param embedding the small model's embedding, or {@code null} when it was not computed
 * @param smallCorrect whether the small model's answer was right
 * @param largeCorrect whether the large model's answer was right (when unknown, for an answer the
 *     small model got right, false: the label, no benefit, does not depend on it)
 * @param weight the example's training weight, e.g. the inverse of the probability that its label
 *     was seen ({@link LabelledOutcomes}); positive and finite
 * @param labelSource what labelled it: {@code reference}, {@code feedback}, {@code teacher}, or
 *     {@code data} for a labelled file, {@code prior} for the continuous learner's prior
 * @param promptHash the prompt's {@link PromptHash}, 0 when unknown
 */
public record DeferralExample(
    UncertaintyFeatures features, float[] embedding, boolean smallCorrect, boolean largeCorrect, double weight,
    String labelSource, long promptHash) {

  public DeferralExample {
    Objects.requireNonNull(features, "features");
    embedding = embedding == null ? null : embedding.clone();
    if (!(weight > 0) || Double.isInfinite(weight)) {
      throw new IllegalArgumentException("weight must be positive and finite, was " + weight);
    }
    Objects.requireNonNull(labelSource, "labelSource");
  }

  /** An example of weight 1 from a labelled file. */
  public DeferralExample(UncertaintyFeatures features, float[] embedding, boolean smallCorrect, boolean largeCorrect) {
    this(features, embedding, smallCorrect, largeCorrect, 1.0, "data", 0L);
  }

  /** This example with another weight. */
  public DeferralExample withWeight(double newWeight) {
    return new DeferralExample(features, embedding, smallCorrect, largeCorrect, newWeight, labelSource, promptHash);
  }

  /** The label: deferring this item helps (the large model right, the small one wrong). */
  public boolean benefit() {
    return largeCorrect && !smallCorrect;
  }

  /** A copy of the embedding, or {@code null}. */
  @Override
  public float[] embedding() {
    return embedding == null ? null : embedding.clone();
  }

  /** Whether an embedding is present (without copying it). */
  public boolean hasEmbedding() {
    return embedding != null;
  }

  /** The embedding's length, 0 when absent (without copying it). */
  public int embeddingLength() {
    return embedding == null ? 0 : embedding.length;
  }

  float[] embeddingUnsafe() {
    return embedding;
  }
}
