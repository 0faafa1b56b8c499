package dev.cascade.router.evaluation;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class CascadeEvaluationTest {

  private static final double EXACT = 1e-12;

  /** Small right on item 0 only; large right on items 0, 1, 2. Gains: 0, 1, 1, 0. */
  private static final CascadeEvaluation FOUR =
      new CascadeEvaluation(
          new boolean[] {true, false, false, false}, new boolean[] {true, true, true, false});

  /** Defers item 1 (gain 1), 3 (0), 2 (1), 0 (0), in that order. */
  private static final double[] DISTINCT = {0.1, 0.9, 0.5, 0.7};

  @Test
  void curveOfDistinctScoresByHand() {
    DeferralCurve curve = FOUR.curve(DISTINCT);

    assertThat(curve.items()).isEqualTo(4);
    assertThat(curve.accuracies()).containsExactly(0.25, 0.5, 0.5, 0.75, 0.75);
    assertThat(curve.smallAccuracy()).isEqualTo(0.25);
    assertThat(curve.largeAccuracy()).isEqualTo(0.75);
  }

  @Test
  void metricsOfDistinctScoresByHand() {
    RuleMetrics m = FOUR.metrics(DISTINCT);

    // Trapezoids of width 1/4: (.375 + .5 + .625 + .75) / 4.
    assertThat(m.aucDf()).isCloseTo(0.5625, within(EXACT));
    assertThat(FOUR.randomAucDf()).isCloseTo(0.5, within(EXACT));
    assertThat(FOUR.oracleAucDf()).isCloseTo(0.625, within(EXACT));
    assertThat(m.gainOverRandomPct()).isCloseTo(12.5, within(1e-9));
    assertThat(m.oracleSharePct()).isCloseTo(50.0, within(1e-9));
    assertThat(m.apgr()).isCloseTo(0.625, within(EXACT)); // (.5625 - .25) / .5
    assertThat(m.cpt50()).isEqualTo(0.25); // .5 reached at k = 1
    assertThat(m.cpt80()).isEqualTo(0.75); // .65 first reached at k = 3
    assertThat(m.cpt95()).isEqualTo(0.75);
    assertThat(m.accuracyAt20Pct()).isCloseTo(0.45, within(EXACT)); // .8 of the way from .25 to .5
  }

  @Test
  void aTiedBlockIsTheAverageOverItsOrders() {
    // Item 1 first, then items 0, 2, 3 tied: a block of 3 with total gain 1.
    DeferralCurve curve = FOUR.curve(new double[] {0.5, 0.9, 0.5, 0.5});

    assertThat(curve.accuracies())
        .containsExactly(
            new double[] {0.25, 0.5, 0.5 + 1.0 / 12, 0.5 + 2.0 / 12, 0.75}, within(EXACT));
    assertThat(curve.aucDf()).isCloseTo(0.5625, within(EXACT));
  }

  @Test
  void aConstantScoreIsRandomDeferral() {
    RuleMetrics m = FOUR.metrics(new double[4]);

    assertThat(FOUR.curve(new double[4]).accuracies())
        .containsExactly(new double[] {0.25, 0.375, 0.5, 0.625, 0.75}, within(EXACT));
    assertThat(m.aucDf()).isEqualTo(FOUR.randomAucDf());
    assertThat(m.gainOverRandomPct()).isZero();
    assertThat(m.oracleSharePct()).isZero();
    assertThat(m.apgr()).isCloseTo(0.5, within(EXACT));
  }

  @Test
  void theOracleDefersSmallWrongLargeRightFirstAndSmallRightLargeWrongLast() {
    // Gains -1, 0, 1, 0; both models 50% accurate.
    CascadeEvaluation eval =
        new CascadeEvaluation(
            new boolean[] {true, true, false, false}, new boolean[] {false, true, true, false});

    assertThat(eval.oracleScores()).containsExactly(-1, 0, 1, 0);
    assertThat(eval.curve(eval.oracleScores()).accuracies())
        .containsExactly(0.5, 0.75, 0.75, 0.75, 0.5);
    assertThat(eval.oracleAucDf()).isCloseTo(0.6875, within(EXACT));
  }

  @Test
  void aRuleWorseThanRandomWithNoGapBetweenTheModels() {
    CascadeEvaluation eval =
        new CascadeEvaluation(
            new boolean[] {true, true, false, false}, new boolean[] {false, true, true, false});
    double[] worst = {1, 0, 0.5, 0}; // item 0 (gain -1), item 2 (+1), then items 1, 3 tied

    DeferralCurve curve = eval.curve(worst);
    RuleMetrics m = eval.metrics(worst);

    assertThat(curve.accuracies()).containsExactly(0.5, 0.25, 0.5, 0.5, 0.5);
    assertThat(m.aucDf()).isCloseTo(0.4375, within(EXACT));
    assertThat(m.gainOverRandomPct()).isCloseTo(-12.5, within(1e-9));
    assertThat(m.oracleSharePct()).isCloseTo(-100.0 / 3, within(1e-9));
    assertThat(m.apgr()).isZero(); // gap 0: defined as 0
    assertThat(m.cpt50()).isZero(); // gap 0: met with nothing deferred
    assertThat(m.cpt95()).isZero();
    assertThat(m.accuracyAt20Pct()).isCloseTo(0.3, within(EXACT));
  }

  @Test
  void bothModelsAlwaysRight() {
    boolean[] all = {true, true, true};
    CascadeEvaluation eval = new CascadeEvaluation(all, all);
    RuleMetrics m = eval.metrics(new double[] {3, 1, 2});

    assertThat(eval.curve(new double[] {3, 1, 2}).accuracies()).containsOnly(1.0);
    assertThat(m).isEqualTo(new RuleMetrics(1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0));
  }

  @Test
  void bothModelsAlwaysWrong() {
    boolean[] none = {false, false, false};
    CascadeEvaluation eval = new CascadeEvaluation(none, none);
    RuleMetrics m = eval.metrics(new double[] {3, 1, 2});

    assertThat(eval.randomAucDf()).isZero();
    assertThat(m).isEqualTo(new RuleMetrics(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0));
  }

  @Test
  void smallAlwaysWrongLargeAlwaysRightLeavesNothingToRank() {
    CascadeEvaluation eval =
        new CascadeEvaluation(new boolean[] {false, false}, new boolean[] {true, true});
    RuleMetrics m = eval.metrics(new double[] {1, 2});

    assertThat(m.aucDf()).isCloseTo(0.5, within(EXACT));
    assertThat(m.oracleSharePct()).isZero(); // the oracle is no better than random
    assertThat(m.apgr()).isCloseTo(0.5, within(EXACT));
    assertThat(m.cpt50()).isEqualTo(0.5);
    assertThat(m.cpt80()).isEqualTo(1.0);
  }

  @Test
  void aLargeModelWorseThanTheSmallOneNeedsNothingDeferred() {
    CascadeEvaluation eval =
        new CascadeEvaluation(new boolean[] {true, true, false}, new boolean[] {false, false, false});

    assertThat(eval.metrics(new double[] {1, 2, 3}).cpt95()).isZero();
  }

  @Test
  void noMetricIsEverNaN() {
    SplittableRandom random = new SplittableRandom(21);
    for (int trial = 0; trial < 200; trial++) {
      int n = 1 + random.nextInt(6);
      boolean[] small = new boolean[n];
      boolean[] large = new boolean[n];
      double[] scores = new double[n];
      for (int i = 0; i < n; i++) {
        small[i] = random.nextInt(3) == 0;
        large[i] = random.nextInt(3) != 0;
        scores[i] = random.nextInt(3);
      }
      RuleMetrics m = new CascadeEvaluation(small, large).metrics(scores);
      double[] values = {
        m.aucDf(), m.gainOverRandomPct(), m.oracleSharePct(), m.apgr(), m.cpt50(), m.cpt80(),
        m.cpt95(), m.accuracyAt20Pct()
      };
      assertThat(Arrays.stream(values).allMatch(Double::isFinite)).as("%s", m).isTrue();
    }
  }

  @Test
  void tiedCurvesEqualTheAverageOverEveryOrderOfTheTiedItems() {
    SplittableRandom random = new SplittableRandom(5);
    for (int trial = 0; trial < 50; trial++) {
      int n = 2 + random.nextInt(5);
      boolean[] small = new boolean[n];
      boolean[] large = new boolean[n];
      double[] scores = new double[n];
      for (int i = 0; i < n; i++) {
        small[i] = random.nextBoolean();
        large[i] = random.nextBoolean();
        scores[i] = random.nextInt(3); // many ties
      }
      CascadeEvaluation eval = new CascadeEvaluation(small, large);

      assertThat(eval.curve(scores).accuracies())
          .containsExactly(bruteForceAverageCurve(small, large, scores), within(1e-12));
    }
  }

  @Test
  void aucDfIsTheTrapezoidAreaOfTheCurve() {
    SplittableRandom random = new SplittableRandom(9);
    for (int trial = 0; trial < 50; trial++) {
      int n = 1 + random.nextInt(300);
      boolean[] small = new boolean[n];
      boolean[] large = new boolean[n];
      double[] scores = new double[n];
      for (int i = 0; i < n; i++) {
        small[i] = random.nextDouble() < 0.4;
        large[i] = random.nextDouble() < 0.7;
        scores[i] = random.nextInt(20) / 4.0;
      }
      CascadeEvaluation eval = new CascadeEvaluation(small, large);
      double[] acc = eval.curve(scores).accuracies();
      double trapezoids = 0;
      for (int k = 1; k <= n; k++) {
        trapezoids += (acc[k - 1] + acc[k]) / 2 / n;
      }

      assertThat(eval.aucDf(scores)).isCloseTo(trapezoids, within(1e-12));
      assertThat(eval.curve(scores).aucDf()).isEqualTo(eval.aucDf(scores));
      assertThat(eval.oracleAucDf()).isGreaterThanOrEqualTo(eval.aucDf(scores) - 1e-12);
    }
  }

  @Test
  void negativeAndPositiveZeroTie() {
    assertThat(FOUR.curve(new double[] {0.0, -0.0, 0.0, -0.0}).accuracies())
        .containsExactly(FOUR.curve(new double[4]).accuracies());
  }

  @Test
  void infiniteScoresOrderLikeAnyOther() {
    assertThat(
            FOUR.curve(
                    new double[] {
                      Double.NEGATIVE_INFINITY, Double.POSITIVE_INFINITY, 0.5, 0.7
                    })
                .accuracies())
        .containsExactly(FOUR.curve(DISTINCT).accuracies());
  }

  @Test
  void accuracyAtReadsTheCurveBetweenPoints() {
    DeferralCurve curve = FOUR.curve(DISTINCT);

    assertThat(curve.accuracyAt(0.0)).isEqualTo(0.25);
    assertThat(curve.accuracyAt(0.5)).isEqualTo(0.5);
    assertThat(curve.accuracyAt(0.625)).isCloseTo(0.625, within(EXACT));
    assertThat(curve.accuracyAt(1.0)).isEqualTo(0.75);
    assertThatThrownBy(() -> curve.accuracyAt(1.1)).hasMessageContaining("fraction");
    assertThatThrownBy(() -> curve.cpt(-0.1)).hasMessageContaining("share");
  }

  @Test
  void rejectsMismatchedOrInvalidInputNamingIt() {
    assertThatThrownBy(() -> new CascadeEvaluation(new boolean[2], new boolean[3]))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("smallCorrect has 2")
        .hasMessageContaining("largeCorrect has 3");
    assertThatThrownBy(() -> new CascadeEvaluation(new boolean[0], new boolean[0]))
        .hasMessageContaining("no items");
    assertThatThrownBy(() -> FOUR.metrics(new double[3]))
        .hasMessageContaining("one value per item (4), held 3");
    assertThatThrownBy(() -> FOUR.curve(new double[] {0, 1, Double.NaN, 2}))
        .hasMessageContaining("scores[2]");
  }

  @Test
  void doesNotKeepTheCallersArrays() {
    boolean[] small = {false, false};
    boolean[] large = {true, false};
    CascadeEvaluation eval = new CascadeEvaluation(small, large);
    small[1] = true;
    eval.oracleScores()[0] = -5;

    assertThat(eval.smallAccuracy()).isZero();
    assertThat(eval.oracleScores()).containsExactly(1, 0);
  }

  /** Averages the plain (tie-free) curve over every order consistent with descending scores. */
  private static double[] bruteForceAverageCurve(boolean[] small, boolean[] large, double[] scores) {
    int n = scores.length;
    List<int[]> orders = new ArrayList<>();
    permutations(new int[n], new boolean[n], 0, scores, orders);
    double[] sum = new double[n + 1];
    for (int[] order : orders) {
      int correct = 0;
      for (boolean s : small) {
        correct += s ? 1 : 0;
      }
      sum[0] += (double) correct / n;
      for (int k = 1; k <= n; k++) {
        int item = order[k - 1];
        correct += (large[item] ? 1 : 0) - (small[item] ? 1 : 0);
        sum[k] += (double) correct / n;
      }
    }
    return Arrays.stream(sum).map(s -> s / orders.size()).toArray();
  }

  private static void permutations(
      int[] prefix, boolean[] used, int depth, double[] scores, List<int[]> out) {
    if (depth == prefix.length) {
      out.add(prefix.clone());
      return;
    }
    for (int i = 0; i < scores.length; i++) {
      if (!used[i] && (depth == 0 || scores[prefix[depth - 1]] >= scores[i])) {
        used[i] = true;
        prefix[depth] = i;
        permutations(prefix, used, depth + 1, scores, out);
        used[i] = false;
      }
    }
  }
}
