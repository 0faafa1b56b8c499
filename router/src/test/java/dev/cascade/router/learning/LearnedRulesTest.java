package dev.cascade.router.learning;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.features.UncertaintyFeatures;
import dev.cascade.router.rules.DeferralRule;
import dev.cascade.router.rules.DeferralRules;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class LearnedRulesTest {

  @Test
  void theShippedRulesLoadAndAPolicyCanNameThem() {
    DeferralRules registry = LearnedRules.bundled();

    assertThat(registry.names()).contains("posthoc-quantile", "posthoc-embed", "chow-sum",
        "chow-quantile");
    List<LearnedRule> rules = LearnedRules.bundledRules();
    assertThat(rules).extracting(LearnedRule::name).containsExactly("posthoc-quantile", "posthoc-embed");
    assertThat(registry.create("posthoc-embed", 0.3)).isSameAs(rules.get(1));
    for (LearnedRule rule : rules) {
      assertThat(rule.info().validationMetrics()).containsKeys("cv_auc_df", "cv_auc_df_chow_sum");
      assertThat(rule.info().trainingDataRange()).contains("validation.jsonl");
    }
    assertThat(rules.get(0).embeddingLength()).isZero();
    assertThat(rules.get(1).embeddingLength()).isPositive();
  }

  @Test
  void shippedRulesScoreAnyValidFeaturesAsAProbability() {
    LearnedRule embed = LearnedRules.bundledRules().get(1);
    SplittableRandom random = new SplittableRandom(5);
    for (DeferralRule rule : LearnedRules.bundledRules()) {
      for (int i = 0; i < 50; i++) {
        UncertaintyFeatures features = SyntheticExamples.randomFeatures(random);
        float[] embedding = SyntheticExamples.randomEmbedding(random, embed.embeddingLength());
        assertThat(rule.score(features)).isBetween(0.0, 1.0);
        assertThat(rule.score(features, embedding)).isBetween(0.0, 1.0)
            .isEqualTo(rule.score(features, embedding));
      }
    }
  }
}
