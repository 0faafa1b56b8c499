package dev.cascade.router.learner;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.policy.DeferralPolicy;
import dev.cascade.router.policy.PregenSkipPolicy;
import dev.cascade.router.policy.TierPolicy;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The policy the learner writes keeps every setting of the one in force but the rule it changes. */
class PolicySuccessorTest {

  private final DeferralPolicy current = new DeferralPolicy("posthoc-quantile", 0.0, 0.4, 0.05, 0.3, 7, "operator",
      1_000L, "set by hand", 2L, List.of("chow-sum"), "chow-average", 0.25,
      List.of(new TierPolicy("chow-sum", 0.0, 3.5)), new PregenSkipPolicy("pregen-skip", 0.8), 0.1);

  @Test
  void aPublicationKeepsTheSkipTheTiersTheShadowsTheFallbackAndTheRates() {
    DeferralPolicy next = TrainerProcessor.successor(current, "posthoc-quantile", 0.0, 0.55, 3L, "beat champion",
        8, 2_000L);
    assertThat(next.pregenSkip()).isEqualTo(current.pregenSkip());
    assertThat(next.tierPolicies()).isEqualTo(current.tierPolicies());
    assertThat(next.shadowRules()).isEqualTo(current.shadowRules());
    assertThat(next.fallbackRule()).isEqualTo("chow-average");
    assertThat(next.explorationRate()).isEqualTo(0.05);
    assertThat(next.targetEscalationRate()).isEqualTo(0.3);
    assertThat(next.earlyDeferMargin()).as("same rule: same score scale").isEqualTo(0.25);
    assertThat(next.earlyDeferLabelShare()).as("the labels the learner learns from keep coming").isEqualTo(0.1);
    assertThat(next.ruleVersion()).isEqualTo(3L);
    assertThat(next.threshold()).isEqualTo(0.55);
    assertThat(next.version()).isEqualTo(8);
    assertThat(next.updatedBy()).isEqualTo(PinHold.LEARNER);
  }

  @Test
  void aRevertToAnotherRuleDropsOnlyTheMarginWhichIsOnTheOldRulesScale() {
    DeferralPolicy next = TrainerProcessor.successor(current, "chow-average", 0.0, 1.2, null, "reverted: worse",
        8, 2_000L);
    assertThat(next.rule()).isEqualTo("chow-average");
    assertThat(next.earlyDeferMargin()).isNull();
    assertThat(next.earlyDeferLabelShare()).as("a share is not on any rule's scale").isEqualTo(0.1);
    assertThat(next.pregenSkip()).isEqualTo(current.pregenSkip());
    assertThat(next.reason()).isEqualTo("reverted: worse");
  }

  @Test
  void aRoundsPolicyWrittenAfterTheTierTunerChangedATierKeepsTheTunersTierAndComesAfterIt() {
    DeferralPolicy decided = TrainerProcessor.successor(current, "posthoc-quantile", 0.0, 0.55, 3L, "beat champion",
        8, 2_000L);
    // While the round trained, the tier tuner wrote version 8 with medium's threshold moved.
    DeferralPolicy tuned = current.withTierPolicies(List.of(new TierPolicy("chow-sum", 0.0, 1.7, 0.0, 0.2)));
    DeferralPolicy written = TrainerProcessor.asOfNow(decided, current, tuned, p -> Double.NaN, 9);
    assertThat(written.tierPolicies()).isEqualTo(tuned.tierPolicies());
    assertThat(written.version()).isEqualTo(9);
    assertThat(written.threshold()).isEqualTo(0.55);
    assertThat(written.ruleVersion()).isEqualTo(3L);
    assertThat(written.reason()).isEqualTo("beat champion");
    // Nothing written meanwhile: the round's own version and tiers.
    assertThat(TrainerProcessor.asOfNow(decided, current, current, p -> Double.NaN, 8)).isEqualTo(decided);
  }

  @Test
  void aRoundsPolicyWrittenAfterTheSmallModelsThresholdMovedKeepsTheShareOfTheThresholdInForceNow() {
    DeferralPolicy fixed = current.withThreshold(0.4, 0.0);
    DeferralPolicy decided = TrainerProcessor.successor(fixed, "posthoc-quantile", 0.0, 0.55, 3L, "beat champion",
        8, 2_000L);
    // The champion passes on a share s(t) at threshold t; the new rule's threshold for that share is 2t here.
    java.util.function.ToDoubleFunction<DeferralPolicy> calibrate = p -> 2 * p.threshold();

    // The learner's tuner moved the threshold to 0.3 while the round trained: the new rule gets 0.6, not 0.55.
    DeferralPolicy moved = fixed.withThreshold(0.3, 0.0).writtenAs(8, PinHold.LEARNER, 1_500L, "tier tuner");
    DeferralPolicy written = TrainerProcessor.asOfNow(decided, fixed, moved, calibrate, 9);
    assertThat(written.threshold()).isEqualTo(0.6);
    assertThat(written.rule()).isEqualTo("posthoc-quantile");
    assertThat(written.ruleVersion()).isEqualTo(3L);
    assertThat(written.version()).isEqualTo(9);

    // A target rate set meanwhile is kept, with the threshold calibrated for it.
    DeferralPolicy target = fixed.withThreshold(0.4, 0.25).writtenAs(8, "operator", 1_500L, "");
    DeferralPolicy underTarget = TrainerProcessor.asOfNow(decided, fixed, target, p -> 0.7, 9);
    assertThat(underTarget.targetEscalationRate()).isEqualTo(0.25);
    assertThat(underTarget.threshold()).isEqualTo(0.7);

    // Another rule in force meanwhile (an operator's): its scores are not the champion's; the round's threshold stays.
    DeferralPolicy other = new DeferralPolicy("chow-sum", 0.0, 3.0, 0.05, 0.0, 8, "operator", 1_500L, "", null,
        List.of(), "chow-average", null, List.of());
    assertThat(TrainerProcessor.asOfNow(decided, fixed, other, calibrate, 9).threshold()).isEqualTo(0.55);
  }
}
