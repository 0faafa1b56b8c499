package dev.cascade.router.policy;

import dev.cascade.router.features.FeatureExtractor;
import dev.cascade.router.rules.ChowQuantileRule;
import dev.cascade.router.rules.ChowSumRule;
import dev.cascade.router.rules.DeferralRule;
import java.util.Objects;
import java.util.Optional;

/**
 * When the small model may stop decoding a request because its deferral is already decided.
 *
 * <p><b>Exact</b> ({@link #isExact}): Chow-Sum scores {@code −Σ log p} and Chow-Quantile at α = 0
 * scores {@code −min log p}. Every log-prob is ≤ 0 once {@link FeatureExtractor} has read it, so
 * each further token can only raise these scores, in floating point too (adding a term ≤ 0 to the
 * running sum never increases it; a minimum never rises). So once the score of the tokens so far
 * is above the threshold, the score of the whole generation is too, and {@link PolicyDecider}
 * (defer when {@code score > threshold}, strictly) defers it: exploration applies only to scores
 * at or below the threshold, and a deferral's propensity is 1 whatever the rate. The partial score
 * is computed by the same code as the final one ({@code rule.score(FeatureExtractor.extract(..))})
 * over a prefix of the same values, so it is the final computation's running value, not an
 * estimate. Only under a fixed threshold: with a target escalation rate the threshold follows
 * every score the controller sees, including those of the same batch decided before this
 * request, so it is not known while the batch decodes, and a partial score would enter its
 * window; then nothing stops early.
 *
 * <p><b>With a margin</b> (any other rule, when the policy sets {@link
 * DeferralPolicy#earlyDeferMargin()}): stop once the rule's score of the tokens so far is above
 * {@code threshold + margin}. Not exact: a later token can lower such a score (a mean, a learned
 * rule), so some of these requests would have been accepted; {@code EarlyDeferralEvaluation}
 * measures how many. A rule that needs the generation's embedding ({@link
 * DeferralRule#usesEmbedding()}) cannot score a partial one and never stops early.
 *
 * <p>A stopped request is deferred by the ordinary decision: its score on the partial generation
 * is above the threshold. Pure: no state, thread-safe.
 */
public final class EarlyDeferral {

  private EarlyDeferral() {}

  /**
   * Asked after each decoding step with a request's token log-probs and entropies so far: true
   * stops its decoding there (the router hands it to the model as a {@code TextGenerator.EarlyStop}).
   */
  @FunctionalInterface
  public interface Condition {
    /** Never stops. */
    Condition NEVER = (tokenLogprobs, entropies) -> false;

    boolean shouldStop(float[] tokenLogprobs, float[] entropies);
  }

  /** Whether stopping at the threshold gives exactly the decision of decoding to the end. */
  public static boolean isExact(DeferralRule rule) {
    return rule instanceof ChowSumRule || (rule instanceof ChowQuantileRule q && q.alpha() == 0.0);
  }

  /**
   * The stop condition for requests scored by {@code rule} under {@code policy}, or empty when
   * none may stop early: disabled on this router, a target escalation rate, or a rule that is not
   * exact without a margin in the policy (or one that needs the embedding).
   *
   * @param rule the rule that will score the batch (the policy's, or the fallback it resolved to)
   * @param enabled the router's {@code small.early-defer}
   */
  public static Optional<Condition> condition(DeferralRule rule, DeferralPolicy policy, boolean enabled) {
    Objects.requireNonNull(rule, "rule");
    Objects.requireNonNull(policy, "policy");
    if (!enabled || policy.holdsTargetRate()) {
      return Optional.empty();
    }
    double bound;
    if (isExact(rule)) {
      bound = policy.threshold();
    } else if (policy.earlyDeferMargin() != null && !rule.usesEmbedding()) {
      bound = policy.threshold() + policy.earlyDeferMargin();
    } else {
      return Optional.empty();
    }
    return Optional.of((logprobs, entropies) -> partialScore(rule, logprobs, entropies) > bound);
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
}
