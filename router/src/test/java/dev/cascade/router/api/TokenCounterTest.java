package dev.cascade.router.api;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.models.Generation;
import dev.cascade.models.ModelInfo;
import dev.cascade.models.TextGenerator;
import dev.cascade.router.routing.RequestValidator;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;

/**
 * The HTTP door's token counts: an answer is counted by the small model's tokenizer when it has
 * one, not by its space-separated pieces (which a byte-level BPE's answer, with no spaces between
 * its tokens, does not have), and by its pieces otherwise.
 */
class TokenCounterTest {

  /** A tokenizer of one token per character, spaces included: nothing like words. */
  private static final class PerCharacter implements TextGenerator {
    @Override
    public List<Generation> generate(List<String> prompts, int maxNewTokens) {
      throw new UnsupportedOperationException();
    }

    @Override
    public List<Generation> generate(List<String> prompts, int maxNewTokens, Cancellation cancellation) {
      throw new UnsupportedOperationException();
    }

    @Override
    public Optional<String> checkPrompt(String prompt) {
      return Optional.empty();
    }

    @Override
    public OptionalInt promptTokens(String prompt) {
      return OptionalInt.of(prompt.length());
    }

    @Override
    public ModelInfo info() {
      return new ModelInfo("chars", "none", 0, 64, 48, false);
    }

    @Override
    public void close() {}
  }

  @Test
  void anAnswerIsCountedByTheSmallModelsTokenizerWhenItHasOne() {
    TokenCounter byModel = TokenCounter.of(new RequestValidator(new PerCharacter()));
    assertThat(byModel.completionTokens("NEW YORK")).isEqualTo(8);
    assertThat(byModel.completionTokens("")).isZero();
    assertThat(byModel.promptTokens("abc")).isEqualTo(3);

    TokenCounter approximate = TokenCounter.approximate();
    assertThat(approximate.completionTokens("NEW YORK")).isEqualTo(2);
    assertThat(approximate.completionTokens("")).isZero();
  }
}
