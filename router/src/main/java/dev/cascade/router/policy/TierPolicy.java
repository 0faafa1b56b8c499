package dev.cascade.router.policy;

import dev.cascade.router.features.FeatureExtractor;
import dev.cascade.router.rules.ChowAverageRule;
import dev.cascade.router.rules.ChowQuantileRule;
import dev.cascade.router.rules.ChowSumRule;
import dev.cascade.router.rules.DeferralRule;
import dev.cascade.router.rules.DeferralRules;
import java.util.Locale;
import java.util.Set;

/**
 * The deferral rule of a middle tier of a cascade of more than two models: tier i (1 = the first
 * model after the small one) passes a request on to tier i + 1 when its rule's score of tier i's
 * own answer is strictly greater than {@code threshold}.
 *
 * <p>Only the closed-form rules apply ({@code chow-sum}, {@code chow-average}, {@code
 * chow-quantile}): they need nothing but the answer's token log-probabilities, which a {@code
 * cascade://} large-model server returns. The learned rules score the small model's features and
 * embedding, which a remote tier does not expose.
 *
 * <p>With a target rate ({@code targetEscalationRate > 0}) the threshold is not fixed: a {@link
 * TargetRateController} of the tier's own recent scores holds the share of the requests reaching
 * the tier that it passes on at the target, and {@code threshold} is the one used until the
 * controller has seen enough scores ({@link TargetRateController#DEFAULT_MIN_OBSERVATIONS}).
 *
 * @param rule a closed-form rule's name
 * @param alpha its level in [0, 1] (chow-quantile's; ignored by the others)
 * @param threshold defer when the score is strictly greater; finite
 * @param targetEscalationRate the share of the requests reaching this tier to pass on, in [0, 1];
 *     0 for the fixed {@code threshold}, 1 passes every request on; the explored ones count toward it
 * @param explorationRate the share of the requests the rule would serve that are passed on anyway,
 *     in [0, 1] ({@link #explores}: a draw on the request id and the tier), so that the next tier's
 *     answer is seen where this tier's would have been served; 0 explores none
 */
