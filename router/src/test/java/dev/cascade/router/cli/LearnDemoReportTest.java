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
        .setRule("chow-sum").setScore(0).setThreshold(threshold).setPolicyVersion(0)
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
}
