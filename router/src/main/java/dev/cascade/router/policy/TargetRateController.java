package dev.cascade.router.policy;

import com.tdunning.math.stats.MergingDigest;
import com.tdunning.math.stats.TDigest;
import java.util.Objects;

/**
 * Holds a target escalation rate on live traffic: the threshold is the score quantile that, over
 * the recent scores, would have escalated the target fraction ({@code score > threshold}).
 *
 * <h2>The window</h2>
 *
 * <p>Recent means a sliding window over the last {@code window} scores, approximately: scores go
 * into {@code buckets} t-digests of {@code window / buckets} scores each, and when the newest is
 * full the oldest is dropped. So, once full, the window holds between {@code window − window /
 * buckets} and {@code window} scores, and a shift in traffic is fully followed after {@code
 * window} new scores. The quantile is read from a merge of the buckets, refreshed every {@code
 * max(1, window / buckets / 10)} scores (1% of the window with the defaults), so the threshold
 * lags traffic by at most that many scores.
 *
 * <h2>Warm-up and rule changes</h2>
 *
 * <p>Until {@code minObservations} scores have been seen, {@link #threshold(DeferralPolicy)}
 * returns the policy's configured threshold. Scores of different rules are not comparable, so the
 * window belongs to one rule (name and α): a score observed under another starts a fresh window,
 * warm-up included. A caller that replaces a rule's model under the same name calls {@link
 * #reset()}.
 *
 * <p>Ties: scores equal to the threshold are not escalated, so with many identical scores the
 * escalated fraction can fall short of the target. Thread-safe: every method locks the instance.
 */
public final class TargetRateController {

  /** The default window: the last 10,000 scores. */
  public static final int DEFAULT_WINDOW = 10_000;

  /** The default number of buckets in the window. */
  public static final int DEFAULT_BUCKETS = 10;

  /** The default number of scores seen before the controller overrides the configured threshold. */
  public static final int DEFAULT_MIN_OBSERVATIONS = 500;

  private static final double COMPRESSION = 100.0;

  private final int bucketSize;
  private final int minObservations;
  private final int refreshEvery;
  private final TDigest[] buckets;
  private final int[] counts;

  private String windowRule;
  private int current;
  private long inWindow;
  private boolean warm;
  private TDigest merged;
  private int sinceMerge;

  /** A controller with the default window, buckets and minimum observations. */
  public TargetRateController() {
    this(DEFAULT_WINDOW, DEFAULT_BUCKETS, DEFAULT_MIN_OBSERVATIONS);
  }

  /**
   * @param window how many recent scores the quantile covers; a multiple of {@code buckets}
   * @param buckets how many pieces the window slides by; ≥ 2
   * @param minObservations scores needed before the configured threshold is overridden; in [1,
   *     window]
   * @throws IllegalArgumentException naming the bad argument
   */
  public TargetRateController(int window, int buckets, int minObservations) {
    if (buckets < 2) {
      throw new IllegalArgumentException("buckets must be >= 2, was " + buckets);
    }
    if (window < buckets || window % buckets != 0) {
      throw new IllegalArgumentException(
          "window must be a positive multiple of buckets (" + buckets + "), was " + window);
    }
    if (minObservations < 1 || minObservations > window) {
      throw new IllegalArgumentException(
          "minObservations must be in [1, window = " + window + "], was " + minObservations);
    }
    this.bucketSize = window / buckets;
    this.minObservations = minObservations;
    this.refreshEvery = Math.max(1, bucketSize / 10);
    this.buckets = new TDigest[buckets];
    this.counts = new int[buckets];
    clear(null);
  }

  /**
   * Adds the score of one request, scored under {@code policy}'s rule. Call it for every scored
   * request, whatever the decision, so the window sees the traffic as it is.
   *
   * @throws IllegalArgumentException if the score is not finite
   */
  public synchronized void observe(DeferralPolicy policy, double score) {
    observe(policy, ruleOf(policy), score, false);
  }

  /** Adds a score under a rule key (rule and version); {@code escalated} is not used yet. */
  public synchronized void observe(DeferralPolicy policy, String rule, double score, boolean escalated) {
    Objects.requireNonNull(policy, "policy");
    if (!Double.isFinite(score)) {
      throw new IllegalArgumentException("score must be finite, was " + score);
    }
    if (!rule.equals(windowRule)) {
      clear(rule);
    }
    if (counts[current] == bucketSize) {
      current = (current + 1) % buckets.length;
      inWindow -= counts[current];
      counts[current] = 0;
      buckets[current] = new MergingDigest(COMPRESSION);
    }
    buckets[current].add(score);
    counts[current]++;
    inWindow++;
    sinceMerge++;
    if (inWindow >= minObservations) {
      warm = true;
    }
  }

  /**
   * The threshold to apply now under {@code policy}: its configured threshold when it holds no
   * target rate, or while fewer than {@code minObservations} scores of its rule have been seen;
   * otherwise the {@code 1 − targetEscalationRate} quantile of the window, and −∞ (escalate
   * everything) for a target of 1.
   */
  public synchronized double threshold(DeferralPolicy policy) {
    return threshold(policy, ruleOf(policy));
  }

  /** The threshold under a rule key (rule and version). */
  public synchronized double threshold(DeferralPolicy policy, String rule) {
    Objects.requireNonNull(policy, "policy");
    if (!policy.holdsTargetRate() || !warm || !rule.equals(windowRule)) {
      return policy.threshold();
    }
    if (policy.targetEscalationRate() >= 1.0) {
      return Double.NEGATIVE_INFINITY;
    }
    if (merged == null || sinceMerge >= refreshEvery) {
      merged = new MergingDigest(COMPRESSION);
      for (int i = 0; i < buckets.length; i++) {
        if (counts[i] > 0) {
          merged.add(buckets[i]);
        }
      }
      sinceMerge = 0;
    }
    return merged.quantile(1.0 - policy.targetEscalationRate());
  }

  /** How many scores the window holds now. */
  public synchronized long observations() {
    return inWindow;
  }

  /** Forgets every score: the next ones start a fresh window, warm-up included. */
  public synchronized void reset() {
    clear(null);
  }

  private void clear(String rule) {
    windowRule = rule;
    for (int i = 0; i < buckets.length; i++) {
      buckets[i] = new MergingDigest(COMPRESSION);
      counts[i] = 0;
    }
    current = 0;
    inWindow = 0;
    warm = false;
    merged = null;
    sinceMerge = 0;
  }

  private static String ruleOf(DeferralPolicy policy) {
    return policy.rule() + "@" + policy.alpha();
  }
}
