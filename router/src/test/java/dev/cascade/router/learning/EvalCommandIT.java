package dev.cascade.router.learning;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cascade.router.cli.CascadeCommand;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code cascade eval} end to end on a tiny file, with the real models and the shipped rules. */
class EvalCommandIT {

  private static final String SMALL = System.getProperty("cascade.it.small-model", "small");
  private static final String LARGE = System.getProperty("cascade.it.large-model", "large");

  @TempDir
  Path dir;

  @Test
  void printsTheJsonTheIssueSpecifiesAndDrawsThePlot() throws Exception {
    Path data = dir.resolve("tiny.jsonl");
    Files.write(data, List.of(
        "{\"prompt\": \"cat\", \"reference\": \"k ' a t\", \"kind\": \"word\"}",
        "{\"prompt\": \"defrayal\", \"reference\": \"d I# f r ' eI @L\", \"kind\": \"word\"}",
        "{\"prompt\": \"house\", \"reference\": \"h ' aU s\", \"kind\": \"word\"}",
        "{\"prompt\": \"the dog\", \"reference\": \"D @2 | d ' 0 g\", \"kind\": \"phrase\"}",
        "{\"prompt\": \"having become hyaline\", \"reference\": \"h , a v I N | b I k , V m | h ' aI @ l , aI n\","
            + " \"kind\": \"phrase\"}",
        "{\"prompt\": \"terrorism should be\", \"reference\": \"t ' E r 3 r- , I z @ m | S , U d | b ' i:\","
            + " \"kind\": \"phrase\"}"));
    Path plot = dir.resolve("curves.png");
    StringWriter out = new StringWriter();
    CommandLine cli = CascadeCommand.commandLine();
    cli.setOut(new PrintWriter(out));

    int code = cli.execute("eval", "--data", data.toString(), "--json", "--plot", plot.toString(),
        "--small", SMALL, "--large", LARGE, "--engine", "OnnxRuntime", "--resamples", "50");

    assertThat(code).isZero();
    JsonNode json = new ObjectMapper().readTree(out.toString());
    assertThat(json.get("n").asInt()).isEqualTo(6);
    assertThat(json.get("small_accuracy").isNumber()).isTrue();
    assertThat(json.get("large_accuracy").isNumber()).isTrue();
    List<String> rules = new ArrayList<>();
    json.get("rules").fieldNames().forEachRemaining(rules::add);
    assertThat(rules).containsExactly("random", "chow-sum", "chow-average", "chow-quantile-0",
        "chow-quantile-0.1", "chow-quantile-0.5", "posthoc-quantile", "posthoc-embed", "oracle");
    // APGR and CPT are null where both models score the same (no gap to recover).
    boolean gap = json.get("small_accuracy").asDouble() != json.get("large_accuracy").asDouble();
    for (String rule : rules) {
      JsonNode metrics = json.get("rules").get(rule);
      for (String key : List.of("auc_df", "gain_over_random_pct", "oracle_share_pct", "apgr", "cpt50",
          "cpt80", "cpt95", "accuracy_at_20pct")) {
        boolean gapMetric = key.equals("apgr") || key.startsWith("cpt");
        assertThat(gapMetric && !gap ? metrics.get(key).isNull() : metrics.get(key).isNumber())
            .as(rule + "." + key).isTrue();
      }
    }
    assertThat(json.get("source").asText()).isEqualTo(data.toString());
    assertThat(json.get("learned_rules")).hasSize(2);
    for (String learned : List.of("posthoc-quantile", "posthoc-embed")) {
      JsonNode versus = json.get("rules").get(learned).get("vs_best_chow");
      assertThat(versus.has("delta") && versus.has("ci_low") && versus.has("ci_high")).isTrue();
    }
    assertThat(json.get("by_kind").has("word")).isTrue();
    byte[] png = Files.readAllBytes(plot);
    assertThat(png).startsWith((byte) 0x89, (byte) 'P', (byte) 'N', (byte) 'G');
  }

