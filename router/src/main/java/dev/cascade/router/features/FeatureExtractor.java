package dev.cascade.router.features;

import java.util.Arrays;
import java.util.Objects;

/**
 * Computes the {@link UncertaintyFeatures} of one generation from its token log-probabilities and
 * per-step entropies. Stateless and thread-safe.
 *
 * <h2>Quantiles</h2>
 *
 * <p>Quantiles are Hyndman and Fan's type 7 (the default of R, NumPy and pandas): linear
 * interpolation between order statistics. With the values sorted ascending as {@code x[0] ≤ … ≤
 * x[n−1]} and {@code h = (n − 1)·p}, the quantile at level {@code p} is {@code x[⌊h⌋] + (h −
 * ⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋])}. So level 0 is the minimum (for log-probs: the least confident
 * token), level 1 the maximum, and level 0.5 the median.
 *
 * <h2>Inputs</h2>
 *
 * <ul>
 *   <li>A log-prob must be ≤ 0. A value in (0, {@value #ROUNDING_TOLERANCE}] is float rounding and
 *       is read as 0; {@code −∞} (a probability that underflowed) is floored to {@link
 *       #LOG_PROB_FLOOR}, so every feature is finite. NaN or a larger positive value is rejected.
 *   <li>An entropy must be ≥ 0 and finite; a value in [−{@value #ROUNDING_TOLERANCE}, 0) is read
 *       as 0. Anything else is rejected.
 * </ul>
 *
 * <h2>An empty generation</h2>
 *
 * <p>With no tokens (length 0) every feature is 0: the sum is the empty sum, and the mean and the
 * quantiles, undefined over no values, take the same value. For the Chow rules that is the score
 * of a fully confident answer; a learned rule sees {@code length = 0} and can learn otherwise.
 */
public final class FeatureExtractor {

  /** The floor for a log-prob of −∞: {@code ln(Float.MIN_VALUE)} ≈ −103.28. */
  public static final double LOG_PROB_FLOOR = Math.log(Float.MIN_VALUE);

  /** How far past its bound (0) a log-prob or entropy may be and still be read as float rounding. */
  public static final double ROUNDING_TOLERANCE = 1e-4;

  private FeatureExtractor() {}

  /**
   * The features of one generation.
   *
   * @param tokenLogprobs the log-probability of each generated token, in generation order
   * @param entropies the entropy (in nats) of the next-token distribution at each step, one per
   *     token
   * @throws NullPointerException if an array is null
   * @throws IllegalArgumentException if the arrays differ in length, or a value is out of range
   *     (the message names the array, the index and the value)
   */
  public static UncertaintyFeatures extract(float[] tokenLogprobs, float[] entropies) {
    Objects.requireNonNull(tokenLogprobs, "tokenLogprobs");
    Objects.requireNonNull(entropies, "entropies");
    if (tokenLogprobs.length != entropies.length) {
      throw new IllegalArgumentException(
          "tokenLogprobs and entropies must have one value per token, but tokenLogprobs has "
              + tokenLogprobs.length
              + " and entropies has "
              + entropies.length);
    }
    int length = tokenLogprobs.length;
    double[] logprobs = new double[length];
    double[] entropy = new double[length];
    double sum = 0.0;
    for (int i = 0; i < length; i++) {
      logprobs[i] = checkedLogprob(i, tokenLogprobs[i]);
      entropy[i] = checkedEntropy(i, entropies[i]);
      sum += logprobs[i];
    }
    double mean = length == 0 ? 0.0 : sum / length;
    return new UncertaintyFeatures(quantiles(logprobs), sum, mean, length, quantiles(entropy));
  }

  /**
   * The type-7 quantiles at levels 0, 0.1, …, 1 of {@code values}; all zero when it is empty.
   * Sorts {@code values} in place.
   */
  static double[] quantiles(double[] values) {
    double[] result = new double[UncertaintyFeatures.QUANTILE_COUNT];
    if (values.length == 0) {
      return result;
    }
    Arrays.sort(values);
    int steps = UncertaintyFeatures.QUANTILE_COUNT - 1;
    for (int level = 0; level <= steps; level++) {
      // h = (n − 1)·level/steps, computed so that a whole h comes out exact.
      long numerator = (long) (values.length - 1) * level;
      int below = (int) (numerator / steps);
      double fraction = (double) (numerator % steps) / steps;
      result[level] =
          fraction == 0.0
              ? values[below]
              : values[below] + fraction * (values[below + 1] - values[below]);
    }
    return result;
  }

  /**
   * A log-prob as {@link #extract} reads it: {@code −∞} floored to {@link #LOG_PROB_FLOOR}, float
   * rounding above 0 read as 0; NaN for a value it rejects. Public so that a running score over
   * the tokens so far ({@code EarlyDeferral}) reads each one exactly as the final computation will.
   */
  public static double logprobValue(float value) {
    if (value == Float.NEGATIVE_INFINITY) {
      return LOG_PROB_FLOOR;
    }
    if (Float.isNaN(value) || value > ROUNDING_TOLERANCE) {
      return Double.NaN;
    }
    return Math.min(0.0, value);
  }

  /** An entropy as {@link #extract} reads it (float rounding below 0 read as 0); NaN for a value it rejects. */
  public static double entropyValue(float value) {
    if (Float.isNaN(value) || Float.isInfinite(value) || value < -ROUNDING_TOLERANCE) {
      return Double.NaN;
    }
    return Math.max(0.0, value);
  }

  private static double checkedLogprob(int index, float value) {
    double read = logprobValue(value);
    if (Double.isNaN(read)) {
      throw new IllegalArgumentException(
          "tokenLogprobs[" + index + "] = " + value + " is not a log-probability (must be <= 0)");
    }
    return read;
  }

  private static double checkedEntropy(int index, float value) {
    double read = entropyValue(value);
    if (Double.isNaN(read)) {
      throw new IllegalArgumentException(
          "entropies[" + index + "] = " + value + " is not an entropy (must be finite and >= 0)");
    }
    return read;
  }
}
