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
    return population(n, seed, idPrefix, 3);
  }

  /** As above, medium right with probability exp(−score / {@code scale}) instead. */
  public static List<Request> population(int n, long seed, String idPrefix, double scale) {
    SplittableRandom random = new SplittableRandom(seed);
    List<Request> requests = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      double score = -3 * Math.log(1 - random.nextDouble());
      requests.add(new Request(idPrefix + i, score, random.nextDouble() < Math.exp(-score / scale),
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
    return outcome(r, policy, ruleThreshold, r.score(), List.of((float) -r.score()));
  }

  /**
   * As above, medium's answer having these token log-probabilities, which {@code policy}'s rule
   * scores (its score, not {@code r.score()}, decides).
   */
  public static RoutingOutcome outcome(Request r, TierPolicy policy, double ruleThreshold, List<Float> logprobs) {
    float[] lp = new float[logprobs.size()];
    for (int i = 0; i < lp.length; i++) {
      lp[i] = logprobs.get(i);
    }
    return outcome(r, policy, ruleThreshold, policy.score(lp), logprobs);
  }

  private static RoutingOutcome outcome(Request r, TierPolicy policy, double ruleThreshold, double score,
      List<Float> logprobs) {
    boolean ruleDefers = score > ruleThreshold;
    boolean explored = !ruleDefers && policy.explores(r.id(), 1);
    List<Integer> tokens = new ArrayList<>();
    logprobs.forEach(l -> tokens.add(5));
    TierAnswer medium = TierAnswer.newBuilder().setTier(1).setModel("medium")
        .setText(r.medium() ? "ref" : "medium-wrong").setTokens(tokens).setTokenLogprobs(logprobs)
        .setRule(policy.rule()).setScore((double) (float) score).setThreshold(ruleThreshold).setCostUnits(4)
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

  /**
   * The outcome the router writes for {@code r} reaching the small model instead (its score is the
   * small model's, {@code r.medium()} whether it is right): deferred above {@code policy}'s
   * threshold, else explored by {@code policy}'s draw, and the large model's answer where escalated.
   */
  public static RoutingOutcome smallOutcome(Request r, dev.cascade.router.policy.DeferralPolicy policy) {
    SplittableRandom random = new SplittableRandom(r.id().hashCode());
    boolean deferred = r.score() > policy.threshold();
    boolean explored = !deferred
        && dev.cascade.router.policy.PolicyDecider.decide(r.id(), r.score(), policy).escalates();
    if (!deferred && !explored) {
      return SyntheticOutcomes.accepted(r.id(), SyntheticExamples.randomFeatures(random)).setRule(policy.rule())
          .setScore(r.score()).setThreshold(policy.threshold()).setPolicyVersion(policy.version())
          .setPropensity(1 - policy.explorationRate()).build();
    }
    TierAnswer large = TierAnswer.newBuilder().setTier(1).setModel("large")
        .setText(r.large() ? "reference" : "large-wrong").setTokens(List.of()).setTokenLogprobs(List.of())
        .setDeferred(false).setCostUnits(LARGE_COST).setLatencyMs(1).build();
    return SyntheticOutcomes.checked(r.id(), SyntheticExamples.randomFeatures(random), r.medium(), r.large(),
        deferred ? 1.0 : policy.explorationRate(), Map.of()).setRule(policy.rule()).setScore(r.score())
        .setThreshold(policy.threshold()).setPolicyVersion(policy.version()).setTierAnswers(List.of(large)).build();
  }
}
