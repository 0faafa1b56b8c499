package dev.cascade.router.evaluation;

import java.util.Arrays;
import java.util.Comparator;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.stream.IntStream;

/**
 * Evaluates deferral rules on one labelled set: for each of {@code n} items, whether the small
 * model and the large model answered it correctly. A rule is given as one score per item, in item
 * order, higher meaning defer first. Immutable and thread-safe.
 *
 * <h2>The deferral curve and ties</h2>
 *
 * <p>Deferring the {@code k} highest-scoring items gives cascade accuracy {@code (Σ over deferred
 * of large-correct + Σ over the rest of small-correct) / n}. Items with equal scores form a tied
 * block that no rule can order; within a block the curve takes the average over every order of the
 * block, which is the straight line between the block's ends. So with {@code t} of a block's
 * {@code m} items deferred, it counts {@code t / m} of the block's total gain. A constant score (one
 * block) therefore gives random deferral's curve: the straight line from the small model's accuracy
 * to the large model's, with AUC-DF their mean.
 *
 * <h2>The oracle</h2>
 *
 * <p>The oracle defers the items the small model gets wrong and the large one right first, then
 * those where both agree, and last those the large model gets wrong and the small one right: the
 * highest curve any rule can reach at every {@code k}. It is the rule scored by {@link
 * #oracleScores()}.
 *
 * <h2>Degenerate sets</h2>
 *
 * <p>When both models are always wrong the random AUC-DF is 0 and the gain over random is defined
 * as 0%. When no rule can beat random (the oracle's AUC-DF equals random's, e.g. both models always
 * right or always wrong) the oracle share is defined as 0%. APGR and CPT are defined for a zero gap
 * in {@link DeferralCurve}. So no metric is ever NaN.
 */
public final class CascadeEvaluation {

  /** The number of resamples the evaluation uses by default for a paired bootstrap. */
  public static final int DEFAULT_RESAMPLES = 1000;

  private static final double EPSILON = 1e-12;

  private final boolean[] smallCorrect;
  private final double[] gain;
  private final int smallCount;
  private final double largeSum;
  private final double randomAucDf;
  private final double oracleAucDf;

  /**
   * @param smallCorrect per item, whether the small model's answer was correct
   * @param largeCorrect per item, whether the large model's answer was correct
   * @throws IllegalArgumentException if the arrays are empty or differ in length
   */
  public CascadeEvaluation(boolean[] smallCorrect, boolean[] largeCorrect) {
    this(smallCorrect, toDoubles(Objects.requireNonNull(largeCorrect, "largeCorrect")));
  }

  private CascadeEvaluation(boolean[] smallCorrect, double[] largeCorrect) {
    Objects.requireNonNull(smallCorrect, "smallCorrect");
    if (smallCorrect.length != largeCorrect.length) {
      throw new IllegalArgumentException(
          "smallCorrect has "
              + smallCorrect.length
              + " items but largeCorrect has "
              + largeCorrect.length);
    }
    if (smallCorrect.length == 0) {
      throw new IllegalArgumentException("there are no items to evaluate on");
    }
    this.smallCorrect = smallCorrect.clone();
    this.gain = new double[smallCorrect.length];
    int small = 0;
    double large = 0;
    for (int i = 0; i < smallCorrect.length; i++) {
      if (!Double.isFinite(largeCorrect[i])) {
        throw new IllegalArgumentException("largeCorrect[" + i + "] must be finite, was " + largeCorrect[i]);
      }
      small += smallCorrect[i] ? 1 : 0;
      large += largeCorrect[i];
      gain[i] = largeCorrect[i] - (smallCorrect[i] ? 1 : 0);
    }
    this.smallCount = small;
    this.largeSum = large;
    // Through the same arithmetic as every rule, so a constant score shows exactly 0% gain.
    this.randomAucDf = aucDf(new double[gain.length]);
    this.oracleAucDf = aucDf(gain);
  }

  /**
   * An evaluation where the large model's correctness of an item is an unbiased estimate rather
   * than an observation: a number that may lie outside [0, 1], e.g. the doubly robust pseudo-outcome
   * of an item the large model did not answer. Every AUC-DF and paired bootstrap is linear in these
   * values for a fixed ordering, so they stay unbiased; the oracle, built from the estimates, is not
   * meaningful.
   *
   * @param largeCorrect per item, the estimate of the large model's correctness (finite)
   */
  public static CascadeEvaluation withEstimatedLarge(boolean[] smallCorrect, double[] largeCorrect) {
    return new CascadeEvaluation(smallCorrect, Objects.requireNonNull(largeCorrect, "largeCorrect").clone());
  }

  private static double[] toDoubles(boolean[] values) {
    double[] out = new double[values.length];
    for (int i = 0; i < values.length; i++) {
      out[i] = values[i] ? 1 : 0;
    }
    return out;
  }

