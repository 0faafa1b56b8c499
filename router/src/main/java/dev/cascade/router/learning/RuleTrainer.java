package dev.cascade.router.learning;

import dev.cascade.router.evaluation.CascadeEvaluation;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Random;
import org.tribuo.Example;
import org.tribuo.Model;
import org.tribuo.MutableDataset;
import org.tribuo.classification.Label;
import org.tribuo.provenance.SimpleDataSourceProvenance;

/**
 * Trains a learned deferral rule: fits every candidate learner in k-fold cross-validation, picks
 * the one with the highest mean held-out AUC-DF (the metric the rule is judged by, not the
 * learner's own loss), and refits it on all the examples. Stateless; each call is deterministic
 * for its options' seed.
 *
 * <p>The label is {@link DeferralExample#benefit()}; the score is the predicted probability of it.
 * The artifact's validation metrics record every candidate's cross-validated AUC-DF, and Chow-Sum's,
 * random's and the oracle's on the same folds, so the choice can be checked afterwards.
 */
public final class RuleTrainer {

  /**
   * How to train.
   *
   * @param folds the number of cross-validation folds, at least 2
   * @param seed seeds the fold assignment and every learner
   * @param candidates the learners to choose among, at least one
   */
  public record Options(int folds, long seed, List<LearnerSpec> candidates) {
    public Options {
      if (folds < 2) {
        throw new IllegalArgumentException("folds must be >= 2, was " + folds);
      }
      candidates = List.copyOf(candidates);
      if (candidates.isEmpty()) {
        throw new IllegalArgumentException("there must be at least one candidate learner");
      }
    }

    /** Five folds, seed 20240917, {@link LearnerSpec#defaults()}. */
    public static Options defaults() {
      return new Options(5, 20240917L, LearnerSpec.defaults());
    }

    /** The number of model fits a training run makes: one per candidate and fold, plus the refit. */
    public int fits() {
      return candidates.size() * folds + 1;
    }
  }

  /** Told after every model fit; {@code what} names it. */
  @FunctionalInterface
  public interface Progress {
    Progress NONE = what -> {};

    void fitted(String what);
  }

  /**
   * One candidate's cross-validated result.
   *
   * @param learner the learner's id
   * @param cvAucDf the mean held-out AUC-DF over the folds
   */
  public record CandidateResult(String learner, double cvAucDf) {}

  /**
   * What training produced.
   *
   * @param rule the rule, refit on every example with the chosen learner
   * @param candidates every candidate's cross-validated AUC-DF, in the order tried
   * @param chowSumCvAucDf Chow-Sum's mean held-out AUC-DF on the same folds
   * @param randomCvAucDf random deferral's, on the same folds
   * @param oracleCvAucDf the oracle's, on the same folds
   */
  public record TrainingResult(
      LearnedRule rule,
      List<CandidateResult> candidates,
      double chowSumCvAucDf,
      double randomCvAucDf,
      double oracleCvAucDf) {}

  private RuleTrainer() {}

  /**
   * Trains the rule of a feature set ({@code posthoc-quantile} or {@code posthoc-embed}).
   *
   * @throws IllegalArgumentException if there are too few examples, one class is missing, or
   *     ({@link FeatureSet#EMBED}) an example lacks an embedding or the lengths differ
   */
  public static TrainingResult train(
      FeatureSet set,
      List<DeferralExample> examples,
      String trainingDataRange,
      long version,
      Options options,
      Progress progress) {
    int embeddingLength = set.usesEmbedding() ? commonEmbeddingLength(examples) : 0;
    return train(set.ruleName(), set.featureNames(embeddingLength), examples, trainingDataRange,
        version, options, progress);
  }

