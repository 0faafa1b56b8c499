package dev.cascade.router.policy;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Holds a target escalation rate on live traffic, also through abrupt shifts in the distribution
 * of scores: the threshold is a quantile of the recent scores, aimed so that deferrals plus
 * exploration come to the target, corrected by feedback on the realised rate, with the window cut
 * back to the scores after a detected shift.
 *
 * <h2>What is held</h2>
 *
 * <p>With target {@code r} ({@link DeferralPolicy#targetEscalationRate()}) and exploration rate
 * {@code e} ({@link DeferralPolicy#explorationRate()}), {@link PolicyDecider} escalates a request
 * when its score is above the threshold (defer) and otherwise when its exploration draw is below
 * {@code e} (explore). The controller holds the <em>realised</em> escalation rate, both kinds, as
 * reported to {@link #observe}, at {@code r}; so it puts the fraction {@code r′ = (r − e) / (1 −
 * e)} of the scores above the threshold, corrected by feedback. Measured with the defaults at
 * {@code r = 0.3}, exploration 0 and 0.05 ({@code TargetRateControllerTest}): on stationary
 * traffic the rate over 1,000 requests has a standard deviation of about 0.5 percentage points
 * (independent decisions at the exact quantile would have 1.45) and stayed within 1.4 points in
 * 200 windows; over the 1,000 requests that begin 1,000 after an abrupt shift (mean by 1 to 2
 * standard deviations either way, spread by 3 or 1/3, uniform or normal; 90 runs) it stayed within
 * 0.8 points of {@code r}.
 *
 * <h2>The threshold</h2>
 *
 * <p>{@link #threshold(DeferralPolicy, String)} returns, in this order:
 *
 * <ol>
 *   <li>the policy's configured threshold when it holds no target rate ({@code
 *       !policy.holdsTargetRate()});
 *   <li>−∞ (escalate everything) for a target of 1, and +∞ (defer nothing) when {@code e ≥ r},
 *       as exploration alone meets the target; neither needs scores, so both apply during warm-up
 *       too;
 *   <li>the configured threshold during warm-up: until {@code minObservations} scores of this rule
 *       key have been observed since its window started (a different key's window does not
 *       count);
 *   <li>otherwise the score with the fraction {@code q = r′ + f}, clamped to [0, 1], of the window
 *       above it: linear interpolation between neighbouring order statistics at position {@code (1
 *       − q)(n − 1)} of the {@code n} sorted scores, −∞ at {@code q = 1}, +∞ at {@code q = 0}.
 *       {@code f} is the feedback below.
 * </ol>
 *
 * <h2>The window</h2>
 *
 * <p>The last {@code window} scores of the rule key (1,000 by default), or fewer: only those since
 * the window started fresh or since the last detected shift. Thresholds are read from a sorted copy,
 * refreshed every {@code window / 20} scores once the window is full (50 by default) and more often
 * while it fills (every tenth of its size), so a threshold lags the window by at most that many
 * scores. Every observed score enters the window, whatever the decision and whatever the policy.
 *
 * <h2>Feedback</h2>
 *
 * <p>{@code f} integrates the error of the realised rate: after each decision observed under a
 * target-holding policy once warm, {@code f += (r − escalated) / (τ (1 − e))}, {@code escalated} 1
 * or 0, with {@code τ = max(10, window / 10)} requests (100 by default), and {@code f} kept within
 * one step of [−r′, 1 − r′] (no wind-up). It cancels any steady bias of the window's quantile
 * (finite sample, lag behind a trend, ties), and its correction of chance excesses keeps the
 * realised rate over many requests much closer to {@code r} than independent decisions would. It
 * is a first-order loop: no overshoot, no cycles. Its price is that the threshold moves a little
 * with every decision, by {@code 1 / (τ (1 − e))} in quantile level per request, with a standard
 * deviation of about {@code √(r (1 − r) / (2τ)) / (1 − e)} (3.4 quantile points with the defaults
 * at {@code r = 0.3}; 1st and 99th percentiles 6 to 10 points either side). {@code f} restarts at
 * 0 with a fresh window, at a detected shift, and when the target or the exploration rate changes.
 *
 * <h2>How a shift is followed</h2>
 *
 * <p>Once warm, and once the current segment (the scores since the window started or since the
 * last detected shift) holds at least 100 scores, each score observed under a target-holding policy
 * goes into four one-sided CUSUM tests against the sorted window: its mid-rank in the window,
 * standardised (drift up or down by more than a quarter of a standard deviation; alarm at 28), and
 * whether it is above the threshold in force, against the window's fraction {@code p} above it
 * (Bernoulli log-likelihood ratio of {@code (1 + p) / 2} and of {@code p / 4} against {@code p};
 * alarm at 15). On an alarm the change is dated to the start of the alarming test's run: the window
 * keeps only the scores from there on (typically the last 10 to 150), {@code f} restarts at 0, and
 * the tests restart, quiet until the new segment holds 100 scores. The window then fills with
 * post-shift scores while the feedback corrects the noise of a quantile read from few of them. A
 * shift too small to alarm is followed by the feedback while the window slides, and fully after
 * {@code window} scores.
 *
 * <p>On stationary traffic the tests alarmed about once in 3 million scores (measured over 25
 * million: uniform, normal, exponential, Poisson and tie-heavy scores); a false alarm costs a short
 * spell of a quantile read from few scores, which the feedback corrects. A steady drift is followed
 * with a lag: the window's quantile trails it, the feedback cancels a constant trail only after
 * about {@code τ} requests, and alarms during a fast drift restart the window and the feedback (a
 * mean drifting 0.6 standard deviations per 1,000 requests: realised rate 0.5 to 1 point high).
 *
 * <h2>Requests skipped before generation</h2>
 *
 * <p>A policy with a pre-generation skip escalates some requests without decoding them, so without
 * a score. The target holds over <em>all</em> requests: {@link #observeSkipped} reports each, and
 * the controller keeps a moving share {@code s} of skipped requests (exponential, weight
 * {@code 1 / (2τ)}: about the last 200 requests with the defaults). The scored requests then aim at
 * {@code (r − s) / (1 − s)} (none above the threshold once {@code s ≥ r}: the skip alone reaches the
 * target) in place of {@code r} above, and each skipped request feeds back as escalated, so the
 * feedback holds the realised rate of both kinds together at {@code r}. Without skipped requests
 * nothing changes.
 *
 * <h2>Seeds</h2>
 *
 * <p>A router that starts while others have been routing has no scores of its own. {@link #seed}
 * offers it scores logged elsewhere (the newest outcomes on the outcomes topic, per rule key): the
 * first window the controller starts, for the key the policy in force names, starts with them and
 * is warm at once when they number at least the warm-up. Measured with three routers as separate
 * processes, one killed and restarted three times, target 0.3: 0.307-0.310 in the windows after the
 * restarts with seeds, 0.267-0.273 without ({@code FaultHarness}, {@code loadtest/README.md}).
 *
 * <h2>Rule keys</h2>
 *
 * <p>Scores of different rules, or of two versions of one rule, are not comparable, so the window
 * belongs to one rule key ({@code "posthoc-quantile@0.0#v7"}: the rule, its level and its
 * version). A score observed under another key starts a fresh window, warm-up and feedback
 * included; a threshold asked under a key other than the window's is the configured one. A new
 * policy version with the same key (another target, exploration rate or configured threshold)
 * keeps the window.
 *
 * <h2>Ties</h2>
 *
 * <p>A score equal to the threshold is not escalated ({@code score > threshold}). Where a block of
 * equal scores straddles the target quantile, no threshold escalates exactly the target fraction;
 * the feedback then moves the threshold back and forth across the block (between the tied value,
 * which escalates none of it, and a value below it, or −∞ when every score ties, which escalates
 * all of it), so the realised rate still averages the target, but whether a tied request is
 * escalated depends on when it arrives.
 *
 * <p>Thread-safe: every method locks the instance. Deterministic: the thresholds are a function of
 * the order and arguments of the calls. Cost: {@code observe} is O(log window) plus a sort of the
 * window every {@code window / 20} scores; {@code threshold} is O(1).
 */
public final class TargetRateController {

  /** The default window: the last 1,000 scores. */
  public static final int DEFAULT_WINDOW = 1_000;

  /** The default number of scores of a rule key seen before the controller overrides the configured threshold. */
  public static final int DEFAULT_MIN_OBSERVATIONS = 200;

  /**
   * The default stop margin ({@code policy.target-early-defer-margin}): under a target rate, a
   * request may stop decoding early only once its running score is above the decision threshold
   * by as much as the 10 points of the window just below that threshold span ({@link
   * #stopThresholdFor}).
   */
  public static final double DEFAULT_STOP_MARGIN = 0.1;

  /** Scores a segment must hold (since the fresh window or the last detected shift) before a shift is looked for. */
  static final int MIN_SEGMENT = 100;

  /** CUSUM alarm level of the location test (standardised rank of each score in the window). */
  static final double LOCATION_ALARM = 28.0;

  /** CUSUM allowance of the location test, in standard deviations of a uniform rank. */
  static final double LOCATION_ALLOWANCE = 0.25;

  /** Log-likelihood-ratio alarm level of the level test (score above the threshold in force). */
  static final double LEVEL_ALARM = 15.0;

  private final int window;
  private final int minObservations;
  private final int refreshEvery;
  private final int minSegment;
  private final double feedbackRequests;
  private final double stopMargin;

  private final double[] ring;
  private int head;
  private int size;
  private final double[] sorted;
  private int sortedSize;
  private int sinceRefresh;

  private String ruleKey;
  /** Scores offered per rule key for the first window started ({@link #seed}); null when none wait. */
  private Map<String, double[]> seeds;
  private long seen;
  private long segment;
  private long shifts;

  private double offset;
  /** The moving share of requests skipped before generation, among all observed ({@link #observeSkipped}). */
  private double skippedShare;
  private double offsetTarget = Double.NaN;
  private double offsetExploration = Double.NaN;

  private final Cusum locationUp = new Cusum();
  private final Cusum locationDown = new Cusum();
  private final Cusum levelUp = new Cusum();
  private final Cusum levelDown = new Cusum();

  /** A controller with the default window (1,000 scores) and warm-up (200 scores of a rule key). */
  public TargetRateController() {
    this(DEFAULT_WINDOW, DEFAULT_MIN_OBSERVATIONS);
  }

  /**
   * @param window how many recent scores the quantile covers at most; ≥ 10
   * @param minObservations scores of a rule key needed before the configured threshold is
   *     overridden; in [1, window]
   * @throws IllegalArgumentException naming the bad argument
   */
  public TargetRateController(int window, int minObservations) {
    this(window, minObservations, DEFAULT_STOP_MARGIN);
  }

  /**
   * As above, with the margin of {@link #stopThresholdFor}.
   *
   * @param stopMargin in [0, 1]: the share of the window just below the threshold a target sets
   *     whose spread of scores, added to that threshold, gives the score above which a request may
   *     stop decoding early; 1 lets none stop
   * @throws IllegalArgumentException naming the bad argument
   */
  public TargetRateController(int window, int minObservations, double stopMargin) {
    checkSizes(window, minObservations);
    checkStopMargin(stopMargin);
    this.stopMargin = stopMargin;
    this.window = window;
    this.minObservations = minObservations;
    this.refreshEvery = Math.max(1, window / 20);
    this.minSegment = Math.min(MIN_SEGMENT, window);
    this.feedbackRequests = Math.max(10.0, window / 10.0);
    this.ring = new double[window];
    this.sorted = new double[window];
    clear(null);
  }

  /** @throws IllegalArgumentException naming the bad argument of {@link #TargetRateController(int, int)} */
  static void checkSizes(int window, int minObservations) {
    if (window < 10) {
      throw new IllegalArgumentException("window must be >= 10, was " + window);
    }
    if (minObservations < 1 || minObservations > window) {
      throw new IllegalArgumentException(
          "minObservations must be in [1, window = " + window + "], was " + minObservations);
    }
  }

  /** @throws IllegalArgumentException unless {@code stopMargin} is in [0, 1] */
  static void checkStopMargin(double stopMargin) {
    if (!(stopMargin >= 0.0 && stopMargin <= 1.0)) {
      throw new IllegalArgumentException("stopMargin must be in [0, 1], was " + stopMargin);
    }
  }

  /**
   * The threshold to apply now to a request scored under {@code policy}'s rule, identified with its
   * version by {@code ruleKey}: defer when the score is strictly greater. See the class comment
   * for which value, in which case.
   */
  public synchronized double threshold(DeferralPolicy policy, String ruleKey) {
    return thresholdFor(Target.of(policy), ruleKey);
  }

  /**
   * What the controller reads of a policy: the threshold configured for when it holds no rate (and
   * during the warm-up), the target rate ({@code 0}: none) and the exploration rate. A middle tier's
   * rule ({@link TierPolicy#target}) is one too.
   */
  public record Target(double configuredThreshold, double rate, double exploration) {

    /** The small model's policy's. */
    public static Target of(DeferralPolicy policy) {
      Objects.requireNonNull(policy, "policy");
      return new Target(policy.threshold(), policy.targetEscalationRate(), policy.explorationRate());
    }

    boolean held() {
      return rate > 0.0;
    }
  }

  /** {@link #threshold(DeferralPolicy, String)} for {@code target}. */
  public synchronized double thresholdFor(Target policy, String ruleKey) {
    Objects.requireNonNull(ruleKey, "ruleKey");
    if (!policy.held()) {
      return policy.configuredThreshold();
    }
    double target = policy.rate();
    double exploration = policy.exploration();
    if (target >= 1.0) {
      return Double.NEGATIVE_INFINITY;
    }
    if (exploration >= target) {
      return Double.POSITIVE_INFINITY;
    }
    adoptSeed(ruleKey);
    if (!ruleKey.equals(this.ruleKey) || seen < minObservations) {
      return policy.configuredThreshold();
    }
    return thresholdAbove(level(target, exploration));
  }

  /**
   * The score above which a request about to be decoded under {@code policy} may stop early, its
   * deferral being decided whatever its later tokens, for a rule whose score only grows with each
   * token ({@link EarlyDeferral#isExact}): the configured threshold when the policy holds no target
   * rate (that is the threshold it is decided by). Under a target, once warm, the decision
   * threshold {@code t} ({@link #thresholdFor}, the score with the fraction {@code q} of the window
   * above it) plus the spread of the scores just below it: {@code t + (t − b)}, where {@code b} is
   * the score with {@code q + m} of the window above it and {@code m} is the stop margin. +∞ (none
   * stops) during the warm-up, under another rule key than the window's, for a target of 1 or one
   * exploration alone meets, when {@code q + m ≥ 1}, and when {@code t = b} (ties) with {@code m >
   * 0}. With {@code m = 0}, {@code t} itself.
   *
   * <p>Why a margin: the decision threshold moves with every decision (feedback, refreshes of the
   * window), also between a batch's start and its decisions, by a few quantile points (see
   * "Feedback" above). A request stopped just above the decision threshold in force when it started
   * could be below the one in force when it is decided. With the margin a stopped request is above
   * the threshold at its decision unless that moved up by about {@code m} of the window meanwhile
   * (a caller defers a stopped request even then: a prefix is never served).
   *
   * <p>Why below, not above: a request that stopped enters the window with its prefix's score,
   * short of its whole answer's but above the stop threshold. So the window is exact below the
   * stop threshold, where {@code t} and {@code b} are read, but not above it: a quantile read
   * there would sit among the prefixes, just above the last stop threshold, and each stop
   * threshold would be read from the last one's prefixes, creeping down onto {@code t}. On a
   * distribution skewed to the right, as uncertainty scores are, the spread just above {@code t}
   * is wider than just below it, so the stop threshold has less than {@code m} of the window
   * between it and {@code t}: on exponential scores at {@code q = 0.3}, {@code m = 0.1}, about 7.5
   * points. The price is in what is saved: only the requests above the stop threshold stop early,
   * not every deferred one.
   */
  public synchronized double stopThresholdFor(Target policy, String ruleKey) {
    Objects.requireNonNull(ruleKey, "ruleKey");
    if (!policy.held()) {
      return policy.configuredThreshold();
    }
    adoptSeed(ruleKey);
    if (!controlling(policy) || !ruleKey.equals(this.ruleKey)) {
      return Double.POSITIVE_INFINITY;
    }
    double level = level(policy.rate(), policy.exploration());
    if (level + stopMargin >= 1.0) {
      return Double.POSITIVE_INFINITY;
    }
    double threshold = thresholdAbove(level);
    if (stopMargin == 0.0) {
      return Double.isFinite(threshold) ? threshold : Double.POSITIVE_INFINITY;
    }
    double spread = threshold - thresholdAbove(level + stopMargin);
    return spread > 0.0 && Double.isFinite(threshold + spread) ? threshold + spread : Double.POSITIVE_INFINITY;
  }

  /** The stop margin this controller was made with (see {@link #stopThresholdFor}). */
  public double stopMargin() {
    return stopMargin;
  }

  /**
   * Records one decided request: its score goes into the window (a different {@code ruleKey} than
   * the window's starts a fresh one first), and, under a target-holding policy once warm, whether
   * it was escalated (deferred or explored) feeds back into the threshold and the score is tested
   * for a shift. Call it for every scored request, after deciding, whatever the decision.
   *
   * @param escalated whether the request goes to the large model ({@link Decision#escalates()})
   * @throws IllegalArgumentException if the score is not finite
   */
  public synchronized void observe(DeferralPolicy policy, String ruleKey, double score, boolean escalated) {
    observeFor(Target.of(policy), ruleKey, score, escalated);
  }

  /** {@link #observe(DeferralPolicy, String, double, boolean)} for {@code target}. */
  public synchronized void observeFor(Target policy, String ruleKey, double score, boolean escalated) {
    Objects.requireNonNull(ruleKey, "ruleKey");
    if (!Double.isFinite(score)) {
      throw new IllegalArgumentException("score must be finite, was " + score);
    }
    adoptSeed(ruleKey);
    if (!ruleKey.equals(this.ruleKey)) {
      clear(ruleKey);
    }
    double target = policy.rate();
    double exploration = policy.exploration();
    boolean controlled = controlling(policy);
    skippedShare -= skippedShare / (2.0 * feedbackRequests);
    if (controlled) {
      double level = level(target, exploration);
      if (segment >= minSegment) {
        detect(score, level);
      }
      feedBack(target, exploration, escalated);
    }
    add(score);
  }

  /**
   * Records one request escalated without a score, by the policy's pre-generation skip: it counts
   * toward the realised escalation rate that a target-holding {@code policy} holds, and toward the
   * share of skipped requests that the scored ones make room for (see the class comment). Nothing
   * enters the window. {@code ruleKey} is the deferral rule's, as for {@link #observe}; under
   * another key than the window's, only the share is updated.
   */
  public synchronized void observeSkipped(DeferralPolicy policy, String ruleKey) {
    Objects.requireNonNull(policy, "policy");
    Objects.requireNonNull(ruleKey, "ruleKey");
    if (ruleKey.equals(this.ruleKey) && controlling(Target.of(policy))) {
      feedBack(policy.targetEscalationRate(), policy.explorationRate(), true);
    }
    skippedShare += (1.0 - skippedShare) / (2.0 * feedbackRequests);
  }

  /** Whether {@code policy}'s target is held by scores now: it holds one, scores are needed for it, and the window is warm. */
  private boolean controlling(Target policy) {
    return policy.held() && policy.rate() < 1.0 && policy.exploration() < policy.rate() && seen >= minObservations;
  }

  /** The moving share of requests skipped before generation (0 when none is reported). */
  public synchronized double skippedShare() {
    return skippedShare;
  }

  /** How many scores the window holds now. */
  public synchronized long observations() {
    return size;
  }

  /** How many scores of the window's rule key were observed since its window started fresh (the warm-up count). */
  public synchronized long scoresSeen() {
    return seen;
  }

  /** How many shifts were detected since the window last started fresh. */
  public synchronized long shiftsDetected() {
    return shifts;
  }

  /**
   * Offers scores logged elsewhere, per rule key (each oldest first; the newest {@code window} of
   * a key are kept), for the first window this controller starts: when it starts one for a key
   * that has a seed, at that key's first {@link #threshold} or {@link #observe}, the window starts
   * with the seed's scores, counted as seen. A router that starts (or restarts) while others have
   * been routing then holds the target from its first request, instead of deciding its first
   * {@code minObservations} by the configured threshold (with a seed shorter than that, the rest
   * of the warm-up is still to come), whichever of the keys the policy in force names, also during
   * a change of rule or version. A window already started for a key that has a seed, and still
   * warming up, starts again with the seed before its own scores. The feedback starts at 0 and the
   * shift tests restart, as with any fresh window. Scores that are not finite are left out. The seeds are dropped once used, or
   * once a window has warmed up on scores of its own; a later seed replaces them.
   *
   * @return how many scores are offered
   */
  public synchronized int seed(Map<String, double[]> scoresByKey) {
    Map<String, double[]> kept = new HashMap<>();
    int offered = 0;
    for (Map.Entry<String, double[]> e : scoresByKey.entrySet()) {
      double[] finite = Arrays.stream(e.getValue()).filter(Double::isFinite).toArray();
      if (finite.length > 0) {
        double[] newest = Arrays.copyOfRange(finite, Math.max(0, finite.length - window), finite.length);
        kept.put(Objects.requireNonNull(e.getKey(), "rule key"), newest);
        offered += newest.length;
      }
    }
    seeds = kept.isEmpty() ? null : kept;
    if (ruleKey != null && seen < minObservations && kept.containsKey(ruleKey)) {
      // A window still warming up on its key's first requests (the seed came late): the seed goes
      // before its own scores.
      double[] own = new double[size];
      for (int i = 0; i < size; i++) {
        own[i] = ring[Math.floorMod(head - size + i, window)];
      }
      String key = ruleKey;
      adoptSeed(key, own);
    }
    return offered;
  }

  /** Starts the window for {@code key} with its seed when a seed is waiting for it and it has no window yet. */
  private void adoptSeed(String key) {
    if (seeds != null && !key.equals(ruleKey) && seeds.containsKey(key)) {
      adoptSeed(key, new double[0]);
    }
  }

  /** Starts the window for {@code key} afresh with its seed, then {@code own} scores; the seeds are used up. */
  private void adoptSeed(String key, double[] own) {
    double[] seed = seeds.get(key);
    seeds = null;
    clear(key);
    for (double score : seed) {
      add(score);
    }
    for (double score : own) {
      add(score);
    }
    refresh();
  }

  /** Forgets every score and all feedback: the next ones start a fresh window, warm-up included. */
  public synchronized void reset() {
    clear(null);
    seeds = null;
    skippedShare = 0.0;
  }

  /** The fraction of the window to put above the threshold: the score-escalation target plus the feedback. */
  private double level(double target, double exploration) {
    double base = base(target, exploration);
    double feedback = target == offsetTarget && exploration == offsetExploration ? offset : 0.0;
    return Math.min(1.0, Math.max(0.0, base + feedback));
  }

  /**
   * The fraction of scored requests to defer for the target: {@code (r′ − e) / (1 − e)}, where
   * {@code r′} is what the target leaves to the scored requests once the skipped share is taken.
   */
  private double base(double target, double exploration) {
    double scored = skippedShare <= 0.0 ? target
        : skippedShare >= 1.0 ? 0.0 : Math.max(0.0, (target - skippedShare) / (1.0 - skippedShare));
    return (scored - exploration) / (1.0 - exploration);
  }

  /** Integral feedback on the realised escalation rate (defer and explore), with anti-windup. */
  private void feedBack(double target, double exploration, boolean escalated) {
    if (target != offsetTarget || exploration != offsetExploration) {
      offset = 0.0;
      offsetTarget = target;
      offsetExploration = exploration;
    }
    double base = base(target, exploration);
    double step = 1.0 / (feedbackRequests * (1.0 - exploration));
    double next = offset + (target - (escalated ? 1.0 : 0.0)) * step;
    // One step of slack past the levels 0 and 1, so that alternating across them (every score
    // tied) keeps its count instead of losing a part of a step at each turn.
    offset = Math.min(1.0 - base + step, Math.max(-base - step, next));
  }

  /** The four CUSUM tests of a new score against the window; an alarm cuts the window back to the change. */
  private void detect(double score, double level) {
    int n = sortedSize;
    int below = lowerBound(score, n);
    int atOrBelow = upperBound(score, n);
    double rank = (below + atOrBelow) / (2.0 * n);
    double z = (rank - 0.5) * Math.sqrt(12.0);
    long since = segment;
    long start = -1;
    if (locationUp.add(z - LOCATION_ALLOWANCE, since) > LOCATION_ALARM) {
      start = locationUp.start;
    } else if (locationDown.add(-z - LOCATION_ALLOWANCE, since) > LOCATION_ALARM) {
      start = locationDown.start;
    }
    double threshold = thresholdAbove(level);
    double expected = (double) (n - upperBound(threshold, n)) / n;
    if (start < 0 && expected > 0.001 && expected < 0.999) {
      boolean above = score > threshold;
      double up = (1.0 + expected) / 2.0;
      double down = expected / 4.0;
      double llrUp = above ? Math.log(up / expected) : Math.log((1.0 - up) / (1.0 - expected));
      double llrDown = above ? Math.log(down / expected) : Math.log((1.0 - down) / (1.0 - expected));
      if (levelUp.add(llrUp, since) > LEVEL_ALARM) {
        start = levelUp.start;
      } else if (levelDown.add(llrDown, since) > LEVEL_ALARM) {
        start = levelDown.start;
      }
    }
    if (start >= 0) {
      long keep = segment - start;
      size = (int) Math.min(size, keep);
      segment = keep;
      shifts++;
      offset = 0.0;
      resetTests();
      sinceRefresh = Integer.MAX_VALUE / 2;
    }
  }

  private void add(double score) {
    ring[head] = score;
    head = (head + 1) % window;
    if (size < window) {
      size++;
    }
    seen++;
    if (seen >= minObservations) {
      seeds = null; // warm on a window of its own (or a seeded one): a seed would only be stale now
    }
    segment++;
    sinceRefresh++;
    int every = size < window ? Math.max(1, Math.min(refreshEvery, size / 10)) : refreshEvery;
    if (sinceRefresh >= every) {
      refresh();
    }
    if (segment == minSegment) {
      resetTests();
    }
  }

  private void refresh() {
    int from = head - size;
    for (int i = 0; i < size; i++) {
      sorted[i] = ring[Math.floorMod(from + i, window)];
    }
    Arrays.sort(sorted, 0, size);
    sortedSize = size;
    sinceRefresh = 0;
  }

  /** The score with {@code fraction} of the window above it, interpolated between neighbours. */
  private double thresholdAbove(double fraction) {
    if (fraction >= 1.0) {
      return Double.NEGATIVE_INFINITY;
    }
    if (fraction <= 0.0) {
      return Double.POSITIVE_INFINITY;
    }
    int n = sortedSize;
    double h = (1.0 - fraction) * (n - 1);
    int lo = (int) Math.floor(h);
    if (lo >= n - 1) {
      return sorted[n - 1];
    }
    double a = sorted[lo];
    double b = sorted[lo + 1];
    double between = a + (h - lo) * (b - a);
    return Double.isFinite(between) ? between : a * (1 - (h - lo)) + b * (h - lo);
  }

  private int lowerBound(double x, int n) {
    int lo = 0;
    int hi = n;
    while (lo < hi) {
      int mid = (lo + hi) >>> 1;
      if (sorted[mid] < x) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo;
  }

  private int upperBound(double x, int n) {
    int lo = 0;
    int hi = n;
    while (lo < hi) {
      int mid = (lo + hi) >>> 1;
      if (sorted[mid] <= x) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo;
  }

  private void resetTests() {
    locationUp.reset(segment);
    locationDown.reset(segment);
    levelUp.reset(segment);
    levelDown.reset(segment);
  }

  private void clear(String key) {
    ruleKey = key;
    head = 0;
    size = 0;
    sortedSize = 0;
    sinceRefresh = 0;
    seen = 0;
    segment = 0;
    shifts = 0;
    offset = 0.0;
    offsetTarget = Double.NaN;
    offsetExploration = Double.NaN;
    resetTests();
  }

  /** A one-sided CUSUM: the sum of increments since it was last at zero, and where that run began. */
  private static final class Cusum {
    double sum;
    long start;

    /** Adds the increment of the score at segment position {@code position}; returns the sum. */
    double add(double increment, long position) {
      if (sum <= 0.0) {
        start = position;
      }
      sum = Math.max(0.0, sum + increment);
      return sum;
    }

    void reset(long position) {
      sum = 0.0;
      start = position;
    }
  }
}
