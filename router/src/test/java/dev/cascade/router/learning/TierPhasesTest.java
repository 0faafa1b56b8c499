package dev.cascade.router.learning;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.avro.TierAnswer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The requests reaching a middle tier, by the policy version their tier's decision used. */
class TierPhasesTest {

  private static RoutingOutcome outcome(String id, long policyVersion, boolean passedOn, boolean served1Right,
      boolean served2Right, double cost) {
    List<TierAnswer> answers = new ArrayList<>(List.of(TierAnswer.newBuilder().setTier(1).setModel("medium")
        .setText(served1Right ? "ref" : "m").setRule("chow-sum").setScore(1.0).setThreshold(0.5).setCostUnits(4)
        .setDeferred(passedOn).build()));
    if (passedOn) {
      answers.add(TierAnswer.newBuilder().setTier(2).setModel("large").setText(served2Right ? "ref" : "l")
          .setCostUnits(10).build());
    }
    return SyntheticOutcomes.checked(id, SyntheticExamples.randomFeatures(new SplittableRandom(1)), false, false, 1.0,
        Map.of()).setReference("ref").setPolicyVersion(policyVersion).setServedTier(passedOn ? 2 : 1)
        // As the router writes it: large_text is the serving tier's answer.
        .setLargeText(answers.get(answers.size() - 1).getText())
        .setTierAnswers(answers).setCostUnits(cost).build();
  }

  @Test
  void eachPolicyVersionCountsItsRequestsTheirServedAnswersAndCost() {
    List<RoutingOutcome> outcomes = List.of(
        outcome("a", 0, false, true, false, 100),   // medium served, right
        outcome("b", 0, true, true, false, 300),    // large served, wrong (medium's right answer does not count)
        outcome("c", 3, true, false, true, 300),    // large served, right
        outcome("d", 3, true, false, true, 500),
        SyntheticOutcomes.checked("e", SyntheticExamples.randomFeatures(new SplittableRandom(2)), true, true, 1.0,
            Map.of()).build());                   // never reached a middle tier: left out
    List<TierPhases.Phase> phases = TierPhases.of(outcomes, 1);
    assertThat(phases).extracting(TierPhases.Phase::policyVersion).containsExactly(0L, 3L);
    TierPhases.Phase before = phases.get(0);
    assertThat(before.reached()).isEqualTo(2);
    assertThat(before.passedOn()).isEqualTo(0.5);
    assertThat(before.right()).isEqualTo(0.5);
    assertThat(before.cost()).isEqualTo(200.0);
    assertThat(before.utility(1000)).isCloseTo(300.0, within(1e-9));
    TierPhases.Phase after = phases.get(1);
    assertThat(after.passedOn()).isEqualTo(1.0);
    assertThat(after.right()).isEqualTo(1.0);
    assertThat(after.cost()).isEqualTo(400.0);
    assertThat(TierPhases.of(outcomes, 2)).as("tier 2 is the last: never scored").isEmpty();
  }

  @Test
  void aTierDecisionMadeUnderANewerPolicyCountsUnderThatOne() {
    // Routed (the small model's decision) under v0, decided at medium under v1, which the tier's
    // answer records: it is v1's. An answer without the field (an older router) falls back to v0.
    RoutingOutcome older = outcome("a", 0, false, true, false, 100);
    RoutingOutcome newer = outcome("b", 0, true, false, true, 300);
    newer.getTierAnswers().get(0).setPolicyVersion(1L);
    List<TierPhases.Phase> phases = TierPhases.of(List.of(older, newer), 1);
    assertThat(phases).extracting(TierPhases.Phase::policyVersion).containsExactly(0L, 1L);
    assertThat(phases).extracting(TierPhases.Phase::reached).containsExactly(1, 1);
    assertThat(phases.get(1).passedOn()).isEqualTo(1.0);
  }

  private static RoutingOutcome small(String id, long policyVersion, boolean deferred, String served, String reference,
      double cost) {
    RoutingOutcome.Builder b = SyntheticOutcomes.checked(id, SyntheticExamples.randomFeatures(new SplittableRandom(3)),
        false, false, 1.0, Map.of()).setReference(reference).setPolicyVersion(policyVersion).setCostUnits(cost);
    if (deferred) {
      return b.setLargeText(served).build();
    }
    return b.setDecision(dev.cascade.schemas.avro.Decision.ACCEPT).setServedBy(dev.cascade.schemas.avro.ServedBy.SMALL)
        .setSmallText(served).setLargeText(null).build();
  }

