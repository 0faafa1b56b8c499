package dev.cascade.router.api;

import dev.cascade.models.ModelDirectory;
import dev.cascade.models.ModelTokenizer;
import dev.cascade.router.routing.CostModel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Token counts for the HTTP door's {@code usage}: responses on Kafka carry no token counts (the
 * routing outcome does, on another topic), so the door counts them itself.
 *
 * <p>Prompt tokens: the small model's tokenizer on the prompt, which is what the small model read.
 * Completion tokens: the answer's space-separated pieces, because a model's answer is its output
 * tokens joined by single spaces ({@link ModelTokenizer#decode}): exact for the bundled models,
 * large or small. Without the small model's tokenizer (a model directory that cannot be read), the
 * prompt counts its Unicode code points, as the cost model does ({@link CostModel#promptTokens}).
 */
final class TokenCounter implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(TokenCounter.class);

  private final ModelTokenizer tokenizer;
  private final int modelMaxNewTokens;

  private TokenCounter(ModelTokenizer tokenizer, int modelMaxNewTokens) {
    this.tokenizer = tokenizer;
    this.modelMaxNewTokens = modelMaxNewTokens;
  }

  /** The counter of {@code smallModel} (a bundled name or a directory), falling back to code points. */
  static TokenCounter forModel(String smallModel) {
    try {
      ModelDirectory dir = ModelDirectory.resolve(smallModel);
      int maxNew = dir.cardInt("max_new_tokens").orElse(Integer.MAX_VALUE);
      return new TokenCounter(ModelTokenizer.load(dir.tokenizerFile(), dir.specialTokens(), Integer.MAX_VALUE), maxNew);
    } catch (Exception | UnsatisfiedLinkError e) {
      LOG.warn("HTTP door: cannot load the tokenizer of small model '{}' ({}); usage counts prompt code points",
          smallModel, e.toString());
      return approximate();
    }
  }

  /** Prompt tokens counted as code points; no model limit known. */
  static TokenCounter approximate() {
    return new TokenCounter(null, Integer.MAX_VALUE);
  }

  int promptTokens(String prompt) {
    if (tokenizer != null) {
      try {
        return tokenizer.encodePrompt(prompt).length;
      } catch (RuntimeException e) {
        LOG.debug("tokenizer failed on a prompt; counting code points", e);
      }
    }
    return CostModel.promptTokens(prompt);
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
    return Math.min(requested, modelMaxNewTokens);
  }

  @Override
  public void close() {
    if (tokenizer != null) {
      tokenizer.close();
    }
  }
}
