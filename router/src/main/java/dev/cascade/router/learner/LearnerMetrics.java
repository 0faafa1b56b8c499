package dev.cascade.router.learner;

import dev.cascade.router.learning.LabelledOutcomes;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.List;
import java.util.Map;

/**
 * What the continuous learner counts, as Prometheus metrics: labels by source, feedback joins,
 * training rounds by result and the last round's numbers. Thread-safe. Every label value below is
 * a series from 0 as soon as the metrics are registered, so that an alert on {@code increase()}
 * sees the first count after a (re)start.
 */
public final class LearnerMetrics {

  /** {@code cascade_learner_outcomes_total}'s {@code result} values. */
  static final List<String> OUTCOME_RESULTS = List.of("labelled", "unlabelled", "waiting");
  /**
   * {@code cascade_learner_unlabelled_outcomes_total}'s {@code reason} values, by the reason {@link
   * LabelledOutcomes#labelOrSkip} gives.
   */
  static final Map<String, String> UNLABELLED_REASONS = Map.of(
      LabelledOutcomes.STOPPED_EARLY, "stopped_early",
      LabelledOutcomes.PREGEN_SKIPPED, "pregen_skipped",
      LabelledOutcomes.SMALL_FAILED, "small_failed",
      LabelledOutcomes.DEADLINE_EXCEEDED, "deadline_exceeded",
      LabelledOutcomes.NO_LABEL, "no_label",
      LabelledOutcomes.WRONG_NO_LARGE, "wrong_no_large");
  /** {@code cascade_learner_labels_total}'s {@code source} values. */
  static final List<String> LABEL_SOURCES = List.of(LabelledOutcomes.REFERENCE, LabelledOutcomes.FEEDBACK,
      LabelledOutcomes.TEACHER);
  /** {@code cascade_learner_feedback_total}'s {@code result} values. */
  static final List<String> FEEDBACK_RESULTS = List.of("joined", "waiting", "dropped", "superseded", "replaced");
  /** {@code cascade_learner_trainings_total}'s {@code result} values. */
  static final List<String> TRAINING_RESULTS = List.of("published", "published_held", "rejected", "rejected_fallback",
      "reverted", "revert_held", "skipped");
  /** {@code cascade_learner_dead_letters_total}'s {@code input} values. */
  static final List<String> DEAD_LETTER_INPUTS = List.of("outcome", "feedback", "rule", "policy");

  private final Counter outcomes;
  private final Counter unlabelled;
  private final Counter labels;
  private final Counter labelSampled;
  private final Counter feedback;
  private final Counter trainings;
  private final Gauge examples;
  private final Gauge trainingRunning;
  private final Gauge priorExamples;
  private final Gauge priorWeight;
  private final Gauge lastDelta;
  private final Gauge lastCiLow;
  private final Gauge publishedVersion;
  private final Counter deadLetters;
  private final Counter tierTunings;
  private final Counter tierPoliciesDropped;
  private final Gauge tierGain;

