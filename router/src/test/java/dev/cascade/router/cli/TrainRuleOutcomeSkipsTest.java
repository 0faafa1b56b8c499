package dev.cascade.router.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.learning.LabelledOutcomes;
import dev.cascade.router.learning.OutcomeReport;
import dev.cascade.router.learning.SyntheticExamples;
import dev.cascade.router.routing.SmallStop;
import dev.cascade.schemas.avro.Decision;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.avro.ServedBy;
import dev.cascade.schemas.avro.StageLatencies;
import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** {@code train-rule --outcomes} counts every outcome it does not train on by why, in eval's words. */
class TrainRuleOutcomeSkipsTest {

  private static final SplittableRandom RANDOM = new SplittableRandom(5);

  private static RoutingOutcome.Builder outcome(Decision decision) {
    boolean escalated = decision != Decision.ACCEPT;
    return RoutingOutcome.newBuilder()
        .setRequestId("r").setPrompt("p").setSmallText("a")
        .setFeatures(new HashMap<>(SyntheticExamples.randomFeatures(RANDOM).asMap()))
        .setRule("chow-sum").setScore(0).setThreshold(0).setPolicyVersion(1).setDecision(decision)
        .setServedBy(escalated ? ServedBy.LARGE : ServedBy.SMALL).setLargeText(escalated ? "b" : null)
        .setPropensity(escalated ? 1.0 : 0.95)
        .setLatencies(StageLatencies.newBuilder().build()).setCreatedAtMs(0).setCompletedAtMs(0);
  }

  private static RoutingOutcome.Builder referenced(Decision decision, boolean smallRight) {
    RoutingOutcome.Builder b = outcome(decision).setReference(smallRight ? "a" : "b").setSmallCorrect(smallRight);
    return decision == Decision.ACCEPT ? b : b.setLargeCorrect(!smallRight);
  }

  @Test
  void earlyStoppedDeferralsWithReferencesAreCountedAsSuchNotAsUnreferenced() {
    // Before: "170 outcomes with a label, 36 without (accepted, no reference)", where eval --outcomes
    // on the same topic said no reference=5 and small model stopped early (deferral decided)=32.
    TrainRuleCommand.OutcomeExamples collected = new TrainRuleCommand.OutcomeExamples(50);
    for (int i = 0; i < 32; i++) {
      collected.accept(referenced(Decision.DEFER, false).setSmallStop(SmallStop.EARLY_DEFER).setSmallStopStep(3).build());
    }
    for (int i = 0; i < 5; i++) {
      collected.accept(outcome(Decision.ACCEPT).build()); // accepted, no reference: no label
    }
    collected.accept(outcome(Decision.ACCEPT).setSmallFailure("boom").build());
    collected.accept(outcome(Decision.DEFER).setSmallText("").setSmallStop(SmallStop.PREGEN_SKIP).build());
    collected.accept(referenced(Decision.ACCEPT, true).build()); // a right small answer: a label
    collected.accept(referenced(Decision.EXPLORE, false).build()); // explored: a label
    collected.accept(outcome(Decision.DEFER).setAgree(false).build()); // the large model as teacher
    collected.accept(referenced(Decision.ACCEPT, false).build()); // wrong, not escalated: no training label
    collected.accept(referenced(Decision.ACCEPT, true).setFeatures(new HashMap<>(Map.of("lp_sum", 1.0))).build());
    collected.undecodable(2);

    assertThat(collected.examples()).hasSize(3);
    assertThat(collected.skipped()).containsExactly(
        Map.entry(LabelledOutcomes.STOPPED_EARLY, 32L),
        Map.entry(LabelledOutcomes.NO_LABEL, 5L),
        Map.entry(LabelledOutcomes.SMALL_FAILED, 1L),
        Map.entry(LabelledOutcomes.PREGEN_SKIPPED, 1L),
        Map.entry(LabelledOutcomes.NOT_TRAINABLE, 1L),
        Map.entry(OutcomeReport.FEATURES_INVALID, 1L),
        Map.entry(OutcomeReport.UNDECODABLE, 2L));
    assertThat(collected.summary()).startsWith("46 outcomes read, 3 training examples (2 reference, 1 teacher), skipped: 32 small model"
        + " stopped early (deferral decided), 5 no reference, feedback or large answer (accepted), 1 small model failed");
  }

  @Test
  void evalAndTrainRuleNameTheUnansweredOutcomesAlike() {
    OutcomeReport.Collector eval = new OutcomeReport.Collector();
    eval.accept(referenced(Decision.DEFER, false).setSmallStop(SmallStop.EARLY_DEFER).setSmallStopStep(3).build());
    eval.accept(outcome(Decision.ACCEPT).setSmallFailure("boom").build());
    eval.accept(referenced(Decision.ACCEPT, true).setLargeCorrect(true).build());
    OutcomeReport report = OutcomeReport.compute(eval, java.util.List.of(), 10, 1);
    assertThat(report.skipped()).containsOnlyKeys(LabelledOutcomes.STOPPED_EARLY, LabelledOutcomes.SMALL_FAILED);
  }
}
