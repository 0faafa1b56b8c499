package dev.cascade.router.evaluation;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;

/**
 * Cascades of K ≥ 2 models, offline: which tier serves each item for given per-tier thresholds,
 * what that costs and how often it is right, the threshold grid, and its cost-accuracy frontier.
 * Pure arithmetic over per-item arrays; no models.
 *
 * <p>A cascade is an ordered list of tiers (indices into the tiers given). An item goes to the
 * first; at every tier but the last it moves on when that tier's deferral score is above the
 * tier's threshold ({@code score > threshold}, as the router decides), else that tier's answer is
 * served. The item's cost is the sum of the costs of every tier it ran on.
 *
 * <p>Thresholds are chosen on one split (validation) and reported on another (test): {@link
 * #grid} evaluates every combination of per-tier candidate thresholds on both, {@link #frontier}
 * keeps the configurations no other beats on validation in both cost and accuracy, and {@link
 * #bestWithin} picks the most accurate on validation within a validation cost budget; the test
 * numbers of the chosen configurations are what a report shows.
 */
public final class TierCascades {

  private TierCascades() {}

  /**
   * One model's answers on one split, per item in a fixed item order.
   *
   * @param name the model's name
   * @param correct whether its answer was right
   * @param score its deferral score (higher: defer)
   * @param cost what running it to the end of its answer cost
   * @param stops what running it cost when it defers an item under early deferral, by threshold;
   *     null when it decodes every item to the end
   */
  public record Tier(String name, boolean[] correct, double[] score, double[] cost, StopCosts stops) {
    public Tier {
      Objects.requireNonNull(name, "name");
      if (correct.length != score.length || correct.length != cost.length || correct.length == 0) {
        throw new IllegalArgumentException("tier '" + name + "': correct, score and cost must be equally long and"
            + " not empty, were " + correct.length + ", " + score.length + ", " + cost.length);
      }
    }

    /** A tier that decodes every item to the end. */
    public Tier(String name, boolean[] correct, double[] score, double[] cost) {
      this(name, correct, score, cost, null);
    }

    /** Per item, its cost on this tier under {@code threshold}: cut short where it defers early. */
    public double[] costAt(double threshold) {
      return stops == null ? cost : stops.deferredAt(threshold);
    }

    public int size() {
      return correct.length;
    }

    /** The share of items it answers right alone. */
    public double accuracy() {
      int right = 0;
      for (boolean c : correct) {
        right += c ? 1 : 0;
      }
      return (double) right / correct.length;
    }

    /** Its mean cost per item alone. */
    public double meanCost() {
      return Arrays.stream(cost).average().orElse(0);
    }

    /**
     * The same answers under other deferral scores: a learned rule's score for a tier depends on
     * the cascade (what the next tier gets right), so each cascade may score a tier its own way.
     */
    public Tier withScore(double[] newScore) {
      return new Tier(name, correct, newScore, cost, null);
    }
  }

  /**
   * Early deferral's costs for one tier ({@code small.early-defer}): with an exact rule (Chow-Sum,
   * Chow-Quantile at α = 0) a tier stops decoding an item at the token where its score passes the
   * threshold, so an item it defers costs only the tokens up to there.
   */
  @FunctionalInterface
  public interface StopCosts {
    /**
     * Per item, the tier's cost under {@code threshold}: for an item it defers (score above the
     * threshold), its prompt and the tokens up to the one where its running score first passed the
     * threshold; for the others, the whole answer, as {@link Tier#cost}.
     */
    double[] deferredAt(double threshold);
  }

  /** A cascade's mean cost per item and its accuracy (share of items served right). */
  public record Point(double cost, double accuracy) {}

  /**
   * One setting of one cascade, measured on both splits: per-tier thresholds, or one trade-off
   * {@code lambda} for a cascade that defers by expected gain ({@link ExpectedGainCascades}).
   *
   * @param tiers the cascade's tiers, indices into the tiers given, in order
   * @param thresholds one per tier but the last ({@code +∞}: never defer; {@code -∞}: always); none
   *     when {@code lambda} is set
   * @param lambda the exact match one cost unit is worth, or NaN for a threshold setting
   * @param validation its cost and accuracy on the split the setting was chosen on
   * @param test on the split it is reported on
   */
  public record Configuration(int[] tiers, double[] thresholds, double lambda, Point validation, Point test) {
    public Configuration {
      int expected = Double.isNaN(lambda) ? tiers.length - 1 : 0;
      if (thresholds.length != expected) {
        throw new IllegalArgumentException(tiers.length + " tiers need " + expected + " thresholds"
            + (Double.isNaN(lambda) ? "" : " beside a lambda") + ", got " + thresholds.length);
      }
    }

    /** A threshold setting. */
    public Configuration(int[] tiers, double[] thresholds, Point validation, Point test) {
      this(tiers, thresholds, Double.NaN, validation, test);
    }

    /** Whether it is an expected-gain setting ({@link #lambda} set) rather than thresholds. */
    public boolean byLambda() {
      return !Double.isNaN(lambda);
    }
  }

