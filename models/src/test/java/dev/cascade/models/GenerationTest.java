package dev.cascade.models;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class GenerationTest {

  private static final List<String> PROMPTS = List.of("cascade", "a", "the quick brown fox jumps", "phonemes",
      "router", "of the largest city in", "zygote", "uncertainty", "is", "streaming inference engines");

  @ParameterizedTest
  @ValueSource(strings = {"small", "large"})
  void aBatchGivesWhatEachPromptGivesAlone(String name) {
    TextGenerator generator = BundledModels.generator(name);
    List<Generation> batched = generator.generate(PROMPTS, 48);
    for (int i = 0; i < PROMPTS.size(); i++) {
      Generation single = generator.generate(List.of(PROMPTS.get(i)), 48).get(0);
      Generation inBatch = batched.get(i);
      assertThat(inBatch.tokens()).as(PROMPTS.get(i)).containsExactly(single.tokens());
      assertThat(inBatch.text()).isEqualTo(single.text());
      for (int t = 0; t < single.tokens().length; t++) {
        assertThat(inBatch.tokenLogprobs()[t]).isCloseTo(single.tokenLogprobs()[t], within(1e-4f));
        assertThat(inBatch.entropies()[t]).isCloseTo(single.entropies()[t], within(1e-4f));
      }
      assertThat(inBatch.embedding()).hasSize(single.embedding().length);
    }
  }

  @Test
  void onnxRuntimeThreadSettingsChangeSpeedNotAnswers() {
    List<Generation> byDefault = BundledModels.generator("small").generate(PROMPTS, 48);
    for (CpuThreads threads : List.of(new CpuThreads(1, 2, true), new CpuThreads(2, 1, false))) {
      try (TextGenerator other = TextGenerators.load("small", "OnnxRuntime", LoadOptions.DEFAULT.withMaxBatch(4).withThreads(threads))) {
        // Five calls at once, so that with two decoders both run rows.
        List<java.util.concurrent.CompletableFuture<List<Generation>>> calls = new ArrayList<>();
        for (int c = 0; c < 5; c++) {
          List<String> slice = PROMPTS.subList(2 * c, 2 * c + 2);
          calls.add(java.util.concurrent.CompletableFuture.supplyAsync(() -> other.generate(slice, 48)));
        }
        for (int c = 0; c < 5; c++) {
          List<Generation> got = calls.get(c).join();
          for (int j = 0; j < 2; j++) {
            Generation expected = byDefault.get(2 * c + j);
            assertThat(got.get(j).tokens()).as(threads + " " + PROMPTS.get(2 * c + j)).containsExactly(expected.tokens());
            assertThat(got.get(j).tokenLogprobs()[0]).isCloseTo(expected.tokenLogprobs()[0], within(1e-4f));
          }
        }
      }
    }
    assertThatThrownBy(() -> new CpuThreads(1, -1, false)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("intraOp");
    assertThatThrownBy(() -> new CpuThreads(0, 1, false)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("decoders");
  }

  @Test
  void generationsAreWellFormed() {
    TextGenerator small = BundledModels.generator("small");
    ModelInfo info = small.info();
    assertThat(info.name()).isEqualTo("small");
    assertThat(info.engine()).isEqualTo("OnnxRuntime");
    assertThat(info.hasEmbedding()).isTrue();
    assertThat(info.contextLength()).isEqualTo(96);
    Generation g = small.generate(List.of("cascade"), info.maxNewTokensLimit()).get(0);
    assertThat(g.text()).isNotBlank().doesNotContain("<").doesNotContain("  ");
    assertThat(g.text().split(" ")).hasSize(g.tokens().length);
    assertThat(g.tokenLogprobs()).hasSize(g.tokens().length);
    assertThat(g.entropies()).hasSize(g.tokens().length);
    for (int t = 0; t < g.tokens().length; t++) {
      assertThat(g.tokenLogprobs()[t]).isLessThanOrEqualTo(0f);
      assertThat(g.entropies()[t]).isGreaterThanOrEqualTo(0f);
    }
    assertThat(g.embedding()).hasSize(ModelDirectory.bundledCard("small").get("width").asInt());
  }

  @Test
  void theTokenLimitCutsGenerationShort() {
    Generation g = BundledModels.generator("small").generate(List.of("the quick brown fox jumps"), 3).get(0);
    assertThat(g.tokens()).hasSize(3);
  }

  @Test
  void badArgumentsNameWhatIsWrong() {
    TextGenerator small = BundledModels.generator("small");
    assertThatThrownBy(() -> small.generate(List.of("ok", ""), 10))
        .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("prompts[1]: prompt:");
    assertThatThrownBy(() -> small.generate(List.of("ok"), 0))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("maxNewTokens");
    assertThatThrownBy(() -> small.generate(List.of("ok"), small.info().maxNewTokensLimit() + 1))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("maxNewTokens");
    assertThat(small.generate(new ArrayList<>(), 5)).isEmpty();
  }
}
