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
 * Completion tokens: the answer's space-separated pieces, because a model's answer is its output
 * tokens joined by single spaces ({@code ModelTokenizer#decode}): exact for the bundled models,
 * large or small. Where the small model cannot count (a stand-in without a tokenizer), the prompt
 * counts its Unicode code points, as the cost model does ({@link CostModel#promptTokens}).
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

  /** The tokens of an answer: its space-separated pieces. */
  int completionTokens(String text) {
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
