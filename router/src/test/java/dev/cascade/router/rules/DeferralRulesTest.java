package dev.cascade.router.rules;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cascade.router.features.FeatureExtractor;
import dev.cascade.router.features.UncertaintyFeatures;
import dev.cascade.router.rules.DeferralRules.RuleName;
import org.junit.jupiter.api.Test;

class DeferralRulesTest {

  @Test
  void ofBuildsTheBuiltInRules() {
    assertThat(DeferralRules.of("chow-sum", 0)).isEqualTo(new ChowSumRule());
    assertThat(DeferralRules.of("chow-average", 0.7)).isEqualTo(new ChowAverageRule());
    assertThat(DeferralRules.of("chow-quantile", 0.1)).isEqualTo(new ChowQuantileRule(0.1));
    assertThat(DeferralRules.builtIn().names())
        .containsExactly("chow-average", "chow-quantile", "chow-sum");
  }

  @Test
  void anUnknownNameIsRejectedNamingItAndTheKnownOnes() {
    assertThatThrownBy(() -> DeferralRules.of("chow-median", 0.5))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("'chow-median'")
        .hasMessageContaining("chow-average, chow-quantile, chow-sum");
  }

  @Test
  void alphaOutsideZeroToOneIsRejectedNamingAlpha() {
    for (double alpha : new double[] {-0.1, 1.5, Double.NaN}) {
      assertThatThrownBy(() -> DeferralRules.of("chow-sum", alpha))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("alpha")
          .hasMessageContaining(String.valueOf(alpha));
    }
  }

  @Test
  void parseNameSplitsTheEvaluationSpelling() {
    assertThat(DeferralRules.parseName("chow-quantile-0")).isEqualTo(new RuleName("chow-quantile", 0));
    assertThat(DeferralRules.parseName("chow-quantile-0.1"))
        .isEqualTo(new RuleName("chow-quantile", 0.1));
    assertThat(DeferralRules.parseName("chow-quantile-0.5"))
        .isEqualTo(new RuleName("chow-quantile", 0.5));
    assertThat(DeferralRules.parseName("chow-quantile-1")).isEqualTo(new RuleName("chow-quantile", 1));
    assertThat(DeferralRules.parseName("chow-sum")).isEqualTo(new RuleName("chow-sum", 0));
    assertThat(DeferralRules.parseName("chow-quantile")).isEqualTo(new RuleName("chow-quantile", 0));
  }

  @Test
  void parseNameRejectsUnknownNamesAndBadLevels() {
    assertThatThrownBy(() -> DeferralRules.parseName("random"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("'random'")
        .hasMessageContaining("chow-sum");
    assertThatThrownBy(() -> DeferralRules.parseName("chow-quantile-x"))
        .hasMessageContaining("'chow-quantile-x'");
    assertThatThrownBy(() -> DeferralRules.parseName("chow-quantile-1.5"))
        .hasMessageContaining("alpha")
        .hasMessageContaining("1.5");
    assertThatThrownBy(() -> DeferralRules.parseName("chow-quantile--0.5"))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void everyRuleNameRoundTripsThroughParse() {
    DeferralRules rules = DeferralRules.builtIn();
    for (String name :
        new String[] {"chow-sum", "chow-average", "chow-quantile-0", "chow-quantile-0.1", "chow-quantile-0.5",
          "chow-quantile-0.25"}) {
      assertThat(rules.create(name).name()).isEqualTo(name);
    }
  }

  @Test
  void theRegistryIsOpenToLearnedRulesWithoutChangingTheBuiltIn() {
    DeferralRule constant =
        new DeferralRule() {
          @Override
          public String name() {
            return "posthoc-quantile";
          }

          @Override
          public double score(UncertaintyFeatures features) {
            return 0.42;
          }
        };

    DeferralRules extended = DeferralRules.builtIn().with("posthoc-quantile", alpha -> constant);
    UncertaintyFeatures f = FeatureExtractor.extract(new float[] {-1f}, new float[1]);

    assertThat(extended.create("posthoc-quantile", 0).score(f)).isEqualTo(0.42);
    assertThat(extended.create("posthoc-quantile")).isSameAs(constant);
    assertThat(extended.create("chow-quantile-0.1")).isEqualTo(new ChowQuantileRule(0.1));
    assertThat(DeferralRules.builtIn().names()).doesNotContain("posthoc-quantile");
    assertThatThrownBy(() -> DeferralRules.of("posthoc-quantile", 0))
        .hasMessageContaining("'posthoc-quantile'");
  }

  @Test
  void registeringATakenOrMalformedNameFails() {
    assertThatThrownBy(() -> DeferralRules.builtIn().with("chow-sum", a -> new ChowSumRule()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("already registered");
    assertThatThrownBy(() -> DeferralRules.builtIn().with("Post Hoc", a -> new ChowSumRule()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("'Post Hoc'");
  }
}
