package dev.cascade.models;

/**
 * What one forward pass over a prompt tells before any token is generated: how likely the model
 * finds the prompt, and its state where the answer would begin.
 *
 * <p>The pass reads the prompt's tokens followed by the separator, the same prefix generation
 * starts from. Position t predicts token t + 1, so a prompt of n tokens gives n scored tokens:
 * its tokens 2..n and the separator.
 *
 * @param tokens the prompt's token count (separator excluded)
 * @param meanLogprob the mean natural-log probability of the n scored tokens; {@code exp(-meanLogprob)}
 *     is the prompt's perplexity
 * @param firstLogprob the log-probability of the greedy first answer token (the separator's
 *     distribution): what generation's first token gets
 * @param firstEntropy the entropy (nats) of that distribution
 * @param lastHidden the hidden state at the separator, the last position of the prefix; {@code null}
 *     when the model has no {@code hidden} output
 */
public record PromptScore(int tokens, double meanLogprob, float firstLogprob, float firstEntropy, float[] lastHidden) {

  /** The prompt's perplexity under the model: {@code exp(-meanLogprob)}. */
  public double perplexity() {
    return Math.exp(-meanLogprob);
  }
}
