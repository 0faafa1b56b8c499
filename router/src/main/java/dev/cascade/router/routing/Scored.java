package dev.cascade.router.routing;

import dev.cascade.router.features.UncertaintyFeatures;
import dev.cascade.router.policy.Decision;

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
 */
public record Scored(UncertaintyFeatures features, String rule, double alpha, double score, double threshold,
    long policyVersion, Decision decision, double ruleMs) {}
