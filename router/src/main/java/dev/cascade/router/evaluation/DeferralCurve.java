package dev.cascade.router.evaluation;

/**
 * A deferral curve: cascade accuracy when the {@code k} highest-scoring of {@code n} items are
 * deferred to the large model, for every {@code k = 0..n}. Point {@code k} sits at the deferred
 * fraction {@code k / n}; between points the curve is the straight line joining them. Point 0 is
 * the small model's accuracy, point {@code n} the large model's. Immutable.
 *
 * <p>Built by {@link CascadeEvaluation#curve(double[])}, which defines how tied scores are treated.
 */
public final class DeferralCurve {

  /** Slack for comparing accuracies that went through floating-point sums. */
  private static final double EPSILON = 1e-12;

  private final double[] accuracy;
  private final double aucDf;

  /** The curve through {@code accuracy}, whose trapezoid area {@code aucDf} the caller computed. */
  DeferralCurve(double[] accuracy, double aucDf) {
    this.accuracy = accuracy;
    this.aucDf = aucDf;
  }

  /** The number of items {@code n}; the curve has {@code n + 1} points. */
  public int items() {
    return accuracy.length - 1;
  }

  /** The cascade accuracy with the {@code k} highest-scoring items deferred, {@code k} in 0..n. */
  public double accuracy(int k) {
    if (k < 0 || k > items()) {
      throw new IndexOutOfBoundsException("k must be in [0, " + items() + "], was " + k);
    }
    return accuracy[k];
  }

  /** A copy of the accuracies at {@code k = 0..n} (for plotting against {@code k / n}). */
  public double[] accuracies() {
    return accuracy.clone();
  }

  /** The small model's accuracy: the curve at 0 deferred. */
  public double smallAccuracy() {
    return accuracy[0];
  }

  /** The large model's accuracy: the curve at everything deferred. */
  public double largeAccuracy() {
    return accuracy[items()];
  }

  /**
   * The cascade accuracy with {@code fraction} of the items deferred, read off the curve: linear
   * between the two points either side of {@code fraction · n}. So a 20% budget over 12 items sits
   * 0.4 of the way from point 2 to point 3.
   *
   * @throws IllegalArgumentException if fraction is not in [0, 1]
   */
  public double accuracyAt(double fraction) {
    if (!(fraction >= 0.0 && fraction <= 1.0)) {
      throw new IllegalArgumentException("fraction must be in [0, 1], was " + fraction);
    }
    double position = fraction * items();
    int below = (int) Math.floor(position);
    if (below >= items()) {
      return accuracy[items()];
    }
    double weight = position - below;
    return accuracy[below] + weight * (accuracy[below + 1] - accuracy[below]);
  }

  /**
   * AUC-DF: the area under the curve over the deferred fraction 0..1. The curve is straight between
   * points, so this is the trapezoid sum, exactly.
   */
  public double aucDf() {
    return aucDf;
  }

  /**
   * APGR, the average performance gap recovered: the mean over the curve (the deferred fraction
   * running uniformly over 0..1) of {@code (accuracy − small) / (large − small)}, which is {@code
   * (aucDf − small) / (large − small)}. Random deferral scores 0.5. When the two models are
   * equally accurate there is no gap to recover and APGR is defined as 0. When the large model is
   * the less accurate, the formula stands as it is (the gap is negative).
   */
  public double apgr() {
    double gap = largeAccuracy() - smallAccuracy();
    if (gap == 0.0) {
      return 0.0;
    }
    return (aucDf() - smallAccuracy()) / gap;
  }

  /**
   * CPT({@code share}): the smallest deferred fraction {@code k / n} at which the cascade accuracy
   * reaches {@code small + share · (large − small)}. Always defined for a share in [0, 1]: the
   * curve ends at the large model's accuracy. When the large model is no better than the small
   * one (including a gap of 0, e.g. both always right or both always wrong) the target is already
   * met at 0, and CPT is 0.
   *
   * @throws IllegalArgumentException if share is not in [0, 1]
   */
  public double cpt(double share) {
    if (!(share >= 0.0 && share <= 1.0)) {
      throw new IllegalArgumentException("share must be in [0, 1], was " + share);
    }
    double target = smallAccuracy() + share * (largeAccuracy() - smallAccuracy());
    for (int k = 0; k < accuracy.length; k++) {
      if (accuracy[k] >= target - EPSILON) {
        return (double) k / items();
      }
    }
    throw new AssertionError("the curve ends at the large model's accuracy, which meets " + target);
  }
}
