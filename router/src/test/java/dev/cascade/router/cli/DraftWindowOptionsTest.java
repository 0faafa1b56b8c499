package dev.cascade.router.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cascade.models.DraftWindow;
import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.config.ConfigException;
import org.junit.jupiter.api.Test;

/** A bad draft window is refused with its option named, before any model loads. */
class DraftWindowOptionsTest {

  @Test
  void theServerAndTheBenchmarkRefuseABadWindow() {
    assertThat(DemoOptionsTest.refused("large-model", "--draft-window", "8,16,2")).contains("--draft-window")
        .contains("1 <= min <= first <= max");
    assertThat(DemoOptionsTest.refused("bench", "speculative", "--draft-window", "8,x,16")).contains("--draft-window")
        .contains("not a whole number");
    assertThat(DemoOptionsTest.refused("large-model", "--kv-cache-mb", "-1")).contains("--kv-cache-mb");
  }

  @Test
  void theSettingIsParsedAndCheckedByTheConfiguration() {
    assertThat(CascadeConfig.defaults().draftWindow()).isEqualTo(DraftWindow.DEFAULT);
    assertThat(CascadeConfig.defaults().with(CascadeConfig.MODEL_DRAFT_WINDOW, "32").draftWindow())
        .isEqualTo(new DraftWindow(32, 32, 32));
    assertThatThrownBy(() -> CascadeConfig.defaults().with(CascadeConfig.MODEL_DRAFT_WINDOW, "0"))
        .isInstanceOf(ConfigException.class).hasMessageContaining("model.draft-window");
  }
}
