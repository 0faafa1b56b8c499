package dev.cascade.loadtest;

import static org.assertj.core.api.Assertions.assertThat;

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
        java.util.Map.of(), java.util.Map.of(0, 1, 1, 1, 2, 1), 2.0 / 3, List.of(2.0 / 3), List.of(0.5), 1);
    assertThat(three.toJson()).contains("\"escalation_rate_per_250\": [0.667], \"middle_pass_on_per_250\": [0.500],"
        + " \"middle_early_stops\": 1, \"degraded_reasons\": {}");
  }
}
