package dev.cascade.models;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.types.Shape;
import ai.djl.util.PairList;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/** The key/value cache: read from the graph, the same outputs as without it, and the old layout still running. */
class KvCacheTest {

  private static final int ITEMS = 300;

  @Test
  void theBundledModelsDeclareTheirCacheInTheGraph() {
    ModelInfo small = BundledModels.generator("small").info();
    assertThat(small.kvCache()).isTrue();
    assertThat(small.cache()).isEqualTo(new CacheLayout(2, 4, 20, true));
    ModelInfo large = BundledModels.generator("large").info();
    assertThat(large.cache()).isEqualTo(new CacheLayout(5, 6, 32, true));
    assertThat(BundledModels.generator("medium").info().cache()).isEqualTo(new CacheLayout(3, 4, 36, true));
  }

  @Test
  void withoutTheCacheTheSameModelGivesTheSameOutputs() {
    List<String> prompts = prompts(ITEMS);
    List<Generation> cached = BundledModels.testOutputs("small").subList(0, ITEMS);
    try (TextGenerator plain = TextGenerators.load("small", "OnnxRuntime",
        LoadOptions.DEFAULT.withCache(CacheSettings.DISABLED))) {
      assertThat(plain.info().kvCache()).isFalse();
      assertThat(plain.info().cache()).isNotNull();
      List<Generation> full = plain.generate(prompts, 48);
      for (int i = 0; i < ITEMS; i++) {
        assertThat(full.get(i).tokens()).as(prompts.get(i)).isEqualTo(cached.get(i).tokens());
        assertThat(full.get(i).tokenLogprobs()).as(prompts.get(i))
            .containsExactly(cached.get(i).tokenLogprobs(), org.assertj.core.data.Offset.offset(1e-4f));
        assertThat(full.get(i).embedding()).as(prompts.get(i))
            .containsExactly(cached.get(i).embedding(), org.assertj.core.data.Offset.offset(1e-4f));
      }
    }
  }

  @Test
  void theLayoutWithoutACacheStillLoadsAndRuns() {
    // The small model's weights exported as they were before the cache: input_ids and attention_mask only.
    Path legacy = BundledModels.repoRoot().resolve("models/src/test/resources/models/legacy-nocache");
    List<String> prompts = prompts(ITEMS);
    List<Generation> cached = BundledModels.testOutputs("small").subList(0, ITEMS);
    try (TextGenerator old = TextGenerators.load(legacy.toString(), "OnnxRuntime")) {
      assertThat(old.info().cache()).isNull();
      assertThat(old.info().kvCache()).isFalse();
      List<Generation> out = old.generate(prompts, 48);
      for (int i = 0; i < ITEMS; i++) {
        assertThat(out.get(i).tokens()).as(prompts.get(i)).isEqualTo(cached.get(i).tokens());
      }
    }
  }

  @Test
  void rowsOfConcurrentCallsJoinAtAnyStepAndGetTheirOwnAnswers() throws Exception {
    // Calls of different prompt lengths at once: rows join a running batch whatever their length
    // (no join rule with a cache), and each still gets exactly what it gets alone.
    List<String> prompts = prompts(ITEMS);
    List<Generation> alone = BundledModels.testOutputs("small").subList(0, ITEMS);
    try (TextGenerator small = TextGenerators.load("small", "OnnxRuntime",
        LoadOptions.DEFAULT.withMaxBatch(16).withThreads(new CpuThreads(1, 1, false)))) {
      List<CompletableFuture<List<Generation>>> calls = new ArrayList<>();
      for (int c = 0; c < 6; c++) {
        List<String> mine = new ArrayList<>();
        for (int i = c; i < ITEMS; i += 6) {
          mine.add(prompts.get(i));
        }
        calls.add(CompletableFuture.supplyAsync(() -> small.generate(mine, 48)));
      }
      for (int c = 0; c < 6; c++) {
        List<Generation> got = calls.get(c).get();
        for (int j = 0, i = c; i < ITEMS; i += 6, j++) {
          assertThat(got.get(j).tokens()).as(prompts.get(i)).isEqualTo(alone.get(i).tokens());
        }
      }
    }
  }

  @Test
  void aBudgetSmallerThanOneRowStillServesOneRowAtATime() {
    List<String> prompts = prompts(20);
    List<Generation> alone = BundledModels.testOutputs("small").subList(0, 20);
    try (TextGenerator small = TextGenerators.load("small", "OnnxRuntime",
        LoadOptions.DEFAULT.withCache(new CacheSettings(true, 1)))) {
      List<Generation> out = small.generate(prompts, 48);
      for (int i = 0; i < 20; i++) {
        assertThat(out.get(i).tokens()).as(prompts.get(i)).isEqualTo(alone.get(i).tokens());
      }
    }
  }

