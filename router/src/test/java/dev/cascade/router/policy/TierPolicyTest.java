package dev.cascade.router.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

/** A middle tier's rule: parsing, validation, scoring, and which entry a policy gives a tier. */
class TierPolicyTest {

  @Test
  void parsesRuleAndThresholdAndPrintsItBack() {
    TierPolicy sum = TierPolicy.parse("chow-sum:9.5");
    assertThat(sum).isEqualTo(new TierPolicy("chow-sum", 0.0, 9.5));
    TierPolicy quantile = TierPolicy.parse("chow-quantile-0.1:2.3");
    assertThat(quantile).isEqualTo(new TierPolicy("chow-quantile", 0.1, 2.3));
    assertThat(TierPolicy.parse(quantile.spec())).isEqualTo(quantile);
    assertThat(TierPolicy.parse(sum.spec())).isEqualTo(sum);
  }

  @Test
  void refusesLearnedRulesAndMalformedSpecsNamingTheField() {
    assertThatThrownBy(() -> TierPolicy.parse("posthoc-quantile:0.5")).isInstanceOf(InvalidPolicyException.class)
        .hasMessageContaining("'rule'").hasMessageContaining("token log-probabilities alone");
    assertThatThrownBy(() -> TierPolicy.parse("chow-sum")).hasMessageContaining("RULE:THRESHOLD");
    assertThatThrownBy(() -> TierPolicy.parse("chow-sum:lots")).isInstanceOf(InvalidPolicyException.class)
        .hasMessageContaining("'threshold'");
    assertThatThrownBy(() -> new TierPolicy("chow-sum", 0, Double.NaN)).hasMessageContaining("'threshold'");
    assertThatThrownBy(() -> TierPolicy.at(2, "chow-quantile", 1.5, 1.0))
        .isInstanceOf(InvalidPolicyException.class)
        .satisfies(e -> assertThat(((InvalidPolicyException) e).field()).isEqualTo("tierPolicies[2].alpha"));
  }

  @Test
  void scoresFromTokenLogprobsAndDefersOnlyStrictlyAbove() {
    float[] logprobs = {-0.5f, -2.0f, -0.25f};
    assertThat(new TierPolicy("chow-sum", 0, 1).score(logprobs)).isCloseTo(2.75, org.assertj.core.data.Offset.offset(1e-6));
    assertThat(new TierPolicy("chow-quantile", 0, 1).score(logprobs)).isCloseTo(2.0, org.assertj.core.data.Offset.offset(1e-6));
    TierPolicy rule = new TierPolicy("chow-sum", 0, 2.75);
    assertThat(rule.defers(2.75)).isFalse();
    assertThat(rule.defers(2.7500001)).isTrue();
  }

  @Test
  void aPolicysOwnTierEntryWinsOverTheConfiguredOneAndATierWithNeitherHasNone() {
    DeferralPolicy twoEntries = DeferralPolicy.defaults().withTierPolicies(
        List.of(TierPolicy.parse("chow-sum:1"), TierPolicy.parse("chow-sum:2")));
    List<TierPolicy> configured = List.of(TierPolicy.parse("chow-average:0.5"), TierPolicy.parse("chow-sum:7"),
        TierPolicy.parse("chow-sum:8"));
    assertThat(twoEntries.tierPolicy(2, configured)).contains(TierPolicy.parse("chow-sum:2"));
    assertThat(twoEntries.tierPolicy(3, configured)).contains(TierPolicy.parse("chow-sum:8"));
    assertThat(twoEntries.tierPolicy(4, configured)).isEmpty();
    assertThat(twoEntries.tierPolicy(0, configured)).isEmpty();
    // Every copy keeps the tier rules.
    assertThat(twoEntries.withRuleVersion(3L).tierPolicies()).isEqualTo(twoEntries.tierPolicies());
    assertThat(twoEntries.withShadowRules(List.of("chow-sum")).tierPolicies()).isEqualTo(twoEntries.tierPolicies());
  }
}
