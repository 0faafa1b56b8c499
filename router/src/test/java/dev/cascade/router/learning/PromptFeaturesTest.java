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
  void aPostGenerationRuleIsNotAPromptRule() {
    LearnedRule posthoc = LearnedRules.bundledRules().get(0);
    PromptScore score = new PromptScore(3, -1, -0.5f, 0.5f, new float[80]);
    assertThatThrownBy(() -> PromptFeatures.score(posthoc, "cat", score))
        .hasMessageContaining("its inputs are 'uncertainty/v1', not the prompt features prompt/v1");
  }
}
