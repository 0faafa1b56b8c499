package dev.cascade.router.learning;

import dev.cascade.router.features.UncertaintyFeatures;
import dev.cascade.router.policy.TierPolicy;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.avro.TierAnswer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Requests reaching a middle tier (tier 1, "medium") and the outcomes the router writes for them:
 * medium's Chow-Sum score is exponential with mean 3, medium is right with probability
 * exp(−score / 3), large with 0.75; medium's call costs 4, large's {@link #LARGE_COST}.
 */
public final class SyntheticTierOutcomes {

  public static final double LARGE_COST = 10;

  private SyntheticTierOutcomes() {}

  /** One request reaching medium: its Chow-Sum score, and whether medium and large are right. */
  public record Request(String id, double score, boolean medium, boolean large) {}

  /** {@code n} requests, ids {@code idPrefix + i}. */
  public static List<Request> population(int n, long seed, String idPrefix) {
    SplittableRandom random = new SplittableRandom(seed);
    List<Request> requests = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      double score = -3 * Math.log(1 - random.nextDouble());
      requests.add(new Request(idPrefix + i, score, random.nextDouble() < Math.exp(-score / 3),
          random.nextDouble() < 0.75));
    }
    return requests;
  }

  /**
   * The outcome the router writes for {@code r}: medium's answer, passed on where its score is above
   * {@code ruleThreshold} (the policy's, or under a target rate the controller's) or {@code policy}'s
   * exploration draws it, and large's answer where passed on.
   */
  public static RoutingOutcome outcome(Request r, TierPolicy policy, double ruleThreshold) {
    boolean ruleDefers = r.score() > ruleThreshold;
    boolean explored = !ruleDefers && policy.explores(r.id(), 1);
    TierAnswer medium = TierAnswer.newBuilder().setTier(1).setModel("medium")
        .setText(r.medium() ? "ref" : "medium-wrong").setTokens(List.of(5)).setTokenLogprobs(List.of((float) -r.score()))
        .setRule("chow-sum").setScore((double) (float) r.score()).setThreshold(ruleThreshold).setCostUnits(4)
        .setDeferred(ruleDefers || explored).setExplored(explored)
        .setPropensity(ruleDefers ? 1.0 : policy.explorationRate()).build();
    List<TierAnswer> answers = new ArrayList<>(List.of(medium));
    if (ruleDefers || explored) {
      answers.add(TierAnswer.newBuilder().setTier(2).setModel("large").setText(r.large() ? "ref" : "large-wrong")
          .setCostUnits(LARGE_COST).build());
    }
    UncertaintyFeatures features = SyntheticExamples.randomFeatures(new SplittableRandom(1));
    return SyntheticOutcomes.checked(r.id(), features, false, false, 1.0, Map.of())
        .setReference("ref").setTierAnswers(answers).build();
  }
}
