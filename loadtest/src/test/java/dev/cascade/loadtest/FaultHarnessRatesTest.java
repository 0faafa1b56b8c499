package dev.cascade.loadtest;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.schemas.avro.ServedBy;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The fault harness's escalation rate per window of requests, in the order they were sent. */
class FaultHarnessRatesTest {

  @Test
  void eachWindowCountsTheRequestsWhoseOutcomeWasReadAndTheLastMayBeShorter() {
    Boolean[] escalated = {true, false, false, false, null, true, true, null, false};
    List<Double> rates = FaultHarness.windowRates(escalated, 4);
    assertThat(rates).containsExactly(0.25, 1.0, 0.0);
    assertThat(FaultHarness.windowRates(escalated, escalated.length)).containsExactly(3.0 / 7);
  }

  @Test
  void aWindowWithNoOutcomeReadIsNotANumber() {
    assertThat(FaultHarness.windowRates(new Boolean[] {null, null, true}, 2)).containsExactly(Double.NaN, 1.0);
  }

  @Test
  void theJsonCarriesTheRatesAndWritesAMissingOneAsNull() {
    FaultHarness.Result r = new FaultHarness.Result(3, 3, 0, 0, 0, 0, 10, 20, Double.NaN, List.of(), 1.0,
        java.util.Map.of(), java.util.Map.of(0, 3), 1.0 / 3, List.of(Double.NaN, 0.5), List.of());
    assertThat(r.toJson()).contains("\"escalation_rate\": 0.333, \"escalation_rate_per_250\": [null, 0.500]")
        .doesNotContain("middle_pass_on").doesNotContain("middle_early_stops");
    FaultHarness.Result three = new FaultHarness.Result(3, 3, 0, 0, 0, 0, 10, 20, Double.NaN, List.of(), 1.0,
        java.util.Map.of(), java.util.Map.of(0, 1, 1, 1, 2, 1), 2.0 / 3, List.of(2.0 / 3), List.of(0.5), 1, 0, null, 0);
    assertThat(three.toJson()).contains("\"escalation_rate_per_250\": [0.667], \"middle_pass_on_per_250\": [0.500],"
        + " \"middle_early_stops\": 1, \"middle_explored\": 0, \"middle_explore_mismatches\": 0,"
        + " \"degraded_reasons\": {}")
        .doesNotContain("middle_evaluation");
  }

  @Test
  void theJsonCarriesTheMiddleTiersEvaluationFromItsOutcomes() {
    dev.cascade.router.learning.TierOutcomeReport.Collector collector =
        new dev.cascade.router.learning.TierOutcomeReport.Collector(1);
    for (int i = 0; i < 40; i++) {
      boolean explored = i % 4 == 0;
      boolean passedOn = explored || i % 2 == 1;
      dev.cascade.schemas.avro.TierAnswer middle = dev.cascade.schemas.avro.TierAnswer.newBuilder().setTier(1)
          .setModel("medium").setText(i % 3 == 0 ? "ref" : "x").setTokenLogprobs(List.of(-0.1f * (i % 7)))
          .setRule("chow-sum").setScore(0.1 * (i % 7)).setThreshold(0.3).setDeferred(passedOn).setExplored(explored)
          .setPropensity(passedOn && !explored ? 1.0 : 0.5).build();
      List<dev.cascade.schemas.avro.TierAnswer> answers = new java.util.ArrayList<>(List.of(middle));
      if (passedOn) {
        answers.add(dev.cascade.schemas.avro.TierAnswer.newBuilder().setTier(2).setModel("large")
            .setText(i % 5 == 0 ? "x" : "ref").build());
      }
      collector.accept(dev.cascade.schemas.avro.RoutingOutcome.newBuilder().setRequestId("f-" + i).setPrompt("p")
          .setSmallText("s").setRule("chow-sum").setScore(1).setThreshold(0).setPolicyVersion(1)
          .setDecision(dev.cascade.schemas.avro.Decision.DEFER).setServedBy(ServedBy.LARGE).setReference("ref")
          .setLatencies(dev.cascade.schemas.avro.StageLatencies.newBuilder().build()).setCreatedAtMs(0)
          .setCompletedAtMs(0).setTierAnswers(answers).build());
    }
    dev.cascade.router.learning.TierOutcomeReport report = dev.cascade.router.learning.TierOutcomeReport.compute(
        collector, 50, 1);
    FaultHarness.Result three = new FaultHarness.Result(40, 40, 0, 0, 0, 0, 10, 20, Double.NaN, List.of(), 1.0,
        java.util.Map.of(), java.util.Map.of(2, 40), 1.0, List.of(1.0), List.of(0.5), 0, 10, report, 0);
    assertThat(three.toJson()).contains("\"middle_explored\": 10, \"middle_explore_mismatches\": 0,"
        + " \"middle_evaluation\": {\"used\": 30, \"explored\": 10, \"effective_n\": ");
    assertThat(report.totalWeight()).isEqualTo(40.0);
  }

  @Test
  void anExploredFlagThatIsNotWhatTheTiersDrawSaysIsAMismatch() {
    dev.cascade.router.policy.TierPolicy drawing = new dev.cascade.router.policy.TierPolicy("chow-sum", 0, 0, 0, 0.3);
    java.util.Map<String, dev.cascade.schemas.avro.TierAnswer> answers = new java.util.HashMap<>();
    for (int i = 0; i < 200; i++) {
      String id = "f-" + i;
      double score = (i % 10) / 10.0; // at or below the threshold 0.45 for i % 10 < 5: the rule serves those
      boolean serves = score <= 0.45;
      answers.put(id, dev.cascade.schemas.avro.TierAnswer.newBuilder().setTier(1).setModel("medium").setText("x")
          .setRule("chow-sum").setScore(score).setThreshold(0.45).setDeferred(!serves || drawing.explores(id, 1))
          .setExplored(serves && drawing.explores(id, 1)).build());
    }
    java.util.Map<String, String> settings = java.util.Map.of("policy.tier-exploration-rates", "0.3");
    assertThat(FaultHarness.exploreMismatches(answers, settings)).isZero();
    answers.get("f-0").setExplored(!answers.get("f-0").getExplored());
    answers.get("f-7").setExplored(true); // above the threshold: never explored
    assertThat(FaultHarness.exploreMismatches(answers, settings)).isEqualTo(2);
    assertThat(FaultHarness.exploreMismatches(answers, java.util.Map.of())).as("no rate: none explored")
        .isEqualTo((int) answers.values().stream().filter(dev.cascade.schemas.avro.TierAnswer::getExplored).count());
  }
}
