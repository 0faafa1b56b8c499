package dev.cascade.models;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A decoder of another architecture, exported in the standard cache layout as it is: rotary
 * positions, RMSNorm, a gated MLP, a byte-level BPE {@code tokenizer.json}, and no {@code hidden}
 * output (built by {@code models/train/second_arch.py}). The runtime reads its layers, heads and
 * head size from the graph and must decode exactly as PyTorch does without a cache.
 */
class SecondArchitectureTest {

  private static final Path DIR = BundledModels.repoRoot().resolve("models/src/test/resources/models/rotary-bpe");
  private static JsonNode fixture;
  private static List<String> prompts;

  @BeforeAll
  static void readFixture() throws Exception {
    fixture = new ObjectMapper().readTree(DIR.resolve("greedy.json").toFile());
    prompts = new ArrayList<>();
    fixture.forEach(item -> prompts.add(item.get("prompt").asText()));
  }

  @Test
  void itsShapeComesFromTheGraphAndItHasNoEmbedding() {
    try (TextGenerator model = TextGenerators.load(DIR.toString(), "OnnxRuntime")) {
      ModelInfo info = model.info();
      assertThat(info.cache()).isEqualTo(new CacheLayout(2, 4, 16, true));
      assertThat(info.kvCache()).isTrue();
      assertThat(info.hasEmbedding()).isFalse();
      assertThat(info.contextLength()).isEqualTo(128);
      Generation g = model.generate(List.of(prompts.get(0)), 48).get(0);
      assertThat(g.embedding()).isNull();
    }
  }

  @Test
  void theByteLevelBpeTokenizerEncodesAsTheExportDid() throws Exception {
    try (DjlTextGenerator model = (DjlTextGenerator) TextGenerators.load(DIR.toString(), "OnnxRuntime")) {
      for (JsonNode item : fixture) {
        long[] expected = new long[item.get("prompt_ids").size()];
        for (int i = 0; i < expected.length; i++) {
          expected[i] = item.get("prompt_ids").get(i).asLong();
        }
        assertThat(model.tokenizer().encodePrompt(item.get("prompt").asText())).as(item.get("prompt").asText())
            .containsExactly(expected);
      }
    }
  }

  /**
   * The same decoder in the layout of Optimum's merged decoder ({@code decoder_model_merged}, built
   * by {@code models/train/merged_decoder.py}): a {@code use_cache_branch} input choosing between
   * the decoder and the decoder reading none of the past. Fed false on every pass, the passes after
   * the prefill would ignore the cache and answer wrongly.
   */
  @Test
  void aMergedOptimumDecoderDecodesAsPyTorchWithAndWithoutTheCache() {
    greedyOutputsEqualPyTorchs(DIR.resolveSibling("rotary-bpe-merged"));
    try (TextGenerator model = TextGenerators.load(DIR.resolveSibling("rotary-bpe-merged").toString(), "OnnxRuntime")) {
      assertThat(model.info().cache().cacheBranch()).isTrue();
    }
  }

  /**
   * The same decoder with int32 {@code input_ids}, {@code attention_mask} and {@code position_ids}
   * (built by {@code models/train/int32_inputs.py}), as exports for engines that prefer 32-bit
   * indices declare them: fed int64, ONNX Runtime refuses the first pass.
   */
  @Test
  void int32IntegerInputsAreFedInTheirOwnType() {
    greedyOutputsEqualPyTorchs(DIR.resolveSibling("rotary-bpe-int32"));
    try (TextGenerator int32 = TextGenerators.load(DIR.resolveSibling("rotary-bpe-int32").toString(), "OnnxRuntime");
        TextGenerator int64 = TextGenerators.load(DIR.toString(), "OnnxRuntime")) {
      assertThat(int32.scorePrompts(prompts.subList(0, 4))).usingRecursiveFieldByFieldElementComparator()
          .isEqualTo(int64.scorePrompts(prompts.subList(0, 4)));
    }
  }

