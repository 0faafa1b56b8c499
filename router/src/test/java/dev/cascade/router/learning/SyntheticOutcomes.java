package dev.cascade.router.learning;

import dev.cascade.router.features.UncertaintyFeatures;
import dev.cascade.schemas.avro.Decision;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.avro.ServedBy;
import dev.cascade.schemas.avro.StageLatencies;
import java.util.HashMap;
import java.util.Map;

/** Routing outcomes built by hand, as the router writes them. */
public final class SyntheticOutcomes {

  private SyntheticOutcomes() {}

  /**
   * A labelled outcome whose benefit a learned rule can see and Chow-Sum sees poorly: deferring
   * helps where the median token log-prob is low, whatever the length. Deferred under Chow-Sum at
   * 12 (so both models' correctness is known) and labelled by a reference.
   */
  public static RoutingOutcome learnable(java.util.SplittableRandom random, String id) {
    UncertaintyFeatures features = SyntheticExamples.randomFeatures(random);
    boolean helps = features.logprobQuantile(0.5) < -1.0;
    boolean bothRight = !helps && random.nextInt(3) != 0;
    return RoutingOutcome.newBuilder()
        .setRequestId(id).setPrompt("synthetic prompt " + id)
        .setSmallText(helps || !bothRight ? "wrong" : "right").setFeatures(new HashMap<>(features.asMap()))
        .setRule("chow-sum").setScore(-features.logprobSum()).setThreshold(12).setPolicyVersion(0)
        .setDecision(Decision.DEFER).setPropensity(1.0).setServedBy(ServedBy.LARGE)
        .setLargeText(helps || bothRight ? "right" : "also wrong").setReference("right")
        .setSmallCorrect(!helps && bothRight).setLargeCorrect(helps || bothRight)
        .setLatencies(StageLatencies.newBuilder().build()).setCreatedAtMs(0).setCompletedAtMs(0).build();
  }

  /** An accepted request without a reference, scored by chow-sum (score 0, threshold 0). */
  static RoutingOutcome.Builder accepted(String id, UncertaintyFeatures features) {
    return RoutingOutcome.newBuilder()
        .setRequestId(id).setPrompt("prompt " + id).setSmallText("small")
        .setFeatures(new HashMap<>(features.asMap()))
        .setRule("chow-sum").setScore(0).setThreshold(0).setPolicyVersion(1)
        .setDecision(Decision.ACCEPT).setServedBy(ServedBy.SMALL)
        .setLatencies(StageLatencies.newBuilder().build()).setCreatedAtMs(0).setCompletedAtMs(0);
  }

  /**
   * An escalated request with a reference: both answers checked.
   *
   * @param propensity 1 for a deferral, the exploration rate for an explored request; null for a
   *     record written before propensities were recorded
   */
  public static RoutingOutcome.Builder checked(String id, UncertaintyFeatures features, boolean smallCorrect,
      boolean largeCorrect, Double propensity, Map<String, Double> shadows) {
    return accepted(id, features)
        .setDecision(propensity == null || propensity == 1.0 ? Decision.DEFER : Decision.EXPLORE)
        .setServedBy(ServedBy.LARGE).setLargeText("large").setReference("reference")
        .setSmallCorrect(smallCorrect).setLargeCorrect(largeCorrect)
        .setPropensity(propensity).setShadowScores(new HashMap<>(shadows));
  }
}
