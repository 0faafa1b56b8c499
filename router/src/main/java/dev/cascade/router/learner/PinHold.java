package dev.cascade.router.learner;

import dev.cascade.router.policy.DeferralPolicy;
import dev.cascade.router.rules.DeferralRules;

/**
 * Whether the policy in force is an operator's pin, which the learner (with
 * {@code learn.respect-pins}) leaves in force: it still publishes the rule versions it earns, but
 * writes no policy naming them, nor one reverting to the fallback rule.
 *
 * <p>A pin is a policy that names a rule version ({@code NAME@VERSION}), or a learned rule other
 * than the one the learner trains (whose newest version follows that rule's own publisher), unless
 * a learner wrote it naming the learner's own rule: that is the learner's previous publication,
 * which it replaces as it always did. A policy naming a closed-form rule (the starting point the
 * learner is there to improve on, and what a revert names) or the learner's rule without a
 * version (the newest, which the learner's publication is anyway) is not a pin.
 */
final class PinHold {

  /** The {@code updated_by} of the policies the learner writes. */
  static final String LEARNER = "learner";

  private PinHold() {}

  /**
   * Why {@code policy} holds against the learner's policies, or null when it does not.
   *
   * @param learnerRule the rule the learner trains ({@code learn.rule})
   */
  static String reason(DeferralPolicy policy, String learnerRule) {
    boolean learnersOwn = LEARNER.equals(policy.updatedBy()) && policy.rule().equals(learnerRule);
    if (learnersOwn) {
      return null;
    }
    String who = "policy v" + policy.version() + " (updated_by " + policy.updatedBy() + ")";
    if (policy.ruleVersion() != null) {
      return who + " pins " + policy.rule() + "@" + policy.ruleVersion();
    }
    if (!policy.rule().equals(learnerRule) && !closedForm(policy.rule())) {
      return who + " names the learned rule " + policy.rule() + ", not learn.rule " + learnerRule;
    }
    return null;
  }

  /** Whether {@code rule} is a built-in, closed-form rule ({@code chow-quantile-0.1} included). */
  private static boolean closedForm(String rule) {
    try {
      DeferralRules.parseName(rule);
      return true;
    } catch (IllegalArgumentException e) {
      return false;
    }
  }
}
