package dev.cascade.router.routing;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cascade.models.ModelDirectory;
import dev.cascade.router.config.CascadeConfig;
import java.nio.file.Path;
import java.util.List;

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

  /**
   * Per-token costs in proportion to the models' sizes: each model's {@code parameters} (from its
   * {@code card.json}) over the first model's, so the first costs 1.
   *
   * @param models bundled model names or model directories
   * @throws IllegalArgumentException naming a model whose card gives no {@code parameters}
   */
  public static double[] relativeToFirst(List<String> models) {
    double[] out = new double[models.size()];
    for (int k = 0; k < out.length; k++) {
      ModelDirectory dir = ModelDirectory.resolve(models.get(k));
      String model = "model '" + models.get(k) + "'";
      Path cardFile = dir.path().resolve("card.json");
      if (dir.card().isEmpty()) {
        throw new IllegalArgumentException(model + " has no card.json (" + cardFile + "), whose \"parameters\" gives"
            + " its per-token cost");
      }
      JsonNode parameters = dir.card().get().path("parameters");
      if (parameters.isMissingNode() || parameters.isNull()) {
        throw new IllegalArgumentException(model + " has no \"parameters\" in its card.json (" + cardFile
            + "), the parameter count its per-token cost comes from");
      }
      if (!parameters.canConvertToExactIntegral() || parameters.asLong(-1) <= 0) {
        throw new IllegalArgumentException(model + ": \"parameters\" in its card.json (" + cardFile + ") is "
            + parameters + ", not a positive parameter count, which its per-token cost comes from");
      }
      out[k] = parameters.asLong();
    }
    double base = out[0];
    for (int k = 0; k < out.length; k++) {
      out[k] /= base;
    }
    return out;
  }
}
