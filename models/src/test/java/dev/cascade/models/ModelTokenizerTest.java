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

  private static final Path BPE = BundledModels.repoRoot().resolve(
      "models/src/test/resources/models/rotary-bpe/tokenizer.json");

  @Test
  void aPromptTemplateFramesThePromptAndTakesThePlaceOfTheSeparator() throws Exception {
    try (ModelTokenizer plain = ModelTokenizer.load(BPE, ModelTokenizer.SpecialTokens.UNSET, 100);
        ModelTokenizer chat = ModelTokenizer.load(BPE, ModelTokenizer.SpecialTokens.UNSET, "Q: {prompt}<sep>", 100)) {
      assertThat(plain.templated()).isFalse();
      assertThat(chat.templated()).isTrue();
      assertThat(chat.sepId()).isEqualTo(-1);
      long sep = plain.sepId();
      long[] framed = plain.encodePrompt("Q: hello");
      long[] expected = java.util.Arrays.copyOf(framed, framed.length + 1);
      expected[framed.length] = sep;
      // The template's special token is recognised inside the text, as the tokenizer's added token.
      assertThat(chat.encodeInput("hello")).containsExactly(expected);
      assertThat(plain.encodeInput("hello")).endsWith(sep).hasSize(plain.encodePrompt("hello").length + 1);
      // The template's own tokens come out of the prompt's room: input limit 101 less "Q: <sep>".
      int overhead = plain.encodePrompt("Q: ").length + 1;
      assertThat(chat.maxPromptTokens()).isEqualTo(101 - overhead);
      assertThat(plain.maxPromptTokens()).isEqualTo(100);
      String tooLong = "hello ".repeat(60).strip();
      assertThat(chat.checkPrompt(tooLong)).hasValueSatisfying(m -> assertThat(m).startsWith("prompt: ")
          .contains("over the model's").contains("prompt template"));
    }
  }

  @Test
  void aTemplateWithoutItsPlaceholderOnceIsRefused() {
    for (String template : java.util.List.of("Q: <sep>", "{prompt} {prompt}<sep>")) {
      org.assertj.core.api.Assertions.assertThatThrownBy(() -> ModelTokenizer.load(BPE,
              ModelTokenizer.SpecialTokens.UNSET, template, 100)).isInstanceOf(IllegalArgumentException.class)
          .hasMessage("prompt_template: must hold {prompt} once, where the prompt goes; was \"" + template + "\"");
    }
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> ModelTokenizer.load(BPE,
            ModelTokenizer.SpecialTokens.UNSET, "{prompt}" + "<sep>".repeat(20), 10))
        .hasMessageStartingWith("prompt_template: its own 20 tokens leave no room for a prompt");
  }

  @Test
  void aTokenizerWithoutPadSepAndUnkNeedsATemplatePadsWithEndOfSequenceAndRefusesNoCharacter(@TempDir Path dir) throws Exception {
    // The byte-level BPE tokenizer without its <pad>, <sep> and <unk> tokens, as many Hugging Face ones are.
    ObjectMapper json = new ObjectMapper();
    ObjectNode tokenizerJson = (ObjectNode) json.readTree(BPE.toFile());
    com.fasterxml.jackson.databind.node.ArrayNode added = (com.fasterxml.jackson.databind.node.ArrayNode)
        tokenizerJson.path("added_tokens");
    for (int i = added.size() - 1; i >= 0; i--) {
      String content = added.get(i).path("content").asText();
      if (content.equals("<pad>") || content.equals("<unk>") || content.equals("<sep>")) {
        added.remove(i);
        ((ObjectNode) tokenizerJson.path("model").path("vocab")).remove(content);
      }
    }
    Path file = dir.resolve("tokenizer.json");
    Files.writeString(file, tokenizerJson.toString());
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> ModelTokenizer.load(file,
            ModelTokenizer.SpecialTokens.UNSET, 100))
        .hasMessage("the tokenizer has no '<sep>' token (the default sep); name its sep token in card.json's"
            + " special_tokens, or give a prompt_template there (a chat model's turn markers around {prompt})");
    try (ModelTokenizer tokenizer = ModelTokenizer.load(file, ModelTokenizer.SpecialTokens.UNSET, "{prompt}\n", 100)) {
      assertThat(tokenizer.padId()).isEqualTo(tokenizer.eosId());
      assertThat(tokenizer.checkPrompt("hi \uD83D\uDE00 caf\u00e9")).isEmpty();
    }
    // A name the card gives must be there.
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> ModelTokenizer.load(file,
            new ModelTokenizer.SpecialTokens("<pad>", null, null, null), 100))
        .hasMessage("special_tokens.pad: '<pad>' is not one token of this tokenizer");
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> ModelTokenizer.load(file,
            new ModelTokenizer.SpecialTokens(null, "<start>", null, null), 100))
        .hasMessage("special_tokens.sep: '<start>' is not one token of this tokenizer");
  }
}