  /** Metrics registered in {@code registry}. */
  public LearnerMetrics(PrometheusRegistry registry) {
    outcomes = Counter.builder().name("cascade_learner_outcomes_total")
        .help("Routing outcomes the learner read: labelled, unlabelled (no example; why: "
            + "cascade_learner_unlabelled_outcomes_total), waiting (held for feedback)")
        .labelNames("result").withoutExemplars().register(registry);
    unlabelled = Counter.builder().name("cascade_learner_unlabelled_outcomes_total")
        .help("Routing outcomes that gave the learner no example, by reason: stopped_early (the router stopped the"
            + " small model once deferral was certain, small.early-defer: its answer's correctness is unknown),"
            + " pregen_skipped (no small answer), small_failed, deadline_exceeded (no model ran), no_label (accepted,"
            + " with no reference, feedback or large answer), wrong_no_large (feedback says the small answer was wrong"
            + " and the large model gave none)")
        .labelNames("reason").withoutExemplars().register(registry);
    labels = Counter.builder().name("cascade_learner_labels_total")
        .help("Labelled examples by source: reference, feedback, teacher")
        .labelNames("source").withoutExemplars().register(registry);
    labelSampled = Counter.builder().name("cascade_learner_label_sampled_total")
        .help("Labelled examples whose small answer early deferral would have cut but the router's label sampling"
            + " decoded whole (label_propensity, small.early-defer-label-share): each weighs 1/share; also counted in"
            + " cascade_learner_labels_total")
        .withoutExemplars().register(registry);
    feedback = Counter.builder().name("cascade_learner_feedback_total")
        .help("Feedback records: joined (to an outcome), waiting (no outcome yet: kept for the join window), "
            + "dropped (the window passed with no outcome), superseded (the outcome had a reference), replaced (a newer verdict on the same waiting id)")
        .labelNames("result").withoutExemplars().register(registry);
    trainings = Counter.builder().name("cascade_learner_trainings_total")
        .help("Training rounds: published (the challenger beat the champion and the fallback rule), published_held"
            + " (published to the rules topic only: the policy in force is an operator's pin), rejected, rejected_fallback"
            + " (it beat the champion, not the fallback rule), reverted (to the fallback rule, which beat the champion),"
            + " revert_held (the fallback beat the champion, an operator's pin: no policy written), skipped (too few labels)")
        .labelNames("result").withoutExemplars().register(registry);
    trainingRunning = Gauge.builder().name("cascade_learner_training_running")
        .help("1 while a training round runs (its result not yet counted in cascade_learner_trainings_total), else 0")
        .withoutExemplars().register(registry);
    examples = Gauge.builder().name("cascade_learner_examples")
        .help("Labelled examples the learner keeps").withoutExemplars().register(registry);
    priorExamples = Gauge.builder().name("cascade_learner_prior_examples")
        .help("Labelled examples of the learner's prior (learn.prior), trained on in every round; 0: no prior")
        .withoutExemplars().register(registry);
    priorWeight = Gauge.builder().name("cascade_learner_prior_weight")
        .help("Weight of each prior example in the next round: 0.5^(examples kept / learn.half-life-labels); 0: no prior")
        .withoutExemplars().register(registry);
    lastDelta = Gauge.builder().name("cascade_learner_last_auc_df_delta")
        .help("Last round: held-out weighted AUC-DF of the challenger minus the champion's").withoutExemplars()
        .register(registry);
    lastCiLow = Gauge.builder().name("cascade_learner_last_auc_df_delta_ci_low")
        .help("Last round: lower bound of the paired-bootstrap 95% interval of that difference").withoutExemplars()
        .register(registry);
    publishedVersion = Gauge.builder().name("cascade_learner_published_version")
        .help("Version of the last rule the learner published (-1: none yet)").withoutExemplars().register(registry);
    publishedVersion.set(-1);
    deadLetters = Counter.builder().name("cascade_learner_dead_letters_total")
        .help("Records the learner could not use (undecodable; feedback keyed otherwise than by its request id, "
            + "or a tombstone) and sent to the dead-letter topic, by input: outcome, feedback, rule, policy")
        .labelNames("input").withoutExemplars().register(registry);
    tierTunings = Counter.builder().name("cascade_learner_tier_tunings_total")
        .help("Rounds of the tuner (learn.tier-answer-value, learn.small-answer-value), by tier (0: the small model) and"
            + " result: retuned (a threshold better on the held-out outcomes was found, and written unless the policy"
            + " changed during the round: cascade_learner_tier_policies_dropped_total), kept (none shown better),"
            + " skipped (too few usable outcomes, the tier does not explore, or a pin holds)")
        .labelNames("tier", "result").withoutExemplars().register(registry);
    tierPoliciesDropped = Counter.builder().name("cascade_learner_tier_policies_dropped_total")
        .help("Policies the tuner decided on but did not write, because the policy changed during its round (an"
            + " operator's, or one the trainer of this learner wrote that was not on the policy topic yet); the next"
            + " round decides again")
        .withoutExemplars().register(registry);
    tierGain = Gauge.builder().name("cascade_learner_tier_gain")
        .help("The tuner's last round for the tier (0: the small model): held-out utility per request (the answer value"
            + " per right answer, less the next tier's cost) of the threshold it chose, less the one in force")
        .labelNames("tier").withoutExemplars().register(registry);
    fromZero(outcomes, OUTCOME_RESULTS);
    fromZero(unlabelled, List.copyOf(UNLABELLED_REASONS.values()));
    fromZero(labels, LABEL_SOURCES);
    fromZero(feedback, FEEDBACK_RESULTS);
    fromZero(trainings, TRAINING_RESULTS);
    fromZero(deadLetters, DEAD_LETTER_INPUTS);
  }

  private static void fromZero(Counter counter, List<String> values) {
    values.forEach(counter::labelValues);
  }

  public void outcome(String result) {
    outcomes.labelValues(result).inc();
  }

  /** An outcome that gave no example, for {@code skipReason}, one of {@link LabelledOutcomes}'s reasons. */
  public void unlabelled(String skipReason) {
    outcome("unlabelled");
    unlabelled.labelValues(UNLABELLED_REASONS.getOrDefault(skipReason, "no_label")).inc();
  }

  /** Outcomes so far that gave no example because the small model was stopped early. */
  public long stoppedEarly() {
    return (long) unlabelled.labelValues("stopped_early").get();
  }

  public void label(String source) {
    labels.labelValues(source).inc();
  }

  /** A labelled example decoded whole by the router's label sampling of early deferrals. */
  public void labelSampled() {
    labelSampled.inc();
  }

  public void feedback(String result) {
    feedback.labelValues(result).inc();
  }

  public void training(String result, double delta, double ciLow) {
    trainings.labelValues(result).inc();
    if (Double.isFinite(delta)) {
      lastDelta.set(delta);
      lastCiLow.set(ciLow);
    }
  }

  /** Whether a training round is running now. */
  public void trainingRunning(boolean running) {
    trainingRunning.set(running ? 1 : 0);
  }

  public void published(long version) {
    publishedVersion.set(version);
  }

  public void examples(long count) {
    examples.set(count);
  }

  /** The prior's size and the weight each of its examples has in the next round. */
  public void prior(int count, double weight) {
    priorExamples.set(count);
    priorWeight.set(count == 0 ? 0 : weight);
  }

  /** A round of the middle tiers' tuner for {@code tier}: its result, and its held-out gain when it compared. */
  public void tierTuning(int tier, String result, double gain) {
    tierTunings.labelValues(Integer.toString(tier), result).inc();
    if (Double.isFinite(gain)) {
      tierGain.labelValues(Integer.toString(tier)).set(gain);
    }
  }

  /** A policy the tuner decided on and did not write: the policy changed during its round. */
  public void tierPolicyDropped() {
    tierPoliciesDropped.inc();
  }

  public void deadLetter(String input) {
    deadLetters.labelValues(input).inc();
  }
}