  /**
   * Trains a rule over any named inputs (the 25 uncertainty features and {@code emb_i}).
   *
   * @throws IllegalArgumentException as {@link #train(FeatureSet, List, String, long, Options,
   *     Progress)}, or if a feature name is unknown
   */
  public static TrainingResult train(
      String ruleName,
      List<String> featureNames,
      List<DeferralExample> examples,
      String trainingDataRange,
      long version,
      Options options,
      Progress progress) {
    Objects.requireNonNull(options, "options");
    Objects.requireNonNull(progress, "progress");
    FeatureLayout layout = new FeatureLayout(featureNames);
    checkExamples(examples, options.folds(), layout);
    int[] fold = folds(examples.size(), options.folds(), options.seed());

    double chowSum = 0;
    double random = 0;
    double oracle = 0;
    for (int f = 0; f < options.folds(); f++) {
      List<DeferralExample> held = subset(examples, fold, f, true);
      CascadeEvaluation evaluation = evaluation(held);
      double[] sums = new double[held.size()];
      for (int i = 0; i < sums.length; i++) {
        sums[i] = -held.get(i).features().logprobSum();
      }
      chowSum += evaluation.aucDf(sums) / options.folds();
      random += evaluation.randomAucDf() / options.folds();
      oracle += evaluation.oracleAucDf() / options.folds();
    }

    List<CandidateResult> results = new ArrayList<>();
    CandidateResult best = null;
    LearnerSpec bestSpec = null;
    double[] bestOutOfFold = null;
    for (LearnerSpec spec : options.candidates()) {
      double[] outOfFold = new double[examples.size()];
      double auc = crossValidate(layout, examples, fold, options, spec, progress, outOfFold);
      CandidateResult result = new CandidateResult(spec.id(), auc);
      results.add(result);
      if (best == null || auc > best.cvAucDf()) {
        best = result;
        bestSpec = spec;
        bestOutOfFold = outOfFold;
      }
    }

    Model<Label> model = fit(layout, examples, bestSpec, options.seed());
    progress.fitted(bestSpec.id() + " on all " + examples.size() + " examples");

    Map<String, Double> metrics = new LinkedHashMap<>();
    long benefits = examples.stream().filter(DeferralExample::benefit).count();
    metrics.put("examples", (double) examples.size());
    metrics.put("benefit_rate", (double) benefits / examples.size());
    metrics.put("small_accuracy",
        examples.stream().filter(DeferralExample::smallCorrect).count() / (double) examples.size());
    metrics.put("large_accuracy",
        examples.stream().filter(DeferralExample::largeCorrect).count() / (double) examples.size());
    metrics.put("cv_folds", (double) options.folds());
    metrics.put("cv_auc_df", best.cvAucDf());
    metrics.put("cv_auc_df_random", random);
    metrics.put("cv_auc_df_chow_sum", chowSum);
    metrics.put("cv_auc_df_oracle", oracle);
    metrics.put("cv_oracle_share_pct", share(best.cvAucDf(), random, oracle));
    metrics.put("cv_oracle_share_pct_chow_sum", share(chowSum, random, oracle));
    for (CandidateResult result : results) {
      metrics.put("cv_auc_df:" + result.learner(), result.cvAucDf());
    }
    RuleInfo info = new RuleInfo(ruleName, version, bestSpec.id(), layout.names(),
        trainingDataRange, metrics, System.currentTimeMillis(), "", ModelFingerprint.FEATURE_LAYOUT,
        bestOutOfFold, weights(examples), prompts(examples));
    return new TrainingResult(new LearnedRule(info, model), List.copyOf(results), chowSum, random,
        oracle);
  }

  /**
   * The mean held-out AUC-DF of one learner over the given inputs, in {@code options.folds()}-fold
   * cross-validation (the folds {@link #train} uses): for comparing feature sets.
   */
  public static double crossValidatedAucDf(
      List<String> featureNames, List<DeferralExample> examples, LearnerSpec learner,
      Options options, Progress progress) {
    FeatureLayout layout = new FeatureLayout(featureNames);
    checkExamples(examples, options.folds(), layout);
    int[] fold = folds(examples.size(), options.folds(), options.seed());
    return crossValidate(layout, examples, fold, options, learner, progress);
  }

  private static double crossValidate(
      FeatureLayout layout, List<DeferralExample> examples, int[] fold, Options options,
      LearnerSpec spec, Progress progress) {
    return crossValidate(layout, examples, fold, options, spec, progress, null);
  }

  /** Mean held-out AUC-DF; fills {@code outOfFold} (when not null) with each example's held-out score. */
  private static double crossValidate(
      FeatureLayout layout, List<DeferralExample> examples, int[] fold, Options options,
      LearnerSpec spec, Progress progress, double[] outOfFold) {
    double total = 0;
    for (int f = 0; f < options.folds(); f++) {
      List<DeferralExample> train = subset(examples, fold, f, false);
      List<DeferralExample> held = subset(examples, fold, f, true);
      Model<Label> model = fit(layout, train, spec, options.seed() + f);
      List<Example<Label>> heldExamples = new ArrayList<>(held.size());
      for (DeferralExample e : held) {
        heldExamples.add(layout.unlabelled(e.features(), e.embeddingUnsafe()));
      }
      int benefit = model.getOutputIDInfo().getID(new Label(FeatureLayout.BENEFIT));
      double[] scores = LearnedRule.scores(model, heldExamples, benefit);
      if (outOfFold != null) {
        int j = 0;
        for (int i = 0; i < fold.length; i++) {
          if (fold[i] == f) {
            outOfFold[i] = scores[j++];
          }
        }
      }
      total += evaluation(held).aucDf(scores);
      progress.fitted(spec.id() + " fold " + (f + 1) + "/" + options.folds());
    }
    return total / options.folds();
  }

