package dev.cascade.router.logging;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** Which occurrences get a line, by key, on a clock the test moves: no sleeps. */
class LogLimiterTest {

  private static final long SECOND = 1_000_000_000L;

  private final AtomicLong nanos = new AtomicLong(42);

  private LogLimiter<String> limiter(int burst, int maxKeys) {
    return new LogLimiter<>(Duration.ofSeconds(60), burst, maxKeys, nanos::get);
  }

  @Test
  void theFirstBurstOfAKeyIsWrittenAndTheRestCountedUntilItsIntervalHasPassed() {
    LogLimiter<String> limiter = limiter(3, 10);
    assertThat(limiter.admit("a")).isEqualTo(new LogLimiter.Pass(0, -1));
    nanos.addAndGet(SECOND);
    assertThat(limiter.admit("a")).isEqualTo(new LogLimiter.Pass(0, SECOND));
    assertThat(limiter.admit("a")).isNotNull();
    for (int i = 0; i < 7; i++) {
      nanos.addAndGet(SECOND);
      assertThat(limiter.admit("a")).as("occurrence %d after the burst", i).isNull();
    }
    // Another key has a burst of its own.
    assertThat(limiter.admit("b")).isEqualTo(new LogLimiter.Pass(0, -1));
    // 60 s after the first line of "a": a new interval, and the next line carries the count.
    nanos.set(42 + 60 * SECOND);
    LogLimiter.Pass next = limiter.admit("a");
    assertThat(next.suppressed()).isEqualTo(7);
    assertThat(next.sinceLastSeconds()).isEqualTo(59);
    assertThat(limiter.admit("a")).isEqualTo(new LogLimiter.Pass(0, 0));
  }

  @Test
  void summariesAreDueOnceAnIntervalHasPassedWithOccurrencesCountedAndEachStartsTheNextInterval() {
    LogLimiter<String> limiter = limiter(1, 10);
    limiter.admit("a");
    limiter.admit("b");
    for (int i = 0; i < 4; i++) {
      assertThat(limiter.admit("a")).isNull();
    }
    assertThat(limiter.due()).as("within the interval").isEmpty();
    nanos.addAndGet(60 * SECOND);
    assertThat(limiter.due()).containsExactly(new LogLimiter.Summary<>("a", 4, 60 * SECOND));
    assertThat(limiter.due()).as("summed up once").isEmpty();
    // The summary counts as a line: the next interval starts with it, so its occurrences are counted.
    nanos.addAndGet(SECOND);
    assertThat(limiter.admit("a")).isNull();
    nanos.addAndGet(59 * SECOND);
    assertThat(limiter.due()).singleElement().satisfies(s -> {
      assertThat(s.suppressed()).isEqualTo(1);
      assertThat(s.overSeconds()).isEqualTo(60);
    });
    // "b", with nothing counted, was forgotten: its next occurrence is written as a first.
    assertThat(limiter.admit("b")).isEqualTo(new LogLimiter.Pass(0, -1));
  }

  @Test
  void keysOverTheLimitAreCountedTogetherAndSummedUpUnderNull() {
    LogLimiter<String> limiter = limiter(1, 2);
    assertThat(limiter.admit("a")).isNotNull();
    assertThat(limiter.admit("b")).isNotNull();
    for (int i = 0; i < 5; i++) {
      assertThat(limiter.admit("other-" + i)).as("no room for a third key").isNull();
    }
    assertThat(limiter.admit("a")).isNull();
    nanos.addAndGet(60 * SECOND);
    assertThat(limiter.due()).containsExactlyInAnyOrder(new LogLimiter.Summary<>("a", 1, 60 * SECOND),
        new LogLimiter.Summary<>(null, 5, 60 * SECOND));
    // "b" was idle and is forgotten, so a new key has room again.
    assertThat(limiter.admit("c")).isEqualTo(new LogLimiter.Pass(0, -1));
  }

  @Test
  void anIdleKeyGivesWayToANewOneWhenTheLimitIsReached() {
    LogLimiter<String> limiter = limiter(1, 1);
    limiter.admit("a");
    nanos.addAndGet(61 * SECOND);
    assertThat(limiter.admit("b")).isEqualTo(new LogLimiter.Pass(0, -1));
    assertThat(limiter.admit("a")).as("'a' was dropped for 'b', and 'b' fills the one place").isNull();
  }

  @Test
  void nonsenseSettingsAreRefused() {
    assertThatThrownBy(() -> new LogLimiter<String>(Duration.ZERO, 1, 1, nanos::get))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> limiter(0, 1)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> limiter(1, 0)).isInstanceOf(IllegalArgumentException.class);
  }
}
