package dev.cascade.router.learning;

import dev.cascade.router.policy.StableHash;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * Chooses a middle tier's threshold from its live outcomes for an operator's price of a right
 * answer: the threshold that maximises {@code value × (the answer served is right) − (the next
 * tier's cost where the request is passed on)} per request reaching the tier, each outcome weighted
 * by the inverse of its probability of having been seen ({@link TierOutcomeReport}: 1/(propensity ×
 * label propensity), so explored requests stand for those the rule served).
 *
 * <p>A change is checked by cross-fitting: the outcomes fall into {@code round(1 / holdoutFraction)}
 * folds (a draw on the request id); for each fold, a threshold is chosen on the other folds and
 * compared with the one in force on that fold's outcomes, so that every outcome is held out once
 * and checks a choice it took no part in. The threshold chosen on all the outcomes is written only
 * where those held-out comparisons, together, beat the one in force with a one-sided 95% lower
 * bound above 0 (the weighted paired differences' standard error). So noise does not move the
 * threshold, and a threshold already at its best stays. The check estimates what choosing on these
 * outcomes gains, not what the one threshold written gains: each fold's choice saw a (1 − f) share
 * of them, so it is a little pessimistic for the choice on all of them; the bound treats the
 * outcomes as independent, which the folds' shared fitting data makes a little optimistic.
 * Checking every outcome instead of one held-out share needs about {@code holdoutFraction} as many
 * outcomes for the same bound.
 *
 * <p>The tier's own cost is paid whether or not it passes a request on, so it does not enter the
 * choice (where the tier stops early it pays less on what it passes on; that saving is left out).
 */
public final class TierTuning {

  private TierTuning() {}

  /** One-sided 95% normal quantile. */
  static final double Z = 1.6448536269514722;

  /**
   * One usable outcome of the tier.
   *
   * @param requestId the request's id (the draw of its fold)
   * @param score the tier's rule in force scoring the tier's answer
   * @param tierCorrect whether the tier's answer was right
   * @param nextCorrect whether the next tier's answer was right
   * @param nextCost what the next tier's call cost
   * @param weight 1/(propensity × label propensity), capped
   */
  public record Item(String requestId, double score, boolean tierCorrect, boolean nextCorrect, double nextCost,
      double weight) {
    double utility(double threshold, double value) {
      return score > threshold ? value * (nextCorrect ? 1 : 0) - nextCost : value * (tierCorrect ? 1 : 0);
    }
  }

  /** What a round decided. */
  public enum Result {
    /** A better threshold, shown better on held-out outcomes. */
    RETUNED,
    /** The threshold in force is kept: nothing shown better. */
    KEPT,
    /** Too few outcomes to decide. */
    SKIPPED;

    public String label() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  /**
   * A round's decision.
   *
   * @param result retuned, kept or skipped
   * @param reason one line saying why, with the figures
   * @param currentThreshold the threshold in force (under a target rate, the one that passes its share on)
   * @param threshold the threshold chosen on the fitting outcomes
   * @param share the weighted share of all the outcomes that {@code threshold} passes on
   * @param currentShare the same for {@code currentThreshold}
   * @param gain the utility per request of the folds' choices less that of {@code currentThreshold}, each
   *     outcome held out from the choice it checks
   * @param gainLow its one-sided 95% lower bound
   * @param fitted outcomes the threshold was chosen on (all the usable ones)
   * @param held outcomes the cross-fitted check held out (each once; all of them, or 0 when skipped)
   */
  public record Decision(Result result, String reason, double currentThreshold, double threshold, double share,
      double currentShare, double gain, double gainLow, int fitted, int held) {}

  /**
   * Decides the tier's threshold.
   *
   * @param items the tier's usable outcomes
   * @param value what a right answer is worth, in the outcomes' cost units; above 0
   * @param currentThreshold the threshold in force
   * @param holdoutFraction the share of the outcomes each fold holds out, in (0, 1): {@code round(1 /
   *     holdoutFraction)} folds, at least 2
   * @param minItems fewer usable outcomes than this: skipped
   * @param minHoldout fewer usable outcomes than this to check on: skipped
   */
  public static Decision decide(List<Item> items, double value, double currentThreshold, double holdoutFraction,
      int minItems, int minHoldout) {
    Objects.requireNonNull(items, "items");
    if (!(value > 0) || !Double.isFinite(value)) {
      throw new IllegalArgumentException("value: must be finite and above 0, was " + value);
    }
    if (!(holdoutFraction > 0 && holdoutFraction < 1)) {
      throw new IllegalArgumentException("holdoutFraction: must be in (0, 1), was " + holdoutFraction);
    }
    int folds = folds(holdoutFraction);
    List<List<Item>> byFold = new ArrayList<>();
    for (int f = 0; f < folds; f++) {
      byFold.add(new ArrayList<>());
    }
    for (Item item : items) {
      byFold.get(fold(item.requestId(), folds)).add(item);
    }
    double currentShare = share(items, currentThreshold);
    int smallestFold = byFold.stream().mapToInt(List::size).min().orElse(0);
    if (items.size() < minItems || items.size() < minHoldout || smallestFold == 0) {
      return new Decision(Result.SKIPPED, String.format(Locale.ROOT,
          "%d usable outcomes: fewer than %d (or %d to check a choice on) to decide on", items.size(), minItems,
          minHoldout), currentThreshold, currentThreshold, currentShare, currentShare, 0, 0, items.size(), 0);
    }
    // Each fold's outcomes check the threshold the other folds choose.
    List<double[]> checks = new ArrayList<>(items.size());
    for (int f = 0; f < folds; f++) {
      List<Item> others = new ArrayList<>(items.size());
      for (int g = 0; g < folds; g++) {
        if (g != f) {
          others.addAll(byFold.get(g));
        }
      }
      double foldChoice = best(others, value);
      for (Item item : byFold.get(f)) {
        checks.add(new double[] {item.weight(), item.utility(foldChoice, value) - item.utility(currentThreshold, value)});
      }
    }
    double chosen = best(items, value);
    double share = share(items, chosen);
    double[] gain = meanAndLowerBound(checks);
    String figures = String.format(Locale.ROOT, "threshold %.4f (passes on %.1f%%) against %.4f in force (%.1f%%):"
        + " %+.2f per request cross-fitted over %d folds of %d outcomes (95%% lower bound %+.2f)", chosen, 100 * share,
        currentThreshold, 100 * currentShare, gain[0], folds, items.size(), gain[1]);
    Result result = gain[1] > 0 ? Result.RETUNED : Result.KEPT;
    return new Decision(result, figures, currentThreshold, chosen, share, currentShare, gain[0], gain[1], items.size(),
        items.size());
  }

  /** The folds a holdout fraction amounts to: each fold holds out about that share; at least 2. */
  static int folds(double holdoutFraction) {
    return Math.max(2, (int) Math.round(1 / holdoutFraction));
  }

  /** A request's fold: a draw on its id, independent of the routers' draws. */
  static int fold(String requestId, int folds) {
    return Math.min(folds - 1, (int) (StableHash.unit(requestId + "\u0000tier-tuning fold") * folds));
  }

  /**
   * The threshold with the highest weighted utility on {@code items}: passing on the k highest
   * scores for the best k (whole ties together), the threshold halfway between the k-th score and
   * the next, so that a rescored answer a little off either still falls on its side.
   */
  static double best(List<Item> items, double value) {
    List<Item> byScore = new ArrayList<>(items);
    byScore.sort(Comparator.comparingDouble(Item::score).reversed());
    // Utility with nothing passed on, then the change as each tie group is passed on.
    double utility = 0;
    for (Item item : byScore) {
      utility += item.weight() * (item.tierCorrect() ? value : 0);
    }
    double bestUtility = utility;
    int bestK = 0;
    int k = 0;
    while (k < byScore.size()) {
      double score = byScore.get(k).score();
      while (k < byScore.size() && byScore.get(k).score() == score) {
        Item item = byScore.get(k);
        utility += item.weight() * ((item.nextCorrect() ? value : 0) - item.nextCost() - (item.tierCorrect() ? value : 0));
        k++;
      }
      if (utility > bestUtility + 1e-9) {
        bestUtility = utility;
        bestK = k;
      }
    }
    return cut(byScore, bestK);
  }

  /**
   * The threshold that passes on the first {@code k} of {@code byScore} (highest first): halfway
   * between the k-th score and the next; the highest score for none (nothing is strictly greater),
   * the lowest less 1 for all.
   */
  static double cut(List<Item> byScore, int k) {
    if (k == 0) {
      return byScore.get(0).score();
    }
    if (k == byScore.size()) {
      return byScore.get(k - 1).score() - 1.0;
    }
    return (byScore.get(k - 1).score() + byScore.get(k).score()) / 2;
  }

  /** The weighted share of {@code items} scoring above {@code threshold}. */
  static double share(List<Item> items, double threshold) {
    double total = 0;
    double above = 0;
    for (Item item : items) {
      total += item.weight();
      above += item.score() > threshold ? item.weight() : 0;
    }
    return total == 0 ? 0 : above / total;
  }

  /**
   * The threshold that passes on {@code share} of the weighted {@code items} (the highest scores;
   * under a target rate, the threshold the rate amounts to on these outcomes).
   */
  public static double thresholdForShare(List<Item> items, double share) {
    List<Item> byScore = new ArrayList<>(items);
    byScore.sort(Comparator.comparingDouble(Item::score).reversed());
    double total = items.stream().mapToDouble(Item::weight).sum();
    int k = topUntil(byScore, Item::score, Item::weight, share * total);
    return byScore.isEmpty() ? 0 : cut(byScore, k);
  }

  /**
   * How many of {@code byScore} (highest score first) are passed on from the top until their weight
   * reaches {@code weight}, whole ties at once: the count, at or past the weight.
   */
  static <T> int topUntil(List<T> byScore, java.util.function.ToDoubleFunction<T> score,
      java.util.function.ToDoubleFunction<T> weightOf, double weight) {
    double passed = 0;
    int k = 0;
    while (k < byScore.size() && passed < weight - 1e-9) {
      double tie = score.applyAsDouble(byScore.get(k));
      while (k < byScore.size() && score.applyAsDouble(byScore.get(k)) == tie) {
        passed += weightOf.applyAsDouble(byScore.get(k));
        k++;
      }
    }
    return k;
  }

  /**
   * The weighted mean of the paired utility differences (chosen less current) per request, and its
   * one-sided 95% lower bound (the ratio estimator's standard error).
   */
  static double[] pairedGain(List<Item> items, double chosen, double current, double value) {
    List<double[]> checks = new ArrayList<>(items.size());
    for (Item item : items) {
      checks.add(new double[] {item.weight(), item.utility(chosen, value) - item.utility(current, value)});
    }
    return meanAndLowerBound(checks);
  }

  /**
   * The weighted mean of {@code {weight, difference}} pairs and its one-sided 95% lower bound (the
   * ratio estimator's standard error); {0, 0} with no weight.
   */
  static double[] meanAndLowerBound(List<double[]> weighted) {
    double total = 0;
    double sum = 0;
    for (double[] wd : weighted) {
      total += wd[0];
      sum += wd[0] * wd[1];
    }
    if (total == 0) {
      return new double[] {0, 0};
    }
    double mean = sum / total;
    double squares = 0;
    for (double[] wd : weighted) {
      double d = wd[1] - mean;
      squares += wd[0] * wd[0] * d * d;
    }
    double se = Math.sqrt(squares) / total;
    return new double[] {mean, mean - Z * se};
  }
}