  private static dev.cascade.schemas.avro.Feedback feedback(String id, Boolean correct, String corrected) {
    return dev.cascade.schemas.avro.Feedback.newBuilder().setRequestId(id).setCorrect(correct)
        .setCorrectedText(corrected).setSource("user").setCreatedAtMs(0).build();
  }

  @Test
  void withoutAReferenceTheFeedbackJudgesTheAnswerServedAndTheRestAreCountedApart() {
    Map<String, dev.cascade.schemas.avro.Feedback> judged = Map.of(
        "verdict-right", feedback("verdict-right", true, null),
        "verdict-wrong", feedback("verdict-wrong", false, null),
        "corrected-same", feedback("corrected-same", null, "x"),
        "corrected-other", feedback("corrected-other", null, "y"));
    TierPhases.Accumulator phases = TierPhases.accumulator(0, o -> judged.get(o.getRequestId().toString()));
    List.of(
        small("verdict-right", 2, false, "a", null, 10),
        small("verdict-wrong", 2, true, "b", null, 300),
        small("corrected-same", 2, false, "x", null, 10),
        small("corrected-other", 2, true, "x", null, 300),
        small("nobody", 2, false, "a", null, 10),          // neither a reference nor feedback
        small("referenced", 5, false, "r", "r", 10),       // the reference, not the feedback, judges it
        small("nobody-5", 5, true, "a", null, 300)).forEach(phases);
    List<TierPhases.Phase> out = phases.phases();
    assertThat(out).extracting(TierPhases.Phase::policyVersion).containsExactly(2L, 5L);
    TierPhases.Phase v2 = out.get(0);
    assertThat(v2.reached()).isEqualTo(4);
    assertThat(v2.unjudged()).isEqualTo(1);
    assertThat(v2.right()).as("verdict-right and corrected-same").isEqualTo(0.5);
    assertThat(v2.passedOn()).isEqualTo(0.5);
    assertThat(v2.cost()).isEqualTo(155.0);
    TierPhases.Phase v5 = out.get(1);
    assertThat(v5.reached()).isEqualTo(1);
    assertThat(v5.unjudged()).isEqualTo(1);
    assertThat(v5.right()).isEqualTo(1.0);
    assertThat(TierPhases.ofSmall(List.of(small("nobody", 2, false, "a", null, 10))))
        .as("judged by references only: a version with none judged is left out").isEmpty();
  }

  @Test
  void theStandardErrorOfAVersionsWorthIsThatOfTheMeanOfItsRequests() {
    // Worth at 100 per request: 100 × right − cost, over four requests: 90, -300, 90, -200.
    TierPhases.Accumulator phases = TierPhases.accumulator(0, o -> null);
    List.of(small("a", 1, false, "r", "r", 10), small("b", 1, true, "w", "r", 300), small("c", 1, false, "r", "r", 10),
        small("d", 1, true, "r", "r", 300)).forEach(phases);
    TierPhases.Phase ph = phases.phases().get(0);
    double[] worth = {90, -300, 90, -200};
    double mean = java.util.Arrays.stream(worth).average().orElseThrow();
    double sampleVariance = java.util.Arrays.stream(worth).map(w -> (w - mean) * (w - mean)).sum() / 3;
    assertThat(ph.utility(100)).isCloseTo(mean, within(1e-9));
    assertThat(ph.utilityStandardError(100)).isCloseTo(Math.sqrt(sampleVariance / 4), within(1e-9));
  }

  @Test
  void theLearnersLineSaysTheLastTwoVersionsJudgedAndTheChange() {
    List<TierPhases.Phase> phases = List.of(
        new TierPhases.Phase(0, 100, 0.3, 0.6, 200, 100, 0, 3),
        new TierPhases.Phase(1, 300, 0.5, 0.7, 300, 100, 0, 0),
        new TierPhases.Phase(2, 0, Double.NaN, Double.NaN, Double.NaN, Double.NaN, Double.NaN, 9),
        new TierPhases.Phase(3, 400, 0.7, 0.75, 400, 400, 0, 0));
    String line = TierPhases.summary(phases, 1000);
    assertThat(line).startsWith("v1 300 judged, worth 400.0 ± ").contains("; v3 400 judged, worth 350.0 ± ")
        .contains("(v3 against v1: -50.0 ± ").doesNotContain("v0").doesNotContain("v2 ");
    assertThat(TierPhases.summary(phases.subList(0, 1), 1000)).isEqualTo(String.format(java.util.Locale.ROOT,
        "v0 100 judged, worth 400.0 ± %.1f a request", phases.get(0).utilityStandardError(1000)));
    assertThat(TierPhases.summary(phases.subList(2, 3), 1000)).isEqualTo("no request judged");
  }
}
