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
  void aMiddleTiersTargetRateSurvivesTheTopicRecordAndAnOldRecordHasNone() throws Exception {
    DeferralPolicy policy = new DeferralPolicy("chow-average", 0, 1, 0, 0, 1, "op", 1, "")
        .withTierPolicies(java.util.List.of(new TierPolicy("chow-sum", 0, 4.2, 0.3), new TierPolicy("chow-sum", 0, 6)));
    assertThat(dev.cascade.router.topology.PolicyRecords.fromAvro(dev.cascade.router.topology.PolicyRecords.toAvro(
        policy))).isEqualTo(policy);
    // A record written before the field existed reads as fixed thresholds.
    org.apache.avro.Schema old = new org.apache.avro.Schema.Parser().parse("{\"type\":\"record\",\"name\":\"TierPolicy\","
        + "\"namespace\":\"dev.cascade.schemas.avro\",\"fields\":[{\"name\":\"rule\",\"type\":\"string\"},"
        + "{\"name\":\"alpha\",\"type\":\"double\",\"default\":0.0},{\"name\":\"threshold\",\"type\":\"double\"}]}");
    org.apache.avro.generic.GenericRecord written = new org.apache.avro.generic.GenericData.Record(old);
    written.put("rule", "chow-sum");
    written.put("alpha", 0.0);
    written.put("threshold", 4.2);
    java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
    org.apache.avro.io.BinaryEncoder encoder = org.apache.avro.io.EncoderFactory.get().binaryEncoder(bytes, null);
    new org.apache.avro.generic.GenericDatumWriter<org.apache.avro.generic.GenericRecord>(old).write(written, encoder);
    encoder.flush();
    dev.cascade.schemas.avro.TierPolicy read = new org.apache.avro.specific.SpecificDatumReader<
        dev.cascade.schemas.avro.TierPolicy>(old, dev.cascade.schemas.avro.TierPolicy.getClassSchema())
        .read(null, org.apache.avro.io.DecoderFactory.get().binaryDecoder(bytes.toByteArray(), null));
    assertThat(read.getTargetEscalationRate()).isZero();
    assertThat(read.getThreshold()).isEqualTo(4.2);
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
