package dev.cascade.router.policy;

/**
 * The pre-generation skip of a policy: a learned prompt-only rule (feature layout {@code prompt/v1},
 * trained for the router's small model) scores each prompt before the small model decodes it, and
 * a request it scores strictly above {@code threshold} skips small-model decoding and is escalated
 * at once. Requests it does not flag are generated and decided by the policy's rule as without it.
 *
 * @param rule the skip rule, {@code NAME} (the newest applicable version) or {@code NAME@VERSION};
 *     not blank. Whether it exists and fits this router is up to the rule resolver.
 * @param threshold skip when the rule's score is strictly greater; finite
 */
public record PregenSkipPolicy(String rule, double threshold) {

  /** @throws InvalidPolicyException naming the field as {@code pregenSkip.rule} or {@code pregenSkip.threshold} */
  public PregenSkipPolicy {
    if (rule == null || rule.isBlank()) {
      throw new InvalidPolicyException("pregenSkip.rule", "must name a pre-generation skip rule",
          rule == null ? "null" : "'" + rule + "'");
    }
    if (!Double.isFinite(threshold)) {
      throw new InvalidPolicyException("pregenSkip.threshold", "must be finite", threshold);
    }
  }

  /**
   * A skip from its two optional fields (as the policy topic and the admin API carry them): null
   * when both are absent.
   *
   * @throws InvalidPolicyException when only one is set, or either is bad
   */
  public static PregenSkipPolicy of(String rule, Double threshold) {
    if ((rule == null || rule.isEmpty()) && threshold == null) {
      return null;
    }
    if (rule == null || rule.isEmpty()) {
      throw new InvalidPolicyException("pregenSkip.rule",
          "must be set when the skip threshold is (a pre-generation skip needs both, or neither)", "unset");
    }
    if (threshold == null) {
      throw new InvalidPolicyException("pregenSkip.threshold",
          "must be set when the skip rule is (a pre-generation skip needs both, or neither)", "unset");
    }
    return new PregenSkipPolicy(rule, threshold);
  }
}