  @Test
  void cacheInputsThatAreIncompleteOrNotFourDimensionalAreRefusedNamingTheInput() {
    PairList<String, Shape> inputs = new PairList<>();
    inputs.add("input_ids", new Shape(-1, -1));
    inputs.add("past_key_values.0.key", new Shape(-1, 4, -1, 16));
    inputs.add("past_key_values.0.value", new Shape(-1, 4, -1, 16));
    inputs.add("past_key_values.1.key", new Shape(-1, 4, -1, 16));
    assertThatThrownBy(() -> CacheLayout.of(inputs)).hasMessageContaining("has 3 past_key_values inputs; a cache over 2 layers needs 4");
    inputs.add("past_key_values.1.value", new Shape(-1, 2, -1, 32));
    // Each tensor keeps its own heads and head size.
    CacheLayout layout = CacheLayout.of(inputs).orElseThrow();
    assertThat(layout.tensorHeads()).containsExactly(4, 4, 4, 2);
    assertThat(layout.tensorHeadSizes()).containsExactly(16, 16, 16, 32);
    assertThat(layout.floatsPerPosition()).isEqualTo(3 * 64 + 64);
    inputs.add("past_key_values.2.key", new Shape(-1, 4, -1));
    inputs.add("past_key_values.2.value", new Shape(-1, 4, -1, 16));
    assertThatThrownBy(() -> CacheLayout.of(inputs)).hasMessageContaining("input past_key_values.2.key has shape")
        .hasMessageContaining("must be [batch, heads, past_sequence, head_size]");
    PairList<String, Shape> dynamic = new PairList<>();
    dynamic.add("past_key_values.0.key", new Shape(-1, -1, -1, 16));
    dynamic.add("past_key_values.0.value", new Shape(-1, -1, -1, 16));
    assertThatThrownBy(() -> CacheLayout.of(dynamic)).hasMessageContaining("dynamic heads");
    PairList<String, Shape> none = new PairList<>();
    none.add("input_ids", new Shape(-1, -1));
    assertThat(CacheLayout.of(none)).isEmpty();
    none.add("position_ids", new Shape(-1, -1));
    assertThatThrownBy(() -> CacheLayout.of(none)).hasMessageContaining("'position_ids' but no past_key_values.N");
  }

  @Test
  void theCachesElementTypeComesFromTheGraphAndMustBeOneFloatType() {
    PairList<String, Shape> inputs = new PairList<>();
    inputs.add("input_ids", new Shape(-1, -1));
    inputs.add("past_key_values.0.key", new Shape(-1, 4, -1, 16));
    inputs.add("past_key_values.0.value", new Shape(-1, 4, -1, 16));
    ai.djl.ndarray.types.DataType half = ai.djl.ndarray.types.DataType.FLOAT16;
    assertThat(CacheLayout.of(inputs, java.util.Map.of("past_key_values.0.key", half, "past_key_values.0.value", half))
        .orElseThrow().precision()).isEqualTo(half);
    assertThat(CacheLayout.of(inputs).orElseThrow().precision()).isEqualTo(ai.djl.ndarray.types.DataType.FLOAT32);
    assertThatThrownBy(() -> CacheLayout.of(inputs, java.util.Map.of("past_key_values.0.key", half)))
        .hasMessageContaining("input past_key_values.0.value is float32, unlike past_key_values.0.key (float16)");
    assertThatThrownBy(() -> CacheLayout.of(inputs, java.util.Map.of("past_key_values.0.key",
        ai.djl.ndarray.types.DataType.INT8, "past_key_values.0.value", ai.djl.ndarray.types.DataType.INT8)))
        .hasMessageContaining("input past_key_values.0.key is int8; a cache input must be float32, float16 or bfloat16");
  }

  @Test
  void aMergedDecodersBranchInputIsFedAndAnInputTheRuntimeDoesNotFeedIsRefusedNamingIt() {
    PairList<String, Shape> merged = new PairList<>();
    merged.add("input_ids", new Shape(-1, -1));
    merged.add("attention_mask", new Shape(-1, -1));
    merged.add("past_key_values.0.key", new Shape(-1, 4, -1, 16));
    merged.add("past_key_values.0.value", new Shape(-1, 4, -1, 16));
    merged.add("use_cache_branch", new Shape(1));
    assertThat(CacheLayout.of(merged).orElseThrow().cacheBranch()).isTrue();
    merged.add("token_type_ids", new Shape(-1, -1));
    assertThatThrownBy(() -> CacheLayout.of(merged)).isInstanceOf(IllegalArgumentException.class)
        .hasMessage("model: the graph takes input 'token_type_ids', which the runtime does not feed: this layout is"
            + " unsupported (it feeds input_ids, attention_mask, and with a cache position_ids,"
            + " past_key_values.N.key/.value and use_cache_branch)");
    PairList<String, Shape> wide = new PairList<>();
    wide.add("past_key_values.0.key", new Shape(-1, 4, -1, 16));
    wide.add("past_key_values.0.value", new Shape(-1, 4, -1, 16));
    wide.add("use_cache_branch", new Shape(2));
    assertThatThrownBy(() -> CacheLayout.of(wide)).hasMessageContaining("input 'use_cache_branch' is boolean (2)");
    PairList<String, Shape> branchAlone = new PairList<>();
    branchAlone.add("input_ids", new Shape(-1, -1));
    branchAlone.add("use_cache_branch", new Shape(1));
    assertThatThrownBy(() -> CacheLayout.of(branchAlone))
        .hasMessageContaining("takes input 'use_cache_branch' but no past_key_values.N inputs");
  }

  private static List<String> prompts(int n) {
    return BundledModels.testSplit().subList(0, n).stream().map(BundledModels.Item::prompt).toList();
  }
}
