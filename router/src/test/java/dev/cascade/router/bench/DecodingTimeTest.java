package dev.cascade.router.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.cascade.models.DecodingStats;
import java.util.List;
import org.junit.jupiter.api.Test;

class DecodingTimeTest {

  private static final long MS = 1_000_000L;

  @Test
  void sharesAreOfTheTimeUpToTheLastStepAndTheWaitAfterItIsApart() {
    // 1,000 ms in all: 600 in runs, 100 in the rest of the steps, 50 between steps, 250 waiting, of
    // which the last 150 after the last step (still waiting at the reading); 3 waits begun.
    DecodingStats during = new DecodingStats(40, 1_200, 700 * MS, 600 * MS, 250 * MS, 1_000 * MS, 3, 150 * MS);
    DecodingTime t = DecodingTime.of(during);
    assertThat(t.spanMs()).isCloseTo(850, within(1e-9));
    assertThat(t.tailMs()).isCloseTo(150, within(1e-9));
    assertThat(t.run()).isCloseTo(600.0 / 850, within(1e-9));
    assertThat(t.stepRest()).isCloseTo(100.0 / 850, within(1e-9));
    assertThat(t.betweenSteps()).isCloseTo(50.0 / 850, within(1e-9));
    assertThat(t.waiting()).isCloseTo(100.0 / 850, within(1e-9));
    assertThat(t.run() + t.stepRest() + t.betweenSteps() + t.waiting()).isCloseTo(1, within(1e-9));
    assertThat(t.waits()).as("the wait after the last step is not one of those before or between steps").isEqualTo(2);
    assertThat(t.rowsPerPass()).isEqualTo(30);
  }

  @Test
  void aThreadStillDecodingAtTheReadingHasNoTail() {
    DecodingStats during = new DecodingStats(10, 100, 900 * MS, 800 * MS, 50 * MS, 1_000 * MS, 1, 0);
    DecodingTime t = DecodingTime.of(during);
    assertThat(t.tailMs()).isZero();
    assertThat(t.waits()).isEqualTo(1);
    assertThat(t.waiting()).isCloseTo(0.05, within(1e-9));
    assertThat(DecodingTime.median(List.of(t, t, DecodingTime.of(new DecodingStats(10, 100, 1_000 * MS, 800 * MS, 0,
        1_000 * MS, 0, 0))))).isEqualTo(t);
  }
}
