package dev.cascade.models;

import java.util.List;
import java.util.Optional;

/**
 * A generative model that reports, for every token it generates, the token's log-probability, the
 * entropy of the distribution it was chosen from and (where the model has one) an embedding.
 *
 * <p>Thread safety: implementations from {@link TextGenerators} are safe for concurrent use; each
 * call to {@code generate} runs on its own predictor, and the underlying session is shared.
 */
public interface TextGenerator extends AutoCloseable {

  /**
   * Greedy generation for a batch; result i belongs to prompt i.
   *
   * @throws IllegalArgumentException naming the prompt's index when {@link #checkPrompt} rejects a
   *     prompt, or when {@code maxNewTokens} is outside 1..{@link ModelInfo#maxNewTokensLimit()}
   */
  List<Generation> generate(List<String> prompts, int maxNewTokens);

  /**
   * As {@link #generate(List, int)}, stopping early when {@code cancellation} says so: it is asked
   * before every decoding step, and a cancelled call throws {@link GenerationCancelledException}.
   */
  List<Generation> generate(List<String> prompts, int maxNewTokens, Cancellation cancellation);

  /**
   * As {@link #generate(List, int, Cancellation)}, prompt i starting from {@code drafts.get(i)}: a
   * draft of its answer in this model's vocabulary (another model's tokens, end-of-sequence
   * excluded; empty for none). The answer is the same as without the draft (the model keeps only
   * the draft tokens that equal its own greedy choices, see {@link GreedyDecoder});
   * {@link Generation#draftAccepted()} says how many it kept. This default ignores the drafts.
   *
   * @throws IllegalArgumentException naming the draft's index when {@link #checkDraft} rejects it
   */
  default List<Generation> generate(List<String> prompts, List<int[]> drafts, int maxNewTokens,
      Cancellation cancellation) {
    requireDrafts(prompts, drafts, maxNewTokens);
    return generate(prompts, maxNewTokens, cancellation);
  }

  /**
   * As {@link #generate(List, int, Cancellation)}, each row's tokens told one by one to a check of
   * its own from {@code earlyStop} ({@link EarlyStop}): a row it stops leaves the batch at once (its
   * place and key/value cache go to other rows), and its generation is marked {@link
   * Generation#stoppedEarly()}. The default ignores {@code earlyStop} and decodes every row to its
   * end, which is what a stand-in without a decoding loop can do; the bundled generators honour it.
   */
  default List<Generation> generate(List<String> prompts, int maxNewTokens, Cancellation cancellation,
      EarlyStop earlyStop) {
    return generate(prompts, maxNewTokens, cancellation);
  }

  /**
   * With drafts and an early stop: each prompt starting from its draft, as {@link #generate(List,
   * List, int, Cancellation)}, and each row's tokens told to its own check from {@code earlyStop},
   * as {@link #generate(List, int, Cancellation, EarlyStop)}. This default checks the drafts and
   * then ignores them, honouring {@code earlyStop} as that method does.
   *
   * @throws IllegalArgumentException naming the draft's index when {@link #checkDraft} rejects it
   */
  default List<Generation> generate(List<String> prompts, List<int[]> drafts, int maxNewTokens,
      Cancellation cancellation, EarlyStop earlyStop) {
    if (earlyStop == EarlyStop.NEVER) {
      return generate(prompts, drafts, maxNewTokens, cancellation);
    }
    requireDrafts(prompts, drafts, maxNewTokens);
    return generate(prompts, maxNewTokens, cancellation, earlyStop);
  }

  /** @throws IllegalArgumentException unless there is one draft per prompt, each one {@link #checkDraft} accepts */
  private void requireDrafts(List<String> prompts, List<int[]> drafts, int maxNewTokens) {
    if (drafts.size() != prompts.size()) {
      throw new IllegalArgumentException("drafts: " + drafts.size() + " drafts for " + prompts.size() + " prompts");
    }
    for (int i = 0; i < drafts.size(); i++) {
      Optional<String> problem = checkDraft(drafts.get(i), maxNewTokens);
      if (problem.isPresent()) {
        throw new IllegalArgumentException("drafts[" + i + "]: " + problem.get());
      }
    }
  }

  /**
   * Empty if {@code draft} can be checked in a call for {@code maxNewTokens} tokens; otherwise why
   * not (longer than {@code maxNewTokens}, an id outside the vocabulary, end-of-sequence or
   * padding), without a field name: callers name their own.
   */
  default Optional<String> checkDraft(int[] draft, int maxNewTokens) {
    return draft.length > maxNewTokens
        ? Optional.of(draft.length + " tokens is more than the " + maxNewTokens + " to generate") : Optional.empty();
  }

  /**
   * The SHA-256 of this model's tokenizer ({@link ModelTokenizer#sha256()}): two models with the
   * same one read and write the same token ids, so one's output is a draft for the other. Empty
   * when this generator cannot say (a stand-in without a tokenizer).
   */
  default Optional<String> tokenizerSha256() {
    return Optional.empty();
  }

