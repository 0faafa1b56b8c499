package dev.cascade.router.policy;

import dev.cascade.router.rules.ChowQuantileRule;
import dev.cascade.router.rules.ChowSumRule;
import java.util.List;
import java.util.Objects;

/**
 * The live deferral policy: which rule scores a generation, and how the score becomes a decision.
 *
 * <p>Every instance is valid: the canonical constructor is the validation, and throws {@link
 * InvalidPolicyException} naming the first bad field. So a policy decoded from the policy topic or
 * sent by an operator is checked by building it.
 *
 * @param rule the rule's registry name ({@code chow-sum}, {@code chow-quantile}, …); not blank.
 *     Whether it is known is up to the rule registry, which is open.
 * @param alpha the rule's level, in [0, 1]; ignored by rules without one
 * @param threshold defer when the score is strictly greater; finite
 * @param explorationRate the fraction of accepted requests escalated anyway, in [0, 1]
 * @param targetEscalationRate the fraction of requests to escalate, held on live traffic by a
 *     {@link TargetRateController}, in [0, 1]; 0 means a fixed {@code threshold}, 1 escalates every
 *     request
 * @param version increases with every change; ≥ 0
 * @param updatedBy who made this version; not blank
 * @param updatedAtMs when, in epoch milliseconds; ≥ 0
 * @param reason why; not null, may be empty
 * @param ruleVersion the version of a learned rule to pin, or {@code null} for the latest the
 *     rules topic holds; ≥ 0 (the bundled rules are version 0)
 * @param shadowRules rules scored on every request and logged, never acted on: {@code NAME},
 *     {@code NAME-ALPHA} or {@code NAME@VERSION}; not null
 * @param fallbackRule the rule that scores a request when the policy's rule cannot; not blank
 * @param earlyDeferMargin for a rule whose early deferral is not exact ({@link EarlyDeferral}): stop
 *     the small model once the rule's score on the tokens so far exceeds {@code threshold} plus
 *     this margin, and defer; {@code null} for off; finite and ≥ 0
 * @param tierPolicies the rules of the middle tiers of a cascade of more than two models: entry
 *     i - 1 is tier i's ({@link #tierPolicy}); empty for two models; not null
 * @param pregenSkip the pre-generation skip ({@link PregenSkipPolicy}): a prompt-only rule that sends
 *     the requests it flags on before the small model decodes; {@code null} for off
 * @param earlyDeferLabelShare label sampling of early deferrals: the share of the requests that
 *     early deferral would stop that decode to their end all the same, so the learner gets their
 *     whole answers ({@link EarlyDeferral#labelDraw}); in [0, 1]; {@code null} for the router's
 *     configured {@code small.early-defer-label-share}
 */
