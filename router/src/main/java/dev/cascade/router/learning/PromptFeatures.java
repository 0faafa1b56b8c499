package dev.cascade.router.learning;

import dev.cascade.models.PromptScore;
import dev.cascade.router.features.FeatureExtractor;
import dev.cascade.router.features.UncertaintyFeatures;
import java.util.ArrayList;
import java.util.List;

/**
 * The inputs of the pre-generation skip rule: what is known of a request before the small model
 * generates. The prompt itself (characters, words) and one forward pass of the small model over it
 * ({@link PromptScore}: its token count, mean token log-probability, the first answer token's
 * log-probability and entropy, and the hidden state at the separator).
 *
 * <p>The rule is trained by {@link RuleTrainer} like the post-generation rules; its inputs travel
 * in the example's embedding slot, so in the model they are named {@code emb_0, emb_1, …} in the
 * order of {@link #names(int)}, and its artifact records the layout {@link #LAYOUT} (a router
 * refuses it as a deferral rule: its layout is not {@link ModelFingerprint#FEATURE_LAYOUT}).
 */
public final class PromptFeatures {

  /** The artifact's feature layout: these inputs, in this order. */
  public static final String LAYOUT = "prompt/v1";
  /**
   * The layout of a rule over the prompt's text alone ({@link #TEXT_NAMES}: its characters and
   * words), which needs no pass of the small model.
   */
  public static final String TEXT_LAYOUT = "prompt-text/v1";
  /** The inputs of a {@link #TEXT_LAYOUT} rule, in order. */
  public static final List<String> TEXT_NAMES = List.of("prompt_chars", "prompt_words");

  private static final List<String> SCALARS = List.of(
      "prompt_chars", "prompt_words", "prompt_tokens", "prompt_lp_mean", "first_lp", "first_entropy");

  /** Before generation there are no token features; a prompt rule ignores them. */
  private static final UncertaintyFeatures NO_GENERATION = FeatureExtractor.extract(new float[0], new float[0]);

  private PromptFeatures() {}

  /**
   * A prompt rule's score for one prompt: its predicted probability that deferring helps, from the
   * prompt and the small model's pass over it. How a runtime applies a rule read from its artifact.
   *
   * @throws IllegalArgumentException if the rule's inputs are not these ({@link #LAYOUT}), or the
   *     hidden state's width is not the one it was trained with
   */
  public static double score(LearnedRule rule, String prompt, PromptScore score) {
    return scores(rule, List.of(prompt), score == null ? null : List.of(score))[0];
  }

  /** Whether {@code layout} is one of a pre-generation skip rule's: {@link #LAYOUT} or {@link #TEXT_LAYOUT}. */
  public static boolean isSkipLayout(String layout) {
    return LAYOUT.equals(layout) || TEXT_LAYOUT.equals(layout);
  }

  /** The validation metric of a skip rule's artifact holding the threshold chosen on validation ({@code eval --tiers}). */
  public static final String SKIP_THRESHOLD_METRIC = "skip_threshold";

  /** The threshold a skip rule's artifact records as chosen on validation ({@link #SKIP_THRESHOLD_METRIC}); empty when none, or not finite. */
  public static java.util.OptionalDouble recordedThreshold(LearnedRule rule) {
    Double t = rule.info().validationMetrics().get(SKIP_THRESHOLD_METRIC);
    return t != null && Double.isFinite(t) ? java.util.OptionalDouble.of(t) : java.util.OptionalDouble.empty();
  }

  /** Whether the rule needs the small model's prompt pass ({@link #LAYOUT}) or reads the text alone. */
  public static boolean needsPass(LearnedRule rule) {
    return LAYOUT.equals(rule.info().featureLayout());
  }

  /** A {@link #TEXT_LAYOUT} rule's inputs for one prompt. */
  public static float[] ofText(String prompt) {
    float[] all = of(prompt, new PromptScore(0, 0, 0, 0, null));
    return new float[] {all[0], all[1]};
  }

