package dev.cascade.router.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cascade.router.rules.DeferralRules;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.Test;

class DeferralPolicyTest {

  @Test
  void defaultsAreAValidFixedThresholdPolicyOfAKnownRule() {
    DeferralPolicy policy = DeferralPolicy.defaults();

    assertThat(policy.holdsTargetRate()).isFalse();
    assertThat(policy.threshold()).isEqualTo(Math.log(10));
    assertThat(DeferralRules.of(policy.rule(), policy.alpha()).name()).isEqualTo("chow-quantile-0");
  }

  @Test
  void everyInvalidFieldIsNamed() {
    assertInvalid("rule", () -> new DeferralPolicy(" ", 0, 1, 0, 0, 1, "op", 1, ""));
    assertInvalid("rule", () -> new DeferralPolicy(null, 0, 1, 0, 0, 1, "op", 1, ""));
    assertInvalid("alpha", () -> new DeferralPolicy("chow-sum", 1.1, 1, 0, 0, 1, "op", 1, ""));
    assertInvalid("threshold", () -> new DeferralPolicy("chow-sum", 0, Double.NaN, 0, 0, 1, "op", 1, ""));
    assertInvalid("threshold", () -> new DeferralPolicy("chow-sum", 0, Double.POSITIVE_INFINITY, 0, 0, 1, "op", 1, ""));
    assertInvalid("explorationRate", () -> new DeferralPolicy("chow-sum", 0, 1, -0.01, 0, 1, "op", 1, ""));
    assertInvalid("targetEscalationRate", () -> new DeferralPolicy("chow-sum", 0, 1, 0, 2, 1, "op", 1, ""));
    assertInvalid("version", () -> new DeferralPolicy("chow-sum", 0, 1, 0, 0, -1, "op", 1, ""));
    assertInvalid("updatedBy", () -> new DeferralPolicy("chow-sum", 0, 1, 0, 0, 1, "", 1, ""));
    assertInvalid("updatedAtMs", () -> new DeferralPolicy("chow-sum", 0, 1, 0, 0, 1, "op", -5, ""));
    assertInvalid("reason", () -> new DeferralPolicy("chow-sum", 0, 1, 0, 0, 1, "op", 1, null));
    DeferralPolicy valid = new DeferralPolicy("chow-average", 0, 1, 0, 0, 1, "op", 1, "");
    assertInvalid("earlyDeferMargin", () -> valid.withEarlyDeferMargin(-0.1));
    assertInvalid("earlyDeferMargin", () -> valid.withEarlyDeferMargin(Double.NaN));
    assertInvalid("earlyDeferMargin", () -> valid.withEarlyDeferMargin(Double.POSITIVE_INFINITY));
    assertInvalid("earlyDeferLabelShare", () -> valid.withEarlyDeferLabelShare(-0.01));
    assertInvalid("earlyDeferLabelShare", () -> valid.withEarlyDeferLabelShare(1.5));
    assertInvalid("earlyDeferLabelShare", () -> valid.withEarlyDeferLabelShare(Double.NaN));
  }

  @Test
  void aPolicysLabelShareOverridesTheConfiguredOneAndSurvivesTheTopicRecordAndTheOtherWithers() {
    DeferralPolicy unset = new DeferralPolicy("chow-sum", 0, 1, 0, 0, 1, "op", 1, "");
    assertThat(unset.earlyDeferLabelShare()).isNull();
    assertThat(unset.earlyDeferLabelShare(0.2)).as("unset: the router's configured share").isEqualTo(0.2);
    DeferralPolicy zero = unset.withEarlyDeferLabelShare(0.0);
    assertThat(zero.earlyDeferLabelShare(0.2)).as("0 in the policy turns the configured share off").isEqualTo(0.0);
    DeferralPolicy set = unset.withEarlyDeferLabelShare(0.05).withEarlyDeferMargin(0.5)
        .withShadowRules(java.util.List.of("chow-average")).withRuleVersion(2L).withPregenSkip(null)
        .withTierPolicies(java.util.List.of());
    assertThat(set.earlyDeferLabelShare(0.2)).isEqualTo(0.05);
    DeferralPolicy back = dev.cascade.router.topology.PolicyRecords.fromAvro(
        dev.cascade.router.topology.PolicyRecords.toAvro(set));
    assertThat(back).isEqualTo(set);
    assertThat(dev.cascade.router.topology.PolicyRecords.fromAvro(dev.cascade.router.topology.PolicyRecords.toAvro(
        unset)).earlyDeferLabelShare()).isNull();
  }

  @Test
  void theEarlyDeferMarginSurvivesTheTopicRecordAndTheOtherWithers() {
    DeferralPolicy policy = new DeferralPolicy("chow-average", 0, 1, 0, 0, 1, "op", 1, "").withEarlyDeferMargin(0.25);
    DeferralPolicy back = dev.cascade.router.topology.PolicyRecords.fromAvro(
        dev.cascade.router.topology.PolicyRecords.toAvro(policy));
    assertThat(back).isEqualTo(policy);
    assertThat(back.withShadowRules(java.util.List.of("chow-sum")).withRuleVersion(3L).earlyDeferMargin())
        .isEqualTo(0.25);
    assertThat(dev.cascade.router.topology.PolicyRecords.fromAvro(dev.cascade.router.topology.PolicyRecords.toAvro(
        policy.withEarlyDeferMargin(null))).earlyDeferMargin()).isNull();
  }

  @Test
  void boundaryValuesAreValid() {
    DeferralPolicy policy = new DeferralPolicy("chow-quantile", 1, -3.5, 1, 1, 0, "op", 0, "");

    assertThat(policy.holdsTargetRate()).isTrue();
  }

  private static void assertInvalid(
      String field, ThrowingCallable build) {
    assertThatThrownBy(build)
        .isInstanceOfSatisfying(
            InvalidPolicyException.class, e -> assertThat(e.field()).isEqualTo(field))
        .hasMessageContaining("'" + field + "'");
  }
}
