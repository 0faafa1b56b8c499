package dev.cascade.router.learning;

import dev.cascade.schemas.avro.Decision;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.avro.ServedBy;
import dev.cascade.schemas.avro.TierAnswer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What the requests reaching a middle tier (or the small model, {@link #ofSmall}) got under each
 * policy version: how many reached it, the share it passed on, the share served a right answer (the
 * reference), and their mean cost (every tier's calls, {@code cost_units}). Where a tuner changed the tier's threshold between versions,
 * this is the before and after. A request counts under the policy version its tier's decision
 * used ({@code TierAnswer.policy_version}), or, from routers that did not record it, the one its
 * outcome records (its small-model decision's, which may be older).
 */
public final class TierPhases {

  private TierPhases() {}

  /**
   * @param policyVersion the policy version the tier's decisions used
   * @param reached requests that reached the tier with a reference
   * @param passedOn the share the tier passed on
   * @param right the share whose served answer was the reference
   * @param cost their mean cost per request
   */
  public record Phase(long policyVersion, int reached, double passedOn, double right, double cost) {

    /** What the phase was worth per request when a right answer is worth {@code value} cost units. */
    public double utility(double value) {
      return value * right - cost;
    }
  }

  /** The phases of {@code tier}, by policy version (outcomes without a reference are left out). */
  public static List<Phase> of(Iterable<RoutingOutcome> outcomes, int tier) {
    return phases(outcomes, o -> {
      TierAnswer answer = o.getTierAnswers().stream().filter(t -> t.getTier() == tier && t.getRule() != null)
          .findFirst().orElse(null);
      return answer == null ? null : new Decided(answer.getPolicyVersion() != null ? answer.getPolicyVersion()
          : o.getPolicyVersion(), answer.getDeferred());
    });
  }

  /**
   * The small model's phases: every request reaches it, counted under the policy version its
   * decision used; passed on where it was not accepted (an exploration and a pre-generation skip
   * included). Outcomes without a reference are left out.
   */
  public static List<Phase> ofSmall(Iterable<RoutingOutcome> outcomes) {
    return phases(outcomes, o -> new Decided(o.getPolicyVersion(), o.getDecision() != Decision.ACCEPT));
  }

  /** One request's decision at the tier looked at: the policy version it used, and whether it passed the request on. */
  private record Decided(long policyVersion, boolean passedOn) {}

  private static List<Phase> phases(Iterable<RoutingOutcome> outcomes,
      java.util.function.Function<RoutingOutcome, Decided> at) {
    Map<Long, double[]> sums = new TreeMap<>(); // reached, passed on, right, cost
    for (RoutingOutcome o : outcomes) {
      Decided d = o.getReference() == null ? null : at.apply(o);
      if (d == null) {
        continue;
      }
      double[] s = sums.computeIfAbsent(d.policyVersion(), v -> new double[4]);
      s[0]++;
      s[1] += d.passedOn() ? 1 : 0;
      s[2] += servedRight(o) ? 1 : 0;
      s[3] += o.getCostUnits();
    }
    List<Phase> phases = new ArrayList<>();
    sums.forEach((version, s) -> phases.add(new Phase(version, (int) s[0], s[1] / s[0], s[2] / s[0], s[3] / s[0])));
    return phases;
  }

  /**
   * Whether the answer served is the outcome's reference (false without one): the small model's
   * where it served (degraded included), else {@code large_text}, which the router sets to the
   * answer of the tier that served.
   */
  public static boolean servedRight(RoutingOutcome o) {
    boolean small = o.getServedBy() != ServedBy.LARGE;
    return o.getReference() != null && o.getReference().equals(small ? o.getSmallText() : o.getLargeText());
  }
}