  /**
   * Scores of one learner on {@code held}, fitted on {@code train} alone (no cross-validation): for
   * cross-fitting held-out scores.
   */
  static double[] fitAndScore(List<String> featureNames, List<DeferralExample> train, List<DeferralExample> held,
      LearnerSpec spec, long seed) {
    FeatureLayout layout = new FeatureLayout(featureNames);
    Model<Label> model = fit(layout, train, spec, seed);
    List<Example<Label>> heldExamples = new ArrayList<>(held.size());
    for (DeferralExample e : held) {
      heldExamples.add(layout.unlabelled(e.features(), e.embeddingUnsafe()));
    }
    int benefit = model.getOutputIDInfo().getID(new Label(FeatureLayout.BENEFIT));
    return LearnedRule.scores(model, heldExamples, benefit);
  }

  private static Model<Label> fit(
      FeatureLayout layout, List<DeferralExample> examples, LearnerSpec spec, long seed) {
    MutableDataset<Label> dataset = new MutableDataset<>(
        new SimpleDataSourceProvenance("deferral examples", FeatureLayout.LABELS),
        FeatureLayout.LABELS);
    for (DeferralExample example : examples) {
      dataset.add(layout.example(example));
    }
    return spec.trainer().apply(seed).train(dataset);
  }

  /** The examples' weights, or null when all are 1 (the artifact then stores none). */
  private static double[] weights(List<DeferralExample> examples) {
    if (examples.stream().allMatch(e -> e.weight() == 1.0)) {
      return null;
    }
    return examples.stream().mapToDouble(DeferralExample::weight).toArray();
  }

  private static long[] prompts(List<DeferralExample> examples) {
    return examples.stream().mapToLong(DeferralExample::promptHash).filter(h -> h != 0).distinct().toArray();
  }

  private static CascadeEvaluation evaluation(List<DeferralExample> examples) {
    boolean[] small = new boolean[examples.size()];
    boolean[] large = new boolean[examples.size()];
    for (int i = 0; i < small.length; i++) {
      small[i] = examples.get(i).smallCorrect();
      large[i] = examples.get(i).largeCorrect();
    }
    return new CascadeEvaluation(small, large);
  }

  private static double share(double auc, double random, double oracle) {
    return oracle - random <= 1e-12 ? 0.0 : 100.0 * (auc - random) / (oracle - random);
  }

  /** Fold of each example: a seeded shuffle dealt round-robin, so folds differ in size by at most 1. */
  private static int[] folds(int n, int folds, long seed) {
    List<Integer> order = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      order.add(i);
    }
    Collections.shuffle(order, new Random(seed));
    int[] fold = new int[n];
    for (int p = 0; p < n; p++) {
      fold[order.get(p)] = p % folds;
    }
    return fold;
  }

  private static List<DeferralExample> subset(
      List<DeferralExample> examples, int[] fold, int f, boolean inFold) {
    List<DeferralExample> out = new ArrayList<>();
    for (int i = 0; i < fold.length; i++) {
      if ((fold[i] == f) == inFold) {
        out.add(examples.get(i));
      }
    }
    return out;
  }

  private static void checkExamples(List<DeferralExample> examples, int folds, FeatureLayout layout) {
    Objects.requireNonNull(examples, "examples");
    long benefits = examples.stream().filter(DeferralExample::benefit).count();
    if (examples.size() < 2 * folds || benefits < folds || examples.size() - benefits < folds) {
      throw new IllegalArgumentException(
          "too few examples to train a rule in " + folds + "-fold cross-validation: "
              + examples.size() + " examples, " + benefits
              + " where deferring helps (each class needs at least one per fold)");
    }
    if (layout.embeddingLength() > 0) {
      for (int i = 0; i < examples.size(); i++) {
        if (examples.get(i).embeddingLength() != layout.embeddingLength()) {
          throw new IllegalArgumentException(
              "example " + i + " has an embedding of " + examples.get(i).embeddingLength()
                  + " values; the features need " + layout.embeddingLength());
        }
      }
    }
  }

  private static int commonEmbeddingLength(List<DeferralExample> examples) {
    int length = -1;
    for (int i = 0; i < examples.size(); i++) {
      DeferralExample e = examples.get(i);
      if (!e.hasEmbedding()) {
        throw new IllegalArgumentException(
            "example " + i + " carries no embedding; posthoc-embed needs one on every example");
      }
      if (length >= 0 && e.embeddingLength() != length) {
        throw new IllegalArgumentException(
            "example " + i + " has an embedding of " + e.embeddingLength() + " values, others "
                + length);
      }
      length = e.embeddingLength();
    }
    if (length <= 0) {
      throw new IllegalArgumentException("posthoc-embed needs examples with an embedding");
    }
    return length;
  }
}
