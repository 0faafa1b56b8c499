/**
 * Deferral policy: how a rule's score becomes a decision.
 *
 * <p>Pure: this package imports neither Kafka nor gRPC nor DJL. A {@link
 * dev.cascade.router.policy.DeferralPolicy} is a value (the live one comes from the compacted
 * policy topic); {@link dev.cascade.router.policy.PolicyDecider} turns a score into a {@link
 * dev.cascade.router.policy.Decision}; {@link dev.cascade.router.policy.TargetRateController}
 * holds a target escalation rate on live traffic; {@link
 * dev.cascade.router.policy.ThresholdCalibrator} picks a threshold offline.
 */
package dev.cascade.router.policy;
