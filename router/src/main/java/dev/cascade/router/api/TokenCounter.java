package dev.cascade.router.api;

import dev.cascade.router.routing.CostModel;
import dev.cascade.router.routing.RequestValidator;
import java.util.OptionalInt;

/**
 * Token counts for the HTTP door's {@code usage}: responses on Kafka carry no token counts (the
 * routing outcome does, on another topic), so the door counts them itself.
 *
 * <p>Prompt tokens: the small model's tokenizer on the prompt, which is what the small model read
 * (asked of the small model the router already runs, through its {@link RequestValidator}).
 * Completion tokens: the answer encoded again by the same tokenizer: exact for a word-level
 * tokenizer (an answer is its tokens joined by single spaces, {@code ModelTokenizer#decode}), and
 * for a byte-level BPE as close as encoding its decoded text comes; an answer from a later tier
 * with another tokenizer is counted in the small model's tokens. Where the small model cannot count
 * (a stand-in without a tokenizer), the prompt counts its Unicode code points, as the cost model
 * does ({@link CostModel#promptTokens}), and the answer its space-separated pieces.
 */
final class TokenCounter {

  private final RequestValidator model;

  private TokenCounter(RequestValidator model) {
    this.model = model;
  }

  /** Counts with the small model behind {@code validator}. */
  static TokenCounter of(RequestValidator validator) {
    return new TokenCounter(validator);
  }

  /** Prompt tokens counted as code points; no model limit known. */
  static TokenCounter approximate() {
    return new TokenCounter(null);
  }

  int promptTokens(String prompt) {
    OptionalInt counted = model == null ? OptionalInt.empty() : model.promptTokens(prompt);
    return counted.orElseGet(() -> CostModel.promptTokens(prompt));
  }

  /** The tokens of an answer: the small model's tokenizer on it, else its space-separated pieces. */
  int completionTokens(String text) {
    if (text.isEmpty()) {
      return 0;
    }
    OptionalInt counted = model == null ? OptionalInt.empty() : model.promptTokens(text);
    if (counted.isPresent()) {
      return counted.getAsInt();
    }
    int n = 0;
    for (String piece : text.split(" ")) {
      if (!piece.isEmpty()) {
        n++;
      }
    }
    return n;
  }

  /**
   * The most tokens an answer can have for a request asking {@code requested} (already resolved
   * from the router's default): the model's own limit clamps it.
   */
  int effectiveLimit(int requested) {
    return model == null ? requested : Math.min(requested, model.modelMaxNewTokens());
  }
}
