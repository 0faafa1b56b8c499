/**
 * Learned deferral rules (Gupta et al., ICLR 2024: Post-Hoc-Quantile and Post-Hoc-Embed): the
 * training label, the feature sets, the Tribuo learners and the choice between them by
 * cross-validated AUC-DF, the trained rule as a versioned {@code RuleModel} artifact, and the
 * registry of the rules shipped with the router.
 *
 * <p>Start at {@link dev.cascade.router.learning.RuleTrainer} to train a rule, {@link
 * dev.cascade.router.learning.RuleArtifacts} to store and load one, and {@link
 * dev.cascade.router.learning.LearnedRules#bundled()} for the registry a router is started with.
 * {@link dev.cascade.router.learning.CascadeAnswers} runs both models over a prompt set, the input
 * of training and of the evaluation; {@link dev.cascade.router.learning.TopicSnapshot} reads the
 * routing outcomes instead, and {@link dev.cascade.router.learning.OutcomeReport} evaluates the rules
 * on them.
 */
package dev.cascade.router.learning;
