package dev.cascade.router.evaluation;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.policy.EarlyDeferral;
import dev.cascade.router.rules.ChowAverageRule;
import dev.cascade.router.rules.ChowSumRule;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The early-deferral evaluation's counting, over a decoder that replays fixed generations and honours the stop. */
class EarlyDeferralEvaluationTest {

  private static final int LIMIT = 12;

  /** A generation of {@code length} tokens as far as {@code k} of them, with its decoding steps. */
  private static EarlyDeferralEvaluation.Row row(float[] logprobs, int k, boolean stopped) {
    int steps = stopped || k >= LIMIT ? k : k + 1;
    return new EarlyDeferralEvaluation.Row(Arrays.copyOf(logprobs, k), new float[k], null, k, steps, stopped);
  }

  /** Random generations' log-probs, some ending at the limit. */
  private static List<float[]> generations(int n, long seed) {
    Random random = new Random(seed);
    List<float[]> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      int length = 1 + random.nextInt(LIMIT);
      float[] logprobs = new float[length];
      for (int t = 0; t < length; t++) {
        logprobs[t] = (float) -(random.nextDouble() < 0.3 ? 2 * random.nextDouble() : 0.1 * random.nextDouble());
      }
      out.add(logprobs);
    }
    return out;
  }

  /**
   * What the decoding loop does: gives each row a check of its own, tells it every token that
   * leaves the row below its limit (end-of-sequence comes one step later), and cuts the row where
   * it says stop.
   */
  private static EarlyDeferralEvaluation.Decoder replaying(List<float[]> full) {
    return stop -> {
      List<EarlyDeferralEvaluation.Row> out = new ArrayList<>();
      for (float[] g : full) {
        EarlyDeferralEvaluation.Row kept = row(g, g.length, false);
        EarlyDeferral.Check check = stop.newCheck();
        for (int k = 1; k <= g.length && k < LIMIT; k++) {
          if (check.afterToken(g[k - 1], 0f)) {
            kept = row(g, k, true);
            break;
          }
        }
        out.add(kept);
      }
      return new EarlyDeferralEvaluation.Pass(out, 1.0);
    };
  }

  @Test
  void anExactRuleChangesNoDecisionAndItsSavingsAreCountedOnTheDeferredRequests() {
    List<float[]> full = generations(400, 1);
    boolean[] small = new boolean[400];
    boolean[] large = new boolean[400];
    for (int i = 0; i < 400; i++) {
      small[i] = i % 3 == 0;
      large[i] = i % 5 != 0;
    }
    EarlyDeferralEvaluation.Report report = EarlyDeferralEvaluation.run(replaying(full), small, large,
        List.of(new EarlyDeferralEvaluation.Case(new ChowSumRule(), 0.4, null),
            new EarlyDeferralEvaluation.Case(new ChowAverageRule(), 0.4, 0.2, 1),
            new EarlyDeferralEvaluation.Case(new ChowAverageRule(), 0.4, 0.2, 3)));
    EarlyDeferralEvaluation.Result exact = report.results().get(0);
    assertThat(exact.changed()).isZero();
    assertThat(exact.deferralRate()).isCloseTo(0.4, org.assertj.core.data.Offset.offset(0.01));
    assertThat(exact.stopped()).isPositive().isLessThanOrEqualTo(exact.deferred());
    assertThat(exact.stepsEarly()).isLessThan(exact.stepsFull());
    assertThat(exact.tokensEarly()).isLessThan(exact.tokensFull());
    // Accepted requests decode the same either way: the pass saves exactly what the deferred ones do.
    assertThat(exact.passStepsFull() - exact.passStepsEarly()).isEqualTo(exact.stepsFull() - exact.stepsEarly());
    assertThat(exact.accuracyEarly()).isEqualTo(exact.accuracyFull());
    // Same decisions, same number deferred: full decoding at that rate is the same exact match.
    assertThat(exact.accuracyFullSameRate()).isEqualTo(exact.accuracyFull());

    // A mean can fall again after a stop: some accepted requests become deferred, none the other way.
    EarlyDeferralEvaluation.Result margin = report.results().get(1);
    assertThat(margin.changed()).isPositive().isEqualTo(margin.acceptedToDeferred());
    assertThat(margin.deferralRate()).isGreaterThan(0.4);
    // Asked every third token only: a row it stops is one the check after every token stops too, and
    // one it lets run is decided on its whole generation, so fewer stops and changes, but not none.
    EarlyDeferralEvaluation.Result sparse = report.results().get(2);
    assertThat(sparse.stopped()).isPositive().isLessThan(margin.stopped());
    assertThat(sparse.changed()).isPositive().isLessThanOrEqualTo(margin.changed());
    assertThat(report.toJson().get("cases")).hasSize(3);
    assertThat(report.toJson().get("cases").get(2).get("every").asInt()).isEqualTo(3);
    assertThat(report.toTable()).contains("chow-sum").contains("chow-average");
  }

  @Test
  void theThresholdLiesBetweenScoresAndTiesStayAccepted() {
    assertThat(EarlyDeferralEvaluation.thresholdFor(new double[] {5, 1, 4, 2, 3}, 0.4)).isEqualTo(3.5);
    assertThat(EarlyDeferralEvaluation.thresholdFor(new double[] {1, 1, 1, 1}, 0.5)).isEqualTo(1.0);
    assertThat(EarlyDeferralEvaluation.accuracyDeferring(new double[] {0.9, 0.1, 0.5},
        1, new boolean[] {false, true, true}, new boolean[] {true, false, false})).isEqualTo(1.0);
  }
}
