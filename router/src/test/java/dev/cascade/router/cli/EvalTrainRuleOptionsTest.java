package dev.cascade.router.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code eval} and {@code train-rule} check the configuration in every mode and their own options
 * before any model runs or any broker is asked: exit code 2 and a line naming what is wrong.
 */
class EvalTrainRuleOptionsTest {

  @TempDir
  Path dir;

  private Path data() throws Exception {
    Path data = dir.resolve("d.jsonl");
    Files.write(data, List.of("{\"prompt\": \"cat\", \"reference\": \"k ' a t\"}"));
    return data;
  }

  private String refused(String... args) {
    return DemoOptionsTest.refused(args);
  }

  @Test
  void evalDataRefusesAnUnknownKeyABadValueAndAMissingConfigFile() throws Exception {
    // Before, eval --data never loaded the configuration: all three ran the models and exited 0.
    String data = data().toString();
    assertThat(refused("eval", "--data", data, "--set", "foo=bar")).contains("foo").contains("unknown key");
    assertThat(refused("eval", "--data", data, "--set", "small.batch.size=abc")).contains("small.batch.size");
    assertThat(refused("eval", "--data", data, "--config", dir.resolve("none.properties").toString()))
        .contains("none.properties").contains("no such file");
    assertThat(refused("eval", "--data", data, "--tiers", "small,large", "--set", "foo=bar")).contains("foo");
  }

  @Test
  void trainRuleDataRefusesAnUnknownKeyABadValueAndAMissingConfigFile() throws Exception {
    String data = data().toString();
    String out = dir.resolve("r.rule").toString();
    assertThat(refused("train-rule", "--data", data, "--out", out, "--set", "foo=bar")).contains("foo");
    assertThat(refused("train-rule", "--data", data, "--out", out, "--set", "small.batch.size=abc"))
        .contains("small.batch.size");
    assertThat(refused("train-rule", "--data", data, "--out", out, "--config",
        dir.resolve("none.properties").toString())).contains("no such file");
  }

  @Test
  void aKeyGivenThatTheCommandDoesNotReadIsNamedInAWarning() {
    // A missing data file stops the run after the warning, before any model.
    CommandLine cli = CascadeCommand.commandLine();
    StringWriter err = new StringWriter();
    cli.setErr(new PrintWriter(err, true));
    assertThat(cli.execute("eval", "--data", dir.resolve("none.jsonl").toString(), "--set", "small.model=medium",
        "--set", "kafka.client.id=x")).isNotZero();
    assertThat(err.toString()).contains("warning: eval --data does not read kafka.client.id (--set), small.model (--set)")
        .contains("--small");
  }

  @Test
  void learnersAreCheckedInEveryMode() throws Exception {
    // Before, eval ignored --learners unless --rule-train was given.
    assertThat(refused("eval", "--data", data().toString(), "--learners", "xx")).contains("--learners").contains("xx");
    assertThat(refused("eval", "--outcomes", "t", "--bootstrap-servers", "127.0.0.1:1", "--learners", "xx"))
        .contains("--learners");
    assertThat(refused("train-rule", "--outcomes", "t", "--bootstrap-servers", "127.0.0.1:1", "--out",
        dir.resolve("r.rule").toString(), "--learners", "xx")).contains("--learners");
  }

  @Test
  void optionsThatWouldStopTheRunAfterTheModelsAreCheckedBeforeThem() throws Exception {
    String data = data().toString();
    String out = dir.resolve("r.rule").toString();
    assertThat(refused("eval", "--data", data, "--small", dir.resolve("nomodel").toString())).contains("--small:");
    assertThat(refused("eval", "--data", data, "--resamples", "0")).contains("--resamples");
    assertThat(refused("eval", "--data", data, "--batch-size", "0")).contains("--batch-size");
    assertThat(refused("train-rule", "--data", data, "--out", out, "--folds", "1")).contains("--folds");
    assertThat(refused("train-rule", "--data", data, "--out", out, "--rule", "bogus")).contains("--rule: ")
        .contains("bogus");
    assertThat(refused("train-rule", "--data", data, "--out", dir.toString())).contains("--out").contains("directory");
    assertThat(refused("train-rule", "--data", data, "--out", out, "--large", "nomodel")).contains("--large:");
  }
}
