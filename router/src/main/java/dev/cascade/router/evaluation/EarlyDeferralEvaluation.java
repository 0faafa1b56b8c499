package dev.cascade.router.evaluation;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cascade.router.features.FeatureExtractor;
import dev.cascade.router.policy.Decision;
import dev.cascade.router.policy.DeferralPolicy;
import dev.cascade.router.policy.EarlyDeferral;
import dev.cascade.router.policy.PolicyDecider;
import dev.cascade.router.rules.ChowSumRule;
import dev.cascade.router.rules.DeferralRule;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * What early deferral ({@link EarlyDeferral}) does to a labelled set: the small model decodes every
 * prompt once to the end and once per case with the router's stop condition, and each request is
 * decided as the router decides it ({@link PolicyDecider}, the rule's score of the generation it
 * got, exploration 0), at a threshold that defers a chosen share of the full generations.
 *
 * <p>For an exact rule it counts the decisions that differ (there must be none), and on the
 * deferred requests the tokens and decoding steps saved, with the wall time of the passes. For a
 * rule with a margin it counts the changed decisions and the exact match with and without. The
 * decoding itself is handed in ({@link Decoder}), so this class runs no model.
 */
public final class EarlyDeferralEvaluation {

  private EarlyDeferralEvaluation() {}

  /**
   * One prompt's generation, as far as decoding went.
   *
   * @param tokens how many tokens it generated
   * @param steps the decoding steps it took: its tokens, plus one for the step that wrote
   *     end-of-sequence
   * @param embedding the generation's embedding, or null
   */
  public record Row(float[] tokenLogprobs, float[] entropies, float[] embedding, int tokens, int steps,
      boolean stoppedEarly) {}

  /** One decoding pass over every prompt, in prompt order, and its wall time. */
  public record Pass(List<Row> rows, double wallMs) {}

  /**
   * Decodes every prompt once, each row stopped where {@code stop} says ({@link
   * EarlyDeferral.Condition#NEVER}: to its end).
   */
  @FunctionalInterface
  public interface Decoder {
    Pass decode(EarlyDeferral.Condition stop);
  }

  /**
   * One case: {@code rule} at the threshold that defers {@code deferralRate} of the full
   * generations, with early deferral at {@code margin} above it ({@code null} for an exact rule,
   * which stops at the threshold itself), the rule asked every {@code every} tokens when it has a
   * margin ({@code small.early-defer-every}; an exact rule's check runs after each token).
   */
  public record Case(DeferralRule rule, double deferralRate, Double margin, int every) {
    public Case {
      Objects.requireNonNull(rule, "rule");
      if (!(deferralRate > 0.0 && deferralRate < 1.0)) {
        throw new IllegalArgumentException("deferralRate must be in (0, 1), was " + deferralRate);
      }
      if (margin == null && !EarlyDeferral.isExact(rule)) {
        throw new IllegalArgumentException("margin: " + rule.name() + " is not exact and needs one");
      }
      if (every < 1) {
        throw new IllegalArgumentException("every must be >= 1, was " + every);
      }
    }

    /** A case with the router's default {@link EarlyDeferral#DEFAULT_EVERY}. */
    public Case(DeferralRule rule, double deferralRate, Double margin) {
      this(rule, deferralRate, margin, EarlyDeferral.DEFAULT_EVERY);
    }
  }

  /**
   * The result of one case. Token and step counts are over the requests deferred with early
   * deferral; a step is one row in one forward pass (a token, or the end-of-sequence step).
   *
   * @param every with a margin, the rule was asked after every this many tokens
   * @param changed requests decided differently than with full decoding
   * @param acceptedToDeferred of those, accepted with full decoding and deferred with early deferral
   * @param stopped requests whose decoding was stopped early
   * @param accuracyFullSameRate the exact match of the rule with full decoding at the threshold that
   *     defers as many requests as early deferral did (the same cost)
   * @param passStepsFull the decoding steps of the whole pass (every request) decoding to the end
   * @param passStepsEarly the same with early deferral
   * @param wallMsFull the wall time of a pass decoding everything to its end, run just before the
   *     early pass so that both see the same load
   */
  public record Result(String rule, Double margin, int every, double threshold, double deferralRate, int deferred, int changed,
      int acceptedToDeferred, int stopped, long tokensFull, long tokensEarly, long stepsFull, long stepsEarly,
      double accuracyFull, double accuracyEarly, double accuracyFullSameRate, long passStepsFull, long passStepsEarly,
      double wallMsFull, double wallMsEarly) {

    /** The share of decoding steps on deferred requests that early deferral did not run. */
    public double stepsSavedShare() {
      return stepsFull == 0 ? 0.0 : 1.0 - (double) stepsEarly / stepsFull;
    }
  }

