package dev.cascade.router.evaluation;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.cascade.router.evaluation.ExpectedGainCascades.Split;
import dev.cascade.router.evaluation.TierCascades.Configuration;
import dev.cascade.router.evaluation.TierCascades.Point;
import dev.cascade.router.evaluation.TierCascades.Tier;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class ExpectedGainCascadesTest {

  /** Estimates that do not depend on what ran: tier t's chance is q[t]. */
  private static ExpectedGainCascades.Estimates fixed(double[][] q) {
    return (ran, tier) -> q[tier];
  }

  private static Tier tier(String name, boolean[] correct, double cost) {
    double[] c = new double[correct.length];
    java.util.Arrays.fill(c, cost);
    return new Tier(name, correct, new double[correct.length], c);
  }

  @Test
  void movesOnOnlyWhenALaterTiersGainBeatsLambdaTimesTheCostOfGettingThere() {
    // One item; tiers right with chance 0.4, 0.6, 0.9; expected costs 1, 2, 10.
    List<Tier> tiers = List.of(tier("s", new boolean[] {false}, 1), tier("m", new boolean[] {false}, 2),
        tier("l", new boolean[] {true}, 10));
    Split split = new Split(tiers, new double[][] {{1}, {2}, {10}}, fixed(new double[][] {{0.4}, {0.6}, {0.9}}));
    int[] cascade = {0, 1, 2};
    // In order: from s, l is worth 0.9 - lambda * (2 + 10), m 0.6 - lambda * 2. At lambda 0.04: m 0.52 > 0.4,
    // l 0.42: moves on to m; there l is worth 0.9 - 0.4 = 0.5 < 0.6: stops at m.
    assertThat(ExpectedGainCascades.served(split, cascade, 0.04, false)).containsExactly(1);
    assertThat(ExpectedGainCascades.run(split, cascade, 0.04, false)).isEqualTo(new Point(3, 0));
    // At lambda 0.01 it goes all the way: paying for every tier.
    assertThat(ExpectedGainCascades.run(split, cascade, 0.01, false)).isEqualTo(new Point(13, 1));
    // At lambda 0.2 neither is worth it.
    assertThat(ExpectedGainCascades.run(split, cascade, 0.2, false)).isEqualTo(new Point(1, 0));
    // Skipping: from s, l alone costs 10: 0.9 - 0.01 * 10 = 0.8 beats m's 0.58: straight to l, m not paid for.
    assertThat(ExpectedGainCascades.run(split, cascade, 0.01, true)).isEqualTo(new Point(11, 1));
    // At 0.04, m (0.52) beats l without m (0.9 - 0.4 = 0.5): m serves, as in order.
    assertThat(ExpectedGainCascades.served(split, cascade, 0.04, true)).containsExactly(1);
  }

  @Test
  void theEstimatesAtEachStepAreThoseOfTheTiersRunSoFar() {
    // Before m runs, m looks good; once it has run (and disagreed, say), l is clearly needed.
    List<Tier> tiers = List.of(tier("s", new boolean[] {false}, 1), tier("m", new boolean[] {false}, 2),
        tier("l", new boolean[] {true}, 10));
    Map<Integer, double[][]> byRan = Map.of(
        0b001, new double[][] {{0.3}, {0.8}, {0.9}},
        0b011, new double[][] {{0.3}, {0.1}, {0.9}});
    Split split = new Split(tiers, new double[][] {{1}, {2}, {10}}, (ran, t) -> byRan.get(ran)[t]);
    // lambda 0.02: from s, m is worth 0.76 (best); at m, l is worth 0.7 > 0.1: on to l.
    assertThat(ExpectedGainCascades.served(split, new int[] {0, 1, 2}, 0.02, false)).containsExactly(2);
  }

  @Test
  void lambdasRunFromAnyGainToNeverMovingOn() {
    Random random = new Random(3);
    Split split = randomSplit(random, 300);
    int[] cascade = {0, 1, 2};
    double[] lambdas = ExpectedGainCascades.lambdas(split, cascade, 50, false);
    assertThat(lambdas[0]).isZero();
    assertThat(lambdas[lambdas.length - 1]).isEqualTo(Double.POSITIVE_INFINITY);
    for (int j = 1; j < lambdas.length; j++) {
      assertThat(lambdas[j]).isGreaterThan(lambdas[j - 1]);
    }
    Point never = ExpectedGainCascades.run(split, cascade, Double.POSITIVE_INFINITY, false);
    assertThat(never.cost()).isCloseTo(split.tiers().get(0).meanCost(), within(1e-9));
    assertThat(never.accuracy()).isEqualTo(split.tiers().get(0).accuracy());
    // Cost falls as lambda grows (each step can only stop earlier).
    double last = Double.POSITIVE_INFINITY;
    for (double lambda : lambdas) {
      double cost = ExpectedGainCascades.run(split, cascade, lambda, false).cost();
      assertThat(cost).isLessThanOrEqualTo(last + 1e-12);
      last = cost;
    }
    List<Configuration> sweep = ExpectedGainCascades.sweep(split, split, cascade, lambdas, false);
    assertThat(sweep).hasSize(lambdas.length);
    assertThat(sweep.get(3).lambda()).isEqualTo(lambdas[3]);
    assertThat(sweep.get(3).byLambda()).isTrue();
    assertThat(sweep.get(3).validation()).isEqualTo(sweep.get(3).test());
    assertThatThrownBy(() -> ExpectedGainCascades.lambdas(split, cascade, 0, false)).hasMessageContaining("count");
  }

  @Test
  void withGoodEstimatesTheTripleBeatsEveryPairAtTheSameCost() {
    // 60% easy (every tier right), 20% middling (medium and large right), 20% hard (only large).
    // Costs 1, 3, 10. Estimates: 0.85 where the tier is right, 0.15 where not, with a little noise.
    Random random = new Random(11);
    int n = 2000;
    boolean[][] correct = new boolean[3][n];
    double[][] q = new double[3][n];
    for (int i = 0; i < n; i++) {
      double u = random.nextDouble();
      int kind = u < 0.6 ? 0 : u < 0.8 ? 1 : 2;
      for (int t = 0; t < 3; t++) {
        correct[t][i] = t >= kind;
        q[t][i] = Math.min(1, Math.max(0, (correct[t][i] ? 0.85 : 0.15) + 0.05 * random.nextGaussian()));
      }
    }
    List<Tier> tiers = List.of(tier("s", correct[0], 1), tier("m", correct[1], 3), tier("l", correct[2], 10));
    double[][] costs = {filled(n, 1), filled(n, 3), filled(n, 10)};
    Split split = new Split(tiers, costs, fixed(q));
    List<Configuration> pairs = new ArrayList<>();
    for (int[] pair : List.of(new int[] {0, 1}, new int[] {0, 2}, new int[] {1, 2})) {
      pairs.addAll(ExpectedGainCascades.sweep(split, split, pair, ExpectedGainCascades.lambdas(split, pair, 100, false),
          false));
    }
    int[] triple = {0, 1, 2};
    List<Configuration> three = ExpectedGainCascades.sweep(split, split, triple,
        ExpectedGainCascades.lambdas(split, triple, 100, false), false);
    // The triple answers nearly everything for about 1 + 0.4 * 3 + 0.2 * 10 = 4.2 per item;
    // no pair reaches 96% at 4.5.
    Configuration best3 = TierCascades.bestWithin(TierCascades.frontier(three), 4.5);
    Configuration best2 = TierCascades.bestWithin(TierCascades.frontier(pairs), 4.5);
    assertThat(best3.test().accuracy()).isGreaterThan(0.97);
    assertThat(best3.test().accuracy() - best2.test().accuracy()).isGreaterThan(0.03);
  }

  @Test
  void refusesMismatchedCostsAndOneTierCascades() {
    List<Tier> tiers = List.of(tier("s", new boolean[] {true}, 1), tier("l", new boolean[] {true}, 2));
    assertThatThrownBy(() -> new Split(tiers, new double[][] {{1}}, fixed(new double[][] {{1}, {1}})))
        .hasMessageContaining("2 tiers but 1 expected costs");
    Split split = new Split(tiers, new double[][] {{1}, {2}}, fixed(new double[][] {{1}, {1}}));
    assertThatThrownBy(() -> ExpectedGainCascades.run(split, new int[] {0}, 0, false))
        .hasMessageContaining("at least 2 tiers");
  }

  private static double[] filled(int n, double value) {
    double[] out = new double[n];
    java.util.Arrays.fill(out, value);
    return out;
  }

  private static Split randomSplit(Random random, int n) {
    List<Tier> tiers = new ArrayList<>();
    double[][] costs = new double[3][n];
    double[][] q = new double[3][n];
    for (int t = 0; t < 3; t++) {
      boolean[] correct = new boolean[n];
      double[] cost = new double[n];
      for (int i = 0; i < n; i++) {
        q[t][i] = random.nextDouble();
        correct[i] = random.nextDouble() < q[t][i];
        cost[i] = (t + 1) * (1 + random.nextDouble());
        costs[t][i] = (t + 1) * 1.5;
      }
      tiers.add(new Tier("t" + t, correct, new double[n], cost));
    }
    return new Split(tiers, costs, fixed(q));
  }
}
