package dev.cascade.models;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A model directory with a broken or mismatched file is refused at load, naming the file. */
class ModelDirectoryErrorsTest {

  private static final Path SMALL = BundledModels.repoRoot().resolve("models/src/main/resources/cascade/models/small");
  private static final Path OTHER = BundledModels.repoRoot().resolve("models/src/test/resources/models/rotary-bpe");

  @TempDir
  Path dir;

  /** The small model's files, with {@code tokenizer} as its tokenizer and {@code card} as its card (null: none). */
  private Path model(Path tokenizer, String tokenizerText, String card) throws Exception {
    Files.copy(SMALL.resolve("model.onnx"), dir.resolve("model.onnx"));
    if (tokenizer != null) {
      Files.copy(tokenizer, dir.resolve("tokenizer.json"));
    } else {
      Files.writeString(dir.resolve("tokenizer.json"), tokenizerText);
    }
    if (card != null) {
      Files.writeString(dir.resolve("card.json"), card);
    }
    return dir;
  }

  @Test
  void anotherModelsTokenizerIsRefusedBeforeAnyForwardPass() throws Exception {
    Path d = model(OTHER.resolve("tokenizer.json"), null, null);
    assertThatThrownBy(() -> TextGenerators.load(d.toString(), "OnnxRuntime"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("tokenizer.json has ")
        .hasMessageContaining("the tokenizer is not this model's");
  }

  @Test
  void aBrokenTokenizerOrCardIsRefusedNamingTheFile() throws Exception {
    Path d = model(null, "{not json", null);
    assertThatThrownBy(() -> TextGenerators.load(d.toString(), "OnnxRuntime"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("tokenizer.json: cannot be loaded as a Hugging Face tokenizer");
    Files.delete(d.resolve("tokenizer.json"));
    Files.copy(SMALL.resolve("tokenizer.json"), d.resolve("tokenizer.json"));
    Files.writeString(d.resolve("card.json"), "{\"context_length\": ");
    assertThatThrownBy(() -> TextGenerators.load(d.toString(), "OnnxRuntime"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("card.json: not valid JSON");
  }
}
