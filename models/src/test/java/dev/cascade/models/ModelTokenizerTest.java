package dev.cascade.models;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelTokenizerTest {

  private static final Path SMALL = BundledModels.repoRoot().resolve(
      "models/src/main/resources/cascade/models/small/tokenizer.json");

  @Test
  void aCharacterOutsideTheBasicPlaneIsNamedWholeWithItsCodePoint() throws Exception {
    try (ModelTokenizer tokenizer = ModelTokenizer.load(SMALL, ModelTokenizer.SpecialTokens.DEFAULT, 100)) {
      assertThat(tokenizer.checkPrompt("hi \uD83D\uDE00")).hasValue(
          "prompt: character '\uD83D\uDE00' (U+1F600) cannot be encoded by this model's tokenizer");
    }
  }

  @Test
  void aCharacterAfterOneOutsideTheBasicPlaneIsNamedAtItsOwnPlace(@TempDir Path dir) throws Exception {
    // The small model's tokenizer with an emoji in its vocabulary: the emoji is encoded, and the
    // tokenizer's offsets of what follows it count it as one character, where a String counts two.
    ObjectMapper json = new ObjectMapper();
    ObjectNode tokenizerJson = (ObjectNode) json.readTree(SMALL.toFile());
    ObjectNode vocab = (ObjectNode) tokenizerJson.path("model").path("vocab");
    vocab.put("\uD83D\uDE00", vocab.size());
    Path file = dir.resolve("tokenizer.json");
    Files.writeString(file, tokenizerJson.toString());
    try (ModelTokenizer tokenizer = ModelTokenizer.load(file, ModelTokenizer.SpecialTokens.DEFAULT, 100)) {
      assertThat(tokenizer.checkPrompt("a\uD83D\uDE00 caf\u00e9")).hasValue(
          "prompt: character '\u00e9' (U+00E9) cannot be encoded by this model's tokenizer");
      assertThat(tokenizer.checkPrompt("\uD83D\uDE00\uD83D\uDE00 \uD83D\uDE03")).hasValue(
          "prompt: character '\uD83D\uDE03' (U+1F603) cannot be encoded by this model's tokenizer");
    }
  }
}
