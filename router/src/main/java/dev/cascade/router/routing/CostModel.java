package dev.cascade.router.routing;

import dev.cascade.router.config.CascadeConfig;

/**
 * What a generation costs, in configurable units per token (prompt tokens plus generated tokens).
 * The large-only cost of a request that was not escalated is estimated with the small model's
 * output length, since the large model never saw it.
 */
public record CostModel(double smallPerToken, double largePerToken) {

  public static CostModel from(CascadeConfig config) {
    return new CostModel(config.get(CascadeConfig.COST_SMALL), config.get(CascadeConfig.COST_LARGE));
  }

  /**
   * Tokens a prompt costs: its Unicode code points, which is what the bundled character-level
   * models consume (a model with a subword tokenizer costs fewer; the count is an upper bound).
   */
  public static int promptTokens(String prompt) {
    return prompt.codePointCount(0, prompt.length());
  }

  public double small(int promptTokens, int outputTokens) {
    return smallPerToken * (promptTokens + outputTokens);
  }

  public double large(int promptTokens, int outputTokens) {
    return largePerToken * (promptTokens + outputTokens);
  }
}
