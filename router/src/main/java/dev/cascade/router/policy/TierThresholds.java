package dev.cascade.router.policy;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;

/**
 * The thresholds the middle tiers of a longer cascade decide by: each tier's {@link TierPolicy}
 * threshold, or, when the policy holds a target rate, the threshold a {@link TargetRateController}
 * of that tier's own recent scores sets so that the tier passes on the target share of the
 * requests that reach it. One instance per router process, shared by every task's escalator (the
 * controllers lock themselves), so each tier's window holds every score this instance has seen.
 *
 * <p>Every scored answer enters its tier's window, whatever the decision and whatever the policy,
 * so a target set live starts from a warm window. The window is keyed by the rule: scores of two
 * rules are not comparable. Under a fixed threshold with early deferral ({@code
 * escalation.early-defer}, exact rules only) an answer above the threshold may have stopped early:
 * its score is its prefix's, above the threshold and at most what the whole answer would score. A
 * target set after such a spell reads its threshold from those scores all the same: where its
 * threshold lies below the fixed one, the window is exact; where above, it reads a threshold
 * between the fixed one and the right one, and its feedback and its own scores take it the rest of
 * the way. Either way it passes on a share between the target and the spell's, closer to the
 * target than a fresh window, which would decide its first {@link
 * TargetRateController#DEFAULT_MIN_OBSERVATIONS} scores by the configured threshold (measured:
 * README, "More than two models"). Under a target, answers stop early only above the controller's
 * stop threshold ({@link #stopThreshold}: a margin of the window above the decision threshold),
 * where a prefix's score leaves the threshold read below it unchanged.
 */
public final class TierThresholds {

  /**
   * A middle tier's decision.
   *
   * @param threshold the threshold the score was compared with (±∞ where the target passes on every
   *     request or none)
   * @param passOn whether the request goes on to the next tier: the score is strictly greater, the
   *     answer stopped early, or it is explored
   * @param explored whether it goes on although the rule would have served it ({@link
   *     TierPolicy#explores}); {@code passOn} is then true
   */
  public record Decided(double threshold, boolean passOn, boolean explored) {

    /** A decision without exploration. */
    public Decided(double threshold, boolean passOn) {
      this(threshold, passOn, false);
    }

    /**
     * The probability this tier had of passing the request on under {@code policy}: 1 when its rule
     * did, the tier's exploration rate when the rule would have served it (explored or not).
     */
    public double propensity(TierPolicy policy) {
      return passOn && !explored ? 1.0 : policy.explorationRate();
    }
  }

  private final ConcurrentMap<Integer, TargetRateController> controllers = new ConcurrentHashMap<>();
  private final int window;
  private final int minObservations;
  private final double stopMargin;

  /** Controllers with the default window (1,000 scores), warm-up (200) and stop margin (0.1). */
  public TierThresholds() {
    this(TargetRateController.DEFAULT_WINDOW, TargetRateController.DEFAULT_MIN_OBSERVATIONS,
        TargetRateController.DEFAULT_STOP_MARGIN);
  }

  /** @see TargetRateController#TargetRateController(int, int) */
  public TierThresholds(int window, int minObservations) {
    this(window, minObservations, TargetRateController.DEFAULT_STOP_MARGIN);
  }

  /** @see TargetRateController#TargetRateController(int, int, double) */
  public TierThresholds(int window, int minObservations, double stopMargin) {
    // Now, not at the first request.
    TargetRateController.checkSizes(window, minObservations);
    TargetRateController.checkStopMargin(stopMargin);
    this.window = window;
    this.minObservations = minObservations;
    this.stopMargin = stopMargin;
  }

  private TargetRateController controller(int tier) {
    return controllers.computeIfAbsent(tier, t -> new TargetRateController(window, minObservations, stopMargin));
  }

  /**
   * The score above which an answer of middle tier {@code tier} under {@code policy}, asked now,
   * may stop decoding (its deferral decided whatever follows, for an exact rule): the policy's
   * threshold when it holds no target rate, else the tier controller's stop threshold
   * ({@link TargetRateController#stopThresholdFor}; +∞ while it warms up).
   */
  public double stopThreshold(int tier, TierPolicy policy) {
    return controller(tier).stopThresholdFor(policy.target(), policy.ruleName());
  }

  /**
   * Decides whether middle tier {@code tier} passes on an answer with {@code score}, and records
   * the score in the tier's window.
   */
  public Decided decide(int tier, TierPolicy policy, double score) {
    return decide(null, tier, policy, score, false);
  }

  /**
   * As above, for request {@code requestId} (null: none is explored), whose answer {@code
   * stoppedEarly} or not: a stopped answer is a prefix, passed on whatever its score (under a target
   * the threshold can have moved up past the stop threshold its call was given), and counted as
   * passed on by the controller. An answer the rule would serve is passed on all the same when the
   * policy explores the request at this tier ({@link TierPolicy#explores}).
   */
  public Decided decide(String requestId, int tier, TierPolicy policy, double score, boolean stoppedEarly) {
    TargetRateController controller = controller(tier);
    TargetRateController.Target view = policy.target();
    String key = policy.ruleName();
    double threshold = controller.thresholdFor(view, key);
    boolean deferred = score > threshold || stoppedEarly;
    boolean explored = !deferred && requestId != null && policy.explores(requestId, tier);
    boolean passOn = deferred || explored;
    if (Double.isFinite(score)) {
      controller.observeFor(view, key, score, passOn);
    }
    return new Decided(threshold, passOn, explored);
  }

  /**
   * Offers scores logged elsewhere (the newest outcomes' tier answers) for the first window each
   * tier starts: per tier, per rule ({@link TierPolicy#ruleName}), oldest first.
   *
   * @see TargetRateController#seed
   */
  public void seed(java.util.Map<Integer, java.util.Map<String, double[]>> scoresByTier) {
    scoresByTier.forEach((tier, byRule) -> controller(tier).seed(byRule));
  }

  /** How many scores of its current window's rule tier {@code tier} has seen since that window started (0 before the first). */
  public long scoresSeen(int tier) {
    TargetRateController controller = controllers.get(tier);
    return controller == null ? 0 : controller.scoresSeen();
  }
}
