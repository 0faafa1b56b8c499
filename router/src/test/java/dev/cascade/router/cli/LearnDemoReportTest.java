package dev.cascade.router.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.demo.DemoWorkload;
import dev.cascade.router.demo.Example;
import dev.cascade.schemas.avro.Decision;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.avro.ServedBy;
import dev.cascade.schemas.avro.StageLatencies;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code demo --learn}'s plot and report, from a stream's outcomes (no models, no broker). */
class LearnDemoReportTest {

  static RoutingOutcome outcome(int i, boolean escalated, double threshold) {
    return RoutingOutcome.newBuilder()
        .setRequestId("learn-" + i).setPrompt("p" + i).setSmallText("a").setFeatures(new HashMap<>())
        .setRule("chow-sum").setScore(0.5 * i).setThreshold(threshold).setPolicyVersion(0)
        .setShadowScores(new HashMap<>(Map.of("chow-sum", 0.5 * i)))
        .setDecision(escalated ? Decision.DEFER : Decision.ACCEPT)
        .setServedBy(escalated ? ServedBy.LARGE : ServedBy.SMALL).setLargeText(escalated ? "a" : null)
        .setLatencies(StageLatencies.newBuilder().build()).setCreatedAtMs(0).setCompletedAtMs(0).build();
  }

  static Map<String, RoutingOutcome> outcomes(int n) {
    Map<String, RoutingOutcome> out = new HashMap<>();
    for (int i = 0; i < n; i++) {
      out.put("learn-" + i, outcome(i, i % 3 == 0, 1.0 + i));
    }
    return out;
  }

