package dev.cascade.router.evaluation;

import dev.cascade.router.evaluation.TierCascades.Configuration;
import dev.cascade.router.evaluation.TierCascades.Point;
import dev.cascade.router.evaluation.TierCascades.Tier;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * Cascades that defer by expected gain against expected cost, one trade-off for all tiers, after
 * Dekoninck et al. (2025), "A Unified Approach to Routing and Cascading for LLMs": instead of a
 * threshold per tier, each request carries an estimate of every tier's chance of being right, made
 * from what the tiers it has run so far showed; at a tier it moves on when some later tier's
 * estimate, less {@code lambda} × the expected cost of getting there, beats the estimate for the
 * answer in hand. Sweeping {@code lambda} traces the cascade's frontier. Why: a threshold per tier
 * looks at one score at a time, while this compares the tiers on one scale, so a request the next
 * tier would also fail is not sent there.
 *
 * <p>Two ways to move on: in order (every tier up to the chosen one runs, and the choice is made
 * again at each: a cascade), or straight to the chosen tier ({@code skip}: the tiers between are
 * not run; the paper's cascade routing). With {@code skip}, a 3-tier cascade contains each of its
 * pairs that starts at its first tier, so comparing it with those pairs is not like for like.
 *
 * <p>Pure arithmetic over per-item arrays, as {@link TierCascades}; the estimates come from
 * elsewhere (learned on validation, out of fold there).
 */
public final class ExpectedGainCascades {

  private ExpectedGainCascades() {}

  /** Per-item estimates of a tier's chance of being right. */
  @FunctionalInterface
  public interface Estimates {
    /**
     * One value per item.
     *
     * @param ran the tiers run so far, bit {@code t} for tier index {@code t}
     * @param tier the tier whose answer is estimated, run or not
     */
    double[] quality(int ran, int tier);
  }

  /**
   * One split.
   *
   * @param tiers every tier's answers and actual costs (their scores are not used)
   * @param expectedCost per tier, per item: its cost as known before it runs (e.g. its per-token
   *     cost × (the prompt's tokens + its mean generated tokens))
   * @param estimates the quality estimates
   */
  public record Split(List<Tier> tiers, double[][] expectedCost, Estimates estimates) {
    public Split {
      tiers = List.copyOf(tiers);
      Objects.requireNonNull(estimates, "estimates");
      if (expectedCost.length != tiers.size()) {
        throw new IllegalArgumentException(tiers.size() + " tiers but " + expectedCost.length + " expected costs");
      }
      for (int t = 0; t < expectedCost.length; t++) {
        if (expectedCost[t].length != tiers.get(t).size()) {
          throw new IllegalArgumentException("tier " + t + ": " + expectedCost[t].length + " expected costs for "
              + tiers.get(t).size() + " items");
        }
      }
    }
  }

  /** The cascade's cost and accuracy on one split at one {@code lambda}. */
  public static Point run(Split split, int[] cascade, double lambda, boolean skip) {
    boolean[][] ranOn = ranOn(split, cascade, lambda, skip);
    int[] served = served(ranOn);
    int n = served.length;
    double cost = 0;
    int right = 0;
    for (int i = 0; i < n; i++) {
      right += split.tiers().get(cascade[served[i]]).correct()[i] ? 1 : 0;
      for (int p = 0; p < cascade.length; p++) {
        cost += ranOn[p][i] ? split.tiers().get(cascade[p]).cost()[i] : 0;
      }
    }
    return new Point(cost / n, (double) right / n);
  }

  /** Per item, the position in the cascade of the tier that serves it (the last one it ran on). */
  public static int[] served(Split split, int[] cascade, double lambda, boolean skip) {
    return served(ranOn(split, cascade, lambda, skip));
  }

  private static int[] served(boolean[][] ranOn) {
    int[] out = new int[ranOn[0].length];
    for (int p = 0; p < ranOn.length; p++) {
      for (int i = 0; i < out.length; i++) {
        if (ranOn[p][i]) {
          out[i] = p;
        }
      }
    }
    return out;
  }

  /** Per position in the cascade, per item: whether that tier ran on it. */
  private static boolean[][] ranOn(Split split, int[] cascade, double lambda, boolean skip) {
    if (cascade.length < 2) {
      throw new IllegalArgumentException("a cascade needs at least 2 tiers, got " + cascade.length);
    }
    int n = split.tiers().get(cascade[0]).size();
    boolean[][] ranOn = new boolean[cascade.length][n];
    for (int i = 0; i < n; i++) {
      int at = 0;
      int ran = 1 << cascade[0];
      ranOn[0][i] = true;
      while (at < cascade.length - 1) {
        int next = choose(split, cascade, at, ran, i, lambda, skip);
        if (next < 0) {
          break;
        }
        at = skip ? next : at + 1;
        ran |= 1 << cascade[at];
        ranOn[at][i] = true;
      }
    }
    return ranOn;
  }

  /**
   * The position of the later tier with the highest estimate less {@code lambda} × the expected
   * cost of reaching it, if that beats the estimate for the tier at {@code at}; else -1 (stop).
   */
  private static int choose(Split split, int[] cascade, int at, int ran, int i, double lambda, boolean skip) {
    double best = split.estimates().quality(ran, cascade[at])[i];
    int chosen = -1;
    double extra = 0;
    for (int m = at + 1; m < cascade.length; m++) {
      double reach = split.expectedCost()[cascade[m]][i];
      extra = skip ? reach : extra + reach;
      double value = split.estimates().quality(ran, cascade[m])[i] - lambda * extra;
      if (value > best) {
        best = value;
        chosen = m;
      }
    }
    return chosen;
  }

  /**
   * Candidate trade-offs for a cascade: 0 (move on for any expected gain), the quantiles at
   * 1/count, …, 1 of the positive gain-per-cost ratios on this split at each position, and
   * {@code +∞} (never move on), ascending and distinct.
   */
  public static double[] lambdas(Split split, int[] cascade, int count, boolean skip) {
    if (count < 1) {
      throw new IllegalArgumentException("count must be >= 1, was " + count);
    }
    int n = split.tiers().get(cascade[0]).size();
    List<Double> ratios = new ArrayList<>();
    int ran = 0;
    for (int at = 0; at < cascade.length - 1; at++) {
      ran |= 1 << cascade[at];
      double[] here = split.estimates().quality(ran, cascade[at]);
      for (int i = 0; i < n; i++) {
        double extra = 0;
        double best = 0;
        for (int m = at + 1; m < cascade.length; m++) {
          double reach = split.expectedCost()[cascade[m]][i];
          extra = skip ? reach : extra + reach;
          double gain = split.estimates().quality(ran, cascade[m])[i] - here[i];
          if (gain > 0 && extra > 0) {
            best = Math.max(best, gain / extra);
          }
        }
        if (best > 0) {
          ratios.add(best);
        }
      }
    }
    double[] sorted = ratios.stream().mapToDouble(Double::doubleValue).sorted().toArray();
    double[] out = new double[count + 2];
    out[0] = 0;
    for (int j = 1; j <= count && sorted.length > 0; j++) {
      out[j] = sorted[(int) Math.round((double) j / count * (sorted.length - 1))];
    }
    out[count + 1] = Double.POSITIVE_INFINITY;
    return Arrays.stream(out).distinct().sorted().toArray();
  }

  /** Every candidate trade-off, measured on both splits (the validation one chooses, as {@link TierCascades#grid}). */
  public static List<Configuration> sweep(Split validation, Split test, int[] cascade, double[] lambdas,
      boolean skip) {
    List<Configuration> out = new ArrayList<>(lambdas.length);
    for (double lambda : lambdas) {
      out.add(new Configuration(cascade.clone(), new double[0], lambda, run(validation, cascade, lambda, skip),
          run(test, cascade, lambda, skip)));
    }
    return out;
  }
}
