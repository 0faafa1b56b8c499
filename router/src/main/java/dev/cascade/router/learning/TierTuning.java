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
 * bound above 0 (the weighted paired differences' standard error), and where the choices change
 * the decision on at least {@link #MIN_CHANGED} of the held-out outcomes. So noise does not move the
 * threshold, and a threshold already at its best stays. The check estimates what choosing on these
 * outcomes gains, not what the one threshold written gains: each fold's choice saw a (1 − f) share
 * of them, so it is a little pessimistic for the choice on all of them; the bound treats the
 * outcomes as independent, which the folds' shared fitting data makes optimistic. Measured over
 * 400 windows of 2,000 outcomes ({@code TierTuningFalseRetuneTest}): a threshold at its strict
 * best is retuned in 3.5-4.3% of them (below the nominal 5%), one where every threshold is worth
 * the same in 7.5-11% (a move that costs nothing); with no outcome held out, 23.5% and 34.3%.
 * Checking every outcome instead of one held-out share needs about {@code holdoutFraction} as many
 * outcomes for the same bound.
 *
 * <p>The tier's own cost is paid whether or not it passes a request on, so it does not enter the
 * choice, except where the tier stops early ({@code escalation.early-defer}): an answer passed on
 * then costs only the tokens decoded until its running score passed the threshold, and what the
 * rest would have cost counts for passing it on ({@link Item#saved}). That saving grows as the
 * threshold falls, for every answer passed on, so {@link #best} sweeps the answers' running scores
 * as well as their scores.
 */
public final class TierTuning {

  private TierTuning() {}

  /** One-sided 95% normal quantile. */
  static final double Z = 1.6448536269514722;

  /**
   * Fewest held-out outcomes whose decision (pass on or serve) a choice must change for it to be
   * written: with a handful of changed outcomes the differences' standard error means nothing (one
   * or two of them, all right for the choice, give a lower bound just above 0), and a change that
   * small is not worth a policy.
   */
  static final int MIN_CHANGED = 20;

  /**
   * One usable outcome of the tier.
   *
   * @param requestId the request's id (the draw of its fold)
   * @param score the tier's rule in force scoring the tier's answer
   * @param tierCorrect whether the tier's answer was right
   * @param nextCorrect whether the next tier's answer was right
   * @param nextCost what the next tier's call cost
   * @param weight 1/(propensity × label propensity), capped
   * @param running where the tier stops early, the rule's running score after each token of the
   *     answer ({@link dev.cascade.router.policy.EarlyDeferral#runningScores}); null where it does not
   * @param tokenCost what one of the answer's tokens cost (0 where unknown: nothing saved)
   */
  public record Item(String requestId, double score, boolean tierCorrect, boolean nextCorrect, double nextCost,
      double weight, double[] running, double tokenCost) {

    /** An answer of a tier that does not stop early. */
    public Item(String requestId, double score, boolean tierCorrect, boolean nextCorrect, double nextCost,
        double weight) {
      this(requestId, score, tierCorrect, nextCorrect, nextCost, weight, null, 0);
    }

    double utility(double threshold, double value) {
      return score > threshold ? value * (nextCorrect ? 1 : 0) - nextCost + saved(threshold)
          : value * (tierCorrect ? 1 : 0);
    }

    /**
     * What early deferral at {@code threshold} saves on this answer: the cost of its tokens after the
     * first whose running score is above the threshold; 0 when it is not passed on or does not stop.
     */
    double saved(double threshold) {
      if (running == null || !(score > threshold)) {
        return 0;
      }
      return tokenCost * (running.length - decoded(running, threshold));
    }
  }

  /** The tokens decoded before the running score is above {@code threshold} (all of them if it never is). */
  static int decoded(double[] running, double threshold) {
    int lo = 0;
    int hi = running.length;
    while (lo < hi) { // the first index above the threshold; the scores never fall
      int mid = (lo + hi) >>> 1;
      if (running[mid] > threshold) {
        hi = mid;
      } else {
        lo = mid + 1;
      }
    }
    return Math.min(running.length, lo + 1);
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
   * @param rule the rule {@code threshold} is for (the one in force, unless another rule was chosen)
   * @param currentRule the rule in force
   */
  public record Decision(Result result, String reason, double currentThreshold, double threshold, double share,
      double currentShare, double gain, double gainLow, int fitted, int held, String rule, String currentRule) {

    /**
     * A round that decided nothing, for {@code reason}, on {@code items} usable outcomes; the
     * threshold in force passes on {@code currentShare} of them.
     */
    public static Decision skipped(String reason, double currentThreshold, double currentShare, String rule,
        int items) {
      return new Decision(Result.SKIPPED, reason, currentThreshold, currentThreshold, currentShare, currentShare, 0, 0,
          items, 0, rule, rule);
    }

    /** Whether the rule chosen is another than the one in force. */
    public boolean changesRule() {
      return rule != null && !rule.equals(currentRule);
    }
  }

  /**
   * A rule the tier may be given, and the tier's usable outcomes scored by it: every candidate of a
   * decision holds the same outcomes in the same order, only their scores differ.
   *
   * @param rule the rule as the command line spells it ({@code chow-sum}, {@code chow-quantile-0.1}); null
   *     where only one rule is considered and its name does not matter
   * @param items the outcomes, scored by {@code rule}
   */
  public record Candidate(String rule, List<Item> items) {}

  /**
   * Decides the tier's threshold, its rule kept.
   *
   * @param items the tier's usable outcomes, scored by the rule in force
   * @param value what a right answer is worth, in the outcomes' cost units; above 0
   * @param currentThreshold the threshold in force
   * @param holdoutFraction the share of the outcomes each fold holds out, in (0, 1): {@code round(1 /
   *     holdoutFraction)} folds, at least 2
   * @param minItems fewer usable outcomes than this: skipped
   * @param minHoldout fewer usable outcomes than this to check on: skipped
   */
  public static Decision decide(List<Item> items, double value, double currentThreshold, double holdoutFraction,
      int minItems, int minHoldout) {
    return decide(items, value, currentThreshold, holdoutFraction, minItems, minHoldout, 1.0);
  }

  /** As above, passing on at most {@code maxShare} ({@link #decideAmong(List, double, double, double, int, int, double)}). */
  public static Decision decide(List<Item> items, double value, double currentThreshold, double holdoutFraction,
      int minItems, int minHoldout, double maxShare) {
    return decideAmong(List.of(new Candidate(null, items)), value, currentThreshold, holdoutFraction, minItems,
        minHoldout, maxShare);
  }

  /**
   * Decides the tier's rule and threshold: the rule and threshold with the highest utility among
   * {@code candidates} (each rule at its best threshold), the first being the rule in force, which
   * wins ties. The cross-fitted check compares each fold's whole choice, the rule included, so the
   * more rules are offered, the more the choice has to beat its own noise.
   *
   * @param candidates the rule in force first, then the others, each with the same outcomes
   * @see #decide(List, double, double, double, int, int) the other parameters
   */
  public static Decision decideAmong(List<Candidate> candidates, double value, double currentThreshold,
      double holdoutFraction, int minItems, int minHoldout) {
    return decideAmong(candidates, value, currentThreshold, holdoutFraction, minItems, minHoldout, 1.0);
  }

  /**
   * As above, choosing only among thresholds that pass on at most {@code maxShare} of the weighted
   * outcomes ({@code learn.small-max-pass-on}, {@code learn.tier-max-pass-on}: a cap on what the
   * tier sends on, e.g. the large model's capacity). Where the threshold in force passes on more
   * than that, the best threshold under the cap is written whatever its gain (result {@link
   * Result#RETUNED}, the reason says so), since the cap is a limit, not a preference.
   *
   * @param maxShare in [0, 1]; 1: no cap
   */
  public static Decision decideAmong(List<Candidate> candidates, double value, double currentThreshold,
      double holdoutFraction, int minItems, int minHoldout, double maxShare) {
    if (!(maxShare >= 0 && maxShare <= 1)) {
      throw new IllegalArgumentException("maxShare: must be in [0, 1], was " + maxShare);
    }
    Objects.requireNonNull(candidates, "candidates");
    if (candidates.isEmpty()) {
      throw new IllegalArgumentException("candidates: at least the rule in force");
    }
    if (!(value > 0) || !Double.isFinite(value)) {
      throw new IllegalArgumentException("value: must be finite and above 0, was " + value);
    }
    if (!(holdoutFraction > 0 && holdoutFraction < 1)) {
      throw new IllegalArgumentException("holdoutFraction: must be in (0, 1), was " + holdoutFraction);
    }
    List<Item> items = candidates.get(0).items();
    for (Candidate c : candidates) {
      if (c.items().size() != items.size()) {
        throw new IllegalArgumentException("candidates: " + c.rule() + " has " + c.items().size() + " outcomes, the rule"
            + " in force " + items.size());
      }
    }
    String currentRule = candidates.get(0).rule();
    int folds = folds(holdoutFraction);
    int[] foldOf = new int[items.size()];
    int[] foldSizes = new int[folds];
    for (int n = 0; n < items.size(); n++) {
      foldOf[n] = fold(items.get(n).requestId(), folds);
      foldSizes[foldOf[n]]++;
    }
    double currentShare = share(items, currentThreshold);
    int smallestFold = java.util.Arrays.stream(foldSizes).min().orElse(0);
    if (items.size() < minItems || items.size() < minHoldout || smallestFold == 0) {
      return Decision.skipped(String.format(Locale.ROOT,
          "%d usable outcomes: fewer than %d (or %d to check a choice on) to decide on", items.size(), minItems,
          minHoldout), currentThreshold, currentShare, currentRule, items.size());
    }
    // Each fold's outcomes check the rule and threshold the other folds choose.
    List<double[]> checks = new ArrayList<>(items.size());
    int changed = 0;
    for (int f = 0; f < folds; f++) {
      int fold = f;
      Choice choice = choose(candidates, value, n -> foldOf[n] != fold, maxShare);
      List<Item> chosenItems = candidates.get(choice.candidate()).items();
      for (int n = 0; n < items.size(); n++) {
        if (foldOf[n] == f) {
          checks.add(new double[] {items.get(n).weight(),
              chosenItems.get(n).utility(choice.threshold(), value) - items.get(n).utility(currentThreshold, value)});
          changed += (chosenItems.get(n).score() > choice.threshold()) != (items.get(n).score() > currentThreshold) ? 1 : 0;
        }
      }
    }
    Choice all = choose(candidates, value, n -> true, maxShare);
    Candidate chosen = candidates.get(all.candidate());
    double share = share(chosen.items(), all.threshold());
    double[] gain = meanAndLowerBound(checks);
    // With rules to choose from, each side names its rule.
    String rule = candidates.size() == 1 ? ""
        : String.format(Locale.ROOT, "rule %s (best of %d) ", chosen.rule(), candidates.size());
    String inForce = candidates.size() == 1 ? "" : currentRule + " ";
    String figures = String.format(Locale.ROOT, "%sthreshold %.4f (passes on %.1f%%) against %s%.4f in force (%.1f%%):"
        + " %+.2f per request cross-fitted over %d folds of %d outcomes (95%% lower bound %+.2f)", rule, all.threshold(),
        100 * share, inForce, currentThreshold, 100 * currentShare, gain[0], folds, items.size(), gain[1]);
    Double saving = savingPerPassedOn(chosen.items(), all.threshold());
    if (saving != null) {
      figures += String.format(Locale.ROOT, "; early deferral's saving counted: %.2f a request passed on at it",
          saving);
    }
    Result result = gain[1] > 0 && changed >= MIN_CHANGED ? Result.RETUNED : Result.KEPT;
    if (gain[1] > 0 && changed < MIN_CHANGED) {
      figures += String.format(Locale.ROOT, "; the choices change the decision on %d held-out outcomes only (fewer"
          + " than %d)", changed, MIN_CHANGED);
    }
    if (maxShare < 1) {
      figures += String.format(Locale.ROOT, "; passing on at most %.1f%% (the cap)", 100 * maxShare);
      // Over the cap by more than the share's own noise: a threshold written at the cap last round,
      // a little over it on this round's outcomes, is not moved again (that would write a policy a round).
      if (currentShare > maxShare + capNoise(items, maxShare) && share < currentShare) {
        result = Result.RETUNED;
        figures += String.format(Locale.ROOT, ", which the threshold in force exceeds: the best under it is written"
            + " whatever its gain");
      }
    }
    return new Decision(result, figures, currentThreshold, all.threshold(), share, currentShare, gain[0], gain[1],
        items.size(), items.size(), chosen.rule() == null ? currentRule : chosen.rule(), currentRule);
  }

  /**
   * What early deferral at {@code threshold} saves per request passed on, weighted ({@link
   * Item#saved}); null when no outcome stops early.
   */
  static Double savingPerPassedOn(List<Item> items, double threshold) {
    if (items.stream().noneMatch(i -> i.running() != null)) {
      return null;
    }
    double passed = 0;
    double saved = 0;
    for (Item item : items) {
      if (item.score() > threshold) {
        passed += item.weight();
        saved += item.weight() * item.saved(threshold);
      }
    }
    return passed == 0 ? 0.0 : saved / passed;
  }

  /**
   * Two standard errors of a weighted share near {@code share} estimated on {@code items} (their
   * effective number, (Σw)²/Σw²), at least one point: how far a threshold in force may read over
   * a cap before the cap moves it.
   */
  static double capNoise(List<Item> items, double share) {
    double sum = 0;
    double squares = 0;
    for (Item item : items) {
      sum += item.weight();
      squares += item.weight() * item.weight();
    }
    double effective = squares == 0 ? 0 : sum * sum / squares;
    double se = effective == 0 ? 1 : Math.sqrt(Math.max(share * (1 - share), 1e-4) / effective);
    return Math.max(0.01, 2 * se);
  }

  /** Shares this close are equal (rounding in the weighted sums). */
  private static final double SHARE_TOLERANCE = 1e-9;

  /** A candidate (its index) and its best threshold. */
  private record Choice(int candidate, double threshold) {}

  /**
   * The candidate and threshold with the highest weighted utility on the outcomes {@code use}
   * keeps; the earliest candidate on a tie (the rule in force first).
   */
  private static Choice choose(List<Candidate> candidates, double value, java.util.function.IntPredicate use,
      double maxShare) {
    Choice best = null;
    double bestUtility = Double.NEGATIVE_INFINITY;
    for (int c = 0; c < candidates.size(); c++) {
      List<Item> items = candidates.get(c).items();
      List<Item> kept = new ArrayList<>(items.size());
      for (int n = 0; n < items.size(); n++) {
        if (use.test(n)) {
          kept.add(items.get(n));
        }
      }
      double threshold = best(kept, value, maxShare);
      double utility = 0;
      for (Item item : kept) {
        utility += item.weight() * item.utility(threshold, value);
      }
      if (best == null || utility > bestUtility + 1e-9) {
        best = new Choice(c, threshold);
        bestUtility = utility;
      }
    }
    return best;
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
   * the next, so that a rescored answer a little off either still falls on its side. Early
   * deferral's savings at each such threshold are added as it falls: every running score above it
   * moves its answer's stop to that token or before ({@link Item#saved}).
   */
  static double best(List<Item> items, double value) {
    return best(items, value, 1.0);
  }

  /**
   * As above, among the thresholds that pass on at most {@code maxShare} of the weighted {@code
   * items} (passing on none always qualifies).
   */
  static double best(List<Item> items, double value, double maxShare) {
    List<Item> byScore = new ArrayList<>(items);
    byScore.sort(Comparator.comparingDouble(Item::score).reversed());
    // Each answer's running scores, highest first: (score, answer, tokens decoded once below it).
    List<double[]> stops = new ArrayList<>();
    int[] decoded = new int[byScore.size()];
    for (int n = 0; n < byScore.size(); n++) {
      double[] running = byScore.get(n).running();
      decoded[n] = running == null ? 0 : running.length;
      for (int t = 0; running != null && byScore.get(n).tokenCost() > 0 && t < running.length; t++) {
        stops.add(new double[] {running[t], n, t + 1});
      }
    }
    stops.sort(Comparator.comparingDouble((double[] e) -> e[0]).reversed());
    // Utility with nothing passed on, then the change as each tie group is passed on.
    double utility = 0;
    double total = 0;
    for (Item item : byScore) {
      utility += item.weight() * (item.tierCorrect() ? value : 0);
      total += item.weight();
    }
    double bestUtility = utility;
    double passedOn = 0;
    int bestK = 0;
    int k = 0;
    int stop = 0;
    double saved = 0;
    while (k < byScore.size()) {
      double score = byScore.get(k).score();
      while (k < byScore.size() && byScore.get(k).score() == score) {
        Item item = byScore.get(k);
        utility += item.weight() * ((item.nextCorrect() ? value : 0) - item.nextCost() - (item.tierCorrect() ? value : 0));
        passedOn += item.weight();
        k++;
      }
      if (passedOn > maxShare * total + SHARE_TOLERANCE * total) {
        break; // every lower threshold passes on more still
      }
      // Only answers passed on have running scores above the threshold (none is above its own score).
      double threshold = cut(byScore, k);
      for (; stop < stops.size() && stops.get(stop)[0] > threshold; stop++) {
        int n = (int) stops.get(stop)[1];
        Item item = byScore.get(n);
        if (item.score() > threshold) {
          int now = Math.min(decoded[n], (int) stops.get(stop)[2]);
          saved += item.weight() * item.tokenCost() * (decoded[n] - now);
          decoded[n] = now;
        }
      }
      if (utility + saved > bestUtility + 1e-9) {
        bestUtility = utility + saved;
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
   * The threshold in force on {@code items}: {@code threshold}, or under a target rate ({@code
   * targetRate} above 0) the one that rate amounts to on them. The explored requests count toward a
   * target, so the rule itself passes on (T − E)/(1 − E) of them, E the exploration rate.
   */
  public static double thresholdInForce(List<Item> items, double threshold, double targetRate, double exploration) {
    if (!(targetRate > 0) || items.isEmpty()) {
      return threshold;
    }
    double e = exploration;
    return thresholdForShare(items, e >= 1.0 ? 0.0 : Math.max(0.0, (targetRate - e) / (1 - e)));
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

  /**
   * Each outcome's weight factor for a half-life of {@code halfLife} outcomes: 0.5 to the power of
   * how many usable outcomes were created after it ({@code createdAtMs}; ties by the order given)
   * over {@code halfLife}, so that a choice leans towards recent traffic; all 1 for 0.
   */
  public static double[] halfLifeFactors(long[] createdAtMs, double halfLife) {
    if (!(halfLife >= 0) || Double.isInfinite(halfLife)) {
      throw new IllegalArgumentException("halfLife: must be 0 or above, and finite, was " + halfLife);
    }
    double[] factors = new double[createdAtMs.length];
    java.util.Arrays.fill(factors, 1.0);
    if (halfLife > 0) {
      Integer[] newestFirst = new Integer[createdAtMs.length];
      for (int n = 0; n < newestFirst.length; n++) {
        newestFirst[n] = n;
      }
      java.util.Arrays.sort(newestFirst, java.util.Comparator.comparingLong((Integer n) -> createdAtMs[n])
          .thenComparingInt(n -> n).reversed());
      for (int rank = 0; rank < newestFirst.length; rank++) {
        factors[newestFirst[rank]] = Math.pow(0.5, rank / halfLife);
      }
    }
    return factors;
  }
}
