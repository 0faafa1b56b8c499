/**
 * Deferral rules: each turns the {@link dev.cascade.router.features.UncertaintyFeatures} of a
 * generation into a score, higher meaning more likely to need the large model.
 *
 * <p>Pure: this package imports neither Kafka nor gRPC nor DJL. {@link
 * dev.cascade.router.rules.DeferralRules} is the registry that maps the names a policy and the
 * evaluation use ({@code chow-sum}, {@code chow-average}, {@code chow-quantile-0.1}, …) onto rules.
 */
package dev.cascade.router.rules;
