package dev.cascade.router.learning;

import java.util.List;
import java.util.Map;

/**
 * The kinds of prompt a pre-generation skip rule may hold a threshold for apart: a single word, and
 * more than one word (words as {@link PromptFeatures} counts them: runs of non-space characters).
 * A rule's scores do not mean the same on both: a threshold chosen on a mix of the two skips mostly
 * the kind with the higher scores, and a stream of the other kind then skips almost nothing. A
 * skip rule's artifact may carry an offset per kind ({@link #offsetMetric}), added to the rule's
 * score for prompts of that kind, so that the one threshold of a policy applies each kind's own.
 */
public enum PromptKind {
  SINGLE_WORD("single_word"),
  MULTI_WORD("multi_word");

  private final String id;

  PromptKind(String id) {
    this.id = id;
  }

  /** {@code single_word} or {@code multi_word}. */
  public String id() {
    return id;
  }

  /** The kind of {@code prompt}. */
  public static PromptKind of(String prompt) {
    return ofWords(PromptFeatures.words(prompt));
  }

  /** The kind of a prompt of {@code words} words. */
  public static PromptKind ofWords(double words) {
    return words > 1 ? MULTI_WORD : SINGLE_WORD;
  }

  /** The kind of every prompt, as ordinals (0 single word, 1 more). */
  public static int[] ordinals(List<String> prompts) {
    return prompts.stream().mapToInt(p -> of(p).ordinal()).toArray();
  }

  /** The artifact metric holding this kind's score offset: {@code skip_offset_single_word}, ... */
  public String offsetMetric() {
    return "skip_offset_" + id;
  }

  /** This kind's offset in a rule's metrics (0 when the artifact has none). */
  public double offset(Map<String, Double> metrics) {
    Double offset = metrics.get(offsetMetric());
    return offset == null ? 0 : offset;
  }
}
