package dev.cascade.router.policy;

import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * Picks, offline, the threshold that defers a target fraction of a sample of scores (for example
 * the validation split's), under the rule "defer when {@code score > threshold}".
 *
 * <p>With the scores sorted descending {@code s[0] ≥ s[1] ≥ … ≥ s[n−1]} and {@code k = ⌊fraction ·
 * n⌋} (guarded by 1e-9 against binary rounding, so 0.3 of 10 is 3), the threshold is the midpoint
 * {@code (s[k−1] + s[k]) / 2}, which defers exactly the top {@code k} when they are distinct and
 * sits halfway in the gap so that new scores fall on either side evenly. Edge cases: {@code k = 0}
 * gives {@code s[0]} (nothing is strictly greater), {@code k = n} gives the largest double below
 * {@code s[n−1]} (everything is). When {@code s[k−1] = s[k]}, the tied block stays on the accept
 * side: the calibrated fraction never exceeds the target on the sample, and may fall short of it.
 */
public final class ThresholdCalibrator {

  private ThresholdCalibrator() {}

  /** {@link #threshold(double[], double)} over a list. */
  public static double threshold(List<Double> scores, double fraction) {
    Objects.requireNonNull(scores, "scores");
    double[] values = new double[scores.size()];
    for (int i = 0; i < values.length; i++) {
      values[i] = Objects.requireNonNull(scores.get(i), () -> "scores contains null");
    }
    return threshold(values, fraction);
  }

  /**
   * The threshold that defers {@code fraction} of {@code scores}; always finite.
   *
   * @param fraction in [0, 1]
   * @throws IllegalArgumentException if there are no scores, a score is not finite (the message
   *     names its index), or the fraction is out of range
   */
  public static double threshold(double[] scores, double fraction) {
    Objects.requireNonNull(scores, "scores");
    if (!(fraction >= 0.0 && fraction <= 1.0)) {
      throw new IllegalArgumentException("fraction must be in [0, 1], was " + fraction);
    }
    if (scores.length == 0) {
      throw new IllegalArgumentException("scores is empty: nothing to calibrate on");
    }
    double[] sorted = new double[scores.length];
    for (int i = 0; i < scores.length; i++) {
      if (!Double.isFinite(scores[i])) {
        throw new IllegalArgumentException("scores[" + i + "] must be finite, was " + scores[i]);
      }
      sorted[i] = -scores[i];
    }
    Arrays.sort(sorted); // ascending negatives: sorted[i] = −s[i] with s descending
    int n = sorted.length;
    int k = (int) Math.floor(fraction * n + 1e-9);
    if (k == 0) {
      return -sorted[0];
    }
    if (k == n) {
      return Math.nextDown(-sorted[n - 1]);
    }
    return between(-sorted[k - 1], -sorted[k]);
  }

  /**
   * The threshold that defers {@code fraction} of the total weight of {@code scores}, each score
   * counting {@code weights[i]} times (e.g. the inverse of the probability that it was sampled):
   * with the scores sorted descending, {@code k} is the largest count whose weights sum to at most
   * {@code fraction} of the total (1e-9 relative slack), and the threshold is placed as in
   * {@link #threshold(double[], double)}, tied blocks again on the accept side. With every weight 1
   * it is that method's threshold.
   *
   * @param weights one positive, finite weight per score
   * @throws IllegalArgumentException as {@link #threshold(double[], double)}, or if the weights do
   *     not number one per score or one is not positive and finite (the message names its index)
   */
  public static double threshold(double[] scores, double[] weights, double fraction) {
    Objects.requireNonNull(scores, "scores");
    Objects.requireNonNull(weights, "weights");
    if (weights.length != scores.length) {
      throw new IllegalArgumentException(
          weights.length + " weights for " + scores.length + " scores: there must be one per score");
    }
    if (!(fraction >= 0.0 && fraction <= 1.0)) {
      throw new IllegalArgumentException("fraction must be in [0, 1], was " + fraction);
    }
    if (scores.length == 0) {
      throw new IllegalArgumentException("scores is empty: nothing to calibrate on");
    }
    double total = 0.0;
    for (int i = 0; i < scores.length; i++) {
      if (!Double.isFinite(scores[i])) {
        throw new IllegalArgumentException("scores[" + i + "] must be finite, was " + scores[i]);
      }
      if (!(weights[i] > 0.0) || Double.isInfinite(weights[i])) {
        throw new IllegalArgumentException("weights[" + i + "] must be positive and finite, was " + weights[i]);
      }
      total += weights[i];
    }
    Integer[] order = new Integer[scores.length];
    for (int i = 0; i < order.length; i++) {
      order[i] = i;
    }
    Arrays.sort(order, (a, b) -> Double.compare(scores[b] + 0.0, scores[a] + 0.0)); // descending
    int n = order.length;
    double budget = fraction * total * (1 + 1e-9);
    int k = 0;
    double deferred = 0.0;
    while (k < n && deferred + weights[order[k]] <= budget) {
      deferred += weights[order[k]];
      k++;
    }
    if (k == 0) {
      return scores[order[0]];
    }
    if (k == n) {
      return Math.nextDown(scores[order[n - 1]]);
    }
    return between(scores[order[k - 1]], scores[order[k]]);
  }

  /** Halfway from {@code below} to {@code above} (at least {@code below}): defers the first, accepts the second. */
  private static double between(double above, double below) {
    double midpoint = below / 2.0 + above / 2.0;
    return midpoint < above ? midpoint : below; // adjacent doubles have no midpoint between them
  }
}