  /**
   * Empty if the prompt can be generated from; otherwise why not (empty, too long for the
   * context, characters the tokenizer cannot encode), naming the field "prompt".
   */
  Optional<String> checkPrompt(String prompt);

  /**
   * Whether a {@link #checkPrompt} problem says that the prompt has more tokens than a model takes
   * ({@code prompt: N tokens is over …}, {@code prompt: more than N tokens …}; the router says a
   * later model's limit the same way), rather than that it is empty or holds a character the
   * tokenizer cannot encode. OpenAI's doors answer it with {@code context_length_exceeded}.
   */
  static boolean overTokenLimit(String problem) {
    return problem != null && java.util.regex.Pattern.compile("prompt: (more than )?\\d+ tokens\\b").matcher(problem)
        .lookingAt();
  }

  /**
   * How many tokens the model reads for {@code prompt} (its tokenizer's encoding, special tokens
   * included), or empty when this generator cannot say (a stand-in without a tokenizer, or a prompt
   * it cannot encode).
   */
  default java.util.OptionalInt promptTokens(String prompt) {
    return java.util.OptionalInt.empty();
  }

  /**
   * The forward passes this model's decoding threads have run so far, for a caller that wants to
   * see how busy the model was kept (two readings apart: {@link DecodingStats#minus}); empty for a
   * generator without a decoding loop of its own (this default).
   */
  default java.util.Optional<DecodingStats> decodingStats() {
    return java.util.Optional.empty();
  }

  /**
   * How many generations have started from the prompt pass's prefill instead of running their own
   * ({@link LoadOptions#withPrefillReuse}, {@link #scorePrompts}); empty for a generator that keeps
   * none (this default, a model without a key/value cache, or reuse turned off).
   */
  default java.util.OptionalLong prefillsReused() {
    return java.util.OptionalLong.empty();
  }

  /**
   * The most tokens a prompt may have ({@link #promptTokens} counts them), the rest of the context
   * being left for the answer; empty when this generator cannot say.
   */
  default java.util.OptionalInt maxPromptTokens() {
    return java.util.OptionalInt.empty();
  }

  /**
   * One forward pass over each prompt, no decoding: its mean token log-probability, token count,
   * the first answer token's distribution and the hidden state where the answer would begin
   * ({@link PromptScore}). What a prompt-only deferral rule sees before the model generates.
   *
   * @throws IllegalArgumentException naming the prompt's index when {@link #checkPrompt} rejects it
   * @throws UnsupportedOperationException when this generator cannot run a bare forward pass (the
   *     default: a stand-in without a model)
   */
  default List<PromptScore> scorePrompts(List<String> prompts) {
    throw new UnsupportedOperationException(info().name() + ": cannot score prompts without generating");
  }

  /** What this generator is: its name, the engine actually used, size and limits. */
  ModelInfo info();

  /** Releases the model; a closed generator must not be used. */
  @Override
  void close();

  /** Asked between decoding steps; true stops the generation. */
  @FunctionalInterface
  interface Cancellation {
    /** Never cancels. */
    Cancellation NONE = () -> false;

    boolean isCancelled();
  }

  /**
   * Whether to end a row before end-of-sequence or its limit. Each row gets a {@link Check} of its
   * own when the call starts ({@link #newCheck}), which is told the row's tokens one at a time, so a
   * condition over the whole prefix (a running sum, say) costs one update a token rather than a
   * pass over the prefix, and no copy of it. {@code newCheck} may be called from several threads at
   * once and must be safe for that; each check serves one row only and is used by one thread at a
   * time (the row's decoding thread, which the batcher hands the row to), so it needs no locking.
   */
  @FunctionalInterface
  interface EarlyStop {
    /** Never stops a row: every row decodes to end-of-sequence or its limit. */
    EarlyStop NEVER = () -> (logprob, entropy) -> false;

    /** A fresh check for one row, before its first token; one that throws leaves the row unchecked. */
    Check newCheck();

    /**
     * The condition for the prompt at index {@code row} of the {@code generate} call, asked once
     * per prompt, before its first token, on the calling thread; {@link #NEVER} leaves that row
     * unchecked. This default gives every row this condition. A caller overrides it to exempt some
     * rows: the router decodes a sample of the rows it would stop to the end, to learn from their
     * whole answers.
     */
    default EarlyStop forRow(int row) {
      return this;
    }

    /**
     * One row's check. Told, in order, each token the row generates that leaves it below its limit
     * (end-of-sequence is not a token; the token that reaches the limit ends the row anyway); true
     * ends the row after that token. Runs on the model's decoding thread, so it must be quick. A
     * check that throws is read as "go on" and is not asked again for that row (its state may be
     * half updated), so a broken condition never loses an answer.
     */
    @FunctionalInterface
    interface Check {
      boolean afterToken(float logprob, float entropy);
    }
  }
}