  /** The number of items. */
  public int size() {
    return gain.length;
  }

  /** The small model's accuracy alone (nothing deferred). */
  public double smallAccuracy() {
    return (double) smallCount / size();
  }

  /** The large model's accuracy alone (everything deferred). */
  public double largeAccuracy() {
    return largeSum / size();
  }

  /**
   * The deferral curve of a rule, with ties treated as the class comment says.
   *
   * @throws IllegalArgumentException if the scores do not number one per item or one is NaN
   */
  public DeferralCurve curve(double[] scores) {
    Ordering ordering = Ordering.of(scores, size());
    int n = size();
    double[] accuracy = new double[n + 1];
    accuracy[0] = (double) smallCount / n;
    double before = 0.0;
    for (int block = 0; block < ordering.blockEnds.length; block++) {
      int start = block == 0 ? 0 : ordering.blockEnds[block - 1];
      int end = ordering.blockEnds[block];
      double blockGain = 0.0;
      for (int p = start; p < end; p++) {
        blockGain += gain[ordering.order[p]];
      }
      int m = end - start;
      for (int t = 1; t < m; t++) {
        accuracy[start + t] = (smallCount + before + blockGain * t / m) / n;
      }
      before += blockGain;
      accuracy[end] = (smallCount + before) / n;
    }
    return new DeferralCurve(accuracy, weightedAucDf(ordering, null, null));
  }

  /** AUC-DF of a rule: {@code curve(scores).aucDf()} without building the curve. */
  public double aucDf(double[] scores) {
    return weightedAucDf(Ordering.of(scores, size()), null, null);
  }

  /** AUC-DF of random deferral: the mean of the small and the large model's accuracy. */
  public double randomAucDf() {
    return randomAucDf;
  }

  /**
   * The oracle's scores: 1 where only the large model is right, 0 where the models agree, −1 where
   * only the small one is right.
   */
  public double[] oracleScores() {
    return gain.clone();
  }

  /** AUC-DF of the oracle, the highest any rule can reach. */
  public double oracleAucDf() {
    return oracleAucDf;
  }

  /**
   * A rule's summary metrics: AUC-DF, gain over random, oracle share, APGR, CPT at 50/80/95% and
   * accuracy at a 20% budget.
   *
   * @throws IllegalArgumentException if the scores do not number one per item or one is NaN
   */
  public RuleMetrics metrics(double[] scores) {
    DeferralCurve curve = curve(scores);
    double auc = curve.aucDf();
    double random = randomAucDf;
    double oracle = oracleAucDf;
    double gainOverRandom = random == 0.0 ? 0.0 : 100.0 * (auc - random) / random;
    double oracleShare = oracle - random <= EPSILON ? 0.0 : 100.0 * (auc - random) / (oracle - random);
    return new RuleMetrics(
        auc,
        gainOverRandom,
        oracleShare,
        curve.apgr(),
        curve.cpt(0.50),
        curve.cpt(0.80),
        curve.cpt(0.95),
        curve.accuracyAt(0.20));
  }

  /**
   * Compares two rules' AUC-DF by a paired bootstrap: {@code resamples} times, draw {@code n} items
   * with replacement (the same draw for both rules), and take AUC-DF(A) − AUC-DF(B) on the draw.
   * The interval is the percentile interval: the 2.5th and 97.5th percentiles (linear
   * interpolation between order statistics) of those differences. A resampled item keeps its
   * score, so copies of one item form a tied block. Deterministic for a given seed.
   *
   * @param resamples at least 1; {@link #DEFAULT_RESAMPLES} is the usual choice
   * @throws IllegalArgumentException if the scores do not number one per item, one is NaN, or
   *     resamples is below 1
   */
  public BootstrapComparison pairedBootstrap(
      double[] scoresA, double[] scoresB, int resamples, long seed) {
    return pairedBootstrap(scoresA, scoresB, null, resamples, seed);
  }

  /**
   * AUC-DF with each item weighted, e.g. by the inverse of the probability that it was labelled
   * (Horvitz-Thompson): the curve of the population the labelled items stand for.
   *
   * @param itemWeights one positive weight per item, or null for all 1
   */
  public double aucDf(double[] scores, double[] itemWeights) {
    checkWeights(itemWeights);
    return weightedAucDf(Ordering.of(scores, size()), null, itemWeights);
  }

