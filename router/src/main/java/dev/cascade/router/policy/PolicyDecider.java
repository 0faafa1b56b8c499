package dev.cascade.router.policy;

import java.util.Objects;

/**
 * Turns a deferral score into a {@link Decision}.
 *
 * <p>Defer when {@code score > threshold}. Otherwise the request is explored (escalated anyway)
 * when its exploration draw is below the exploration rate, and accepted when not. The draw is a
 * pure function of the request id, a hash mapped to [0, 1), so a replay after a crash makes the
 * same choice on every instance, and the requests explored at one rate are a subset of those
 * explored at any higher rate. Stateless and thread-safe.
 */
public final class PolicyDecider {

  private PolicyDecider() {}

  /** The decision under {@code policy}'s fixed threshold and exploration rate. */
  public static Decision decide(String requestId, double score, DeferralPolicy policy) {
    Objects.requireNonNull(policy, "policy");
    return decide(requestId, score, policy.threshold(), policy.explorationRate());
  }

  /**
   * The decision under an explicit threshold, such as a {@link TargetRateController}'s.
   *
   * @param threshold defer when the score is strictly greater; may be ±∞ (−∞ defers every score)
   * @param explorationRate in [0, 1]
   * @throws IllegalArgumentException if the score or threshold is NaN or the rate is out of range;
   *     the message names the request
   */
  public static Decision decide(
      String requestId, double score, double threshold, double explorationRate) {
    return decide(requestId, score, threshold, explorationRate, false);
  }

  /**
   * As above, for a generation that {@code stoppedEarly} or not: a stopped one is a prefix, deferred
   * whatever its score (under a target rate the threshold can have risen past the stop threshold
   * its decoding was given, {@link TargetRateController#stopThresholdFor}); a prefix is never
   * served.
   */
  public static Decision decide(
      String requestId, double score, double threshold, double explorationRate, boolean stoppedEarly) {
    Objects.requireNonNull(requestId, "requestId");
    if (Double.isNaN(score)) {
      throw new IllegalArgumentException("score for request '" + requestId + "' is NaN");
    }
    if (Double.isNaN(threshold)) {
      throw new IllegalArgumentException("threshold for request '" + requestId + "' is NaN");
    }
    if (!(explorationRate >= 0.0 && explorationRate <= 1.0)) {
      throw new IllegalArgumentException(
          "explorationRate must be in [0, 1], was " + explorationRate + " (request '" + requestId + "')");
    }
    if (score > threshold || stoppedEarly) {
      return Decision.DEFER;
    }
    return explorationDraw(requestId) < explorationRate ? Decision.EXPLORE : Decision.ACCEPT;
  }

  /**
   * The request's exploration draw in [0, 1): FNV-1a (64-bit) over the id's UTF-8 bytes, mixed by
   * MurmurHash3's 64-bit finaliser, top 53 bits scaled by 2⁻⁵³. Fixed forever: changing it would
   * change which requests a replay explores.
   */
  static double explorationDraw(String requestId) {
    return StableHash.unit(requestId);
  }

}