public record TierPolicy(String rule, double alpha, double threshold, double targetEscalationRate,
    double explorationRate) {

  /** The rules a middle tier may use. */
  public static final Set<String> RULES = Set.of(ChowSumRule.NAME, ChowAverageRule.NAME, ChowQuantileRule.NAME);

  private static final String RULE_PROBLEM = "must be one of " + new java.util.TreeSet<>(RULES)
      + " (chow-quantile also as chow-quantile-ALPHA; a middle tier is scored from its token log-probabilities alone)";

  /** @throws InvalidPolicyException naming the first bad field */
  public TierPolicy {
    if (rule == null || !RULES.contains(rule)) {
      throw new InvalidPolicyException("rule", RULE_PROBLEM, rule == null ? "null" : "'" + rule + "'");
    }
    if (!(alpha >= 0.0 && alpha <= 1.0)) {
      throw new InvalidPolicyException("alpha", "must be in [0, 1]", alpha);
    }
    if (!Double.isFinite(threshold)) {
      throw new InvalidPolicyException("threshold", "must be finite", threshold);
    }
    if (!(targetEscalationRate >= 0.0 && targetEscalationRate <= 1.0)) {
      throw new InvalidPolicyException("targetEscalationRate", "must be in [0, 1]", targetEscalationRate);
    }
    if (!(explorationRate >= 0.0 && explorationRate <= 1.0)) {
      throw new InvalidPolicyException("explorationRate", "must be in [0, 1]", explorationRate);
    }
  }

  /** A tier rule with a fixed threshold (no target rate, no exploration). */
  public TierPolicy(String rule, double alpha, double threshold) {
    this(rule, alpha, threshold, 0.0, 0.0);
  }

  /** A tier rule with a target rate (0: the fixed threshold) and no exploration. */
  public TierPolicy(String rule, double alpha, double threshold, double targetEscalationRate) {
    this(rule, alpha, threshold, targetEscalationRate, 0.0);
  }

  /** Whether a target rate is held ({@code targetEscalationRate > 0}) rather than the fixed threshold. */
  public boolean holdsTargetRate() {
    return targetEscalationRate > 0.0;
  }

  /** This rule holding {@code rate} of the requests reaching the tier ({@code 0}: the fixed threshold). */
  public TierPolicy withTargetEscalationRate(double rate) {
    return new TierPolicy(rule, alpha, threshold, rate, explorationRate);
  }

  /** This rule passing on {@code rate} of the requests it would serve, drawn at random ({@code 0}: none). */
  public TierPolicy withExplorationRate(double rate) {
    return new TierPolicy(rule, alpha, threshold, targetEscalationRate, rate);
  }

  /**
   * This rule as the {@link TargetRateController} reads a policy: its threshold, target and
   * exploration rate (under a target the explored requests count toward it, as the small model's do).
   */
  public TargetRateController.Target target() {
    return new TargetRateController.Target(threshold, targetEscalationRate, explorationRate);
  }

  /**
   * Whether a request this rule would serve at middle tier {@code tier} is passed on all the same:
   * its draw, a pure function of the request id and the tier, is below the exploration rate. A
   * replay makes the same choice on every instance; the requests explored at one rate are among
   * those explored at any higher rate; and the draws of different tiers (and the small model's,
   * {@link PolicyDecider}) are independent of each other.
   */
  public boolean explores(String requestId, int tier) {
    return explorationRate > 0.0 && explorationDraw(requestId, tier) < explorationRate;
  }

  /** The request's exploration draw at middle tier {@code tier}, in [0, 1). Fixed forever, as the small model's. */
  static double explorationDraw(String requestId, int tier) {
    return StableHash.unit(requestId + "\u0000tier " + tier);
  }

  /**
   * Entry {@code index} of a policy's middle-tier rules.
   *
   * @throws InvalidPolicyException naming the field as {@code tierPolicies[index].rule} and so on
   */
  public static TierPolicy at(int index, String rule, double alpha, double threshold, double targetEscalationRate,
      double explorationRate) {
    try {
      if (rule != null && !RULES.contains(rule)) {
        // chow-quantile-0.1, as the command line and policy.tier-rules spell it: the rule and its level.
        DeferralRules.RuleName name = ruleName(rule);
        if (!rule.equals(name.rule()) && ChowQuantileRule.NAME.equals(name.rule())) {
          if (alpha != 0.0 && alpha != name.alpha()) {
            throw new InvalidPolicyException("alpha", "must agree with the rule's name " + rule + " (alpha "
                + name.alpha() + "), or be left at 0", alpha);
          }
          rule = name.rule();
          alpha = name.alpha();
        }
      }
      return new TierPolicy(rule, alpha, threshold, targetEscalationRate, explorationRate);
    } catch (InvalidPolicyException e) {
      throw e.within("tierPolicies[" + index + "].");
    }
  }

  /**
   * A middle tier's rule as the command line spells it ({@code chow-sum}, {@code chow-quantile-0.1}):
   * the rule and its level.
   *
   * @throws InvalidPolicyException naming {@code alpha} for a level out of range, else {@code rule}
   */
  private static DeferralRules.RuleName ruleName(String ruleName) {
    try {
      return DeferralRules.parseName(ruleName);
    } catch (IllegalArgumentException e) {
      int hyphen = ruleName.lastIndexOf('-');
      if (hyphen > 0 && RULES.contains(ruleName.substring(0, hyphen)) && e.getMessage().startsWith("alpha")) {
        // chow-quantile-1.5: a known rule at a level out of range, said as the admin API says it.
        throw new InvalidPolicyException("alpha", "must be in [0, 1]",
            ruleName.substring(hyphen + 1) + " (in rule name '" + ruleName + "')");
      }
      throw new InvalidPolicyException("rule", RULE_PROBLEM, "'" + ruleName + "'");
    }
  }

  /**
   * Parses {@code RULE:THRESHOLD}, the rule spelled as on the command line ({@code chow-sum},
   * {@code chow-quantile-0.1}).
   *
   * @throws InvalidPolicyException naming what is wrong
   */
  public static TierPolicy parse(String spec) {
    int colon = spec.lastIndexOf(':');
    if (colon <= 0 || colon == spec.length() - 1) {
      throw new InvalidPolicyException("rule", "must be RULE:THRESHOLD, e.g. chow-sum:9.5", "'" + spec + "'");
    }
    DeferralRules.RuleName name = ruleName(spec.substring(0, colon).trim());
    double threshold;
    try {
      threshold = Double.parseDouble(spec.substring(colon + 1).trim());
    } catch (NumberFormatException e) {
      throw new InvalidPolicyException("threshold", "must be a number", "'" + spec.substring(colon + 1) + "'");
    }
    return new TierPolicy(name.rule(), name.alpha(), threshold);
  }

  /**
   * What a negative threshold does to a Chow rule ({@link #RULES}), whose score (minus the answer's
   * token log-probabilities: summed, averaged, or a quantile) is never negative: every answer scores
   * above it and is passed on. Empty for a threshold of 0 or more, and for other rules (a learned
   * rule's score may be negative). A warning, not a refusal: deferring every request is something an
   * operator may want.
   *
   * @param whose the rule's place, for the message: "middle tier 1", "the small model"
   */
  public static java.util.Optional<String> deferAllWarning(String rule, double threshold, String whose) {
    String name = rule;
    try {
      name = DeferralRules.parseName(rule).rule(); // chow-quantile-0.1 as typed
    } catch (IllegalArgumentException e) {
      // not a closed-form rule
    }
    if (!RULES.contains(name) || !(threshold < 0)) {
      return java.util.Optional.empty();
    }
    return java.util.Optional.of(whose + "'s rule " + rule + " has threshold " + threshold + ", below 0, and a "
        + name + " score is never negative: every answer " + whose + " gives is passed on to the next model");
  }

  /** {@link #deferAllWarning(String, double, String)} for this rule. */
  public java.util.Optional<String> deferAllWarning(String whose) {
    return deferAllWarning(rule, threshold, whose);
  }

  /** The rule as {@link #parse} reads it back (the target rate is not part of it: {@code policy.tier-target-rates}). */
  public String spec() {
    return String.format(Locale.ROOT, "%s:%s", ruleName(), threshold);
  }

  /**
   * The rule for logs: {@link #spec}, and the target rate and exploration rate when they are above
   * 0 ({@code chow-sum:4.2 target 0.3 exploration 0.05}).
   */
  public String describe() {
    return spec() + (holdsTargetRate() ? " target " + targetEscalationRate : "")
        + (explorationRate > 0.0 ? " exploration " + explorationRate : "");
  }

  /** The rule with its level, as the command line spells it: {@code chow-sum}, {@code chow-quantile-0.1}. */
  public String ruleName() {
    return alpha == 0.0 ? rule : rule + "-" + alpha;
  }

  /** The rule's score of an answer with these token log-probabilities (higher: less confident). */
  public double score(float[] tokenLogprobs) {
    DeferralRule scorer = DeferralRules.of(rule, alpha);
    // The closed-form rules read log-probabilities only; entropies are not part of the protocol.
    return scorer.score(FeatureExtractor.extract(tokenLogprobs, new float[tokenLogprobs.length]));
  }

  /** Whether an answer with this score is passed on to the next tier. */
  public boolean defers(double score) {
    return score > threshold;
  }
}
