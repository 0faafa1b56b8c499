package dev.cascade.router.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** {@code generate} with the bundled small model: an answer, and a refusal that names the flag. */
class GenerateCommandTest {

  @Test
  void tooManyNewTokensIsRefusedNamingTheFlagAndTheModelsLimit() {
    CommandLine cli = CascadeCommand.commandLine();
    StringWriter err = new StringWriter();
    cli.setErr(new PrintWriter(err, true));
    assertThat(cli.execute("generate", "--model", "small", "--engine", "OnnxRuntime", "--prompt", "cascade",
        "--max-new-tokens", "1000")).isEqualTo(2);
    assertThat(err.toString()).contains("--max-new-tokens: 1000 is outside 1..").contains("the most small generates")
        .doesNotContain("maxNewTokens");
  }

  @Test
  void aPromptIsAnsweredWithinTheTokensAsked() {
    CommandLine cli = CascadeCommand.commandLine();
    StringWriter out = new StringWriter();
    cli.setOut(new PrintWriter(out, true));
    assertThat(cli.execute("generate", "--model", "small", "--engine", "OnnxRuntime", "--prompt", "cascade",
        "--max-new-tokens", "2", "--json")).isZero();
    assertThat(out.toString()).contains("\"tokens\"");
    assertThat(out.toString().replaceAll(".*\"tokens\":\\[([^\\]]*)\\].*", "$1").trim().split(",")).hasSizeBetween(1, 2);
  }
}
