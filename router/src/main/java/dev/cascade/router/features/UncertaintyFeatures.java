package dev.cascade.router.features;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The uncertainty features of one generation: quantiles of its token log-probabilities at the
 * levels 0, 0.1, …, 1 (level 0 is the least confident token), their sum and mean, the number of
 * tokens, and the quantiles of the per-step entropy at the same levels.
 *
 * <p>Immutable: the arrays are copied in and out. Every value is finite. {@link #toVector()},
 * {@link #names()} and {@link #asMap()} list the 25 features in one fixed order:
 * {@code lp_q0, lp_q10, …, lp_q100, lp_sum, lp_mean, length, ent_q0, ent_q10, …, ent_q100}.
 *
 * @param logprobQuantiles the token log-prob quantiles at levels {@code i / 10}, {@code i = 0..10}
 * @param logprobSum the sum of the token log-probs (the sequence log-probability)
 * @param logprobMean the mean token log-prob ({@code logprobSum / length}; 0 when length is 0)
 * @param length the number of generated tokens
 * @param entropyQuantiles the per-step entropy quantiles at levels {@code i / 10}
 */
public record UncertaintyFeatures(
    double[] logprobQuantiles,
    double logprobSum,
    double logprobMean,
    int length,
    double[] entropyQuantiles) {

  /** The number of quantile levels: 0, 0.1, …, 1. */
  public static final int QUANTILE_COUNT = 11;

  private static final List<String> NAMES = buildNames();

  /**
   * Validates and copies.
   *
   * @throws NullPointerException if an array is null
   * @throws IllegalArgumentException if an array does not hold {@link #QUANTILE_COUNT} values, a
   *     value is not finite, or length is negative; the message names the field
   */
  public UncertaintyFeatures {
    logprobQuantiles = checkedQuantiles("logprobQuantiles", logprobQuantiles);
    entropyQuantiles = checkedQuantiles("entropyQuantiles", entropyQuantiles);
    requireFinite("logprobSum", logprobSum);
    requireFinite("logprobMean", logprobMean);
    if (length < 0) {
      throw new IllegalArgumentException("length must be >= 0, was " + length);
    }
  }

  /** A copy of the token log-prob quantiles at levels 0, 0.1, …, 1. */
  @Override
  public double[] logprobQuantiles() {
    return logprobQuantiles.clone();
  }

  /** A copy of the per-step entropy quantiles at levels 0, 0.1, …, 1. */
  @Override
  public double[] entropyQuantiles() {
    return entropyQuantiles.clone();
  }

  /**
   * The token log-prob quantile at any level {@code alpha} in [0, 1]. On the grid 0, 0.1, …, 1 it
   * is the stored value exactly; between two grid levels it is linearly interpolated between their
   * stored quantiles. That equals the type-7 quantile of the raw log-probs whenever {@code length −
   * 1} divides 10 (length 1, 2, 3, 6 or 11) and is a piecewise-linear approximation of it otherwise
   * (exact at the grid, monotone in alpha, between the two neighbouring grid quantiles).
   *
   * @throws IllegalArgumentException if alpha is not in [0, 1]
   */
  public double logprobQuantile(double alpha) {
    if (!(alpha >= 0.0 && alpha <= 1.0)) {
      throw new IllegalArgumentException("alpha must be in [0, 1], was " + alpha);
    }
    double position = alpha * (QUANTILE_COUNT - 1);
    long nearest = Math.round(position);
    if (Math.abs(position - nearest) < 1e-9) {
      return logprobQuantiles[(int) nearest];
    }
    int below = (int) Math.floor(position);
    double fraction = position - below;
    return logprobQuantiles[below] + fraction * (logprobQuantiles[below + 1] - logprobQuantiles[below]);
  }

  /** The 25 features as a vector, in the order of {@link #names()}. */
  public double[] toVector() {
    double[] vector = new double[NAMES.size()];
    System.arraycopy(logprobQuantiles, 0, vector, 0, QUANTILE_COUNT);
    vector[QUANTILE_COUNT] = logprobSum;
    vector[QUANTILE_COUNT + 1] = logprobMean;
    vector[QUANTILE_COUNT + 2] = length;
    System.arraycopy(entropyQuantiles, 0, vector, QUANTILE_COUNT + 3, QUANTILE_COUNT);
    return vector;
  }

  /**
   * The feature names, in the order of {@link #toVector()}: {@code lp_q0, lp_q10, …, lp_q100,
   * lp_sum, lp_mean, length, ent_q0, …, ent_q100}. Unmodifiable.
   */
  public static List<String> names() {
    return NAMES;
  }

  /** The features as an insertion-ordered, unmodifiable name → value map (the outcome record's form). */
  public Map<String, Double> asMap() {
    double[] vector = toVector();
    Map<String, Double> map = new LinkedHashMap<>();
    for (int i = 0; i < vector.length; i++) {
      map.put(NAMES.get(i), vector[i]);
    }
    return Collections.unmodifiableMap(map);
  }

  /**
   * Rebuilds features from a name → value map, the inverse of {@link #asMap()}. Keys other than
   * the 25 in {@link #names()} are ignored, so a map that also carries newer features still reads.
   *
   * @throws IllegalArgumentException if a feature is missing or null (the message names it), or a
   *     value is invalid as in the canonical constructor ({@code length} must be a whole number)
   */
  public static UncertaintyFeatures fromMap(Map<String, Double> map) {
    Objects.requireNonNull(map, "map");
    double[] vector = new double[NAMES.size()];
    for (int i = 0; i < vector.length; i++) {
      String name = NAMES.get(i);
      Double value = map.get(name);
      if (value == null) {
        throw new IllegalArgumentException(
            "feature '" + name + "' is missing from the map (present: " + map.keySet() + ")");
      }
      vector[i] = value;
    }
    double length = vector[QUANTILE_COUNT + 2];
    if (!(length >= 0 && length <= Integer.MAX_VALUE && length == Math.rint(length))) {
      throw new IllegalArgumentException("feature 'length' must be a whole number >= 0, was " + length);
    }
    return new UncertaintyFeatures(
        Arrays.copyOfRange(vector, 0, QUANTILE_COUNT),
        vector[QUANTILE_COUNT],
        vector[QUANTILE_COUNT + 1],
        (int) length,
        Arrays.copyOfRange(vector, QUANTILE_COUNT + 3, vector.length));
  }

  @Override
  public boolean equals(Object other) {
    return other instanceof UncertaintyFeatures that
        && Arrays.equals(toVector(), that.toVector());
  }

  @Override
  public int hashCode() {
    return Arrays.hashCode(toVector());
  }

  @Override
  public String toString() {
    return "UncertaintyFeatures" + asMap();
  }

  private static List<String> buildNames() {
    List<String> names = new ArrayList<>();
    for (int i = 0; i < QUANTILE_COUNT; i++) {
      names.add("lp_q" + i * 10);
    }
    names.add("lp_sum");
    names.add("lp_mean");
    names.add("length");
    for (int i = 0; i < QUANTILE_COUNT; i++) {
      names.add("ent_q" + i * 10);
    }
    return List.copyOf(names);
  }

  private static double[] checkedQuantiles(String field, double[] values) {
    Objects.requireNonNull(values, field);
    if (values.length != QUANTILE_COUNT) {
      throw new IllegalArgumentException(
          field + " must hold " + QUANTILE_COUNT + " values, held " + values.length);
    }
    for (int i = 0; i < values.length; i++) {
      requireFinite(field + "[" + i + "]", values[i]);
    }
    return values.clone();
  }

  private static void requireFinite(String field, double value) {
    if (!Double.isFinite(value)) {
      throw new IllegalArgumentException(field + " must be finite, was " + value);
    }
  }
}
