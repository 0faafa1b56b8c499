/**
 * Token-level uncertainty features of one small-model generation.
 *
 * <p>Pure: this package imports neither Kafka nor gRPC nor DJL. {@link
 * dev.cascade.router.features.FeatureExtractor} turns the per-token log-probabilities and the
 * per-step entropies of a generation into an {@link
 * dev.cascade.router.features.UncertaintyFeatures}, the input of every deferral rule.
 */
package dev.cascade.router.features;
