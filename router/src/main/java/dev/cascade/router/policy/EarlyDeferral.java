package dev.cascade.router.policy;

import dev.cascade.router.features.FeatureExtractor;
import dev.cascade.router.rules.ChowQuantileRule;
import dev.cascade.router.rules.ChowSumRule;
import dev.cascade.router.rules.DeferralRule;
import java.util.Arrays;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalDouble;

/**
 * When the small model may stop decoding a request because its deferral is already decided.
 *
 * <p><b>Exact</b> ({@link #isExact}): Chow-Sum scores {@code −Σ log p} and Chow-Quantile at α = 0
 * scores {@code −min log p}. Every log-prob is ≤ 0 once {@link FeatureExtractor} has read it, so
 * each further token can only raise these scores, in floating point too (adding a term ≤ 0 to the
 * running sum never increases it; a minimum never rises). So once the score of the tokens so far
 * is above the threshold, the score of the whole generation is too, and {@link PolicyDecider}
 * (defer when {@code score > threshold}, strictly) defers it: exploration applies only to scores
 * at or below the threshold, and a deferral's propensity is 1 whatever the rate. The check keeps
 * the score of the tokens so far as a running value, one update a token, and that value is the
 * final computation's own running value, not an estimate: each log-prob is read by the same code
 * ({@link FeatureExtractor#logprobValue}), the sum adds the values in token order to a double that
 * starts at 0, the loop {@link FeatureExtractor#extract} sums with, and the minimum is {@link
 * Math#min}, which orders {@code −0.0} below {@code 0.0} as the sort that yields the quantile at
 * level 0 does. So it stops at the step where {@code rule.score(FeatureExtractor.extract(..))} of
 * the prefix first exceeds the threshold ({@code EarlyDeferralTest} checks this against that
 * computation). That is under a fixed threshold. Under a target escalation rate the threshold
 * follows every score the controller sees, including those of the same batch decided before this
 * request, so it is not known while the batch decodes: the request stops only once its running
 * score passes the controller's stop threshold, a margin of the window above the decision
 * threshold ({@link TargetRateController#stopThresholdFor}), and none stops during the
 * controller's warm-up. Decided later, a stopped request is above the decision threshold unless
 * that moved up by the whole margin meanwhile; the router defers a stopped request in any case.
 *
 * <p><b>With a margin</b> (any other rule, when the policy sets {@link
 * DeferralPolicy#earlyDeferMargin()}): stop once the rule's score of the tokens so far is above
 * {@code threshold + margin}. Not exact: a later token can lower such a score (a mean, a learned
 * rule), so some of these requests would have been accepted; {@code EarlyDeferralEvaluation}
 * measures how many. Such a rule has no running value, so the check scores the whole prefix; it
 * does so only after every {@code every}-th token ({@code small.early-defer-every}), since for a
 * learned rule that call costs more than the decoding step it may save. A rule that needs the
 * generation's embedding ({@link DeferralRule#usesEmbedding()}) cannot score a partial one and
 * never stops early.
 *
 * <p>A stopped request is deferred by the ordinary decision: its score on the partial generation
 * is above the threshold. A value {@link FeatureExtractor} rejects (a NaN or positive log-prob, a
 * bad entropy) stops nothing from that token on, as the router cannot score the generation.
 */
public final class EarlyDeferral {

  /**
   * {@code small.early-defer-every}'s default: a rule with a margin is asked after every 4th token.
   * Asked after each, a learned rule's prediction made the early pass take longer than decoding to
   * the end; asked after every 4th, it took about as long, and kept about three quarters of the
   * decoding saved (router/EVALUATION.md, "The per-token check").
   */
  public static final int DEFAULT_EVERY = 4;

  private EarlyDeferral() {}

  /**
   * Makes one check per request being decoded (the router hands it to the model as a {@code
   * TextGenerator.EarlyStop}). Immutable and thread-safe.
   */
  @FunctionalInterface
  public interface Condition {
    /** Never stops. */
    Condition NEVER = () -> (logprob, entropy) -> false;

    /** A fresh check for one request, before its first token. */
    Check newCheck();
  }

  /**
   * One request's check: told each generated token's log-prob and entropy in order, true stops its
   * decoding after that token. Holds the request's running score, so it serves one request and one
   * thread at a time.
   */
  @FunctionalInterface
  public interface Check {
    boolean afterToken(float logprob, float entropy);
  }

  /** Whether stopping at the threshold gives exactly the decision of decoding to the end. */
  public static boolean isExact(DeferralRule rule) {
    return rule instanceof ChowSumRule || (rule instanceof ChowQuantileRule q && q.alpha() == 0.0);
  }

  /**
   * The built-in rule {@code name} names (as a policy or an outcome spells it: {@code chow-sum},
   * {@code chow-quantile}, {@code chow-quantile-0.1}) where its early deferral is exact ({@link
   * #isExact}); null otherwise (a learned rule, a version, an unknown name).
   */
  public static DeferralRule exactRule(String name) {
    try {
      dev.cascade.router.rules.DeferralRules.RuleName parsed = dev.cascade.router.rules.DeferralRules.parseName(name);
      DeferralRule rule = dev.cascade.router.rules.DeferralRules.of(parsed.rule(), parsed.alpha());
      return isExact(rule) ? rule : null;
    } catch (IllegalArgumentException e) {
      return null;
    }
  }

