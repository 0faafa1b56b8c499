package dev.cascade.router.learning;

import dev.cascade.schemas.avro.Decision;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.avro.ServedBy;
import dev.cascade.schemas.avro.TierAnswer;
import dev.cascade.schemas.avro.Feedback;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * What the requests reaching a middle tier (or the small model, {@link #ofSmall}) got under each
 * policy version: how many reached it, the share it passed on, the share served a right answer,
 * and their mean cost (every tier's calls, {@code cost_units}). Where a tuner changed the tier's
 * threshold between versions, this is the before and after. A request counts under the policy
 * version its tier's decision used ({@code TierAnswer.policy_version}), or, from routers that did
 * not record it, the one its outcome records (its small-model decision's, which may be older).
 *
 * <p>An answer is judged by the outcome's reference, or, given the feedback ({@link
 * #accumulator(int, Function)}), where the outcome has none, by the feedback on it: a corrected
 * text is the right answer, a verdict ({@code correct}) judges the answer served. Requests judged
 * by neither are counted apart ({@link Phase#unjudged}) and left out of the shares.
 */
public final class TierPhases {

  private TierPhases() {}

  /**
   * @param policyVersion the policy version the tier's decisions used
   * @param reached requests that reached the tier and were judged
   * @param passedOn the share the tier passed on
   * @param right the share whose served answer was right
   * @param cost their mean cost per request
   * @param costVariance the variance of their cost
   * @param rightCostCovariance the covariance of being right (0 or 1) and cost
   * @param unjudged requests that reached the tier under this version with neither a reference nor
   *     feedback that judges the answer served
   */
  public record Phase(long policyVersion, int reached, double passedOn, double right, double cost,
      double costVariance, double rightCostCovariance, int unjudged) {

    /** A phase whose spreads are not known (0). */
    public Phase(long policyVersion, int reached, double passedOn, double right, double cost) {
      this(policyVersion, reached, passedOn, right, cost, 0, 0, 0);
    }

    /** What the phase was worth per request when a right answer is worth {@code value} cost units. */
    public double utility(double value) {
      return value * right - cost;
    }

    /**
     * The standard error of {@link #utility} (of the mean of value × right − cost over the judged
     * requests); NaN with fewer than 2.
     */
    public double utilityStandardError(double value) {
      if (reached < 2) {
        return Double.NaN;
      }
      double variance = value * value * right * (1 - right) + costVariance - 2 * value * rightCostCovariance;
      return Math.sqrt(Math.max(0, variance) * reached / (reached - 1.0) / reached);
    }
  }

  /**
   * The phases of {@code tier}, by policy version, judged by the outcomes' references; outcomes
   * without one are left out, and so is a version with none judged.
   */
  public static List<Phase> of(Iterable<RoutingOutcome> outcomes, int tier) {
    Accumulator phases = accumulator(tier, o -> null);
    outcomes.forEach(phases);
    return phases.phases().stream().filter(p -> p.reached() > 0).toList();
  }

  /**
   * The small model's phases: every request reaches it, counted under the policy version its
   * decision used; passed on where it was not accepted (an exploration and a pre-generation skip
   * included). Judged by the outcomes' references.
   */
  public static List<Phase> ofSmall(Iterable<RoutingOutcome> outcomes) {
    return of(outcomes, 0);
  }

  /**
   * Gathers the phases of {@code tier} (0: the small model) one outcome at a time, as a topic is read.
   *
   * @param feedback the feedback on an outcome, or null ({@link FeedbackJoin#on}): it judges an
   *     outcome without a reference
   */
  public static Accumulator accumulator(int tier, Function<RoutingOutcome, Feedback> feedback) {
    if (tier < 0) {
      throw new IllegalArgumentException("tier: 0 (the small model) or a middle tier's number, was " + tier);
    }
    return new Accumulator(tier, feedback);
  }

  /** The phases of one tier, gathered from the outcomes it is given. */
  public static final class Accumulator implements Consumer<RoutingOutcome> {

    private final int tier;
    private final Function<RoutingOutcome, Feedback> feedback;
    /** By policy version: judged, passed on, right, cost, cost², right × cost, unjudged. */
    private final Map<Long, double[]> sums = new TreeMap<>();

    private Accumulator(int tier, Function<RoutingOutcome, Feedback> feedback) {
      this.tier = tier;
      this.feedback = Objects.requireNonNull(feedback, "feedback");
    }

    @Override
    public void accept(RoutingOutcome o) {
      Decided d = tier == 0 ? new Decided(o.getPolicyVersion(), o.getDecision() != Decision.ACCEPT)
          : decidedAt(o, tier);
      if (d == null) {
        return;
      }
      double[] s = sums.computeIfAbsent(d.policyVersion(), v -> new double[7]);
      Boolean right = servedRight(o, o.getReference() != null ? null : feedback.apply(o));
      if (right == null) {
        s[6]++;
        return;
      }
      double cost = o.getCostUnits();
      s[0]++;
      s[1] += d.passedOn() ? 1 : 0;
      s[2] += right ? 1 : 0;
      s[3] += cost;
      s[4] += cost * cost;
      s[5] += right ? cost : 0;
    }

    /** The phases so far, by policy version; a version whose requests were all unjudged has none judged. */
    public List<Phase> phases() {
      List<Phase> phases = new ArrayList<>();
      sums.forEach((version, s) -> {
        double n = s[0];
        if (n == 0) {
          phases.add(new Phase(version, 0, Double.NaN, Double.NaN, Double.NaN, Double.NaN, Double.NaN, (int) s[6]));
          return;
        }
        double right = s[2] / n;
        double cost = s[3] / n;
        phases.add(new Phase(version, (int) n, s[1] / n, right, cost, s[4] / n - cost * cost, s[5] / n - right * cost,
            (int) s[6]));
      });
      return phases;
    }
  }

  /**
   * One line on the last two policy versions with requests judged: each one's judged requests and
   * worth a request at {@code value} with its standard error, and the newer against the older;
   * "no request judged" when none was.
   */
  public static String summary(List<Phase> phases, double value) {
    List<Phase> judged = phases.stream().filter(p -> p.reached() > 0).toList();
    if (judged.isEmpty()) {
      return "no request judged";
    }
    List<Phase> last = judged.subList(Math.max(0, judged.size() - 2), judged.size());
    StringBuilder line = new StringBuilder();
    for (Phase p : last) {
      line.append(line.length() == 0 ? "" : "; ").append(String.format(java.util.Locale.ROOT,
          "v%d %d judged, worth %s a request", p.policyVersion(), p.reached(),
          plusMinus("%.1f", p.utility(value), p.utilityStandardError(value))));
    }
    if (last.size() == 2) {
      Phase before = last.get(0);
      Phase after = last.get(1);
      line.append(" (").append(change(before, after, value)).append(')');
    }
    return line.toString();
  }

  /** {@code after}'s worth a request less {@code before}'s, with its standard error: "v3 against v1: -50.0 ± 12.3". */
  public static String change(Phase before, Phase after, double value) {
    return String.format(java.util.Locale.ROOT, "v%d against v%d: %s", after.policyVersion(),
        before.policyVersion(), plusMinus("%+.1f", after.utility(value) - before.utility(value),
            changeStandardError(before, after, value)));
  }

  /**
   * {@code mean} in {@code format} with its standard error, "12.3 ± 4.5"; "12.3 ± n/a" where the
   * error is unknown (NaN: a version with one request judged).
   */
  public static String plusMinus(String format, double mean, double standardError) {
    return String.format(java.util.Locale.ROOT, format, mean) + " ± " + (Double.isFinite(standardError)
        ? String.format(java.util.Locale.ROOT, "%.1f", standardError) : "n/a");
  }

  /**
   * The standard error of {@code after}'s worth a request less {@code before}'s (independent
   * requests); NaN if either has none.
   */
  public static double changeStandardError(Phase before, Phase after, double value) {
    double a = before.utilityStandardError(value);
    double b = after.utilityStandardError(value);
    return Math.sqrt(a * a + b * b);
  }

  /** Tier {@code tier}'s decision on {@code o}, or null where the tier did not score an answer. */
  private static Decided decidedAt(RoutingOutcome o, int tier) {
    TierAnswer answer = o.getTierAnswers().stream().filter(t -> t.getTier() == tier && t.getRule() != null)
        .findFirst().orElse(null);
    return answer == null ? null : new Decided(answer.getPolicyVersion() != null ? answer.getPolicyVersion()
        : o.getPolicyVersion(), answer.getDeferred());
  }

  /** One request's decision at the tier looked at: the policy version it used, and whether it passed the request on. */
  private record Decided(long policyVersion, boolean passedOn) {}

  /**
   * Whether the answer served was right: by the reference, or without one by {@code judged} (a
   * corrected text is the right answer; a verdict judges the answer served); null when neither says.
   */
  static Boolean servedRight(RoutingOutcome o, Feedback judged) {
    if (o.getReference() != null) {
      return servedRight(o);
    }
    if (judged == null) {
      return null;
    }
    if (judged.getCorrectedText() != null) {
      return judged.getCorrectedText().equals(servedText(o));
    }
    return judged.getCorrect();
  }

  /**
   * Whether the answer served is the outcome's reference (false without one): the small model's
   * where it served (degraded included), else {@code large_text}, which the router sets to the
   * answer of the tier that served.
   */
  public static boolean servedRight(RoutingOutcome o) {
    return o.getReference() != null && o.getReference().equals(servedText(o));
  }

  /** The answer served: the small model's where it served (degraded included), else {@code large_text}. */
  private static String servedText(RoutingOutcome o) {
    return o.getServedBy() != ServedBy.LARGE ? o.getSmallText() : o.getLargeText();
  }
}