  /**
   * A card's {@code prompt_template} in place of the separator: {@code {prompt}<sep>} gives the
   * model the same input as the default (prompt, then the separator), so the same answers; the
   * card names no separator.
   */
  @Test
  void aPromptTemplateFromTheCardGivesTheModelItsInput(@org.junit.jupiter.api.io.TempDir Path copy) throws Exception {
    for (String file : List.of("model.onnx", "tokenizer.json")) {
      java.nio.file.Files.copy(DIR.resolve(file), copy.resolve(file));
    }
    com.fasterxml.jackson.databind.node.ObjectNode card = (com.fasterxml.jackson.databind.node.ObjectNode)
        new ObjectMapper().readTree(DIR.resolve("card.json").toFile());
    card.put("prompt_template", "{prompt}<sep>");
    card.putObject("special_tokens").putNull("sep");
    java.nio.file.Files.writeString(copy.resolve("card.json"), card.toString());
    greedyOutputsEqualPyTorchs(copy);
    card.put("prompt_template", "<sep>{prompt}<sep>");
    java.nio.file.Files.writeString(copy.resolve("card.json"), card.toString());
    try (TextGenerator framed = TextGenerators.load(copy.toString(), "OnnxRuntime");
        TextGenerator plain = TextGenerators.load(DIR.toString(), "OnnxRuntime")) {
      // Another input, another answer somewhere: the template is what the model reads.
      assertThat(framed.generate(prompts, 48).stream().map(Generation::text).toList())
          .isNotEqualTo(plain.generate(prompts, 48).stream().map(Generation::text).toList());
    }
    // What is wrong in the card is said of the card.
    card.put("prompt_template", "Q: <sep>");
    java.nio.file.Files.writeString(copy.resolve("card.json"), card.toString());
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> TextGenerators.load(copy.toString(), "OnnxRuntime"))
        .hasMessage(copy.resolve("card.json") + ": prompt_template: must hold {prompt} once, where the prompt goes;"
            + " was \"Q: <sep>\"");
    card.remove("prompt_template");
    card.putObject("special_tokens").put("sep", "<start>");
    java.nio.file.Files.writeString(copy.resolve("card.json"), card.toString());
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> TextGenerators.load(copy.toString(), "OnnxRuntime"))
        .hasMessage(copy.resolve("card.json") + ": special_tokens.sep: '<start>' is not one token of this tokenizer");
  }

  /**
   * A card whose {@code special_tokens.eos} lists two tokens: an answer ends at either, as a chat
   * model's ends at its end-of-turn token or at end-of-sequence. The second here is a token the
   * fixture's first answer holds after its start: that answer stops just before it.
   */
  @Test
  void everyEndTokenTheCardListsEndsAnAnswer(@org.junit.jupiter.api.io.TempDir Path copy) throws Exception {
    for (String file : List.of("model.onnx", "tokenizer.json")) {
      java.nio.file.Files.copy(DIR.resolve(file), copy.resolve(file));
    }
    JsonNode first = fixture.get(0).get("tokens");
    String end = null;
    int at = -1;
    try (ModelTokenizer tokenizer = ModelTokenizer.load(DIR.resolve("tokenizer.json"),
        ModelTokenizer.SpecialTokens.UNSET, 100)) {
      for (int k = 1; k < first.size() && end == null; k++) {
        String text = tokenizer.decode(new int[] {first.get(k).asInt()});
        long[] back = tokenizer.encodePrompt(text);
        if (!text.isBlank() && back.length == 1 && back[0] == first.get(k).asInt()) {
          end = text;
          at = k;
        }
      }
    }
    assertThat(end).as("a token of the first answer that is its own text").isNotNull();
    com.fasterxml.jackson.databind.node.ObjectNode card = (com.fasterxml.jackson.databind.node.ObjectNode)
        new ObjectMapper().readTree(DIR.resolve("card.json").toFile());
    card.putObject("special_tokens").putArray("eos").add("<eos>").add(end);
    java.nio.file.Files.writeString(copy.resolve("card.json"), card.toString());
    try (TextGenerator model = TextGenerators.load(copy.toString(), "OnnxRuntime")) {
      int[] expected = new int[at];
      for (int t = 0; t < at; t++) {
        expected[t] = first.get(t).asInt();
      }
      assertThat(model.generate(List.of(prompts.get(0)), 48).get(0).tokens()).containsExactly(expected);
      // A draft holding the second end token is no draft: it ends the answer there.
      assertThat(model.checkDraft(new int[] {first.get(0).asInt(), first.get(at).asInt()}, 48)).get(
          org.assertj.core.api.InstanceOfAssertFactories.STRING).contains("token 1 is " + first.get(at).asInt()
          + ", the end-of-sequence token");
      assertThat(model.checkDraft(expected, 48)).isEmpty();
    }
  }

  @Test
  void anIntegerInputOfAnotherTypeIsRefusedByName() {
    ai.djl.util.PairList<String, ai.djl.ndarray.types.Shape> inputs = new ai.djl.util.PairList<>();
    inputs.add("input_ids", new ai.djl.ndarray.types.Shape(-1, -1));
    inputs.add("attention_mask", new ai.djl.ndarray.types.Shape(-1, -1));
    assertThat(GraphInputs.of(inputs, java.util.Map.of("attention_mask", ai.djl.ndarray.types.DataType.INT32)))
        .isEqualTo(new GraphInputs(null, ai.djl.ndarray.types.DataType.INT64, ai.djl.ndarray.types.DataType.INT32,
            ai.djl.ndarray.types.DataType.INT64));
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> GraphInputs.of(inputs,
            java.util.Map.of("input_ids", ai.djl.ndarray.types.DataType.FLOAT32)))
        .hasMessage("model: input 'input_ids' is float32; the runtime feeds it as int64 or int32, whichever the graph"
            + " declares");
  }

  /**
   * The same decoder with layer 1's cache crossing the graph's boundary in other shapes, key [batch,
   * 2, s, 32] and value [batch, 8, s, 8] (built by {@code models/train/reshaped_cache.py}), as models
   * with per-layer key/value head counts, or keys and values of different head sizes, have them:
   * each tensor is kept and fed in its own shape.
   */
  @Test
  void cacheTensorsOfDifferentShapesAreEachKeptInTheirOwn() {
    greedyOutputsEqualPyTorchs(DIR.resolveSibling("rotary-bpe-reshaped"));
    try (TextGenerator model = TextGenerators.load(DIR.resolveSibling("rotary-bpe-reshaped").toString(),
        "OnnxRuntime")) {
      assertThat(model.info().cache().tensorHeads()).containsExactly(4, 4, 2, 8);
      assertThat(model.info().cache().tensorHeadSizes()).containsExactly(16, 16, 32, 8);
    }
  }

  @Test
  void greedyOutputsEqualPyTorchsWithAndWithoutTheCache() {
    greedyOutputsEqualPyTorchs(DIR);
  }

  private static void greedyOutputsEqualPyTorchs(Path dir) {
    for (CacheSettings cache : List.of(CacheSettings.DEFAULT, CacheSettings.DISABLED)) {
      try (TextGenerator model = TextGenerators.load(dir.toString(), "OnnxRuntime",
          LoadOptions.DEFAULT.withMaxBatch(8).withCache(cache))) {
        List<Generation> out = model.generate(prompts, 48);
        for (int i = 0; i < prompts.size(); i++) {
          JsonNode item = fixture.get(i);
          int[] expected = new int[item.get("tokens").size()];
          for (int t = 0; t < expected.length; t++) {
            expected[t] = item.get("tokens").get(t).asInt();
          }
          assertThat(out.get(i).tokens()).as(cache + " " + prompts.get(i)).containsExactly(expected);
          assertThat(out.get(i).text()).as(prompts.get(i)).isEqualTo(item.get("text").asText());
        }
      }
    }
  }
  /**
   * The same decoder with its cache and logits in float16, then bfloat16, at the graph's boundary
   * (built by {@code models/train/half_io.py}): the runtime reads the cache's type from the graph,
   * feeds the past in it and reads the half outputs. Rounding the cache to 16 bits may change a
   * greedy choice where two tokens are nearly tied, so the answers are compared with PyTorch's
   * float32 ones by their tokens' agreement; a cache fed or read in the wrong format (raw bytes taken
   * for floats) loses nearly all of it.
   */
  @org.junit.jupiter.params.ParameterizedTest
  @org.junit.jupiter.params.provider.CsvSource({"rotary-bpe-fp16,FLOAT16", "rotary-bpe-bf16,BFLOAT16"})
  void aHalfPrecisionCacheIsFedAndReadInItsOwnType(String name, String type) {
    Path dir = DIR.resolveSibling(name);
    try (TextGenerator model = TextGenerators.load(dir.toString(), "OnnxRuntime",
        LoadOptions.DEFAULT.withMaxBatch(8))) {
      assertThat(model.info().cache()).isEqualTo(new CacheLayout(2, 4, 16, true,
          ai.djl.ndarray.types.DataType.valueOf(type)));
      assertThat(model.info().kvCache()).isTrue();
      List<Generation> out = model.generate(prompts, 48);
      int same = 0;
      int total = 0;
      int wholeAnswers = 0;
      for (int i = 0; i < prompts.size(); i++) {
        JsonNode expected = fixture.get(i).get("tokens");
        int[] tokens = out.get(i).tokens();
        boolean whole = tokens.length == expected.size();
        for (int t = 0; t < expected.size(); t++) {
          total++;
          if (t < tokens.length && tokens[t] == expected.get(t).asInt()) {
            same++;
          } else {
            whole = false;
          }
        }
        wholeAnswers += whole ? 1 : 0;
      }
      // The prompt pass (pre-generation features) reads the 16-bit logits too: as the float32 model's,
      // to the precision of the cast logits.
      try (TextGenerator full = TextGenerators.load(DIR.toString(), "OnnxRuntime")) {
        List<PromptScore> halfScores = model.scorePrompts(prompts.subList(0, 8));
        List<PromptScore> fullScores = full.scorePrompts(prompts.subList(0, 8));
        for (int i = 0; i < 8; i++) {
          assertThat(halfScores.get(i).tokens()).isEqualTo(fullScores.get(i).tokens());
          assertThat(halfScores.get(i).meanLogprob()).as(name + " " + prompts.get(i))
              .isCloseTo(fullScores.get(i).meanLogprob(), org.assertj.core.data.Offset.offset(0.05));
        }
      }
      // Those 8 then decode from the prompt pass's 16-bit prefills, to the same answers.
      long reused = model.prefillsReused().orElseThrow();
      List<Generation> fromPrefills = model.generate(prompts.subList(0, 8), 48);
      assertThat(model.prefillsReused()).hasValue(reused + 8);
      for (int i = 0; i < 8; i++) {
        assertThat(fromPrefills.get(i).tokens()).as(name + " from its prefill: " + prompts.get(i))
            .containsExactly(out.get(i).tokens());
      }
      assertThat((double) same / total).as(name + ": tokens as PyTorch's float32 answers").isGreaterThan(0.95);
      assertThat(wholeAnswers).as(name + ": whole answers as PyTorch's").isGreaterThanOrEqualTo(prompts.size() * 9 / 10);
    }
  }
}
