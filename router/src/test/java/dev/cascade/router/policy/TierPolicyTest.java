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
    assertThatThrownBy(() -> TierPolicy.at(2, "chow-quantile", 1.5, 1.0, 0.0, 0.0))
        .isInstanceOf(InvalidPolicyException.class)
        .satisfies(e -> assertThat(((InvalidPolicyException) e).field()).isEqualTo("tierPolicies[2].alpha"));
  }

  @Test
  void aTargetRateIsInZeroToOneAndKeptOutOfTheSpec() {
    TierPolicy held = TierPolicy.parse("chow-sum:4.2").withTargetEscalationRate(0.3);
    assertThat(held.holdsTargetRate()).isTrue();
    assertThat(held.spec()).isEqualTo("chow-sum:4.2");
    assertThat(held.describe()).isEqualTo("chow-sum:4.2 target 0.3");
    assertThat(new TierPolicy("chow-sum", 0, 4.2).holdsTargetRate()).isFalse();
    assertThat(held.target().rate()).isEqualTo(0.3);
    assertThat(held.target().configuredThreshold()).isEqualTo(4.2);
    assertThat(held.target().exploration()).isZero();
    assertThatThrownBy(() -> TierPolicy.at(1, "chow-sum", 0, 1.0, 1.5, 0.0)).isInstanceOfSatisfying(
        InvalidPolicyException.class, e -> assertThat(e.field()).isEqualTo("tierPolicies[1].targetEscalationRate"));
    assertThatThrownBy(() -> held.withTargetEscalationRate(-0.1)).hasMessageContaining("'targetEscalationRate'");
  }

  @Test
  void anExplorationRateIsInZeroToOneCountsTowardTheTargetAndDrawsPerTier() {
    TierPolicy exploring = TierPolicy.parse("chow-sum:4.2").withTargetEscalationRate(0.3).withExplorationRate(0.1);
    assertThat(exploring.describe()).isEqualTo("chow-sum:4.2 target 0.3 exploration 0.1");
    assertThat(exploring.spec()).isEqualTo("chow-sum:4.2");
    assertThat(exploring.target().exploration()).isEqualTo(0.1);
    assertThatThrownBy(() -> TierPolicy.at(0, "chow-sum", 0, 1.0, 0.0, 1.5)).isInstanceOfSatisfying(
        InvalidPolicyException.class, e -> assertThat(e.field()).isEqualTo("tierPolicies[0].explorationRate"));
    int n = 20_000;
    int tier1 = 0;
    int tier2 = 0;
    int both = 0;
    int atHalfNotAtTenth = 0;
    TierPolicy half = exploring.withExplorationRate(0.5);
    for (int i = 0; i < n; i++) {
      String id = "req-" + i;
      boolean one = exploring.explores(id, 1);
      boolean two = exploring.explores(id, 2);
      tier1 += one ? 1 : 0;
      tier2 += two ? 1 : 0;
      both += one && two ? 1 : 0;
      assertThat(exploring.explores(id, 1)).as("a pure function of the id and tier").isEqualTo(one);
      if (one && !half.explores(id, 1)) {
        atHalfNotAtTenth++;
      }
    }
    assertThat(tier1 / (double) n).isBetween(0.09, 0.11);
    assertThat(tier2 / (double) n).isBetween(0.09, 0.11);
    assertThat(both / (double) n).as("independent draws per tier: about 0.1 x 0.1").isBetween(0.006, 0.014);
    assertThat(atHalfNotAtTenth).as("those explored at 0.1 are among those explored at 0.5").isZero();
    assertThat(TierPolicy.parse("chow-sum:4.2").explores("req-1", 1)).as("rate 0 explores none").isFalse();
  }

  @Test
  void aLevelOutOfRangeInTheRuleNameIsSaidAsAnAlphaProblem() {
    assertThatThrownBy(() -> TierPolicy.parse("chow-quantile-1.5:2")).isInstanceOfSatisfying(
        InvalidPolicyException.class, e -> {
          assertThat(e.field()).isEqualTo("alpha");
          assertThat(e.describedAs("alpha")).startsWith("alpha: must be in [0, 1], was 1.5")
              .contains("'chow-quantile-1.5'").doesNotContain("must be one of");
        });
  }

  /**
   * A policy sent to the admin door may name a middle tier's quantile rule as the command line does,
   * chow-quantile-0.1: the rule and its level, as for the small model.
   */
  @Test
  void aTiersQuantileRuleMayBeNamedWithItsLevel() {
    TierPolicy named = TierPolicy.at(0, "chow-quantile-0.1", 0.0, 2.0, 0.0, 0.0);
    assertThat(named.rule()).isEqualTo("chow-quantile");
    assertThat(named.alpha()).isEqualTo(0.1);
    assertThat(TierPolicy.at(0, "chow-quantile-0.1", 0.1, 2.0, 0.0, 0.0)).isEqualTo(named);
    assertThatThrownBy(() -> TierPolicy.at(0, "chow-quantile-0.1", 0.3, 2.0, 0.0, 0.0))
        .isInstanceOfSatisfying(InvalidPolicyException.class,
            e -> assertThat(e.getMessage()).contains("tierPolicies[0].alpha").contains("chow-quantile-0.1"));
    assertThatThrownBy(() -> TierPolicy.at(1, "chow-quantile-1.5", 0.0, 2.0, 0.0, 0.0))
        .isInstanceOfSatisfying(InvalidPolicyException.class,
            e -> assertThat(e.getMessage()).contains("tierPolicies[1].alpha"));
    assertThatThrownBy(() -> TierPolicy.at(0, "posthoc-quantile", 0.0, 2.0, 0.0, 0.0))
        .hasMessageContaining("must be one of [chow-average, chow-quantile, chow-sum]");
  }

  @Test
  void aNegativeThresholdOnAChowRuleIsWarnedToDeferEveryAnswer() {
    assertThat(TierPolicy.parse("chow-sum:-5").deferAllWarning("middle tier 1")).hasValueSatisfying(w ->
        assertThat(w).contains("middle tier 1").contains("-5.0").contains("never negative").contains("every answer"));
    assertThat(TierPolicy.deferAllWarning("chow-quantile-0.1", -0.5, "the small model")).isPresent();
    assertThat(TierPolicy.parse("chow-average:0").deferAllWarning("middle tier 1")).isEmpty();
    // A learned rule's score may be negative: its threshold is its own business.
    assertThat(TierPolicy.deferAllWarning("posthoc-quantile", -5, "the small model")).isEmpty();
    // Every score a Chow rule gives is 0 or more, so every answer passes a negative threshold.
    float[][] answers = {{}, {-0.0f}, {-1e-6f}, {-3f, -0.1f}};
    for (float[] lp : answers) {
      for (String rule : List.of("chow-sum:-0.001", "chow-average:-0.001", "chow-quantile-0.3:-0.001")) {
        TierPolicy p = TierPolicy.parse(rule);
        assertThat(p.defers(p.score(lp))).as(rule + " " + java.util.Arrays.toString(lp)).isTrue();
      }
    }
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
