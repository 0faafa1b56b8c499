package dev.cascade.router.escalation;

import java.time.Duration;
import java.util.Optional;
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

  /**
   * As {@link #generate(String, String, int, Duration)}, with a draft of the answer (token ids in
   * the served model's tokenizer, see {@link ServerInfo#tokenizerSha256()}) that the server checks
   * in one forward pass, and, unless null, an early stop ({@link EarlyStopSpec}). A protocol that
   * cannot carry a draft or an early stop sends neither and decodes to the end: this default.
   */
  default CompletableFuture<Reply> generate(String requestId, String prompt, int maxNewTokens, int[] draft,
      EarlyStopSpec stop, Duration deadline) {
    return generate(requestId, prompt, maxNewTokens, deadline);
  }

  /**
   * As {@link #generate(String, String, int, int[], EarlyStopSpec, Duration)}, with the request's
   * conversation (empty for a plain prompt), which a protocol that takes one sends instead of the
   * prompt; the others send the prompt: this default.
   */
  default CompletableFuture<Reply> generate(String requestId, String prompt, java.util.List<ChatTurn> conversation,
      int maxNewTokens, int[] draft, EarlyStopSpec stop, Duration deadline) {
    return generate(requestId, prompt, maxNewTokens, draft, stop, deadline);
  }

  /** What the server says of its model; {@link ServerInfo#UNKNOWN} if it cannot say. */
  CompletableFuture<ServerInfo> info(Duration deadline);

  /** Whether the server and its model are ready to answer. */
  CompletableFuture<Boolean> ready(Duration deadline);

  /** The target, for logs. */
  String describe();

  /**
   * The call that asks the server what it serves ({@link #info}), as logs name it; empty when the
   * protocol has none ({@link #info} then answers {@link ServerInfo#UNKNOWN} at once).
   */
  default java.util.Optional<String> infoCall() {
    return java.util.Optional.empty();
  }

  @Override
  void close();

  /**
   * What a server says of its model.
   *
   * @param maxNewTokens the most tokens it takes in one call; empty if it does not say
   * @param tokenizerSha256 its tokenizer's hash (LargeModelInfo.tokenizer_sha256); empty if it does
   *     not say, and then it is never sent a draft
   * @param maxPromptTokens the most tokens a prompt may have, in its tokenizer; empty if it does not say
   * @param model the served model's name (LargeModelInfo.model); empty if it does not say
   * @param parameters the served model's trainable parameters; empty if it does not say
   */
  record ServerInfo(OptionalInt maxNewTokens, Optional<String> tokenizerSha256, OptionalInt maxPromptTokens,
      Optional<String> model, java.util.OptionalLong parameters) {
    /** A server that says nothing. */
    public static final ServerInfo UNKNOWN = new ServerInfo(OptionalInt.empty(), Optional.empty(), OptionalInt.empty(),
        Optional.empty(), java.util.OptionalLong.empty());

    /** A server that says its limits and tokenizer only. */
    public ServerInfo(OptionalInt maxNewTokens, Optional<String> tokenizerSha256, OptionalInt maxPromptTokens) {
      this(maxNewTokens, tokenizerSha256, maxPromptTokens, Optional.empty(), java.util.OptionalLong.empty());
    }
  }

  /**
   * One answer as the protocol gave it.
   *
   * @param text the generated text
   * @param tokens the generated token ids; empty when the protocol does not carry them
   * @param tokenLogprobs the log-probability of each token; empty when the protocol does not carry them
   * @param outputTokens how many tokens the answer is: the token ids' count, the server's count, or
   *     -1 when neither is known
   * @param draftAccepted how many tokens of the call's draft the server kept; 0 without a draft
   * @param stoppedEarly whether the call's early stop ended the answer: it is then a prefix
   * @param promptTokens how many tokens the prompt was to the model, as the server said; -1 when it did not say
   */
  record Reply(String text, int[] tokens, float[] tokenLogprobs, int outputTokens, int draftAccepted,
      boolean stoppedEarly, int promptTokens) {
    /** A reply that does not say how many tokens the prompt was. */
    public Reply(String text, int[] tokens, float[] tokenLogprobs, int outputTokens, int draftAccepted,
        boolean stoppedEarly) {
      this(text, tokens, tokenLogprobs, outputTokens, draftAccepted, stoppedEarly, -1);
    }

    /** A reply to a call without a draft. */
    public Reply(String text, int[] tokens, float[] tokenLogprobs, int outputTokens) {
      this(text, tokens, tokenLogprobs, outputTokens, 0, false);
    }

    /** A reply with its token ids. */
    public Reply(String text, int[] tokens, float[] tokenLogprobs) {
      this(text, tokens, tokenLogprobs, tokens.length);
    }

    /** A reply with text alone and, if the server said, its token count (else -1). */
    public static Reply text(String text, int outputTokens) {
      return text(text, outputTokens, -1);
    }

    /** As above, with the prompt's token count if the server said (else -1). */
    public static Reply text(String text, int outputTokens, int promptTokens) {
      return new Reply(text, new int[0], new float[0], outputTokens, 0, false, promptTokens);
    }
  }
}
