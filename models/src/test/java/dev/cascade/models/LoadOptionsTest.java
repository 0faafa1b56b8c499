package dev.cascade.models;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class LoadOptionsTest {

  @Test
  void eachWithChangesOneSettingAndKeepsTheOthers() {
    CpuThreads threads = new CpuThreads(2, 1, false);
    DraftWindow window = new DraftWindow(4, 4, 4);
    LoadOptions options = LoadOptions.DEFAULT.withMaxBatch(16).withThreads(threads)
        .withCache(CacheSettings.DISABLED).withDraftWindow(window);
    assertThat(options).isEqualTo(new LoadOptions(16, threads, CacheSettings.DISABLED, window));
    assertThat(options.withMaxBatch(8)).isEqualTo(new LoadOptions(8, threads, CacheSettings.DISABLED, window));
    assertThat(options.withPrefillReuse(false)).isEqualTo(new LoadOptions(16, threads, CacheSettings.DISABLED, window,
        false));
    assertThat(options.withPrefillReuse(false).withMaxBatch(8).prefillReuse()).isFalse();
    assertThat(LoadOptions.DEFAULT.prefillReuse()).isTrue();
    assertThat(LoadOptions.DEFAULT.maxBatch()).isEqualTo(TextGenerators.DEFAULT_MAX_BATCH);
  }

  @Test
  void aBadSettingIsRefusedByName() {
    assertThatThrownBy(() -> LoadOptions.DEFAULT.withMaxBatch(0)).isInstanceOf(IllegalArgumentException.class)
        .hasMessage("maxBatch: must be at least 1, got 0");
    assertThatThrownBy(() -> LoadOptions.DEFAULT.withThreads(null)).hasMessage("threads");
    assertThatThrownBy(() -> LoadOptions.DEFAULT.withCache(null)).hasMessage("cache");
    assertThatThrownBy(() -> LoadOptions.DEFAULT.withDraftWindow(null)).hasMessage("draftWindow");
    assertThatThrownBy(() -> TextGenerators.load("small", "OnnxRuntime", 0))
        .hasMessage("maxBatch: must be at least 1, got 0");
  }
}