  /** The report: {@code n} prompts, one result per case. */
  public record Report(int n, List<Result> results) {

    public ObjectNode toJson() {
      ObjectNode root = JsonNodeFactory.instance.objectNode();
      root.put("n", n);
      ArrayNode cases = root.putArray("cases");
      for (Result r : results) {
        ObjectNode c = cases.addObject();
        c.put("rule", r.rule());
        if (r.margin() == null) {
          c.put("exact", true);
        } else {
          c.put("exact", false);
          c.put("margin", r.margin());
          c.put("every", r.every());
        }
        c.put("threshold", round(r.threshold(), 6));
        c.put("deferral_rate", round(r.deferralRate(), 4));
        c.put("deferred", r.deferred());
        c.put("decisions_changed", r.changed());
        c.put("accepted_to_deferred", r.acceptedToDeferred());
        c.put("stopped_early", r.stopped());
        c.put("deferred_tokens_full", r.tokensFull());
        c.put("deferred_tokens_early", r.tokensEarly());
        c.put("deferred_steps_full", r.stepsFull());
        c.put("deferred_steps_early", r.stepsEarly());
        c.put("deferred_steps_saved", round(r.stepsSavedShare(), 4));
        c.put("exact_match_full", round(r.accuracyFull(), 4));
        c.put("exact_match_early", round(r.accuracyEarly(), 4));
        c.put("exact_match_full_same_rate", round(r.accuracyFullSameRate(), 4));
        c.put("pass_steps_full", r.passStepsFull());
        c.put("pass_steps_early", r.passStepsEarly());
        c.put("wall_ms_full", round(r.wallMsFull(), 1));
        c.put("wall_ms_early", round(r.wallMsEarly(), 1));
      }
      return root;
    }

    public String toTable() {
      StringBuilder out = new StringBuilder();
      out.append(String.format(Locale.ROOT, "early deferral (%d items; steps and tokens on the deferred requests;"
          + " EM = exact match, EM same rate = full decoding deferring as many)%n", n));
      out.append(String.format(Locale.ROOT, "%-18s %6s %5s %9s %9s %8s %8s %10s %11s %8s %9s %12s %17s%n", "rule",
          "margin", "every", "threshold", "deferred", "changed", "stopped", "steps full", "steps saved", "EM full", "EM early",
          "EM same rate", "wall full / early"));
      for (Result r : results) {
        out.append(String.format(Locale.ROOT,
            "%-18s %6s %5s %9.4f %8.1f%% %8d %8d %10d %10.1f%% %7.2f%% %8.2f%% %11.2f%% %8.0f / %.0f ms%n",
            r.rule(), r.margin() == null ? "exact" : String.format(Locale.ROOT, "%.3g", r.margin()),
            r.margin() == null ? "1" : Integer.toString(r.every()), r.threshold(),
            100 * r.deferralRate(), r.changed(), r.stopped(), r.stepsFull(), 100 * r.stepsSavedShare(),
            100 * r.accuracyFull(), 100 * r.accuracyEarly(), 100 * r.accuracyFullSameRate(), r.wallMsFull(),
            r.wallMsEarly()));
      }
      return out.toString();
    }
  }

  /** The Chow-Sum cases at deferral rates 10%, 20%, …, 90%. */
  public static List<Case> chowSumCases() {
    List<Case> cases = new ArrayList<>();
    for (int tenth = 1; tenth <= 9; tenth++) {
      cases.add(new Case(new ChowSumRule(), tenth / 10.0, null));
    }
    return cases;
  }

