package dev.cascade.router.api;

import dev.cascade.router.routing.CostModel;
import dev.cascade.router.routing.RequestValidator;
import dev.cascade.schemas.avro.CascadeResponse;
import java.util.OptionalInt;

/**
 * Token counts for the doors' usage ({@code usage} over HTTP, {@code prompt_tokens} and {@code
 * completion_tokens} over gRPC): the serving model's own counts, as the response record carries
 * them ({@code completion_tokens}: the tokens it generated; {@code prompt_tokens}: its server's
 * count of the prompt, where a later tier's server reported one).
 *
 * <p>Where the record has none, the door counts. Prompt tokens: the small model's tokenizer on the
 * prompt, which is what the small model read (asked of the small model the router already runs,
 * through its {@link RequestValidator}); where the small model cannot count (a stand-in without a
 * tokenizer), the prompt's Unicode code points, as the cost model counts ({@link
 * CostModel#promptTokens}). Completion tokens (a record from a router before the field, or a server
 * that gave no count): the answer's space-separated pieces, because a model's answer is its output
 * tokens joined by single spaces ({@code ModelTokenizer#decode}) for the bundled models; not for a
 * byte-level BPE, whose true count only the record has.
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

  /** The prompt's tokens: the serving model's count where {@code response} has it, else the small model's. */
  int promptTokens(CascadeResponse response, String prompt) {
    return response.getPromptTokens() != null ? response.getPromptTokens() : promptTokens(prompt);
  }

  int promptTokens(String prompt) {
    OptionalInt counted = model == null ? OptionalInt.empty() : model.promptTokens(prompt);
    return counted.orElseGet(() -> CostModel.promptTokens(prompt));
  }

  /**
   * The answer's tokens: what the serving model generated where {@code response} says (whatever a
   * stop string cut from {@code text}), else {@code text}'s space-separated pieces.
   */
  int completionTokens(CascadeResponse response, String text) {
    return response.getCompletionTokens() != null ? response.getCompletionTokens() : completionTokens(text);
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
   * The most tokens {@code response}'s answer could have for a request asking {@code requested}
   * (already resolved from the router's default): the own limit of the model that answered clamps
   * it (the small model's, or the serving tier's as configured or as its server said, {@link
   * RequestValidator#modelMaxNewTokens(int)}; unclamped where that tier's limit is not known, as
   * the escalation then calls it).
   */
  int effectiveLimit(int requested, CascadeResponse response) {
    if (model == null) {
      return requested;
    }
    OptionalInt own = model.modelMaxNewTokens(dev.cascade.router.routing.RoutingRecords.servedTier(response));
    return own.isPresent() ? Math.min(requested, own.getAsInt()) : requested;
  }
}
