package dev.cascade.router.evaluation;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.cascade.router.evaluation.TierCascades.Configuration;
import dev.cascade.router.evaluation.TierCascades.Point;
import dev.cascade.router.evaluation.TierCascades.Tier;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class TierCascadesTest {

  @Test
  void anItemRunsOnEveryTierUpToTheOneThatKeepsItAndCostsTheirSum() {
    // Item 0 stays at tier 0, item 1 at tier 1, item 2 reaches tier 2; only tier 1 is right on item 1.
    Tier small = new Tier("s", new boolean[] {true, false, false}, new double[] {0.1, 0.9, 0.9}, new double[] {1, 2, 3});
    Tier medium = new Tier("m", new boolean[] {false, true, false}, new double[] {0.9, 0.1, 0.9}, new double[] {10, 20, 30});
    Tier large = new Tier("l", new boolean[] {false, false, true}, new double[] {0, 0, 0}, new double[] {100, 200, 300});
    Point p = TierCascades.run(List.of(small, medium, large), new int[] {0, 1, 2}, new double[] {0.5, 0.5});
    assertThat(p.accuracy()).isEqualTo(1.0);
    assertThat(p.cost()).isCloseTo((1 + (2 + 20) + (3 + 30 + 300)) / 3.0, within(1e-12));
    // A score equal to the threshold is kept (defer only when above it), as the router decides.
    Point atThreshold = TierCascades.run(List.of(small, medium, large), new int[] {0, 1, 2}, new double[] {0.9, 0.9});
    assertThat(atThreshold.accuracy()).isCloseTo(1 / 3.0, within(1e-12));
    assertThat(atThreshold.cost()).isCloseTo(2.0, within(1e-12));
    // Skipping the middle tier: item 1 goes to the large model, which is wrong there.
    Point pair = TierCascades.run(List.of(small, medium, large), new int[] {0, 2}, new double[] {0.5});
    assertThat(pair.accuracy()).isCloseTo(2 / 3.0, within(1e-12));
    assertThat(pair.cost()).isCloseTo((1 + (2 + 200) + (3 + 300)) / 3.0, within(1e-12));
  }

  @Test
  void aTierThatStopsEarlyPaysItsCutShortCostOnlyForWhatItDefersAndOnlyBeforeTheLastTier() {
    // Tier 0 defers items 1 and 2 at 0.5; early deferral cuts each deferred item to 40% of its cost.
    List<Double> asked = new ArrayList<>();
    double[] full = {10, 20, 30};
    TierCascades.StopCosts stops = threshold -> {
      asked.add(threshold);
      double[] score = {0.1, 0.9, 0.9};
      double[] out = full.clone();
      for (int i = 0; i < out.length; i++) {
        if (score[i] > threshold) {
          out[i] = 0.4 * full[i];
        }
      }
      return out;
    };
    Tier small = new Tier("s", new boolean[] {true, false, false}, new double[] {0.1, 0.9, 0.9}, full, stops);
    Tier large = new Tier("l", new boolean[] {false, true, true}, new double[3], new double[] {100, 100, 100}, stops);
    Point p = TierCascades.run(List.of(small, large), new int[] {0, 1}, new double[] {0.5});
    assertThat(p.accuracy()).isEqualTo(1.0);
    assertThat(p.cost()).isCloseTo((10 + (8 + 100) + (12 + 100)) / 3.0, within(1e-12));
    assertThat(asked).as("asked once per run, for the deferring tier only").containsExactly(0.5);
    // Without early deferral the same cascade pays the deferred items' whole answers.
    Tier plain = new Tier("s", small.correct(), small.score(), full);
    assertThat(TierCascades.run(List.of(plain, large), new int[] {0, 1}, new double[] {0.5}).cost())
        .isCloseTo((10 + 120 + 130) / 3.0, within(1e-12));
    // A learned score replaces the rule the stops were computed for: no early deferral then.
    assertThat(small.withScore(new double[] {0.9, 0.9, 0.9}).stops()).isNull();
  }

  @Test
  void candidatesRunFromDeferringEverythingToDeferringNothing() {
    double[] scores = {5, 1, 3, 2, 4};
    double[] c = TierCascades.candidates(scores, 4);
    assertThat(c).containsExactly(Double.NEGATIVE_INFINITY, 1, 2, 3, 4, 5);
    Tier small = new Tier("s", new boolean[] {true, false, true, false, true}, scores, new double[] {1, 1, 1, 1, 1});
    Tier large = new Tier("l", new boolean[] {true, true, true, true, false}, new double[5], new double[] {4, 4, 4, 4, 4});
    List<Tier> data = List.of(small, large);
    assertThat(TierCascades.run(data, new int[] {0, 1}, new double[] {c[c.length - 1]}))
        .isEqualTo(new Point(1, small.accuracy()));
    assertThat(TierCascades.run(data, new int[] {0, 1}, new double[] {c[0]})).isEqualTo(new Point(5, large.accuracy()));
    assertThat(TierCascades.candidates(new double[] {7, 7, 7}, 10)).containsExactly(Double.NEGATIVE_INFINITY, 7);
    assertThatThrownBy(() -> TierCascades.candidates(scores, 0)).hasMessageContaining("levels");
  }

  @Test
  void theGridTriesEveryCombinationAndTheFrontierDominatesIt() {
    Random random = new Random(7);
    List<Tier> validation = randomTiers(random, 400);
    List<Tier> test = randomTiers(random, 300);
    int[] cascade = {0, 1, 2};
    List<Configuration> grid = TierCascades.grid(validation, test, cascade, 8);
    int expected = TierCascades.candidates(validation.get(0).score(), 8).length
        * TierCascades.candidates(validation.get(1).score(), 8).length;
    assertThat(grid).hasSize(expected);
    for (Configuration c : grid.subList(0, 20)) {
      assertThat(c.test()).isEqualTo(TierCascades.run(test, cascade, c.thresholds()));
    }
    List<Configuration> frontier = TierCascades.frontier(grid);
    assertThat(frontier.size()).isGreaterThan(3).isLessThan(grid.size());
    for (int j = 1; j < frontier.size(); j++) {
      assertThat(frontier.get(j).validation().cost()).isGreaterThan(frontier.get(j - 1).validation().cost());
      assertThat(frontier.get(j).validation().accuracy()).isGreaterThan(frontier.get(j - 1).validation().accuracy());
    }
    for (Configuration c : grid) {
      assertThat(frontier).anySatisfy(f -> {
        assertThat(f.validation().cost()).isLessThanOrEqualTo(c.validation().cost());
        assertThat(f.validation().accuracy()).isGreaterThanOrEqualTo(c.validation().accuracy());
      });
    }
    // bestWithin on the frontier is the brute-force best of the whole grid at every budget.
    for (double budget : TierCascades.middleLevels(frontier.get(0).validation().cost(),
        grid.stream().mapToDouble(c -> c.validation().cost()).max().orElseThrow(), 10)) {
      double brute = grid.stream().filter(c -> c.validation().cost() <= budget)
          .mapToDouble(c -> c.validation().accuracy()).max().orElseThrow();
      assertThat(TierCascades.bestWithin(frontier, budget).validation().accuracy()).isEqualTo(brute);
      assertThat(TierCascades.bestWithin(frontier, budget).validation().cost()).isLessThanOrEqualTo(budget);
    }
    assertThat(TierCascades.bestWithin(frontier, frontier.get(0).validation().cost() - 1e-9)).isNull();
  }

  @Test
  void aMiddleTierThatSolvesTheMiddleItemsBeatsEveryPairAtTheSameCost() {
    // Easy items: all right; middle: medium and large right; hard: only large. Each tier's score says
    // exactly whether it is wrong, so the grid must find the thresholds that route each kind.
    List<Tier> validation = difficultyTiers(500);
    List<Tier> test = difficultyTiers(600);
    List<Configuration> three = TierCascades.frontier(TierCascades.grid(validation, test, new int[] {0, 1, 2}, 10));
    List<Configuration> pairs = new ArrayList<>();
    for (int[] pair : List.of(new int[] {0, 1}, new int[] {0, 2}, new int[] {1, 2})) {
      pairs.addAll(TierCascades.grid(validation, test, pair, 10));
    }
    List<Configuration> pairFrontier = TierCascades.frontier(pairs);
    // At 7.6 per item: the three tiers cost 1 + 4 × 0.6 + 20 × 0.2 = 7.4; medium then large 4 + 20 × 0.2 = 8.
    Configuration best3 = TierCascades.bestWithin(three, 7.6);
    Configuration best2 = TierCascades.bestWithin(pairFrontier, 7.6);
    assertThat(best3.test().accuracy()).isEqualTo(1.0);
    // The candidates are the scores' quantiles, 0 and 1: defer above 0, i.e. wherever the tier is wrong.
    assertThat(best3.thresholds()).containsExactly(0.0, 0.0);
    assertThat(best2.test().accuracy()).isLessThan(0.9);
  }

  @Test
  void subCascadesKeepTheTierOrder() {
    assertThat(TierCascades.subCascades(3)).containsExactly(
        new int[] {0, 1}, new int[] {0, 2}, new int[] {1, 2}, new int[] {0, 1, 2});
    assertThat(TierCascades.subCascades(4)).hasSize(11);
    assertThat(TierCascades.middleLevels(0, 10, 5)).containsExactly(new double[] {1, 3, 5, 7, 9}, within(1e-9));
  }

  private static List<Tier> randomTiers(Random random, int n) {
    List<Tier> tiers = new ArrayList<>();
    double[] skill = {0.4, 0.6, 0.8};
    double[] perToken = {1, 3, 10};
    for (int t = 0; t < 3; t++) {
      boolean[] correct = new boolean[n];
      double[] score = new double[n];
      double[] cost = new double[n];
      for (int i = 0; i < n; i++) {
        correct[i] = random.nextDouble() < skill[t];
        score[i] = (correct[i] ? 0 : 0.5) + random.nextDouble();
        cost[i] = perToken[t] * (3 + random.nextInt(8));
      }
      tiers.add(new Tier("t" + t, correct, score, cost));
    }
    return tiers;
  }

  /** 40% easy, 40% middle, 20% hard; costs 1, 4, 20 per item; scores 1 where the tier is wrong, else 0. */
  private static List<Tier> difficultyTiers(int n) {
    int[] kind = new int[n];
    for (int i = 0; i < n; i++) {
      kind[i] = new int[] {0, 0, 1, 1, 2}[i % 5];
    }
    List<Tier> tiers = new ArrayList<>();
    double[] perItem = {1, 4, 20};
    for (int t = 0; t < 3; t++) {
      boolean[] correct = new boolean[n];
      double[] score = new double[n];
      double[] cost = new double[n];
      for (int i = 0; i < n; i++) {
        correct[i] = kind[i] <= t;
        score[i] = correct[i] ? 0 : 1;
        cost[i] = perItem[t];
      }
      tiers.add(new Tier("t" + t, correct, score, cost));
    }
    return tiers;
  }
}
