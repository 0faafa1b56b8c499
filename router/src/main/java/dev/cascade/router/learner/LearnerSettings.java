package dev.cascade.router.learner;

import dev.cascade.router.CascadeRouter;
import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.learning.ChallengerTrial;
import dev.cascade.router.learning.DeferralExample;
import dev.cascade.router.learning.FeatureSet;
import dev.cascade.router.learning.LearnerSpec;
import dev.cascade.router.learning.ModelFingerprint;
import dev.cascade.router.learning.RuleTrainer;
import dev.cascade.router.policy.DeferralPolicy;
import java.time.Duration;
import java.util.List;

/**
 * What the continuous learner is told: which rule to train, how many examples to keep, when to
 * retrain, how to compare, and for which small model.
 *
 * @param trial how one round trains and compares
 * @param maxExamples most recent labelled examples kept
 * @param retrainEveryLabels retrain after this many new labels
 * @param retrainEvery or after this long, when there are new labels
 * @param feedbackWindow how long outcomes and feedback wait for each other
 * @param modelFingerprint the small model's SHA-256: rules are trained for it
 * @param defaultPolicy the policy while the policy topic holds none
 * @param respectPins whether an operator's pin in the policy in force holds against the learner's policies
 *     ({@link PinHold})
 * @param prior labelled examples from outside the traffic, trained on as older than all of it
 *     ({@link ChallengerTrial#run(List, long[], List, List, ChallengerTrial.Champion, long, String,
 *     ChallengerTrial.Options, RuleTrainer.Progress)}); empty: none ({@code learn.prior}, {@link LearnerPrior})
 */
public record LearnerSettings(ChallengerTrial.Options trial, int maxExamples, int retrainEveryLabels,
    Duration retrainEvery, Duration feedbackWindow, String modelFingerprint, DeferralPolicy defaultPolicy,
    boolean respectPins, List<DeferralExample> prior) {

  public LearnerSettings {
    prior = List.copyOf(prior);
  }

  /** Settings without a prior. */
  public LearnerSettings(ChallengerTrial.Options trial, int maxExamples, int retrainEveryLabels,
      Duration retrainEvery, Duration feedbackWindow, String modelFingerprint, DeferralPolicy defaultPolicy,
      boolean respectPins) {
    this(trial, maxExamples, retrainEveryLabels, retrainEvery, feedbackWindow, modelFingerprint, defaultPolicy,
        respectPins, List.of());
  }

  /** These settings with {@code examples} as the prior. */
  public LearnerSettings withPrior(List<DeferralExample> examples) {
    return new LearnerSettings(trial, maxExamples, retrainEveryLabels, retrainEvery, feedbackWindow, modelFingerprint,
        defaultPolicy, respectPins, examples);
  }

  /** The settings the {@code learn.*} keys (and {@code small.model}, {@code policy.*}) give, without the prior ({@link LearnerPrior}). */
  public static LearnerSettings from(CascadeConfig config) {
    List<LearnerSpec> learners = config.get(CascadeConfig.LEARN_LEARNERS).equals("all") ? LearnerSpec.defaults()
        : List.of(LearnerSpec.logisticRegression(10, 0.1), LearnerSpec.xgboost(100, 2, 0.1));
    RuleTrainer.Options trainer = new RuleTrainer.Options(config.get(CascadeConfig.LEARN_FOLDS), 20240917L, learners);
    ChallengerTrial.Options trial = new ChallengerTrial.Options(
        FeatureSet.forRuleName(config.get(CascadeConfig.LEARN_RULE)), config.get(CascadeConfig.LEARN_HOLDOUT),
        config.get(CascadeConfig.LEARN_MIN_HOLDOUT), config.get(CascadeConfig.LEARN_MIN_LABELS),
        config.get(CascadeConfig.LEARN_MAX_WEIGHT), config.get(CascadeConfig.LEARN_RESAMPLES), trainer,
        config.get(CascadeConfig.LEARN_HALF_LIFE), config.get(CascadeConfig.LEARN_REFRESH_MARGIN));
    return new LearnerSettings(trial, config.get(CascadeConfig.LEARN_MAX_EXAMPLES),
        config.get(CascadeConfig.LEARN_RETRAIN_LABELS), Duration.ofMillis(config.get(CascadeConfig.LEARN_RETRAIN_MS)),
        Duration.ofMillis(config.get(CascadeConfig.LEARN_FEEDBACK_WINDOW_MS)),
        ModelFingerprint.of(config.get(CascadeConfig.SMALL_MODEL)), CascadeRouter.configuredPolicy(config),
        config.get(CascadeConfig.LEARN_RESPECT_PINS));
  }
}