  /**
   * As {@link #pairedBootstrap(double[], double[], int, long)} with each item weighted: the items
   * are resampled uniformly (the resampling unit is the labelled item), and each drawn copy counts
   * with its weight, so the interval covers the weighted estimator's own variance, including the
   * variance large weights add.
   *
   * @param itemWeights one positive weight per item, or null for all 1
   */
  public BootstrapComparison pairedBootstrap(
      double[] scoresA, double[] scoresB, double[] itemWeights, int resamples, long seed) {
    checkWeights(itemWeights);
    if (resamples < 1) {
      throw new IllegalArgumentException("resamples must be >= 1, was " + resamples);
    }
    Ordering a = Ordering.of(scoresA, size());
    Ordering b = Ordering.of(scoresB, size());
    double delta = weightedAucDf(a, null, itemWeights) - weightedAucDf(b, null, itemWeights);
    SplittableRandom random = new SplittableRandom(seed);
    int n = size();
    int[] weights = new int[n];
    double[] differences = new double[resamples];
    for (int r = 0; r < resamples; r++) {
      Arrays.fill(weights, 0);
      for (int i = 0; i < n; i++) {
        weights[random.nextInt(n)]++;
      }
      differences[r] = weightedAucDf(a, weights, itemWeights) - weightedAucDf(b, weights, itemWeights);
    }
    Arrays.sort(differences);
    return new BootstrapComparison(
        delta, percentile(differences, 0.025), percentile(differences, 0.975));
  }

  /**
   * AUC-DF with item {@code i} counted {@code weights[i]} times (all once when null). With {@code
   * N} the total weight, {@code S} the small model's weighted accuracy, and a tied block of weight
   * {@code m} and gain {@code G} after weight {@code a}: {@code AUC = S + Σ_blocks G · (N − a −
   * m/2) / N²}, which is the trapezoid area of the curve {@link #curve} builds.
   */
  double weightedAucDf(Ordering ordering, int[] weights, double[] itemWeights) {
    double total = 0.0;
    double small = 0.0;
    double totalGain = 0.0;
    double lostArea = 0.0; // Σ G · (a + m/2): the area a block's gain misses by coming late
    int start = 0;
    for (int end : ordering.blockEnds) {
      double blockWeight = 0.0;
      double blockGain = 0.0;
      for (int p = start; p < end; p++) {
        int item = ordering.order[p];
        double w = (weights == null ? 1 : weights[item]) * (itemWeights == null ? 1.0 : itemWeights[item]);
        blockWeight += w;
        blockGain += w * gain[item];
        small += smallCorrect[item] ? w : 0;
      }
      lostArea += blockGain * (total + blockWeight / 2.0);
      totalGain += blockGain;
      total += blockWeight;
      start = end;
    }
    return small / total + (totalGain * total - lostArea) / (total * total);
  }

  private void checkWeights(double[] itemWeights) {
    if (itemWeights == null) {
      return;
    }
    if (itemWeights.length != size()) {
      throw new IllegalArgumentException(
          "weights must hold one value per item (" + size() + "), held " + itemWeights.length);
    }
    for (int i = 0; i < itemWeights.length; i++) {
      if (!(itemWeights[i] > 0) || Double.isInfinite(itemWeights[i])) {
        throw new IllegalArgumentException("weights[" + i + "] must be positive and finite, was " + itemWeights[i]);
      }
    }
  }

  private static double percentile(double[] sorted, double level) {
    double position = level * (sorted.length - 1);
    int below = (int) Math.floor(position);
    if (below >= sorted.length - 1) {
      return sorted[sorted.length - 1];
    }
    double weight = position - below;
    return sorted[below] + weight * (sorted[below + 1] - sorted[below]);
  }

  /** The items in descending score order, cut into blocks of equal scores. */
  static final class Ordering {
    final int[] order;
    final int[] blockEnds;

    private Ordering(int[] order, int[] blockEnds) {
      this.order = order;
      this.blockEnds = blockEnds;
    }

    static Ordering of(double[] scores, int n) {
      Objects.requireNonNull(scores, "scores");
      if (scores.length != n) {
        throw new IllegalArgumentException(
            "scores must hold one value per item (" + n + "), held " + scores.length);
      }
      for (int i = 0; i < n; i++) {
        if (Double.isNaN(scores[i])) {
          throw new IllegalArgumentException("scores[" + i + "] is NaN");
        }
      }
      // + 0.0 turns −0.0 into 0.0, so the two zeros tie as they compare equal.
      int[] order =
          IntStream.range(0, n)
              .boxed()
              .sorted(Comparator.comparingDouble((Integer i) -> scores[i] + 0.0).reversed())
              .mapToInt(Integer::intValue)
              .toArray();
      int[] ends = new int[n];
      int blocks = 0;
      for (int p = 1; p <= n; p++) {
        if (p == n || scores[order[p]] != scores[order[p - 1]]) {
          ends[blocks++] = p;
        }
      }
      return new Ordering(order, Arrays.copyOf(ends, blocks));
    }
  }
}
