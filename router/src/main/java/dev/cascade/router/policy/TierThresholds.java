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
 * so a target set live starts from a warm window. Scores are comparable only under one rule, and
 * only when none of them can be a prefix: under a fixed threshold with early deferral ({@code
 * escalation.early-defer}) an answer above the threshold may have stopped early, so its score is
 * short of what the whole answer would score. The window is therefore keyed by the rule and by
 * whether its answers may stop early; under a target rate they never do (a threshold that moves
 * cannot be promised to the server in advance), so the first target after such a spell starts a
 * fresh window and uses the tier's configured threshold for its first {@link
 * TargetRateController#DEFAULT_MIN_OBSERVATIONS} scores.
 */
public final class TierThresholds {

  /**
   * A middle tier's decision.
   *
   * @param threshold the threshold the score was compared with (±∞ where the target passes on every
   *     request or none)
   * @param passOn whether the request goes on to the next tier: the score is strictly greater
   */
  public record Decided(double threshold, boolean passOn) {}

  private final ConcurrentMap<Integer, TargetRateController> controllers = new ConcurrentHashMap<>();
  private final int window;
  private final int minObservations;

  /** Controllers with the default window (1,000 scores) and warm-up (200). */
  public TierThresholds() {
    this(TargetRateController.DEFAULT_WINDOW, TargetRateController.DEFAULT_MIN_OBSERVATIONS);
  }

  /** @see TargetRateController#TargetRateController(int, int) */
  public TierThresholds(int window, int minObservations) {
    TargetRateController.checkSizes(window, minObservations); // now, not at the first request
    this.window = window;
    this.minObservations = minObservations;
  }

  /**
   * Decides whether middle tier {@code tier} passes on an answer with {@code score}, and records
   * the score in the tier's window.
   *
   * @param mayStopEarly whether answers of this tier under this policy may be prefixes (early
   *     deferral is on for it); false under a target rate
   */
  public Decided decide(int tier, TierPolicy policy, double score, boolean mayStopEarly) {
    TargetRateController controller = controllers.computeIfAbsent(tier,
        t -> new TargetRateController(window, minObservations));
    TargetRateController.Target view = policy.target();
    String key = key(policy, mayStopEarly);
    double threshold = controller.thresholdFor(view, key);
    boolean passOn = score > threshold;
    if (Double.isFinite(score)) {
      controller.observeFor(view, key, score, passOn);
    }
    return new Decided(threshold, passOn);
  }

  /**
   * Offers scores logged elsewhere (the newest outcomes' tier answers) for the first window each
   * tier starts: per tier, per rule ({@link TierPolicy#ruleName}), oldest first. Only windows of
   * answers that cannot have stopped early are seeded (the scores are whole answers').
   *
   * @see TargetRateController#seed
   */
  public void seed(java.util.Map<Integer, java.util.Map<String, double[]>> scoresByTier) {
    scoresByTier.forEach((tier, byRule) -> controllers.computeIfAbsent(tier,
        t -> new TargetRateController(window, minObservations)).seed(byRule));
  }

  /** How many scores of its current window's rule tier {@code tier} has seen since that window started (0 before the first). */
  public long scoresSeen(int tier) {
    TargetRateController controller = controllers.get(tier);
    return controller == null ? 0 : controller.scoresSeen();
  }

  private static String key(TierPolicy policy, boolean mayStopEarly) {
    return mayStopEarly ? policy.ruleName() + "/may-stop-early" : policy.ruleName();
  }
}
