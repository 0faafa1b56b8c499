package dev.cascade.models;

/**
 * An {@link TextGenerator.EarlyStop} on a score of the tokens generated so far that can only grow
 * with each token: minus the sum of their log-probabilities (Chow-Sum) or minus the least of them
 * (Chow-Quantile at level 0). Every log-probability read is ≤ 0, so adding one to a running sum
 * never raises it and a minimum never rises: once the score of a prefix is above the threshold,
 * the score of any longer answer is too. A row stops after the token where the score first becomes
 * strictly greater than the threshold.
 *
 * <p>How a log-probability is read ({@link #read}) is the rule the router's feature extraction
 * uses ({@code FeatureExtractor.logprobValue}, in the router, which keeps its scoring free of this
 * module), so that the score a check keeps is the one the caller computes from the answer's
 * log-probabilities: −∞ as {@link #LOG_PROB_FLOOR}, float rounding above 0 (up to {@link
 * #ROUNDING_TOLERANCE}) as 0. A value it rejects (NaN, or larger positive) stops nothing from that
 * token on: the caller could not score such an answer either. The router's {@code
 * RunningLogprobScoreAgreementTest} holds the two to the same values and stop points.
 */
public final class RunningLogprobScore implements TextGenerator.EarlyStop {

  /** What −∞ is read as: the log of the smallest positive float, so every score stays finite. */
  public static final double LOG_PROB_FLOOR = Math.log(Float.MIN_VALUE);
  /** How far above 0 a log-probability may be and still be read (as 0): float rounding. */
  public static final double ROUNDING_TOLERANCE = 1e-4;

  private final boolean minimum;
  private final double threshold;

  private RunningLogprobScore(boolean minimum, double threshold) {
    if (Double.isNaN(threshold)) {
      throw new IllegalArgumentException("threshold must not be NaN");
    }
    this.minimum = minimum;
    this.threshold = threshold;
  }

  /** Stops once {@code −Σ log p} of the tokens so far is above {@code threshold}. */
  public static RunningLogprobScore sum(double threshold) {
    return new RunningLogprobScore(false, threshold);
  }

  /** Stops once {@code −min log p} of the tokens so far is above {@code threshold}. */
  public static RunningLogprobScore minimum(double threshold) {
    return new RunningLogprobScore(true, threshold);
  }

  /**
   * A log-probability as it is read: {@code −∞} as {@link #LOG_PROB_FLOOR}, a value in (0, {@link
   * #ROUNDING_TOLERANCE}] as 0; NaN for a value that is not a log-probability (NaN, or larger).
   */
  public static double read(float logprob) {
    if (logprob == Float.NEGATIVE_INFINITY) {
      return LOG_PROB_FLOOR;
    }
    if (Float.isNaN(logprob) || logprob > ROUNDING_TOLERANCE) {
      return Double.NaN;
    }
    return Math.min(0.0, logprob);
  }

  @Override
  public Check newCheck() {
    return new Running();
  }

  /** One row's running score. */
  private final class Running implements Check {
    /** Σ log p from 0, in token order; or min log p, +∞ before the first. */
    private double running = minimum ? Double.POSITIVE_INFINITY : 0.0;
    private boolean rejected;

    @Override
    public boolean afterToken(float logprob, float entropy) {
      double value = read(logprob);
      if (rejected || Double.isNaN(value)) {
        rejected = true;
        return false;
      }
      running = minimum ? Math.min(running, value) : running + value;
      return -running > threshold;
    }
  }
}
