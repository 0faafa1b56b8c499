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
 * @param draftSent how many draft tokens (the small model's answer) the call carried; 0 when it
 *     carried none (speculative escalation off, another tokenizer, a protocol without drafts)
 * @param draftAccepted how many of them the large model kept
 * @param stoppedEarly whether the call's early stop ({@link EarlyStopSpec}) ended the answer: it is
 *     then a prefix, whose score is already above the threshold the call gave
 * @param promptTokens how many tokens the prompt was to the model, as the server said; -1 when it did not say
 */
public record LargeAnswer(String text, int[] tokens, float[] tokenLogprobs, double millis, int attempts,
    int outputTokens, int draftSent, int draftAccepted, boolean stoppedEarly, int promptTokens) {

  /** An answer whose server did not say how many tokens the prompt was. */
  public LargeAnswer(String text, int[] tokens, float[] tokenLogprobs, double millis, int attempts,
      int outputTokens, int draftSent, int draftAccepted, boolean stoppedEarly) {
    this(text, tokens, tokenLogprobs, millis, attempts, outputTokens, draftSent, draftAccepted, stoppedEarly, -1);
  }

  /** An answer to a call without a draft. */
  public LargeAnswer(String text, int[] tokens, float[] tokenLogprobs, double millis, int attempts,
      int outputTokens) {
    this(text, tokens, tokenLogprobs, millis, attempts, outputTokens, 0, 0, false);
  }

  /** An answer with its token ids, which give its length. */
  public LargeAnswer(String text, int[] tokens, float[] tokenLogprobs, double millis, int attempts) {
    this(text, tokens, tokenLogprobs, millis, attempts, tokens.length);
  }
}
