package dev.cascade.router.learning;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.features.UncertaintyFeatures;
import dev.cascade.schemas.avro.Decision;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.avro.ServedBy;
import dev.cascade.schemas.avro.StageLatencies;
import java.util.HashMap;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class DeferralExampleTest {

  private static final UncertaintyFeatures FEATURES =
      SyntheticExamples.randomFeatures(new SplittableRandom(1));

  @Test
  void theLabelIsTheBenefitOfDeferringNotTheSmallModelsError() {
    assertThat(new DeferralExample(FEATURES, null, false, true).benefit()).isTrue();
    assertThat(new DeferralExample(FEATURES, null, false, false).benefit()).isFalse();
    assertThat(new DeferralExample(FEATURES, null, true, true).benefit()).isFalse();
    assertThat(new DeferralExample(FEATURES, null, true, false).benefit()).isFalse();
  }

  @Test
  void anOutcomeWithAReferenceIsLabelledByIt() {
    RoutingOutcome outcome = outcome("a", "b").setReference("a").setSmallCorrect(true)
        .setLargeCorrect(false).build();

    DeferralExample example = DeferralExample.fromOutcome(outcome).orElseThrow();

    assertThat(example.smallCorrect()).isTrue();
    assertThat(example.largeCorrect()).isFalse();
    assertThat(example.features()).isEqualTo(FEATURES);
    assertThat(example.embedding()).containsExactly(0.5f, -1f);
  }

  @Test
  void anEscalatedOutcomeWithoutReferenceIsTaughtByTheLargeModel() {
    assertThat(DeferralExample.fromOutcome(outcome("a", "b").setAgree(false).build()).orElseThrow().benefit())
        .isTrue();
    assertThat(DeferralExample.fromOutcome(outcome("a", "a").setAgree(true).build()).orElseThrow().benefit())
        .isFalse();
  }

  @Test
  void anAcceptedOutcomeWithoutReferenceTeachesNothing() {
    assertThat(DeferralExample.fromOutcome(outcome("a", null).build())).isEmpty();
  }

  private static RoutingOutcome.Builder outcome(String small, String large) {
    return RoutingOutcome.newBuilder()
        .setRequestId("r1").setPrompt("p").setSmallText(small).setLargeText(large)
        .setSmallEmbedding(List.of(0.5f, -1f))
        .setFeatures(new HashMap<>(FEATURES.asMap()))
        .setRule("chow-sum").setScore(1).setThreshold(0).setPolicyVersion(1)
        .setDecision(large == null ? Decision.ACCEPT : Decision.DEFER)
        .setServedBy(large == null ? ServedBy.SMALL : ServedBy.LARGE)
        .setLatencies(StageLatencies.newBuilder().build())
        .setCreatedAtMs(0).setCompletedAtMs(0);
  }
}
