package dev.cascade.router.learning;

import java.util.List;
import java.util.Objects;
import java.util.function.LongFunction;
import org.tribuo.Trainer;
import org.tribuo.classification.Label;
import org.tribuo.classification.sgd.fm.FMClassificationTrainer;
import org.tribuo.classification.sgd.linear.LinearSGDTrainer;
import org.tribuo.classification.sgd.objectives.LogMulticlass;
import org.tribuo.classification.xgboost.XGBoostClassificationTrainer;
import org.tribuo.math.optimisers.AdaGrad;
import org.tribuo.transform.TransformTrainer;
import org.tribuo.transform.TransformationMap;
import org.tribuo.transform.transformations.MeanStdDevTransformation;

/**
 * One candidate learner with its settings: a Tribuo trainer factory and the name the artifact
 * records. The factory builds a fresh trainer for every fit, from a seed, so that each fit is
 * reproducible on its own.
 *
 * @param id the learner and its settings, e.g. {@code tribuo-xgboost(trees=100,depth=3,eta=0.1)}
 * @param trainer builds the trainer for a seed
 */
public record LearnerSpec(String id, LongFunction<Trainer<Label>> trainer) {

  public LearnerSpec {
    Objects.requireNonNull(id, "id");
    Objects.requireNonNull(trainer, "trainer");
  }

  /**
   * Logistic regression by SGD (AdaGrad, log loss) on standardised features.
   *
   * @param epochs passes over the data
   * @param learningRate AdaGrad's initial rate
   */
  public static LearnerSpec logisticRegression(int epochs, double learningRate) {
    return new LearnerSpec(
        "tribuo-logistic-sgd(epochs=" + epochs + ",lr=" + learningRate + ")",
        seed -> standardised(new LinearSGDTrainer(
            new LogMulticlass(), new AdaGrad(learningRate, 0.1), epochs, -1, 1, seed)));
  }

  /**
   * A factorization machine (pairwise feature interactions of rank {@code factors}) by SGD on
   * standardised features.
   */
  public static LearnerSpec factorizationMachine(int epochs, double learningRate, int factors) {
    return new LearnerSpec(
        "tribuo-fm-sgd(epochs=" + epochs + ",lr=" + learningRate + ",factors=" + factors + ")",
        seed -> standardised(new FMClassificationTrainer(
            new LogMulticlass(), new AdaGrad(learningRate, 0.1), epochs, -1, 1, seed, factors, 0.1)));
  }

  /**
   * Gradient-boosted trees (XGBoost, one thread), with row and column subsampling of 0.8 and a
   * minimum child weight of 5 against overfitting a few thousand examples.
   */
  public static LearnerSpec xgboost(int trees, int depth, double eta) {
    return new LearnerSpec(
        "tribuo-xgboost(trees=" + trees + ",depth=" + depth + ",eta=" + eta + ")",
        seed -> new XGBoostClassificationTrainer(
            trees, eta, 0.0, depth, 5.0, 0.8, 0.8, 1.0, 0.0, 1, true, seed));
  }

  /**
   * The candidates {@link RuleTrainer} chooses among by default: logistic regression, a
   * factorization machine, and gradient boosting at three sizes.
   */
  public static List<LearnerSpec> defaults() {
    return List.of(
        logisticRegression(10, 0.1),
        factorizationMachine(10, 0.05, 4),
        xgboost(100, 2, 0.1),
        xgboost(150, 3, 0.05),
        xgboost(300, 4, 0.02));
  }

  private static Trainer<Label> standardised(Trainer<Label> inner) {
    return new TransformTrainer<>(
        inner, new TransformationMap(List.of(new MeanStdDevTransformation())));
  }

  @Override
  public String toString() {
    return id;
  }
}