  /**
   * Runs every case.
   *
   * @param smallCorrect per prompt, whether the small model's full answer is right
   * @param largeCorrect per prompt, whether the large model's answer is right
   */
  public static Report run(Decoder decoder, boolean[] smallCorrect, boolean[] largeCorrect, List<Case> cases) {
    // The decisions to compare with; its time, with the model and the JIT still cold, is not used.
    Pass full = decoder.decode(EarlyDeferral.Condition.NEVER);
    int n = full.rows().size();
    if (smallCorrect.length != n || largeCorrect.length != n) {
      throw new IllegalArgumentException("smallCorrect and largeCorrect need one value per prompt (" + n + "), got "
          + smallCorrect.length + " and " + largeCorrect.length);
    }
    List<Result> results = new ArrayList<>();
    for (Case c : cases) {
      double[] scores = scores(c.rule(), full.rows());
      double threshold = thresholdFor(scores, c.deferralRate());
      DeferralPolicy policy = new DeferralPolicy(c.rule().name(), 0.0, threshold, 0.0, 0.0, 0L, "eval", 0L, "",
          null, List.of(), ChowSumRule.NAME, c.margin());
      EarlyDeferral.Condition stop = EarlyDeferral.condition(c.rule(), policy, true, c.every()).orElseThrow();
      double wallMsFull = decoder.decode(EarlyDeferral.Condition.NEVER).wallMs();
      Pass early = decoder.decode(stop);
      double[] earlyScores = scores(c.rule(), early.rows());
      int deferred = 0;
      int changed = 0;
      int acceptedToDeferred = 0;
      int stopped = 0;
      long tokensFull = 0;
      long tokensEarly = 0;
      long stepsFull = 0;
      long stepsEarly = 0;
      int rightFull = 0;
      int rightEarly = 0;
      long passStepsFull = 0;
      long passStepsEarly = 0;
      for (int i = 0; i < n; i++) {
        String id = "item-" + i;
        boolean deferFull = PolicyDecider.decide(id, scores[i], threshold, 0.0) == Decision.DEFER;
        boolean deferEarly = PolicyDecider.decide(id, earlyScores[i], threshold, 0.0) == Decision.DEFER;
        Row f = full.rows().get(i);
        Row e = early.rows().get(i);
        if (e.stoppedEarly()) {
          stopped++;
        }
        passStepsFull += f.steps();
        passStepsEarly += e.steps();
        if (deferFull != deferEarly) {
          changed++;
          if (deferEarly) {
            acceptedToDeferred++;
          }
        }
        if (deferEarly) {
          deferred++;
          tokensFull += f.tokens();
          tokensEarly += e.tokens();
          stepsFull += f.steps();
          stepsEarly += e.steps();
        }
        rightFull += (deferFull ? largeCorrect[i] : smallCorrect[i]) ? 1 : 0;
        rightEarly += (deferEarly ? largeCorrect[i] : smallCorrect[i]) ? 1 : 0;
      }
      results.add(new Result(c.rule().name(), c.margin(), c.every(), threshold, (double) deferred / n, deferred, changed,
          acceptedToDeferred, stopped, tokensFull, tokensEarly, stepsFull, stepsEarly, (double) rightFull / n,
          (double) rightEarly / n, accuracyDeferring(scores, deferred, smallCorrect, largeCorrect), passStepsFull,
          passStepsEarly, wallMsFull, early.wallMs()));
    }
    return new Report(n, results);
  }

  /** The exact match when the {@code deferred} highest scores are deferred (ties broken by order). */
  static double accuracyDeferring(double[] scores, int deferred, boolean[] smallCorrect, boolean[] largeCorrect) {
    Integer[] order = new Integer[scores.length];
    for (int i = 0; i < order.length; i++) {
      order[i] = i;
    }
    Arrays.sort(order, (a, b) -> Double.compare(scores[b], scores[a]));
    int right = 0;
    for (int k = 0; k < order.length; k++) {
      int i = order[k];
      right += (k < deferred ? largeCorrect[i] : smallCorrect[i]) ? 1 : 0;
    }
    return (double) right / scores.length;
  }

  /**
   * The threshold that defers {@code rate} of the scores: midway between the highest score it
   * accepts and the lowest it defers, so that no score sits on it (a score within rounding of a
   * threshold can fall either side in another pass, where other rows share its batch and the
   * forward pass rounds differently). Tied scores at the cut are all accepted.
   */
  static double thresholdFor(double[] scores, double rate) {
    double[] sorted = scores.clone();
    Arrays.sort(sorted);
    int accepted = Math.max(1, sorted.length - (int) Math.round(rate * sorted.length));
    double lo = sorted[accepted - 1];
    double hi = accepted < sorted.length ? sorted[accepted] : lo;
    return lo < hi ? lo + (hi - lo) / 2 : lo;
  }

  private static double[] scores(DeferralRule rule, List<Row> rows) {
    double[] scores = new double[rows.size()];
    for (int i = 0; i < scores.length; i++) {
      Row r = rows.get(i);
      scores[i] = rule.score(FeatureExtractor.extract(r.tokenLogprobs(), r.entropies()), r.embedding());
    }
    return scores;
  }

  private static double round(double value, int digits) {
    double scale = Math.pow(10, digits);
    return Math.round(value * scale) / scale;
  }
}
