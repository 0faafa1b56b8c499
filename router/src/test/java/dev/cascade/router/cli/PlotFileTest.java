package dev.cascade.router.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;

class PlotFileTest {

  @TempDir Path dir;

  private static XYChart chart() {
    XYChart chart = new XYChartBuilder().width(200).height(150).title("t").build();
    chart.addSeries("s", new double[] {0, 1, 2}, new double[] {0.5, 0.6, 0.7});
    return chart;
  }

  @Test
  void theExtensionChoosesTheImageFormat() throws Exception {
    System.setProperty("java.awt.headless", "true");
    Path png = dir.resolve("sub/curves.PNG");
    PlotFile.save(chart(), png);
    assertThat(Arrays.copyOf(Files.readAllBytes(png), 4)).containsExactly(0x89, 'P', 'N', 'G');
    Path jpg = dir.resolve("curves.jpeg");
    PlotFile.save(chart(), jpg);
    assertThat(Arrays.copyOf(Files.readAllBytes(jpg), 2)).containsExactly(0xFF, 0xD8);
    Path gif = dir.resolve("curves.gif");
    PlotFile.save(chart(), gif);
    assertThat(new String(Arrays.copyOf(Files.readAllBytes(gif), 3), java.nio.charset.StandardCharsets.US_ASCII))
        .isEqualTo("GIF");
  }

  @Test
  void anotherExtensionIsRefusedBeforeAnythingIsWritten() {
    Path pdf = dir.resolve("curves.pdf");
    assertThatThrownBy(() -> PlotFile.check("--plot", pdf)).isInstanceOf(IllegalArgumentException.class)
        .hasMessage("--plot: " + pdf + ": .pdf is not an image format this draws; end the path with "
            + PlotFile.FORMATS);
    assertThatThrownBy(() -> PlotFile.save(chart(), pdf)).isInstanceOf(IllegalArgumentException.class);
    assertThat(pdf).doesNotExist();
  }
}