  /** As {@link #condition(DeferralRule, DeferralPolicy, boolean, int)}, a margin's rule asked every {@link #DEFAULT_EVERY} tokens. */
  public static Optional<Condition> condition(DeferralRule rule, DeferralPolicy policy, boolean enabled) {
    return condition(rule, policy, enabled, DEFAULT_EVERY);
  }

  /**
   * The stop condition for requests scored by {@code rule} under {@code policy}, or empty when
   * none may stop early: disabled on this router, a target escalation rate, or a rule that is not
   * exact without a margin in the policy (or one that needs the embedding).
   *
   * @param rule the rule that will score the batch (the policy's, or the fallback it resolved to)
   * @param enabled the router's {@code small.early-defer}
   * @param every the router's {@code small.early-defer-every}: with a margin, the rule scores the
   *     tokens so far after every {@code every}-th token only (exact rules are checked after each)
   * @throws IllegalArgumentException if {@code every} is below 1
   */
  public static Optional<Condition> condition(DeferralRule rule, DeferralPolicy policy, boolean enabled, int every) {
    return condition(rule, policy, enabled, every, Double.POSITIVE_INFINITY);
  }

  /**
   * As {@link #condition(DeferralRule, DeferralPolicy, boolean, int)}, but under a target escalation
   * rate an exact rule stops once its running score passes {@code targetStop}, the controller's
   * {@link TargetRateController#stopThresholdFor} for the batch (+∞: none stops). Under a target
   * the rules with a margin do not stop early.
   */
  public static Optional<Condition> condition(DeferralRule rule, DeferralPolicy policy, boolean enabled, int every,
      double targetStop) {
    if (every < 1) {
      throw new IllegalArgumentException("every must be >= 1, was " + every);
    }
    return stopThreshold(rule, policy, enabled, targetStop).stream()
        .mapToObj(stop -> condition(rule, stop, every)).findFirst();
  }

  /**
   * The condition that stops a request scored by {@code rule} once its score passes {@code stop}
   * ({@link #stopThreshold}): exact for an exact rule, else the whole prefix scored every {@code
   * every}-th token.
   */
  public static Condition condition(DeferralRule rule, double stop, int every) {
    Objects.requireNonNull(rule, "rule");
    if (every < 1) {
      throw new IllegalArgumentException("every must be >= 1, was " + every);
    }
    return isExact(rule) ? exact(rule, stop) : () -> new EveryKth(rule, stop, every);
  }

  /**
   * The score above which {@link #condition(DeferralRule, DeferralPolicy, boolean, int, double)}
   * stops a request (the outcome's {@code small_stop_threshold}), or empty when it stops none: the
   * policy's threshold for an exact rule; under a target rate, {@code targetStop} for an exact rule
   * (none while it is +∞ or NaN) and none for the others; the threshold plus the policy's {@code
   * early_defer_margin} for another rule that does not need the embedding.
   */
  public static OptionalDouble stopThreshold(DeferralRule rule, DeferralPolicy policy, boolean enabled,
      double targetStop) {
    Objects.requireNonNull(rule, "rule");
    Objects.requireNonNull(policy, "policy");
    if (!enabled) {
      return OptionalDouble.empty();
    }
    if (policy.holdsTargetRate()) {
      return isExact(rule) && targetStop != Double.POSITIVE_INFINITY && !Double.isNaN(targetStop)
          ? OptionalDouble.of(targetStop) : OptionalDouble.empty();
    }
    if (isExact(rule)) {
      return OptionalDouble.of(policy.threshold());
    }
    if (policy.earlyDeferMargin() != null && !rule.usesEmbedding()) {
      return OptionalDouble.of(policy.threshold() + policy.earlyDeferMargin());
    }
    return OptionalDouble.empty();
  }

  /**
   * The request's label-sampling draw in [0, 1): as the exploration draw, over the id with a prefix
   * of its own, so that which requests are sampled for labels does not depend on which are
   * explored. A request is decoded to its end when its draw is below {@code
   * small.early-defer-label-share}, so the requests sampled at one share are a subset of those
   * sampled at any higher share, and a replay samples the same ones. Fixed forever, as the
   * exploration draw is.
   */
  public static double labelDraw(String requestId) {
    return StableHash.unit("early-defer-label\0" + requestId);
  }

  /**
   * The request's label-sampling draw at middle tier {@code tier}, in [0, 1) ({@code
   * escalation.early-defer-label-share}): as {@link #labelDraw}, with the tier in the prefix, so
   * that each tier's draw is independent of the small model's and of the other tiers'. Fixed
   * forever.
   */
  public static double labelDraw(String requestId, int tier) {
    return StableHash.unit("early-defer-label tier " + tier + "\0" + requestId);
  }

