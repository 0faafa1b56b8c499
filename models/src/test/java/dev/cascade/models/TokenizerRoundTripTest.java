package dev.cascade.models;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class TokenizerRoundTripTest {

  @ParameterizedTest
  @ValueSource(strings = {"small", "medium", "large"})
  void everyTestItemRoundTrips(String name) {
    ModelTokenizer tokenizer = ((DjlTextGenerator) BundledModels.generator(name)).tokenizer();
    for (BundledModels.Item item : BundledModels.testSplit()) {
      long[] ids = tokenizer.encodePrompt(item.prompt());
      assertThat(ids).as(item.prompt()).hasSize(item.prompt().length()).doesNotContain(tokenizer.sepId());
      int[] reference = tokenizer.encodeReference(item.reference());
      assertThat(tokenizer.decode(reference)).isEqualTo(item.reference());
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"small", "medium", "large"})
  void checkPromptNamesTheFieldAndTheProblem(String name) {
    TextGenerator generator = BundledModels.generator(name);
    assertThat(generator.checkPrompt("cascade")).isEmpty();
    assertThat(generator.checkPrompt("Cascade Router")).as("lowercased by the tokenizer").isEmpty();
    assertThat(generator.checkPrompt("")).hasValueSatisfying(m -> assertThat(m).startsWith("prompt:"));
    assertThat(generator.checkPrompt("  ")).hasValueSatisfying(m -> assertThat(m).contains("empty"));
    assertThat(generator.checkPrompt("caf\u00e9")).hasValueSatisfying(m -> assertThat(m)
        .startsWith("prompt:").contains("U+00E9").matches(p -> !TextGenerator.overTokenLimit(p), "not over the limit"));
    assertThat(generator.checkPrompt("a".repeat(generator.info().contextLength())))
        .hasValueSatisfying(m -> assertThat(m).startsWith("prompt:").contains("over the model's limit")
            .matches(TextGenerator::overTokenLimit, "over the limit"));
  }

  @Test
  void aPromptFarOverTheLimitIsJudgedOnItsFirstTokensAndOneWithoutSpacesWhole() {
    TextGenerator generator = BundledModels.generator("small");
    int limit = generator.maxPromptTokens().orElseThrow();
    String huge = "cat ".repeat(200_000).trim();
    assertThat(generator.checkPrompt(huge)).hasValueSatisfying(m -> assertThat(m)
        .startsWith("prompt: more than " + limit + " tokens (its first ").contains(" of " + huge.length() + " characters")
        .endsWith("over the model's limit of " + limit + " (context length minus room for the output)")
        .matches(TextGenerator::overTokenLimit, "over the limit"));
    // A character the tokenizer lacks, early in such a prompt, is named as in a short one.
    assertThat(generator.checkPrompt("caf\u00e9 " + huge)).hasValueSatisfying(m -> assertThat(m).contains("U+00E9"));
    // No space to cut at: the whole prompt is tokenized, and its count is exact.
    String unbroken = "a".repeat(limit * 100);
    assertThat(generator.checkPrompt(unbroken)).hasValueSatisfying(m -> assertThat(m)
        .startsWith("prompt: " + generator.promptTokens(unbroken).orElseThrow() + " tokens is over"));
  }
}
