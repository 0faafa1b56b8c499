package dev.cascade.router.learning;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cascade.models.Generation;
import dev.cascade.models.ModelInfo;
import dev.cascade.models.TextGenerator;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The generation cache with a model the caller has already loaded (the demo's calibration). */
class CascadeAnswersCacheTest {

  @TempDir
  Path dir;

  /** Answers each prompt with itself reversed; counts the prompts it generated. */
  private static final class CountingModel implements TextGenerator {
    final AtomicInteger generated = new AtomicInteger();

    @Override
    public List<Generation> generate(List<String> prompts, int maxNewTokens) {
      return generate(prompts, maxNewTokens, Cancellation.NONE);
    }

    @Override
    public List<Generation> generate(List<String> prompts, int maxNewTokens, Cancellation cancellation) {
      List<Generation> out = new ArrayList<>();
      for (String p : prompts) {
        generated.incrementAndGet();
        float[] embedding = p.length() % 2 == 0 ? null : new float[] {p.length(), 0.5f};
        out.add(new Generation(new StringBuilder(p).reverse().toString(), new int[] {p.length(), 7},
            new float[] {-0.25f, -p.length()}, new float[] {0.1f, 0.2f}, embedding));
      }
      return out;
    }

    @Override
    public Optional<String> checkPrompt(String prompt) {
      return prompt.contains("#") ? Optional.of("prompt: character '#' cannot be encoded") : Optional.empty();
    }

    @Override
    public ModelInfo info() {
      return new ModelInfo("counting", "none", 0, 64, 48, true);
    }

    @Override
    public void close() {}
  }

  private Path modelDir(byte... weights) throws Exception {
    Path model = Files.createDirectories(dir.resolve("model"));
    Files.write(model.resolve("model.onnx"), weights);
    Files.writeString(model.resolve("tokenizer.json"), "{}");
    return model;
  }

  private CascadeAnswers.Settings settings(Path model, int maxNewTokens) {
    return new CascadeAnswers.Settings(model.toString(), "large", "OnnxRuntime", maxNewTokens, 2, dir.resolve("cache"));
  }

  @Test
  void aSecondRunReadsWhatTheFirstGeneratedAndAnythingThatChangesTheAnswersMisses() throws Exception {
    Path model = modelDir(new byte[] {1, 2, 3});
    CountingModel loaded = new CountingModel();
    List<String> prompts = List.of("cascade", "ab", "router");

    List<Generation> first = CascadeAnswers.generateCached(loaded, model.toString(), prompts, settings(model, 48),
        CascadeAnswers.Progress.NONE);
    assertThat(loaded.generated).hasValue(3);
    List<Generation> second = CascadeAnswers.generateCached(loaded, model.toString(), prompts, settings(model, 48),
        CascadeAnswers.Progress.NONE);
    assertThat(loaded.generated).as("nothing generated again").hasValue(3);
    for (int i = 0; i < prompts.size(); i++) {
      Generation a = first.get(i);
      Generation b = second.get(i);
      assertThat(b.text()).isEqualTo(a.text());
      assertThat(b.tokens()).containsExactly(a.tokens());
      assertThat(b.tokenLogprobs()).containsExactly(a.tokenLogprobs());
      assertThat(b.entropies()).containsExactly(a.entropies());
      assertThat(b.embedding()).isEqualTo(a.embedding());
    }

    CascadeAnswers.generateCached(loaded, model.toString(), prompts, settings(model, 12), CascadeAnswers.Progress.NONE);
    assertThat(loaded.generated).as("another token limit").hasValue(6);
    CascadeAnswers.generateCached(loaded, model.toString(), List.of("cascade", "ab"), settings(model, 48),
        CascadeAnswers.Progress.NONE);
    assertThat(loaded.generated).as("other prompts").hasValue(8);
    Files.write(model.resolve("model.onnx"), new byte[] {1, 2, 4});
    CascadeAnswers.generateCached(loaded, model.toString(), prompts, settings(model, 48), CascadeAnswers.Progress.NONE);
    assertThat(loaded.generated).as("other weights").hasValue(11);
  }

  @Test
  void aPromptTheModelRefusesIsNamedByItsPlaceAndTextBeforeAnythingIsGenerated() throws Exception {
    Path model = modelDir(new byte[] {4});
    CountingModel loaded = new CountingModel();
    // The generator's own error would name the prompt's place in a batch sorted by length.
    assertThatThrownBy(() -> CascadeAnswers.generateCached(loaded, model.toString(), List.of("a long one", "x#y", "b"),
        settings(model, 12), CascadeAnswers.Progress.NONE))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("item 2 (prompt 'x#y'), for " + model + ": prompt: character '#' cannot be encoded");
    assertThat(loaded.generated).hasValue(0);
  }

  @Test
  void aDamagedFileIsGeneratedAgainAndRewritten() throws Exception {
    Path model = modelDir(new byte[] {9});
    CountingModel loaded = new CountingModel();
    List<String> prompts = List.of("one", "two");
    CascadeAnswers.generateCached(loaded, model.toString(), prompts, settings(model, 48), CascadeAnswers.Progress.NONE);
    try (var files = Files.list(dir.resolve("cache"))) {
      Path written = files.filter(p -> p.toString().endsWith(".gen.gz")).findFirst().orElseThrow();
      Files.write(written, new byte[] {0, 3, 'x'});
    }
    List<Generation> again = CascadeAnswers.generateCached(loaded, model.toString(), prompts, settings(model, 48),
        CascadeAnswers.Progress.NONE);
    assertThat(loaded.generated).hasValue(4);
    assertThat(again).extracting(Generation::text).containsExactly("eno", "owt");
    CascadeAnswers.generateCached(loaded, model.toString(), prompts, settings(model, 48), CascadeAnswers.Progress.NONE);
    assertThat(loaded.generated).as("rewritten, read back").hasValue(4);
  }

  @Test
  void everyFileThatChangesTheAnswersKeysTheCacheExternalDataTokenizerAndCard() throws Exception {
    Path model = ExternalDataModel.write(dir.resolve("exported"), new byte[] {1, 2, 3, 4});
    CountingModel loaded = new CountingModel();
    List<String> prompts = List.of("cascade", "ab");
    java.util.function.IntSupplier run = () -> {
      try {
        CascadeAnswers.generateCached(loaded, model.toString(), prompts, settings(model, 48),
            CascadeAnswers.Progress.NONE);
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
      return loaded.generated.get();
    };
    assertThat(run.getAsInt()).isEqualTo(2);
    assertThat(run.getAsInt()).as("same files: read back").isEqualTo(2);
    Files.write(model.resolve(ExternalDataModel.DATA), new byte[] {1, 2, 3, 5}); // overwritten in place, same size
    assertThat(run.getAsInt()).as("other external data").isEqualTo(4);
    Files.writeString(model.resolve("tokenizer.json"), "{\"model\": {}}");
    assertThat(run.getAsInt()).as("another tokenizer").isEqualTo(6);
    Files.writeString(model.resolve("card.json"), "{\"max_new_tokens\": 8}");
    assertThat(run.getAsInt()).as("a card").isEqualTo(8);
    assertThat(run.getAsInt()).as("all the same again: read back").isEqualTo(8);
  }
}
