package dev.cascade.router.learning;

import dev.cascade.router.features.UncertaintyFeatures;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Learned rules for the tiers of a cascade, trained on one split (validation) by {@link
 * RuleTrainer} and applied to another: a deferral rule per tier ({@link #deferral}) for threshold
 * cascades, and quality estimates ({@link #quality}) for cascades that defer by expected gain.
 *
 * <p>Each gives its scores on the training split out of fold (every item scored by the chosen
 * learner fitted on the other folds), so a threshold or trade-off chosen there is chosen on scores
 * no rule trained on the item produced; and on the other split the scores of the rule refit on all
 * of the training split. The learner itself is chosen by those folds' AUC-DF, which the choice of a
 * threshold on the same scores does not undo: a small optimism on the training split, none on the
 * other.
 */
public final class TierRules {

  private TierRules() {}

  /**
   * One tier's answers on one split, per item in the split's order.
   *
   * @param features the uncertainty features of its generation
   * @param answers its answer text (two tiers agreeing is a signal)
   * @param correct whether the answer was right
   */
  public record TierAnswers(List<UncertaintyFeatures> features, List<String> answers, boolean[] correct) {
    public TierAnswers {
      features = List.copyOf(features);
      answers = List.copyOf(answers);
      if (features.size() != answers.size() || features.size() != correct.length) {
        throw new IllegalArgumentException("features, answers and correct must be equally long, were "
            + features.size() + ", " + answers.size() + ", " + correct.length);
      }
    }

    int size() {
      return correct.length;
    }
  }

  /**
   * A rule's scores on both splits.
   *
   * @param validation on the training split, out of fold
   * @param test on the other split, from the rule refit on all of the training split
   * @param learner the learner chosen
   * @param cvAucDf its mean held-out AUC-DF; NaN for {@code constant}
   */
  public record Scores(double[] validation, double[] test, String learner, double cvAucDf) {}

  /**
   * The deferral rule of tier {@code tier}, on its own features: the probability that deferring
   * helps, labelled as the tier wrong and at least one of {@code targets} right. With the next tier
   * as the only target it is the learned rule of that pair; with every later tier, of "some later
   * tier is right".
   */
  public static Scores deferral(List<TierAnswers> validation, List<TierAnswers> test, int tier, int[] targets,
      RuleTrainer.Options options, RuleTrainer.Progress progress) {
    if (targets.length == 0) {
      throw new IllegalArgumentException("a deferral rule needs at least one tier to defer to");
    }
    List<DeferralExample> examples = new ArrayList<>();
    TierAnswers own = validation.get(tier);
    for (int i = 0; i < own.size(); i++) {
      boolean later = false;
      for (int t : targets) {
        later |= validation.get(t).correct()[i];
      }
      examples.add(new DeferralExample(own.features().get(i), null, own.correct()[i], later));
    }
    if (tooRare(examples, options)) {
      return constant(examples, test.get(tier).size());
    }
    RuleTrainer.TrainingResult trained = RuleTrainer.train("tier-" + tier, UncertaintyFeatures.names(), examples,
        "validation: " + own.size() + " items", 1, options, progress);
    double[] onTest = trained.rule().scores(test.get(tier).features(), null);
    return scores(trained, onTest);
  }

  /**
   * The probability that tier {@code target}'s answer is right, from what the tiers in {@code ran}
   * showed: the features of each, and whether each two of them answered alike.
   *
   * @param ran the tiers run, bit {@code t} for tier {@code t}; at least one
   */
  public static Scores quality(List<TierAnswers> validation, List<TierAnswers> test, int ran, int target,
      RuleTrainer.Options options, RuleTrainer.Progress progress) {
    List<DeferralExample> examples = examples(validation, ran, validation.get(target).correct());
    if (tooRare(examples, options)) {
      return constant(examples, test.get(target).size());
    }
    int width = examples.get(0).embeddingLength();
    RuleTrainer.TrainingResult trained = RuleTrainer.train("quality-" + target, FeatureSet.EMBED.featureNames(width),
        examples, "validation: " + examples.size() + " items", 1, options, progress);
    List<DeferralExample> onTest = examples(test, ran, test.get(target).correct());
    double[] scores = trained.rule().scores(onTest.stream().map(DeferralExample::features).toList(),
        onTest.stream().map(DeferralExample::embeddingUnsafe).toList());
    return scores(trained, scores);
  }

  /**
   * Examples whose label ({@link DeferralExample#benefit()}) is {@code correct}: the latest tier
   * run gives the features; the others' features and every pair's agreement ride in the
   * embedding slot, as {@link PromptFeatures} carries prompt inputs.
   */
  static List<DeferralExample> examples(List<TierAnswers> tiers, int ran, boolean[] correct) {
    List<Integer> run = new ArrayList<>();
    for (int t = 0; t < tiers.size(); t++) {
      if ((ran & 1 << t) != 0) {
        run.add(t);
      }
    }
    if (run.isEmpty() || ran >>> tiers.size() != 0) {
      throw new IllegalArgumentException("ran must name at least one of the " + tiers.size() + " tiers, was " + ran);
    }
    int latest = run.get(run.size() - 1);
    int others = run.size() - 1;
    int width = others * UncertaintyFeatures.names().size() + run.size() * others / 2;
    List<DeferralExample> out = new ArrayList<>(correct.length);
    for (int i = 0; i < correct.length; i++) {
      float[] extra = null;
      if (width > 0) {
        extra = new float[width];
        int at = 0;
        for (int t : run.subList(0, others)) {
          for (double v : tiers.get(t).features().get(i).toVector()) {
            extra[at++] = (float) v;
          }
        }
        for (int a = 0; a < run.size(); a++) {
          for (int b = a + 1; b < run.size(); b++) {
            extra[at++] = Objects.equals(tiers.get(run.get(a)).answers().get(i), tiers.get(run.get(b)).answers().get(i))
                ? 1f : 0f;
          }
        }
      }
      out.add(new DeferralExample(tiers.get(latest).features().get(i), extra, false, correct[i]));
    }
    return out;
  }

  /** Whether a class has fewer items than there are folds: then nothing can be cross-validated. */
  private static boolean tooRare(List<DeferralExample> examples, RuleTrainer.Options options) {
    long positive = examples.stream().filter(DeferralExample::benefit).count();
    return positive < options.folds() || examples.size() - positive < options.folds();
  }

  /**
   * The label's rate on the training split for every item, learner {@code constant}: a tier that is
   * (almost) never or always right is estimated by its rate rather than stopping the evaluation.
   */
  private static Scores constant(List<DeferralExample> examples, int testSize) {
    double rate = examples.stream().filter(DeferralExample::benefit).count() / (double) examples.size();
    double[] validation = new double[examples.size()];
    double[] test = new double[testSize];
    java.util.Arrays.fill(validation, rate);
    java.util.Arrays.fill(test, rate);
    return new Scores(validation, test, "constant", Double.NaN);
  }

  private static Scores scores(RuleTrainer.TrainingResult trained, double[] onTest) {
    LearnedRule rule = trained.rule();
    return new Scores(rule.info().calibrationScores(), onTest, rule.info().learner(),
        rule.info().validationMetrics().get("cv_auc_df"));
  }
}
