package dev.cascade.router.learning;

import dev.cascade.models.Generation;
import dev.cascade.router.features.FeatureExtractor;
import dev.cascade.router.features.UncertaintyFeatures;
import java.util.Objects;

/**
 * A prompt with both models' answers.
 *
 * @param item the prompt, its reference and kind
 * @param small the small model's generation
 * @param large the large model's generation
 */
public record AnsweredItem(PromptItem item, Generation small, Generation large) {

  public AnsweredItem {
    Objects.requireNonNull(item, "item");
    Objects.requireNonNull(small, "small");
    Objects.requireNonNull(large, "large");
  }

  public boolean smallCorrect() {
    return item.isCorrect(small.text());
  }

  public boolean largeCorrect() {
    return item.isCorrect(large.text());
  }

  /** The small generation's uncertainty features. */
  public UncertaintyFeatures features() {
    return FeatureExtractor.extract(small.tokenLogprobs(), small.entropies());
  }

  /** The training example: features, embedding and both models' correctness. */
  public DeferralExample example() {
    return new DeferralExample(features(), small.embedding(), smallCorrect(), largeCorrect(), 1.0, "data",
        PromptHash.of(item.prompt()));
  }
}