  @Test
  void earlyDeferAddsItsCasesAndTheExactOnesChangeNoDecision() throws Exception {
    Path data = dir.resolve("six.jsonl");
    Files.write(data, List.of(
        "{\"prompt\": \"cat\", \"reference\": \"k ' a t\", \"kind\": \"word\"}",
        "{\"prompt\": \"defrayal\", \"reference\": \"d I# f r ' eI @L\", \"kind\": \"word\"}",
        "{\"prompt\": \"house\", \"reference\": \"h ' aU s\", \"kind\": \"word\"}",
        "{\"prompt\": \"the dog\", \"reference\": \"D @2 | d ' 0 g\", \"kind\": \"phrase\"}",
        "{\"prompt\": \"having become hyaline\", \"reference\": \"h , a v I N | b I k , V m | h ' aI @ l , aI n\","
            + " \"kind\": \"phrase\"}",
        "{\"prompt\": \"terrorism should be\", \"reference\": \"t ' E r 3 r- , I z @ m | S , U d | b ' i:\","
            + " \"kind\": \"phrase\"}"));
    StringWriter out = new StringWriter();
    CommandLine cli = CascadeCommand.commandLine();
    cli.setOut(new PrintWriter(out));

    int code = cli.execute("eval", "--data", data.toString(), "--json", "--early-defer", "--early-defer-every", "1,4",
        "--small", SMALL, "--large", LARGE, "--engine", "OnnxRuntime", "--resamples", "20");

    assertThat(code).isZero();
    JsonNode early = new ObjectMapper().readTree(out.toString()).get("early_defer");
    assertThat(early.get("n").asInt()).isEqualTo(6);
    List<String> cases = new ArrayList<>();
    for (JsonNode c : early.get("cases")) {
      cases.add(c.get("rule").asText()
          + (c.get("exact").asBoolean() ? "" : "+" + c.get("margin").asDouble() + "/" + c.get("every").asInt()));
      if (c.get("exact").asBoolean()) {
        assertThat(c.get("decisions_changed").asInt()).as(c.toString()).isZero();
      }
      assertThat(c.get("deferred_steps_early").asLong()).isLessThanOrEqualTo(c.get("deferred_steps_full").asLong());
    }
    // Nine Chow-Sum rates, Chow-Quantile at 0, and two margins each for Chow-Average and the learned
    // rule that needs no embedding (posthoc-embed cannot score an unfinished answer), checked every
    // token and every fourth.
    assertThat(cases).hasSize(18).contains("chow-quantile-0", "chow-average+0.1/1", "chow-average+0.1/4",
        "posthoc-quantile+0.15/1", "posthoc-quantile+0.15/4").noneMatch(c -> c.startsWith("posthoc-embed"));
    assertThat(cli.execute("eval", "--data", data.toString(), "--early-defer", "--early-defer-every", "0"))
        .isEqualTo(CommandLine.ExitCode.USAGE);
  }

  @Test
  void warnsWhenTheShippedRulesWereTrainedOnSomeOfTheItems() throws Exception {
    Path data = dir.resolve("mixed.jsonl");
    Files.write(data, List.of( // two prompts of the validation split, the shipped rules' training data
        "{\"prompt\": \"impel\", \"reference\": \"I m p ' E l\", \"kind\": \"word\"}",
        "{\"prompt\": \"radiuses\", \"reference\": \"r ' eI d I2 ; @ s I# z\", \"kind\": \"word\"}",
        "{\"prompt\": \"defrayal\", \"reference\": \"d I# f r ' eI @L\", \"kind\": \"word\"}",
        "{\"prompt\": \"having become hyaline\", \"reference\": \"h , a v I N | b I k , V m | h ' aI @ l , aI n\","
            + " \"kind\": \"phrase\"}"));
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cli = CascadeCommand.commandLine();
    cli.setOut(new PrintWriter(out));
    cli.setErr(new PrintWriter(err));

    int code = cli.execute("eval", "--data", data.toString(), "--json", "--small", SMALL, "--large", LARGE,
        "--engine", "OnnxRuntime", "--resamples", "20");

    assertThat(code).isZero();
    assertThat(err.toString()).contains("warning: posthoc-quantile v0 was trained on 2 of the 4 items evaluated (50.0%)",
        "warning: posthoc-embed v0 was trained on 2 of the 4 items evaluated (50.0%)");
    JsonNode warnings = new ObjectMapper().readTree(out.toString()).get("warnings");
    assertThat(warnings).hasSize(2);
    assertThat(warnings.get(0).get("rule").asText()).isEqualTo("posthoc-quantile");
    assertThat(warnings.get(0).get("overlapping").asInt()).isEqualTo(2);
    assertThat(warnings.get(0).get("fraction").asDouble()).isEqualTo(0.5);
  }
}
