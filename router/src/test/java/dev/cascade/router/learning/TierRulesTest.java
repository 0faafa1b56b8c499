package dev.cascade.router.learning;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cascade.router.evaluation.CascadeEvaluation;
import dev.cascade.router.evaluation.TierCascades;
import dev.cascade.router.evaluation.TierCascades.Configuration;
import dev.cascade.router.evaluation.TierCascades.Tier;
import dev.cascade.router.features.FeatureExtractor;
import dev.cascade.router.features.UncertaintyFeatures;
import dev.cascade.router.learning.TierRules.TierAnswers;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.tribuo.classification.xgboost.XGBoostClassificationTrainer;

class TierRulesTest {

  private static final RuleTrainer.Options LOGISTIC =
      new RuleTrainer.Options(5, 7L, List.of(LearnerSpec.logisticRegression(10, 0.1)));
  private static final double[] COSTS = {1, 3, 10};

  /**
   * Three tiers over one population: 60% easy (every tier right), 20% middling (medium and large
   * right), 20% hard (only large). A tier's entropies are high where it is wrong, its log-probs
   * random: Chow-Sum, which reads only the log-probs, cannot tell, a learned rule can.
   */
  private static List<TierAnswers> population(int n, long seed) {
    SplittableRandom random = new SplittableRandom(seed);
    List<List<UncertaintyFeatures>> features = List.of(new ArrayList<>(), new ArrayList<>(), new ArrayList<>());
    boolean[][] correct = new boolean[3][n];
    for (int i = 0; i < n; i++) {
      double u = random.nextDouble();
      int kind = u < 0.6 ? 0 : u < 0.8 ? 1 : 2;
      for (int t = 0; t < 3; t++) {
        correct[t][i] = t >= kind;
        int length = 1 + random.nextInt(20);
        float[] logprobs = new float[length];
        float[] entropies = new float[length];
        for (int j = 0; j < length; j++) {
          logprobs[j] = (float) -(random.nextDouble() * 2);
          entropies[j] = (float) (correct[t][i] ? random.nextDouble() : 1.5 + random.nextDouble());
        }
        features.get(t).add(FeatureExtractor.extract(logprobs, entropies));
      }
    }
    List<TierAnswers> out = new ArrayList<>();
    for (int t = 0; t < 3; t++) {
      List<String> answers = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        answers.add(correct[t][i] ? "right" : "wrong-" + t);
      }
      out.add(new TierAnswers(features.get(t), answers, correct[t]));
    }
    return out;
  }

  private static List<Tier> tiers(List<TierAnswers> answers) {
    List<Tier> out = new ArrayList<>();
    for (int t = 0; t < answers.size(); t++) {
      TierAnswers a = answers.get(t);
      double[] chowSum = a.features().stream().mapToDouble(f -> -f.logprobSum()).toArray();
      double[] cost = new double[a.size()];
      Arrays.fill(cost, COSTS[t]);
      out.add(new Tier("t" + t, a.correct(), chowSum, cost));
    }
    return out;
  }

  /** The cascade's threshold grid with each tier but the last scored by its learned rule (label: the next tier right). */
  private static List<Configuration> learnedGrid(List<TierAnswers> validation, List<TierAnswers> test, int[] cascade) {
    List<Tier> v = new ArrayList<>(tiers(validation));
    List<Tier> s = new ArrayList<>(tiers(test));
    for (int k = 0; k < cascade.length - 1; k++) {
      TierRules.Scores scores = TierRules.deferral(validation, test, cascade[k], new int[] {cascade[k + 1]}, LOGISTIC,
          RuleTrainer.Progress.NONE);
      v.set(cascade[k], v.get(cascade[k]).withScore(scores.validation()));
      s.set(cascade[k], s.get(cascade[k]).withScore(scores.test()));
    }
    return TierCascades.grid(v, s, cascade, 20);
  }

  @Test
  void aLearnedFirstTierRuleBeatsChowSumAndTheTripleBeatsEveryPair() {
    List<TierAnswers> validation = population(1500, 1);
    List<TierAnswers> test = population(1500, 2);

    TierRules.Scores small = TierRules.deferral(validation, test, 0, new int[] {2}, LOGISTIC,
        RuleTrainer.Progress.NONE);
    CascadeEvaluation smallThenLarge = new CascadeEvaluation(test.get(0).correct(), test.get(2).correct());
    double chowSum = smallThenLarge.aucDf(tiers(test).get(0).score());
    assertThat(smallThenLarge.aucDf(small.test())).isGreaterThan(chowSum + 0.1);
    assertThat(smallThenLarge.aucDf(small.test())).isGreaterThan(smallThenLarge.oracleAucDf() - 0.01);
    assertThat(small.validation()).hasSize(1500);
    assertThat(small.learner()).startsWith("tribuo-logistic");

    List<Configuration> pairs = new ArrayList<>();
    for (int[] pair : List.of(new int[] {0, 1}, new int[] {0, 2}, new int[] {1, 2})) {
      pairs.addAll(learnedGrid(validation, test, pair));
    }
    List<Configuration> three = learnedGrid(validation, test, new int[] {0, 1, 2});
    // Small keeps the easy 60%, medium the middling 20%, large the rest: about 1 + 0.4 * 3 + 0.2 * 10 = 4.2
    // per item for nearly all right; the best pair at 4.5 leaves about 5% wrong.
    Configuration best3 = TierCascades.bestWithin(TierCascades.frontier(three), 4.5);
    Configuration best2 = TierCascades.bestWithin(TierCascades.frontier(pairs), 4.5);
    assertThat(best3.test().accuracy()).isGreaterThan(0.97);
    assertThat(best3.test().accuracy() - best2.test().accuracy()).isGreaterThan(0.02);
    // With Chow-Sum on every tier the triple gets nowhere near.
    Configuration chow3 = TierCascades.bestWithin(
        TierCascades.frontier(TierCascades.grid(tiers(validation), tiers(test), new int[] {0, 1, 2}, 20)), 4.5);
    assertThat(best3.test().accuracy() - chow3.test().accuracy()).isGreaterThan(0.1);
  }

  @Test
  void outOfFoldScoresNeverComeFromAModelThatSawTheItem() {
    // Labels are coin flips and every item's features are its own: a learner that memorises scores
    // the items it trained on nearly perfectly and the others no better than chance.
    SplittableRandom random = new SplittableRandom(5);
    int n = 400;
    List<UncertaintyFeatures> features = new ArrayList<>();
    List<String> answers = new ArrayList<>();
    boolean[] first = new boolean[n];
    boolean[] second = new boolean[n];
    Arrays.fill(second, true);
    for (int i = 0; i < n; i++) {
      features.add(SyntheticExamples.randomFeatures(random));
      answers.add("a" + i);
      first[i] = random.nextBoolean();
    }
    List<TierAnswers> split = List.of(new TierAnswers(features, answers, first), new TierAnswers(features, answers,
        second));
    LearnerSpec memorise = new LearnerSpec("memorise", seed -> new XGBoostClassificationTrainer(
        200, 0.5, 0.0, 12, 0.0, 1.0, 1.0, 0.0, 0.0, 1, true, seed));
    RuleTrainer.Options options = new RuleTrainer.Options(5, 3L, List.of(memorise));

    // The other split is the same items: there the refit rule has seen every one.
    TierRules.Scores scores = TierRules.deferral(split, split, 0, new int[] {1}, options, RuleTrainer.Progress.NONE);

    CascadeEvaluation evaluation = new CascadeEvaluation(first, second);
    double random0 = evaluation.randomAucDf();
    double oracle = evaluation.oracleAucDf();
    double inSample = (evaluation.aucDf(scores.test()) - random0) / (oracle - random0);
    double outOfFold = (evaluation.aucDf(scores.validation()) - random0) / (oracle - random0);
    assertThat(inSample).isGreaterThan(0.9);
    assertThat(outOfFold).isBetween(-0.25, 0.25);
  }

  @Test
  void qualityExamplesCarryTheEarlierTiersFeaturesAndWhetherTheyAgree() {
    List<TierAnswers> tiers = population(50, 3);
    List<DeferralExample> alone = TierRules.examples(tiers, 0b010, tiers.get(2).correct());
    assertThat(alone.get(0).hasEmbedding()).isFalse();
    assertThat(alone.get(0).features()).isEqualTo(tiers.get(1).features().get(0));

    List<DeferralExample> two = TierRules.examples(tiers, 0b011, tiers.get(2).correct());
    int base = UncertaintyFeatures.names().size();
    assertThat(two.get(0).embeddingLength()).isEqualTo(base + 1);
    for (int i = 0; i < 50; i++) {
      DeferralExample e = two.get(i);
      assertThat(e.features()).isEqualTo(tiers.get(1).features().get(i)); // the latest tier's own
      float[] extra = e.embedding();
      assertThat(extra[0]).isEqualTo((float) tiers.get(0).features().get(i).toVector()[0]);
      boolean agree = tiers.get(0).answers().get(i).equals(tiers.get(1).answers().get(i));
      assertThat(extra[base]).isEqualTo(agree ? 1f : 0f);
      assertThat(e.benefit()).isEqualTo(tiers.get(2).correct()[i]); // the label: the estimated tier right
    }
    assertThat(TierRules.examples(tiers, 0b111, tiers.get(2).correct()).get(0).embeddingLength())
        .isEqualTo(2 * base + 3);
    assertThatThrownBy(() -> TierRules.examples(tiers, 0, tiers.get(2).correct())).hasMessageContaining("ran");
    assertThatThrownBy(() -> TierRules.examples(tiers, 0b1000, tiers.get(2).correct())).hasMessageContaining("ran");
  }

  @Test
  void qualityEstimatesRankTheEstimatedTiersAnswers() {
    List<TierAnswers> validation = population(1200, 4);
    List<TierAnswers> test = population(1200, 5);
    // Once medium has run: its own entropies, and whether it agrees with small, tell where it is right.
    TierRules.Scores medium = TierRules.quality(validation, test, 0b011, 1, LOGISTIC, RuleTrainer.Progress.NONE);
    boolean[] none = new boolean[1200];
    CascadeEvaluation ranking = new CascadeEvaluation(none, test.get(1).correct());
    double share = (ranking.aucDf(medium.test()) - ranking.randomAucDf())
        / (ranking.oracleAucDf() - ranking.randomAucDf());
    assertThat(share).isGreaterThan(0.9);
    assertThat(medium.validation()).hasSize(1200);
  }

  @Test
  void aTierAlmostNeverRightIsEstimatedByItsRate() {
    List<TierAnswers> tiers = population(200, 6);
    boolean[] rarelyRight = new boolean[200];
    rarelyRight[3] = true;
    rarelyRight[17] = true;
    List<TierAnswers> withRare = List.of(tiers.get(0), new TierAnswers(tiers.get(1).features(),
        tiers.get(1).answers(), rarelyRight), tiers.get(2));
    // Right twice in 200, fewer than the 5 folds: no rule can be cross-validated, so its rate stands in.
    TierRules.Scores rare = TierRules.quality(withRare, tiers, 0b001, 1, LOGISTIC, RuleTrainer.Progress.NONE);
    assertThat(rare.learner()).isEqualTo("constant");
    assertThat(rare.validation()).containsOnly(0.01);
    assertThat(rare.test()).hasSize(200).containsOnly(0.01);
    assertThat(rare.cvAucDf()).isNaN();
  }
}
