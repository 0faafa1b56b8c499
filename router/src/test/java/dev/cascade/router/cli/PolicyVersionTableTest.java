package dev.cascade.router.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cascade.router.learning.TierPhases;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@code eval --outcomes --by-policy-version}'s table and JSON, each version against the one before it. */
class PolicyVersionTableTest {

  // v0: 100 judged, right 0.6, cost 200 (sd 10); v1: nothing judged; v2: 400 judged, right 0.75, cost 400 (sd 20).
  private final List<TierPhases.Phase> phases = List.of(
      new TierPhases.Phase(0, 100, 0.3, 0.6, 200, 100, 0, 3),
      new TierPhases.Phase(1, 0, Double.NaN, Double.NaN, Double.NaN, Double.NaN, Double.NaN, 7),
      new TierPhases.Phase(2, 400, 0.7, 0.75, 400, 400, 0, 0));

  @Test
  void eachVersionWithRequestsJudgedIsComparedWithThePreviousOne() {
    JsonNode json = PolicyVersionTable.json(phases, 1000.0);
    assertThat(json.get(0).has("value_change")).isFalse();
    assertThat(json.get(1).get("judged").asInt()).isZero();
    assertThat(json.get(1).get("unjudged").asInt()).isEqualTo(7);
    assertThat(json.get(1).get("value_per_request").isNull()).isTrue();
    assertThat(json.get(1).has("value_change")).as("nothing judged to compare").isFalse();
    JsonNode v2 = json.get(2);
    assertThat(v2.get("compared_with").asLong()).as("v1 judged nothing: v0").isZero();
    assertThat(v2.get("value_change").asDouble()).isCloseTo((750 - 400) - (600 - 200), within(1e-9));
    double se0 = phases.get(0).utilityStandardError(1000);
    double se2 = phases.get(2).utilityStandardError(1000);
    assertThat(v2.get("value_change_standard_error").asDouble()).isCloseTo(Math.sqrt(se0 * se0 + se2 * se2),
        within(1e-9));
    // Worth 1000 × right − cost: v0's spread is that of 1000 × a 0.6 coin less a cost of sd 10.
    assertThat(se0).isCloseTo(Math.sqrt((1000.0 * 1000 * 0.24 + 100) / 99), within(1e-9));
  }

  @Test
  void theTableSaysEachChangeAndThatTheTrafficDiffers() {
    String text = PolicyVersionTable.text(phases, 1000.0, "the small model's");
    assertThat(text).contains("v1              0         7          -             -          -")
        .contains("v2 against v0: -50.0 ± ")
        .contains("a difference between two is the policy's and the traffic's");
    assertThat(PolicyVersionTable.text(phases, null, "tier 1's")).doesNotContain("against").doesNotContain("worth");
    // A version with one request judged has no standard error: said so, not NaN.
    List<TierPhases.Phase> one = List.of(phases.get(0), new TierPhases.Phase(3, 1, 1.0, 0.0, 315, 1, 0, 0));
    String single = PolicyVersionTable.text(one, 1000.0, "the small model's");
    assertThat(single).doesNotContain("NaN").contains("-315.0 ± n/a").contains("v3 against v0: -715.0 ± n/a");
    assertThat(TierPhases.summary(one, 1000.0)).doesNotContain("NaN").contains("v3 1 judged, worth -315.0 ± n/a");
    assertThat(PolicyVersionTable.json(phases, null).get(2).has("value_per_request")).isFalse();
  }
}
