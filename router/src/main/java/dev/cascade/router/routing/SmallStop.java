package dev.cascade.router.routing;

import dev.cascade.models.Generation;

/**
 * Where the small model's decoding of one request stopped, as the outcome records it ({@code
 * small_stop}, {@code small_stop_step}).
 *
 * @param where {@link #EOS}, {@link #TOKEN_LIMIT}, {@link #EARLY_DEFER} or {@link #PREGEN_SKIP}
 * @param step the decoding step (1-based) it stopped at: the tokens generated, plus one for the
 *     step that wrote end-of-sequence
 * @param labelPropensity for a request that early deferral would have stopped but label sampling
 *     decoded to its end, the share sampled ({@code small.early-defer-label-share}): the
 *     probability that such a request has a whole answer; null for every other request
 * @param stopThreshold the score above which the router asked the small model to stop decoding it
 *     ({@link dev.cascade.router.policy.EarlyDeferral#stopThreshold}; the outcome's {@code
 *     small_stop_threshold}), whether it stopped or not; null when it was not asked to stop early
 */
public record SmallStop(String where, int step, Double labelPropensity, Double stopThreshold) {

  public SmallStop {
    if (labelPropensity != null && !(labelPropensity > 0 && labelPropensity <= 1)) {
      throw new IllegalArgumentException("labelPropensity must be in (0, 1], was " + labelPropensity);
    }
  }

  /** Where it stopped, for a request decoded as the condition said (no label sampling), not asked to stop early. */
  public SmallStop(String where, int step) {
    this(where, step, null, null);
  }

  /** The same stop, for a request that early deferral would have stopped but label sampling decoded whole. */
  public SmallStop sampledForLabel(double share) {
    return new SmallStop(where, step, share, stopThreshold);
  }

  /** The same stop, asked to stop decoding above {@code threshold} (null: not asked to stop early). */
  public SmallStop askedToStopAbove(Double threshold) {
    return new SmallStop(where, step, labelPropensity, threshold);
  }

  /** The model wrote end-of-sequence. */
  public static final String EOS = "eos";
  /** The model reached the token limit. */
  public static final String TOKEN_LIMIT = "token-limit";
  /** The router stopped it: deferral was already decided ({@link dev.cascade.router.policy.EarlyDeferral}). */
  public static final String EARLY_DEFER = "early-defer";
  /**
   * The small model did not decode at all: the policy's pre-generation skip rule flagged the prompt
   * and the request was escalated at once (step 0, no small answer).
   */
  public static final String PREGEN_SKIP = "pregen-skip";

  /** Skipped before generation: step 0. */
  public static SmallStop pregenSkip() {
    return new SmallStop(PREGEN_SKIP, 0);
  }

  /**
   * Whether an outcome's {@code small_stop} says its small answer is missing or unfinished (early
   * deferral, pre-generation skip), so its correctness, the learned rules' label, is not known.
   */
  public static boolean unfinished(String where) {
    return EARLY_DEFER.equals(where) || PREGEN_SKIP.equals(where);
  }

  /**
   * Where {@code generation}, decoded with token limit {@code limit}, stopped: a generation with
   * as many tokens as its limit stopped there (end-of-sequence would have left it shorter).
   */
  public static SmallStop of(Generation generation, int limit) {
    if (generation.stoppedEarly()) {
      return new SmallStop(EARLY_DEFER, generation.length());
    }
    return generation.length() >= limit ? new SmallStop(TOKEN_LIMIT, generation.length())
        : new SmallStop(EOS, generation.length() + 1);
  }
}
