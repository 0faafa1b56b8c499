package dev.cascade.models;

/**
 * The arithmetic of one decoding step over a row of logits: the greedy choice, its natural-log
 * probability, and the entropy of the softmax distribution. Pure; no model, no engine.
 */
public final class TokenDistribution {

  private TokenDistribution() {}

  /** The chosen token of a greedy step over {@code logits[offset, offset + vocab)}. */
  public record Choice(int token, float logprob, float entropy) {}

  /** Greedy choice (the first maximum on ties), its log-probability and the step's entropy, in nats. */
  public static Choice greedy(float[] logits, int offset, int vocab) {
    int best = 0;
    float max = Float.NEGATIVE_INFINITY;
    for (int i = 0; i < vocab; i++) {
      float v = logits[offset + i];
      if (v > max) {
        max = v;
        best = i;
      }
    }
    double sum = 0;
    double weighted = 0;
    for (int i = 0; i < vocab; i++) {
      double d = logits[offset + i] - max;
      double e = Math.exp(d);
      sum += e;
      weighted += e * d;
    }
    double logSum = Math.log(sum);
    // log p_i = d_i - logSum; H = -sum p_i log p_i = logSum - sum(e_i d_i) / sum
    float entropy = (float) Math.max(0.0, logSum - weighted / sum);
    return new Choice(best, (float) -logSum, entropy);
  }
}
