package dev.cascade.router.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** {@code generate} with the bundled small model: an answer, and a refusal that names the flag. */
class GenerateCommandTest {

  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();

  /** {@code generate} on the small model with ONNX Runtime, the prompt "cascade" and {@code args}; its exit code. */
  private int generate(String... args) {
    CommandLine cli = CascadeCommand.commandLine();
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(err, true));
    String[] all = new String[args.length + 7];
    System.arraycopy(new String[] {"generate", "--model", "small", "--engine", "OnnxRuntime", "--prompt", "cascade"},
        0, all, 0, 7);
    System.arraycopy(args, 0, all, 7, args.length);
    return cli.execute(all);
  }

  @Test
  void tooManyNewTokensIsRefusedNamingTheFlagAndTheModelsLimit() {
    assertThat(generate("--max-new-tokens", "1000")).isEqualTo(2);
    assertThat(err.toString()).contains("--max-new-tokens: 1000 is outside 1..").contains("the most small generates")
        .doesNotContain("maxNewTokens");
  }

  @Test
  void aBadInputFileIsRefusedNamingTheLineNotWithATrace(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
      throws Exception {
    CommandLine cli = CascadeCommand.commandLine();
    cli.setErr(new PrintWriter(err, true));
    java.nio.file.Path bad = dir.resolve("bad.jsonl");
    java.nio.file.Files.writeString(bad, "{\"prompt\": \"cat\"}\n\n{\"prompt\": \"a#b\"}\n");
    assertThat(cli.execute("generate", "--engine", "OnnxRuntime", "--input", bad.toString())).isEqualTo(2);
    assertThat(err.toString()).contains("bad.jsonl line 3: prompt: character '#'");
    assertThat(cli.execute("generate", "--engine", "OnnxRuntime", "--input", dir.resolve("none.jsonl").toString()))
        .isEqualTo(2);
    assertThat(err.toString()).contains("none.jsonl: no such file").doesNotContain("Exception");
  }

  @Test
  void aPromptIsAnsweredWithinTheTokensAsked() {
    assertThat(generate("--max-new-tokens", "2", "--json")).isZero();
    assertThat(out.toString()).contains("\"tokens\"");
    assertThat(out.toString().replaceAll("(?s).*\"tokens\":\\[([^\\]]*)\\].*", "$1").trim().split(",")).hasSizeBetween(1, 2);
  }
}
