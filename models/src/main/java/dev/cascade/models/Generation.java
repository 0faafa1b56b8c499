package dev.cascade.models;

/**
 * One generation: the text (in the same form as the dataset's references), the generated token
 * ids (end-of-sequence excluded), and aligned with them the natural-log probability of each chosen
 * token and the entropy (nats) of the distribution it was chosen from.
 *
 * @param embedding the mean, over the decoding steps, of the model's last hidden state at the
 *     position that produced each token; {@code null} when the model has no hidden-state output
 * @param draftAccepted how many tokens of the call's draft the model kept (the first
 *     {@code draftAccepted} of {@code tokens}); 0 without a draft
 */
public record Generation(String text, int[] tokens, float[] tokenLogprobs, float[] entropies, float[] embedding,
    int draftAccepted) {

  /** A generation decoded without a draft. */
  public Generation(String text, int[] tokens, float[] tokenLogprobs, float[] entropies, float[] embedding) {
    this(text, tokens, tokenLogprobs, entropies, embedding, 0);
  }

  /** The number of generated tokens. */
  public int length() {
    return tokens.length;
  }
}