  /**
   * The cascade's cost and accuracy on one split.
   *
   * @param data every tier's answers on the split, all over the same items
   */
  public static Point run(List<Tier> data, int[] tiers, double[] thresholds) {
    int n = data.get(tiers[0]).size();
    double[][] costs = new double[tiers.length][];
    for (int k = 0; k < tiers.length; k++) {
      Tier tier = data.get(tiers[k]);
      costs[k] = k == tiers.length - 1 ? tier.cost() : tier.costAt(thresholds[k]);
    }
    double cost = 0;
    int right = 0;
    for (int i = 0; i < n; i++) {
      for (int k = 0; k < tiers.length; k++) {
        Tier tier = data.get(tiers[k]);
        cost += costs[k][i];
        if (k == tiers.length - 1 || !(tier.score()[i] > thresholds[k])) {
          right += tier.correct()[i] ? 1 : 0;
          break;
        }
      }
    }
    return new Point(cost / n, (double) right / n);
  }

  /**
   * Candidate thresholds for one tier: {@code -∞} (defer everything), then its scores' quantiles
   * at 0, 1/levels, …, 1 (the last defers nothing), duplicates removed, ascending.
   */
  public static double[] candidates(double[] scores, int levels) {
    if (levels < 1) {
      throw new IllegalArgumentException("levels must be >= 1, was " + levels);
    }
    double[] sorted = scores.clone();
    Arrays.sort(sorted);
    double[] out = new double[levels + 2];
    out[0] = Double.NEGATIVE_INFINITY;
    for (int j = 0; j <= levels; j++) {
      out[j + 1] = sorted[(int) Math.round((double) j / levels * (sorted.length - 1))];
    }
    return Arrays.stream(out).distinct().toArray();
  }

  /**
   * Every combination of candidate thresholds ({@link #candidates} of each tier's validation
   * scores) of one cascade, measured on both splits.
   */
  public static List<Configuration> grid(List<Tier> validation, List<Tier> test, int[] tiers, int levels) {
    if (tiers.length < 2) {
      throw new IllegalArgumentException("a cascade needs at least 2 tiers, got " + tiers.length);
    }
    double[][] candidates = new double[tiers.length - 1][];
    for (int k = 0; k < candidates.length; k++) {
      candidates[k] = candidates(validation.get(tiers[k]).score(), levels);
    }
    List<Configuration> out = new ArrayList<>();
    int[] at = new int[candidates.length];
    while (true) {
      double[] thresholds = new double[at.length];
      for (int k = 0; k < at.length; k++) {
        thresholds[k] = candidates[k][at[k]];
      }
      out.add(new Configuration(tiers.clone(), thresholds, run(validation, tiers, thresholds),
          run(test, tiers, thresholds)));
      int k = 0;
      while (k < at.length && ++at[k] == candidates[k].length) {
        at[k++] = 0;
      }
      if (k == at.length) {
        return out;
      }
    }
  }

  /**
   * The configurations on the validation Pareto frontier, by validation cost ascending: each is
   * more accurate on validation than every cheaper (or equally cheap) one.
   */
  public static List<Configuration> frontier(List<Configuration> configurations) {
    List<Configuration> sorted = new ArrayList<>(configurations);
    sorted.sort(Comparator.comparingDouble((Configuration c) -> c.validation().cost())
        .thenComparing(c -> -c.validation().accuracy()));
    List<Configuration> out = new ArrayList<>();
    double best = Double.NEGATIVE_INFINITY;
    for (Configuration c : sorted) {
      if (c.validation().accuracy() > best) {
        out.add(c);
        best = c.validation().accuracy();
      }
    }
    return out;
  }

  /**
   * The most accurate configuration on validation whose validation cost is at most {@code cost}
   * (the cheaper one on a tie), or null when none is that cheap.
   */
  public static Configuration bestWithin(List<Configuration> configurations, double cost) {
    Configuration best = null;
    for (Configuration c : configurations) {
      if (c.validation().cost() <= cost && (best == null
          || c.validation().accuracy() > best.validation().accuracy()
          || c.validation().accuracy() == best.validation().accuracy() && c.validation().cost() < best.validation().cost())) {
        best = c;
      }
    }
    return best;
  }

  /** {@code count} levels evenly spaced from {@code lo + 0.1·(hi − lo)} to {@code lo + 0.9·(hi − lo)}: the middle of the range. */
  public static double[] middleLevels(double lo, double hi, int count) {
    if (count < 2) {
      throw new IllegalArgumentException("count must be >= 2, was " + count);
    }
    double[] out = new double[count];
    for (int j = 0; j < count; j++) {
      out[j] = lo + (hi - lo) * (0.1 + 0.8 * j / (count - 1));
    }
    return out;
  }

  /** Every cascade over K tiers that keeps their order: each subsequence of 2 or more, shorter ones first. */
  public static List<int[]> subCascades(int k) {
    List<int[]> out = new ArrayList<>();
    for (int mask = 0; mask < 1 << k; mask++) {
      if (Integer.bitCount(mask) >= 2) {
        int chosen = mask;
        out.add(java.util.stream.IntStream.range(0, k).filter(i -> (chosen & 1 << i) != 0).toArray());
      }
    }
    out.sort(Comparator.comparingInt((int[] c) -> c.length).thenComparing(Arrays::compare));
    return out;
  }
}
