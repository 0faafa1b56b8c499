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
 * @param stoppedEarly whether the caller's {@link TextGenerator.EarlyStop} ended decoding after
 *     {@link #length()} tokens, before end-of-sequence or the token limit: the text is then a prefix
 *     of what the model would have written
 */
public record Generation(String text, int[] tokens, float[] tokenLogprobs, float[] entropies, float[] embedding,
    int draftAccepted, boolean stoppedEarly) {

  /** A generation decoded to its end (end-of-sequence or the token limit) without a draft. */
  public Generation(String text, int[] tokens, float[] tokenLogprobs, float[] entropies, float[] embedding) {
    this(text, tokens, tokenLogprobs, entropies, embedding, 0, false);
  }

  /** A generation decoded to its end with a draft, {@code draftAccepted} of its tokens kept. */
  public Generation(String text, int[] tokens, float[] tokenLogprobs, float[] entropies, float[] embedding,
      int draftAccepted) {
    this(text, tokens, tokenLogprobs, entropies, embedding, draftAccepted, false);
  }

  /** A generation without a draft, {@code stoppedEarly} or decoded to its end. */
  public Generation(String text, int[] tokens, float[] tokenLogprobs, float[] entropies, float[] embedding,
      boolean stoppedEarly) {
    this(text, tokens, tokenLogprobs, entropies, embedding, 0, stoppedEarly);
  }

  /** The number of generated tokens. */
  public int length() {
    return tokens.length;
  }
}
