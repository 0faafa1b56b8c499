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
 * <p>The threshold is chosen on a fitting share of the outcomes and checked on the rest (a draw on
 * the request id, {@code holdoutFraction}): the change is made only where, on the held-out outcomes,
 * the chosen threshold's utility beats the one in force with a one-sided 95% lower bound above 0
 * (the weighted paired differences' standard error). So noise does not move the threshold, and a
 * threshold already at its best stays.
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
   * @param requestId the request's id (the fit/held-out draw)
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
    /** A better threshold, shown better on the held-out outcomes. */
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
   * @param gain the held-out utility per request of {@code threshold} less that of {@code currentThreshold}
   * @param gainLow its one-sided 95% lower bound
   * @param fitted outcomes the threshold was chosen on
   * @param held outcomes it was checked on
   */
  public record Decision(Result result, String reason, double currentThreshold, double threshold, double share,
      double currentShare, double gain, double gainLow, int fitted, int held) {}

  /**
   * Decides the tier's threshold.
   *
   * @param items the tier's usable outcomes
   * @param value what a right answer is worth, in the outcomes' cost units; above 0
   * @param currentThreshold the threshold in force
   * @param holdoutFraction the share of the outcomes held out to check the choice, in (0, 1)
   * @param minItems fewer usable outcomes than this: skipped
   * @param minHoldout fewer held-out outcomes than this: skipped
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
    List<Item> fit = new ArrayList<>();
    List<Item> held = new ArrayList<>();
    for (Item item : items) {
      (held(item.requestId(), holdoutFraction) ? held : fit).add(item);
    }
    double currentShare = share(items, currentThreshold);
    if (items.size() < minItems || held.size() < minHoldout || fit.isEmpty()) {
      return new Decision(Result.SKIPPED, String.format(Locale.ROOT,
          "%d usable outcomes (%d held out): fewer than %d (or %d held out) to decide on", items.size(), held.size(),
          minItems, minHoldout), currentThreshold, currentThreshold, currentShare, currentShare, 0, 0, fit.size(),
          held.size());
    }
    double chosen = best(fit, value);
    double share = share(items, chosen);
    double[] gain = pairedGain(held, chosen, currentThreshold, value);
    String figures = String.format(Locale.ROOT, "threshold %.4f (passes on %.1f%%) against %.4f in force (%.1f%%):"
        + " %+.2f per request on %d held-out outcomes (95%% lower bound %+.2f), chosen on %d", chosen, 100 * share,
        currentThreshold, 100 * currentShare, gain[0], held.size(), gain[1], fit.size());
    Result result = gain[1] > 0 ? Result.RETUNED : Result.KEPT;
    return new Decision(result, figures, currentThreshold, chosen, share, currentShare, gain[0], gain[1], fit.size(),
        held.size());
  }

  /** Whether a request is held out: a draw on its id, independent of the routers' draws. */
  static boolean held(String requestId, double holdoutFraction) {
    return StableHash.unit(requestId + "\u0000tier-tuning holdout") < holdoutFraction;
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
    double total = 0;
    double sum = 0;
    for (Item item : items) {
      total += item.weight();
      sum += item.weight() * (item.utility(chosen, value) - item.utility(current, value));
    }
    if (total == 0) {
      return new double[] {0, 0};
    }
    double mean = sum / total;
    double squares = 0;
    for (Item item : items) {
      double d = item.utility(chosen, value) - item.utility(current, value) - mean;
      squares += item.weight() * item.weight() * d * d;
    }
    double se = Math.sqrt(squares) / total;
    return new double[] {mean, mean - Z * se};
  }
}