  /**
   * Whether {@code condition} would have stopped a generation that was decoded to its end: a fresh
   * check told its tokens in order, as the decoder tells them (each token that leaves the row
   * below {@code limit}; the token that reaches the limit ends the row anyway), says stop after
   * one of them. For a row that label sampling decoded whole, this says whether it stands for the
   * rows that stopped early. A check that throws stops nothing, as in the decoder.
   */
  public static boolean wouldStop(Condition condition, float[] logprobs, float[] entropies, int limit) {
    Check check = condition.newCheck();
    try {
      for (int t = 0; t < logprobs.length && t + 1 < limit; t++) {
        if (check.afterToken(logprobs[t], entropies[t])) {
          return true;
        }
      }
    } catch (RuntimeException e) {
      return false;
    }
    return false;
  }

  /**
   * The exact stop condition of an exact rule ({@link #isExact}) at {@code threshold}: stop after
   * the token where the running score first passes it ({@code -∞}: after the first token).
   *
   * @throws IllegalArgumentException if the rule is not exact
   */
  public static Condition exact(DeferralRule rule, double threshold) {
    if (!isExact(rule)) {
      throw new IllegalArgumentException("rule " + rule.name() + " has no exact early deferral");
    }
    boolean minimum = rule instanceof ChowQuantileRule;
    return () -> new RunningScore(minimum, threshold);
  }

  /**
   * An exact rule's running score after each token of an answer (index k: the score of its first k
   * + 1 tokens), as early deferral keeps it: the answer stops after the first token whose running
   * score is above the stop threshold. Non-decreasing; null when a value cannot be scored.
   *
   * @throws IllegalArgumentException if the rule's early deferral is not exact
   */
  public static double[] runningScores(DeferralRule rule, float[] logprobs) {
    if (!isExact(rule)) {
      throw new IllegalArgumentException("rule " + rule.name() + " has no exact early deferral");
    }
    RunningScore running = new RunningScore(rule instanceof ChowQuantileRule, Double.POSITIVE_INFINITY);
    double[] scores = new double[logprobs.length];
    for (int k = 0; k < logprobs.length; k++) {
      running.afterToken(logprobs[k], 0f);
      if (running.rejected) {
        return null;
      }
      scores[k] = -running.running;
    }
    return scores;
  }

  /**
   * As {@link #runningScores}, each less {@code margin} (at least 0): for an answer the routers
   * asked to stop that far above the threshold it was decided by, at a threshold T weighed it stops
   * once its running score passes T plus the margin, so once these scores pass T.
   */
  public static double[] stopScores(DeferralRule rule, float[] logprobs, double margin) {
    double[] running = runningScores(rule, logprobs);
    if (running != null && margin > 0) {
      for (int k = 0; k < running.length; k++) {
        running[k] -= margin;
      }
    }
    return running;
  }

  /**
   * The rule's score of the tokens generated so far, as the router would score a generation that
   * ended there; NaN when the rule cannot score it (values out of range), which stops nothing.
   */
  static double partialScore(DeferralRule rule, float[] logprobs, float[] entropies) {
    try {
      return rule.score(FeatureExtractor.extract(logprobs, entropies), null);
    } catch (RuntimeException e) {
      return Double.NaN;
    }
  }

  /** Chow-Sum's running {@code Σ log p}, or Chow-Quantile(0)'s running {@code min log p}. */
  private static final class RunningScore implements Check {
    private final boolean minimum;
    private final double bound;
    /** Σ log p from 0, as {@link FeatureExtractor#extract} sums; or min log p, +∞ before the first. */
    private double running;
    /** Set at the first value {@link FeatureExtractor} rejects: the generation cannot be scored. */
    private boolean rejected;

    RunningScore(boolean minimum, double bound) {
      this.minimum = minimum;
      this.bound = bound;
      this.running = minimum ? Double.POSITIVE_INFINITY : 0.0;
    }

    @Override
    public boolean afterToken(float logprob, float entropy) {
      double value = FeatureExtractor.logprobValue(logprob);
      if (rejected || Double.isNaN(value) || Double.isNaN(FeatureExtractor.entropyValue(entropy))) {
        rejected = true;
        return false;
      }
      running = minimum ? Math.min(running, value) : running + value;
      // The rules' own score: −Σ log p and −min log p.
      return -running > bound;
    }
  }

  /** A rule with a margin: the whole prefix scored after every {@code every}-th token. */
  private static final class EveryKth implements Check {
    private final DeferralRule rule;
    private final double bound;
    private final int every;
    private float[] logprobs = new float[16];
    private float[] entropies = new float[16];
    private int length;

    EveryKth(DeferralRule rule, double bound, int every) {
      this.rule = rule;
      this.bound = bound;
      this.every = every;
    }

    @Override
    public boolean afterToken(float logprob, float entropy) {
      if (length == logprobs.length) {
        logprobs = Arrays.copyOf(logprobs, 2 * length);
        entropies = Arrays.copyOf(entropies, 2 * length);
      }
      logprobs[length] = logprob;
      entropies[length] = entropy;
      length++;
      return length % every == 0
          && partialScore(rule, Arrays.copyOf(logprobs, length), Arrays.copyOf(entropies, length)) > bound;
    }
  }
}
