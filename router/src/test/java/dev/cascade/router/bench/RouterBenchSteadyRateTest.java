package dev.cascade.router.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.junit.jupiter.api.Test;

class RouterBenchSteadyRateTest {

  private static final long MS = 1_000_000L;

  /** {@code count} answers read in one poll at {@code ms}. */
  private static List<Long> poll(int count, long ms) {
    return new ArrayList<>(Collections.nCopies(count, ms * MS));
  }

  private static long first(List<Long> answered) {
    return Collections.min(answered);
  }

  @Test
  void leavesOutTheFirstAnswersLatency() {
    // Sent at 0; the first 100 answers read at 200 ms, 100 more at 300 ms and at 400 ms.
    List<Long> answered = poll(100, 200);
    answered.addAll(poll(100, 300));
    answered.addAll(poll(100, 400));
    // 200 answers over the 200 ms after the first poll: 1,000/s; the whole window gives 300 over 400 ms.
    assertThat(RouterBench.steadyRate(answered, first(answered), 400 * MS, 300, 0)).isCloseTo(1000.0, within(1e-6));
  }

  @Test
  void endsAtTheSmallModelsLastAnswerWhenLaterOnesWereEscalated() {
    List<Long> answered = poll(50, 200);
    answered.addAll(poll(50, 300));
    answered.addAll(poll(50, 800)); // the escalated ones, 500 ms later
    // All 150 requests went through the small model; 100 of them after the first poll, by 300 ms.
    assertThat(RouterBench.steadyRate(answered, first(answered), 300 * MS, 150, 0)).isCloseTo(1000.0, within(1e-6));
  }

  @Test
  void aRoundReadInOnePollFallsBackToTheWholeWindow() {
    assertThat(RouterBench.steadyRate(poll(30, 250), 250 * MS, 250 * MS, 30, 0)).isCloseTo(120.0, within(1e-6));
  }

  @Test
  void theFirstPollsTimeIsLeftOutOnlyOnce() {
    // 10 answers at 100 ms, then one poll a millisecond for 90 ms, one answer each.
    List<Long> answered = poll(10, 100);
    for (int i = 1; i <= 90; i++) {
      answered.add((100 + i) * MS);
    }
    assertThat(RouterBench.steadyRate(answered, first(answered), 190 * MS, 100, 0)).isCloseTo(1000.0, within(1e-6));
  }
}
