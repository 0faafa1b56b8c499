package dev.cascade.router.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cascade.models.DraftWindow;
import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.config.ConfigException;
import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** A bad draft window is refused with its option named, before any model loads. */
class DraftWindowOptionsTest {

  private static String refused(String... args) {
    CommandLine cli = CascadeCommand.commandLine();
    StringWriter err = new StringWriter();
    cli.setErr(new PrintWriter(err, true));
    assertThat(cli.execute(args)).isEqualTo(2);
    return err.toString();
  }

  @Test
  void theServerAndTheBenchmarkRefuseABadWindow() {
    assertThat(refused("large-model", "--draft-window", "8,16,2")).contains("--draft-window")
        .contains("1 <= min <= first <= max");
    assertThat(refused("bench", "speculative", "--draft-window", "8,x,16")).contains("--draft-window")
        .contains("not a whole number");
    assertThat(refused("large-model", "--kv-cache-mb", "-1")).contains("--kv-cache-mb");
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
