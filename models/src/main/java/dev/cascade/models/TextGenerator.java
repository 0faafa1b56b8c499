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
   * As {@link #generate(List, int, Cancellation)}, with {@code earlyStop} asked after every
   * decoding step of every row still generating: a row it stops leaves the batch at once (its
   * place and key/value cache go to other rows), and its generation is marked {@link
   * Generation#stoppedEarly()}. The default ignores {@code earlyStop} and decodes every row to its
   * end, which is what a stand-in without a decoding loop can do; the bundled generators honour it.
   */
  default List<Generation> generate(List<String> prompts, int maxNewTokens, Cancellation cancellation,
      EarlyStop earlyStop) {
    return generate(prompts, maxNewTokens, cancellation);
  }

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
   * Asked after each decoding step of each row that produced a token and has not reached its
   * limit, with everything the row has generated so far: true ends that row there. The arrays are
   * the row's own copies (the step count is their length). Runs on the model's decoding thread,
   * so it must be quick; a condition that throws is read as "go on", so a broken condition never
   * loses an answer.
   */
  @FunctionalInterface
  interface EarlyStop {
    /** Never stops a row: every row decodes to end-of-sequence or its limit. */
    EarlyStop NEVER = (tokenLogprobs, entropies) -> false;

    boolean shouldStop(float[] tokenLogprobs, float[] entropies);
  }
}
