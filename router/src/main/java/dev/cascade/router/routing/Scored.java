package dev.cascade.router.routing;

import dev.cascade.router.features.UncertaintyFeatures;
import dev.cascade.router.policy.Decision;
import java.util.Map;

/**
 * The deferral verdict on one small-model generation.
 *
 * @param features the uncertainty features the rule scored
 * @param rule the rule's name
 * @param alpha the rule's level (0 for rules without one)
 * @param score the rule's score, higher = more likely to defer
 * @param threshold the threshold in force (a target-rate controller's when one is held)
 * @param policyVersion the version of the policy that decided
 * @param decision accept, defer or explore
 * @param ruleMs time spent on features, score and decision
 * @param ruleVersion the learned rule's version, null for a closed-form rule
 * @param propensity the probability that the request was escalated under the policy: 1 for a
 *     deferral, the exploration rate otherwise
 * @param shadowScores the policy's shadow rules' scores, by rule spec
 * @param fallbackReason why the policy's rule did not score and the fallback did; null when it did
 */
public record Scored(UncertaintyFeatures features, String rule, double alpha, double score, double threshold,
    long policyVersion, Decision decision, double ruleMs, Long ruleVersion, double propensity,
    Map<String, Double> shadowScores, String fallbackReason) {

  public Scored {
    shadowScores = Map.copyOf(shadowScores);
  }

  /** A verdict of a closed-form rule with no shadows; the propensity follows from the decision. */
  public Scored(UncertaintyFeatures features, String rule, double alpha, double score, double threshold,
      long policyVersion, Decision decision, double ruleMs) {
    this(features, rule, alpha, score, threshold, policyVersion, decision, ruleMs, null,
        decision == Decision.DEFER ? 1.0 : decision == Decision.EXPLORE ? 1.0 : 0.0, Map.of(), null);
  }
}
