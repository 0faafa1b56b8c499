package dev.cascade.router.routing;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** The median of the recent generation times, per token limit. */
class GenerationTimesTest {

  @Test
  void noEstimateUntilFiveBatchesOfTheLimitThenTheirMedian() {
    GenerationTimes times = new GenerationTimes();
    for (double ms : new double[] {900, 100, 300, 200}) {
      times.record(48, ms);
    }
    assertThat(times.medianMs(48)).isNaN();
    times.record(48, 250);
    assertThat(times.medianMs(48)).isEqualTo(250); // 100 200 250 300 900: one slow batch moves it not
    times.record(48, 260);
    assertThat(times.medianMs(48)).as("even count: the lower middle").isEqualTo(250);
    assertThat(times.medianMs(8)).as("another limit has none").isNaN();
    times.record(48, Double.NaN);
    times.record(48, -5);
    assertThat(times.samples(48)).as("no time, not recorded").isEqualTo(6);
  }

  @Test
  void onlyTheLastWindowOfBatchesCount() {
    GenerationTimes times = new GenerationTimes();
    for (int i = 0; i < GenerationTimes.WINDOW; i++) {
      times.record(16, 1_000);
    }
    assertThat(times.medianMs(16)).isEqualTo(1_000);
    // The model got faster: once more than half the window is fast, the median follows.
    for (int i = 0; i < GenerationTimes.WINDOW / 2; i++) {
      times.record(16, 50);
    }
    assertThat(times.medianMs(16)).isEqualTo(50);
    for (int i = 0; i < GenerationTimes.WINDOW / 2; i++) {
      times.record(16, 60);
    }
    assertThat(times.samples(16)).isEqualTo(GenerationTimes.WINDOW);
    assertThat(times.medianMs(16)).as("the 1,000 ms batches have left the window").isEqualTo(50);
  }
}