  /** The names a {@link #TEXT_LAYOUT} rule's model sees: {@code emb_0, emb_1}. */
  public static List<String> textModelNames() {
    return List.of(FeatureSet.EMBEDDING_PREFIX + 0, FeatureSet.EMBEDDING_PREFIX + 1);
  }

  /**
   * As {@link #score}, for many prompts in one call (much faster for a tree ensemble than one at a
   * time); score i belongs to prompt i. A rule whose artifact holds a score offset per prompt kind
   * ({@link PromptKind}, written by {@code eval --skip-thresholds per-kind}) has it added to each
   * prompt's score, so one threshold applies each kind's own.
   *
   * @param scores the small model's pass over each prompt; may be null for a {@link #TEXT_LAYOUT} rule
   * @throws IllegalArgumentException as {@link #score}, or if the lists differ in length
   */
  public static double[] scores(LearnedRule rule, List<String> prompts, List<PromptScore> scores) {
    boolean text = TEXT_LAYOUT.equals(rule.info().featureLayout());
    if (!text && !rule.info().featureLayout().equals(LAYOUT)) {
      throw new IllegalArgumentException("rule '" + rule.name() + "': its inputs are '" + rule.info().featureLayout()
          + "', not the prompt features " + LAYOUT + " or " + TEXT_LAYOUT);
    }
    if (!text && (scores == null || prompts.size() != scores.size())) {
      throw new IllegalArgumentException(prompts.size() + " prompts but "
          + (scores == null ? "no" : String.valueOf(scores.size())) + " prompt scores");
    }
    List<UncertaintyFeatures> none = new ArrayList<>(prompts.size());
    List<float[]> inputs = new ArrayList<>(prompts.size());
    for (int i = 0; i < prompts.size(); i++) {
      none.add(NO_GENERATION);
      inputs.add(text ? ofText(prompts.get(i)) : of(prompts.get(i), scores.get(i)));
    }
    double[] out = rule.scores(none, inputs);
    java.util.Map<String, Double> metrics = rule.info().validationMetrics();
    double[] offsets = new double[PromptKind.values().length];
    boolean any = false;
    for (PromptKind kind : PromptKind.values()) {
      offsets[kind.ordinal()] = kind.offset(metrics);
      any |= offsets[kind.ordinal()] != 0;
    }
    if (any) {
      for (int i = 0; i < out.length; i++) {
        // Both layouts' second input is the prompt's word count.
        out[i] += offsets[PromptKind.ofWords(inputs.get(i)[1]).ordinal()];
      }
    }
    return out;
  }

  /** The inputs' names for a hidden state of {@code width} values: the scalars, then {@code hidden_i}. */
  public static List<String> names(int width) {
    List<String> names = new ArrayList<>(SCALARS);
    for (int i = 0; i < width; i++) {
      names.add("hidden_" + i);
    }
    return List.copyOf(names);
  }

  /** The names the model sees: {@code emb_0 …}, one per entry of {@link #names(int)}. */
  public static List<String> modelNames(int width) {
    List<String> names = new ArrayList<>();
    for (int i = 0; i < SCALARS.size() + width; i++) {
      names.add(FeatureSet.EMBEDDING_PREFIX + i);
    }
    return List.copyOf(names);
  }

  /** The prompt's words: runs of non-space characters. */
  public static int words(String prompt) {
    String stripped = prompt.strip();
    return stripped.isEmpty() ? 0 : stripped.split("\\s+").length;
  }

  /** One prompt's inputs, in the order of {@link #names(int)} (no hidden values when the model has none). */
  public static float[] of(String prompt, PromptScore score) {
    float[] hidden = score.lastHidden() == null ? new float[0] : score.lastHidden();
    float[] out = new float[SCALARS.size() + hidden.length];
    out[0] = prompt.codePointCount(0, prompt.length());
    out[1] = words(prompt);
    out[2] = score.tokens();
    out[3] = (float) score.meanLogprob();
    out[4] = score.firstLogprob();
    out[5] = score.firstEntropy();
    System.arraycopy(hidden, 0, out, SCALARS.size(), hidden.length);
    return out;
  }
}
