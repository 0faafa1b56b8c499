package dev.cascade.router.escalation;

/**
 * The large model's answer to one escalated request.
 *
 * @param text the generated text
 * @param tokens the generated token ids
 * @param tokenLogprobs log-probability of each generated token
 * @param millis wall time of the call, retries and backoff included
 * @param attempts how many calls it took (1 when the first succeeded)
 * @param outputTokens how many tokens the answer is, as the server said; -1 when it did not say
 *     (kserve:// and openai:// answers carry no token ids, and not every server counts them)
 */
public record LargeAnswer(String text, int[] tokens, float[] tokenLogprobs, double millis, int attempts,
    int outputTokens) {

  /** An answer with its token ids, which give its length. */
  public LargeAnswer(String text, int[] tokens, float[] tokenLogprobs, double millis, int attempts) {
    this(text, tokens, tokenLogprobs, millis, attempts, tokens.length);
  }
}
