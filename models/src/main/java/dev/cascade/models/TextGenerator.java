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
   * Empty if the prompt can be generated from; otherwise why not (empty, too long for the
   * context, characters the tokenizer cannot encode), naming the field "prompt".
   */
  Optional<String> checkPrompt(String prompt);

  /**
   * How many tokens the model reads for {@code prompt} (its tokenizer's encoding, special tokens
   * included), or empty when this generator cannot say (a stand-in without a tokenizer, or a prompt
   * it cannot encode).
   */
  default java.util.OptionalInt promptTokens(String prompt) {
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
}