public record DeferralPolicy(
    String rule,
    double alpha,
    double threshold,
    double explorationRate,
    double targetEscalationRate,
    long version,
    String updatedBy,
    long updatedAtMs,
    String reason,
    Long ruleVersion,
    List<String> shadowRules,
    String fallbackRule,
    Double earlyDeferMargin,
    List<TierPolicy> tierPolicies,
    PregenSkipPolicy pregenSkip,
    Double earlyDeferLabelShare) {

  /** The most {@code shadow_rules} a policy may name: each is scored on every request. */
  public static final int MAX_SHADOW_RULES = 16;

  /** A policy that leaves label sampling to the router's configuration. */
  public DeferralPolicy(String rule, double alpha, double threshold, double explorationRate,
      double targetEscalationRate, long version, String updatedBy, long updatedAtMs, String reason, Long ruleVersion,
      List<String> shadowRules, String fallbackRule, Double earlyDeferMargin, List<TierPolicy> tierPolicies,
      PregenSkipPolicy pregenSkip) {
    this(rule, alpha, threshold, explorationRate, targetEscalationRate, version, updatedBy, updatedAtMs, reason,
        ruleVersion, shadowRules, fallbackRule, earlyDeferMargin, tierPolicies, pregenSkip, null);
  }

  /** A policy without the pre-generation skip. */
  public DeferralPolicy(String rule, double alpha, double threshold, double explorationRate,
      double targetEscalationRate, long version, String updatedBy, long updatedAtMs, String reason, Long ruleVersion,
      List<String> shadowRules, String fallbackRule, Double earlyDeferMargin, List<TierPolicy> tierPolicies) {
    this(rule, alpha, threshold, explorationRate, targetEscalationRate, version, updatedBy, updatedAtMs, reason,
        ruleVersion, shadowRules, fallbackRule, earlyDeferMargin, tierPolicies, null);
  }

  /** A policy with an early-deferral margin ({@code null}: off) and no middle tiers. */
  public DeferralPolicy(String rule, double alpha, double threshold, double explorationRate,
      double targetEscalationRate, long version, String updatedBy, long updatedAtMs, String reason, Long ruleVersion,
      List<String> shadowRules, String fallbackRule, Double earlyDeferMargin) {
    this(rule, alpha, threshold, explorationRate, targetEscalationRate, version, updatedBy, updatedAtMs, reason,
        ruleVersion, shadowRules, fallbackRule, earlyDeferMargin, List.of());
  }

  /** A policy with no pinned rule version, no shadow rules and Chow-Sum as the fallback. */
  public DeferralPolicy(String rule, double alpha, double threshold, double explorationRate,
      double targetEscalationRate, long version, String updatedBy, long updatedAtMs, String reason) {
    this(rule, alpha, threshold, explorationRate, targetEscalationRate, version, updatedBy, updatedAtMs, reason,
        null, List.of(), ChowSumRule.NAME);
  }

  /** A policy without early deferral for the rules where it is not exact. */
  public DeferralPolicy(String rule, double alpha, double threshold, double explorationRate,
      double targetEscalationRate, long version, String updatedBy, long updatedAtMs, String reason, Long ruleVersion,
      List<String> shadowRules, String fallbackRule) {
    this(rule, alpha, threshold, explorationRate, targetEscalationRate, version, updatedBy, updatedAtMs, reason,
        ruleVersion, shadowRules, fallbackRule, null);
  }

  /**
   * @throws InvalidPolicyException naming the first invalid field
   */
  public DeferralPolicy {
    if (rule == null || rule.isBlank()) {
      throw new InvalidPolicyException("rule", "must name a rule", quoted(rule));
    }
    requireUnit("alpha", alpha);
    if (!Double.isFinite(threshold)) {
      throw new InvalidPolicyException("threshold", "must be finite", threshold);
    }
    requireUnit("explorationRate", explorationRate);
    requireUnit("targetEscalationRate", targetEscalationRate);
    if (version < 0) {
      throw new InvalidPolicyException("version", "must be >= 0", version);
    }
    if (updatedBy == null || updatedBy.isBlank()) {
      throw new InvalidPolicyException("updatedBy", "must say who made the change", quoted(updatedBy));
    }
    if (updatedAtMs < 0) {
      throw new InvalidPolicyException("updatedAtMs", "must be >= 0", updatedAtMs);
    }
    if (reason == null) {
      throw new InvalidPolicyException("reason", "must not be null (it may be empty)", null);
    }
    if (ruleVersion != null && ruleVersion < 0) {
      throw new InvalidPolicyException("ruleVersion", "must be >= 0 (or absent for the latest)", ruleVersion);
    }
    if (shadowRules == null || shadowRules.stream().anyMatch(r -> r == null || r.isBlank())) {
      throw new InvalidPolicyException("shadowRules", "must be a list of rule names", shadowRules);
    }
    shadowRules = List.copyOf(shadowRules);
    if (fallbackRule == null || fallbackRule.isBlank()) {
      throw new InvalidPolicyException("fallbackRule", "must name a rule", quoted(fallbackRule));
    }
    if (tierPolicies == null || tierPolicies.stream().anyMatch(Objects::isNull)) {
      throw new InvalidPolicyException("tierPolicies", "must be a list of tier rules", tierPolicies);
    }
    tierPolicies = List.copyOf(tierPolicies);
    if (earlyDeferMargin != null && !(Double.isFinite(earlyDeferMargin) && earlyDeferMargin >= 0.0)) {
      throw new InvalidPolicyException("earlyDeferMargin", "must be finite and >= 0 (or absent for off)",
          earlyDeferMargin);
    }
    if (earlyDeferLabelShare != null && !(earlyDeferLabelShare >= 0.0 && earlyDeferLabelShare <= 1.0)) {
      throw new InvalidPolicyException("earlyDeferLabelShare",
          "must be in [0, 1] (or absent for the router's small.early-defer-label-share)", earlyDeferLabelShare);
    }
  }

  /** This policy as written by {@code updatedBy} at {@code updatedAtMs}, as version {@code version}, for {@code reason}. */
  public DeferralPolicy writtenAs(long version, String updatedBy, long updatedAtMs, String reason) {
    return new DeferralPolicy(rule, alpha, threshold, explorationRate, targetEscalationRate, version, updatedBy,
        updatedAtMs, reason, ruleVersion, shadowRules, fallbackRule, earlyDeferMargin, tierPolicies, pregenSkip,
        earlyDeferLabelShare);
  }

  /**
   * This policy with the small model's threshold {@code newThreshold} and target escalation rate
   * {@code targetRate} (0: the fixed threshold), its rule and everything else kept.
   */
  public DeferralPolicy withThreshold(double newThreshold, double targetRate) {
    return new DeferralPolicy(rule, alpha, newThreshold, explorationRate, targetRate, version, updatedBy, updatedAtMs,
        reason, ruleVersion, shadowRules, fallbackRule, earlyDeferMargin, tierPolicies, pregenSkip,
        earlyDeferLabelShare);
  }

  /** This policy with another rule version pin ({@code null}: the latest). */
  public DeferralPolicy withRuleVersion(Long pinned) {
    return new DeferralPolicy(rule, alpha, threshold, explorationRate, targetEscalationRate, version, updatedBy,
        updatedAtMs, reason, pinned, shadowRules, fallbackRule, earlyDeferMargin, tierPolicies, pregenSkip,
        earlyDeferLabelShare);
  }

  /** This policy with other shadow rules. */
  public DeferralPolicy withShadowRules(List<String> shadows) {
    return new DeferralPolicy(rule, alpha, threshold, explorationRate, targetEscalationRate, version, updatedBy,
        updatedAtMs, reason, ruleVersion, Objects.requireNonNull(shadows, "shadows"), fallbackRule, earlyDeferMargin,
        tierPolicies, pregenSkip,
        earlyDeferLabelShare);
  }

  /** This policy with another early-deferral margin ({@code null}: off). */
  public DeferralPolicy withEarlyDeferMargin(Double margin) {
    return new DeferralPolicy(rule, alpha, threshold, explorationRate, targetEscalationRate, version, updatedBy,
        updatedAtMs, reason, ruleVersion, shadowRules, fallbackRule, margin, tierPolicies, pregenSkip,
        earlyDeferLabelShare);
  }

  /** This policy with another label-sampling share ({@code null}: the router's configured one). */
  public DeferralPolicy withEarlyDeferLabelShare(Double share) {
    return new DeferralPolicy(rule, alpha, threshold, explorationRate, targetEscalationRate, version, updatedBy,
        updatedAtMs, reason, ruleVersion, shadowRules, fallbackRule, earlyDeferMargin, tierPolicies, pregenSkip, share);
  }

  /** The label-sampling share in force: this policy's, else {@code configured}. */
  public double earlyDeferLabelShare(double configured) {
    return earlyDeferLabelShare != null ? earlyDeferLabelShare : configured;
  }

  /** This policy with other middle-tier rules. */
  public DeferralPolicy withTierPolicies(List<TierPolicy> tiers) {
    return new DeferralPolicy(rule, alpha, threshold, explorationRate, targetEscalationRate, version, updatedBy,
        updatedAtMs, reason, ruleVersion, shadowRules, fallbackRule, earlyDeferMargin,
        Objects.requireNonNull(tiers, "tiers"), pregenSkip, earlyDeferLabelShare);
  }

  /** This policy with another pre-generation skip ({@code null}: off). */
  public DeferralPolicy withPregenSkip(PregenSkipPolicy skip) {
    return new DeferralPolicy(rule, alpha, threshold, explorationRate, targetEscalationRate, version, updatedBy,
        updatedAtMs, reason, ruleVersion, shadowRules, fallbackRule, earlyDeferMargin, tierPolicies, skip,
        earlyDeferLabelShare);
  }

  /**
   * The rule of middle tier {@code tier} (1 = the first model after the small one): this policy's
   * entry for it, else {@code defaults}' (the configured ones), else empty.
   */
  public java.util.Optional<TierPolicy> tierPolicy(int tier, List<TierPolicy> defaults) {
    if (tier >= 1 && tier <= tierPolicies.size()) {
      return java.util.Optional.of(tierPolicies.get(tier - 1));
    }
    return tier >= 1 && tier <= defaults.size() ? java.util.Optional.of(defaults.get(tier - 1)) : java.util.Optional.empty();
  }

  /** The rule as one string: {@code NAME} or {@code NAME@VERSION} when a version is pinned. */
  public String ruleSpec() {
    return ruleVersion == null ? rule : rule + "@" + ruleVersion;
  }

  /**
   * The built-in default, for when configuration names none: Chow-Quantile at α = 0 (the least
   * confident token) with threshold ln 10, i.e. defer when some token had probability below 10%;
   * 1% exploration; a fixed threshold; version 0.
   */
  public static DeferralPolicy defaults() {
    return new DeferralPolicy(
        ChowQuantileRule.NAME, 0.0, Math.log(10.0), 0.01, 0.0, 0L, "defaults", 0L, "built-in default");
  }

  /** Whether a target escalation rate is held ({@code targetEscalationRate > 0}) rather than a fixed threshold. */
  public boolean holdsTargetRate() {
    return targetEscalationRate > 0.0;
  }

  private static void requireUnit(String field, double value) {
    if (!(value >= 0.0 && value <= 1.0)) {
      throw new InvalidPolicyException(field, "must be in [0, 1]", value);
    }
  }

  private static String quoted(String value) {
    return value == null ? "null" : "'" + value + "'";
  }
}
