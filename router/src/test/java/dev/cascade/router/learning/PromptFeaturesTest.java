package dev.cascade.router.learning;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cascade.models.PromptScore;
import org.junit.jupiter.api.Test;

class PromptFeaturesTest {

  @Test
  void theInputsAreTheScalarsThenTheHiddenStateInTheOrderOfTheirNames() {
    PromptScore score = new PromptScore(12, -2.5, -0.25f, 1.5f, new float[] {0.1f, -0.2f, 0.3f});
    float[] values = PromptFeatures.of("  having become hyaline ", score);
    assertThat(PromptFeatures.names(3)).containsExactly("prompt_chars", "prompt_words", "prompt_tokens",
        "prompt_lp_mean", "first_lp", "first_entropy", "hidden_0", "hidden_1", "hidden_2");
    assertThat(PromptFeatures.modelNames(3)).hasSize(9).startsWith("emb_0").endsWith("emb_8");
    assertThat(values).containsExactly(24f, 3f, 12f, -2.5f, -0.25f, 1.5f, 0.1f, -0.2f, 0.3f);
    assertThat(PromptFeatures.of("cat", new PromptScore(3, -1, -0.5f, 0.5f, null))).hasSize(6);
  }

  @Test
  void aPromptIsOneWordOrMore() {
    assertThat(PromptKind.of("cat")).isEqualTo(PromptKind.SINGLE_WORD);
    assertThat(PromptKind.of("  cat ")).isEqualTo(PromptKind.SINGLE_WORD);
    assertThat(PromptKind.of("")).isEqualTo(PromptKind.SINGLE_WORD);
    assertThat(PromptKind.of("having become\thyaline")).isEqualTo(PromptKind.MULTI_WORD);
    assertThat(PromptKind.ordinals(java.util.List.of("a b", "a"))).containsExactly(1, 0);
    assertThat(PromptKind.SINGLE_WORD.offsetMetric()).isEqualTo("skip_offset_single_word");
  }

  @Test
  void aSkipRulesOffsetPerKindIsAddedToTheScoresOfThatKindsPrompts() {
    java.util.List<DeferralExample> examples = new java.util.ArrayList<>();
    for (int i = 0; i < 80; i++) {
      String prompt = i % 2 == 0 ? "w" + "x".repeat(i % 13) : "two words" + "y".repeat(i % 7);
      examples.add(new DeferralExample(dev.cascade.router.features.FeatureExtractor.extract(new float[0], new float[0]),
          PromptFeatures.ofText(prompt), false, prompt.length() > 8));
    }
    LearnedRule trained = RuleTrainer.train("pregen-skip", PromptFeatures.textModelNames(), examples, "test", 1,
        new RuleTrainer.Options(2, 7, java.util.List.of(LearnerSpec.logisticRegression(10, 0.1))),
        RuleTrainer.Progress.NONE).rule();
    LearnedRule plain = trained.withInfo(trained.info().withModel("f", PromptFeatures.TEXT_LAYOUT));
    LearnedRule offset = plain.withInfo(plain.info().withMetrics(java.util.Map.of(
        PromptKind.SINGLE_WORD.offsetMetric(), 0.25, PromptKind.MULTI_WORD.offsetMetric(), -0.5)));
    java.util.List<String> prompts = java.util.List.of("cat", "having become hyaline", "dog");
    double[] before = PromptFeatures.scores(plain, prompts, null);
    double[] after = PromptFeatures.scores(offset, prompts, null);
    assertThat(after[0]).isCloseTo(before[0] + 0.25, org.assertj.core.api.Assertions.within(1e-12));
    assertThat(after[1]).isCloseTo(before[1] - 0.5, org.assertj.core.api.Assertions.within(1e-12));
    assertThat(after[2]).isCloseTo(before[2] + 0.25, org.assertj.core.api.Assertions.within(1e-12));
    assertThat(PromptFeatures.score(offset, "cat", null)).isCloseTo(after[0], org.assertj.core.api.Assertions.within(1e-12));
  }

  @Test
  void aPostGenerationRuleIsNotAPromptRule() {
    LearnedRule posthoc = LearnedRules.bundledRules().get(0);
    PromptScore score = new PromptScore(3, -1, -0.5f, 0.5f, new float[80]);
    assertThatThrownBy(() -> PromptFeatures.score(posthoc, "cat", score))
        .hasMessageContaining("its inputs are 'uncertainty/v1', not the prompt features prompt/v1");
  }
}