  static LearnDemo.Settings settings(int n, Path plot) {
    List<Example> examples = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      examples.add(new Example("p" + i, "a", "word"));
    }
    return new LearnDemo.Settings(examples, "test", 15, 0.3, 0.05, 250, false, plot);
  }

  @Test
  void fewerRequestsThanTheWindowStillDrawAPlotWithTheThresholdFromRequestZero(@TempDir Path dir) throws Exception {
    // Before, 200 requests with --window 250 gave the rate no point, and XChart refused the empty
    // series after the whole run ("Y-Axis data cannot be empty"), losing the report.
    LearnDemo.PlotSeries series = LearnDemo.plotSeries(200, 250, outcomes(200));
    assertThat(series.window()).isEqualTo(50);
    assertThat(series.thresholdX()).hasSize(200).first().isEqualTo(0.0);
    assertThat(series.threshold().get(0)).isEqualTo(1.0);
    assertThat(series.rateX()).hasSize(151).first().isEqualTo(49.0);
    assertThat(series.rate().get(0)).isEqualTo(17.0 / 50); // requests 0, 3, ..., 48

    Path png = dir.resolve("learn.png");
    String line = LearnDemo.plot(settings(200, png),
        new DemoWorkload.Result(Map.of(), Map.of(), List.of(), outcomes(200)), List.of(), png);
    assertThat(line).startsWith("plot: " + png).contains("rolling over 50 requests");
    assertThat(Files.size(png)).isPositive();
  }

  @Test
  void aLongStreamKeepsTheReportsWindowAndTheThresholdStillStartsAtZero() {
    LearnDemo.PlotSeries series = LearnDemo.plotSeries(400, 100, outcomes(400));
    assertThat(series.window()).isEqualTo(100);
    assertThat(series.thresholdX().get(0)).isEqualTo(0.0);
    assertThat(series.rateX().get(0)).isEqualTo(99.0);
    assertThat(LearnDemo.plotWindow(3500, 250)).isEqualTo(250);
  }

  @Test
  void withNoOutcomeNothingIsDrawnAndTheLineSaysSo(@TempDir Path dir) throws Exception {
    Path png = dir.resolve("none.png");
    String line = LearnDemo.plot(settings(5, png), new DemoWorkload.Result(Map.of(), Map.of(), List.of(), Map.of()),
        List.of(), png);
    assertThat(line).startsWith("warning: --plot").contains("not drawn");
    assertThat(png).doesNotExist();
  }

  @Test
  void aPlotPathThatIsADirectoryIsRefusedBeforeTheRun(@TempDir Path dir) {
    assertThat(DemoOptionsTest.refused("demo", "--learn", "--plot", dir.toString()))
        .contains("--plot").contains("is a directory");
  }

  @Test
  void theDataSaysWhatWasSentKindsInOrderWithTheirCounts() {
    List<Example> words = settings(400, null).examples();
    // Before: "test split, words then phrases" for 400 requests that were all words.
    assertThat(LearnDemo.describe("test split", words)).isEqualTo("test split: 400 words");
    List<Example> shifted = new ArrayList<>(words);
    shifted.add(new Example("a b", "x", "phrase"));
    shifted.add(new Example("c d", "x", "phrase"));
    assertThat(LearnDemo.describe("test split", shifted)).isEqualTo("test split: 400 words, then 2 phrases");
    List<Example> mixed = new ArrayList<>();
    for (int i = 0; i < 6; i++) {
      mixed.add(new Example("p", "x", i % 2 == 0 ? "word" : "phrase"));
    }
    mixed.add(new Example("p", "x", null));
    assertThat(LearnDemo.describe("f.jsonl", mixed)).isEqualTo("f.jsonl: 3 words, 3 phrases, 1 without a kind, interleaved");
    assertThat(LearnDemo.kindCounts(mixed)).containsExactly(Map.entry("word", 3), Map.entry("phrase", 3),
        Map.entry("none", 1));
  }

  @Test
  void fewerRequestsThanTheLearnerNeedsToTrainAreSaidToPublishNothing() {
    assertThat(LearnDemo.tooFewToPublish(400, 600)).get().asString().startsWith("warning: 400 requests")
        .contains("learn.min-labels").contains("no rule can be published");
    assertThat(LearnDemo.tooFewToPublish(600, 600)).isEmpty();
  }

  @Test
  void theTextReportHasReadableLinesNotJavaMaps() throws Exception {
    int n = 200;
    LearnDemo.Settings settings = settings(n, null);
    List<String> largeTexts = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      largeTexts.add("a");
    }
    Map<String, Object> report = LearnDemo.report(settings,
        new DemoWorkload.Result(Map.of(), Map.of(), List.of(), outcomes(n)), largeTexts, List.of(), Map.of(),
        new io.prometheus.metrics.model.registry.PrometheusRegistry());
    report.put("warnings", List.of(LearnDemo.tooFewToPublish(n, 600).orElseThrow()));
    String text = LearnDemo.text(report);
    // Before: "second half: {requests=100, decided_by_published_rules=0, ...=null}" and "swaps: []".
    assertThat(text).doesNotContain("{").doesNotContain("=").doesNotContain("[")
        .contains("data test: 200 words; 200 requests")
        .contains("second half (100 requests): no published rule decided any of them")
        .contains("labels: the requests' references; the learner's by source: feedback 0, reference 0, teacher 0")
        .contains("published rules in force: none")
        .contains("warning: 200 requests");
    assertThat(text).doesNotContain("still training");
    String json = new com.fasterxml.jackson.databind.ObjectMapper().writeValueAsString(report);
    assertThat(json).contains("\"data\":\"test: 200 words\"").contains("\"kinds\":{\"word\":200}")
        .contains("\"round_cut_off\":false");
  }

  @Test
  void aRoundStillTrainingWhenTheLearnerStoppedIsReported() throws Exception {
    int n = 200;
    List<String> largeTexts = new ArrayList<>(java.util.Collections.nCopies(n, "a"));
    var registry = new io.prometheus.metrics.model.registry.PrometheusRegistry();
    new dev.cascade.router.learner.LearnerMetrics(registry).trainingRunning(true);
    Map<String, Object> report = LearnDemo.report(settings(n, null),
        new DemoWorkload.Result(Map.of(), Map.of(), List.of(), outcomes(n)), largeTexts, List.of(), Map.of(), registry);
    report.put("warnings", List.of());
    assertThat(report).containsEntry("round_cut_off", true);
    assertThat(LearnDemo.text(report)).startsWith("data test: 200 words").contains(
        "rules published 0, rejected 0 (one more round still training when the stream ended)");
  }
}
