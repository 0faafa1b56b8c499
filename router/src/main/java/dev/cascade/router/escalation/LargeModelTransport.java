package dev.cascade.router.escalation;

import java.time.Duration;
import java.util.OptionalInt;
import java.util.concurrent.CompletableFuture;

/**
 * One protocol to a large model, under {@link EscalationClient}'s deadlines, retries, breaker and
 * metrics. Every method returns at once; its future fails with an {@link io.grpc.StatusRuntimeException}
 * whose code says what went wrong in gRPC's terms whatever the protocol (an HTTP 503 is
 * UNAVAILABLE, a 400 INVALID_ARGUMENT, a 429 RESOURCE_EXHAUSTED: {@link TransportErrors}), so that
 * {@link EscalationClient#codeOf} and {@link EscalationClient#isRefusal} mean the same for every
 * protocol.
 */
public interface LargeModelTransport extends AutoCloseable {

  /**
   * The large model's answer to one prompt: one attempt, which fails if it takes longer than
   * {@code deadline}.
   */
  CompletableFuture<Reply> generate(String requestId, String prompt, int maxNewTokens, Duration deadline);

  /** The most tokens the server takes in one call, if it says; empty if it cannot. */
  CompletableFuture<OptionalInt> maxNewTokens(Duration deadline);

  /** Whether the server and its model are ready to answer. */
  CompletableFuture<Boolean> ready(Duration deadline);

  /** The target, for logs. */
  String describe();

  @Override
  void close();

  /**
   * One answer as the protocol gave it.
   *
   * @param text the generated text
   * @param tokens the generated token ids; empty when the protocol does not carry them
   * @param tokenLogprobs the log-probability of each token; empty when the protocol does not carry them
   * @param outputTokens how many tokens the answer is: the token ids' count, the server's count, or
   *     -1 when neither is known
   */
  record Reply(String text, int[] tokens, float[] tokenLogprobs, int outputTokens) {
    /** A reply with its token ids. */
    public Reply(String text, int[] tokens, float[] tokenLogprobs) {
      this(text, tokens, tokenLogprobs, tokens.length);
    }

    /** A reply with text alone and, if the server said, its token count (else -1). */
    public static Reply text(String text, int outputTokens) {
      return new Reply(text, new int[0], new float[0], outputTokens);
    }
  }
}
