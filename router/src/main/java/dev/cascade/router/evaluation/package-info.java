/**
 * Offline evaluation of deferral rules (Gupta et al., ICLR 2024; RouteLLM): the deferral curve,
 * AUC-DF, gain over random, the oracle, APGR, CPT, accuracy at a budget, and a paired bootstrap.
 *
 * <p>Pure: this package imports neither Kafka nor gRPC nor DJL. It takes, per item, whether the
 * small and the large model were correct and a rule's score, and gives numbers out. Start at
 * {@link dev.cascade.router.evaluation.CascadeEvaluation}. {@link
 * dev.cascade.router.evaluation.EarlyDeferralEvaluation} is handed the small model's decoding as a
 * function.
 */
package dev.cascade.router.evaluation;
