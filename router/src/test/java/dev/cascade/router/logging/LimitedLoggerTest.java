package dev.cascade.router.logging;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.slf4j.ILoggerFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.Marker;
import org.slf4j.event.Level;
import org.slf4j.helpers.LegacyAbstractLogger;
import org.slf4j.helpers.MessageFormatter;

/**
 * A limited logger's warnings, as Kafka's consumer writes them while a deleted topic's partition is
 * fetched, on a clock the test moves: no sleeps.
 */
class LimitedLoggerTest {

  private static final long SECOND = 1_000_000_000L;
  private static final String FETCH = "[Consumer clientId={}, groupId=null] Received unknown topic or partition error"
      + " in fetch for partition {}";

  private final AtomicLong nanos = new AtomicLong(7);
  private final Recording recorded = new Recording();
  private final Logger logger = new LimitedLogger(recorded,
      new LogLimiter<>(Duration.ofMinutes(1), 1, 1024, nanos::get));

  @Test
  void theFirstWarningOfEachConsumerAndPartitionIsWrittenThenTheSameOneOnceAMinuteWithTheCount() {
    // Twice a second for two and a half minutes: 300 fetches of the deleted partition.
    for (int i = 0; i < 300; i++) {
      logger.warn(FETCH, "global-consumer", "cascade.policy-0");
      if (i == 10) {
        logger.warn(FETCH, "policy-reader", "cascade.policy-0"); // another consumer: its first line too
      }
      nanos.addAndGet(SECOND / 2);
    }
    assertThat(recorded.lines).containsExactly(
        "WARN [Consumer clientId=global-consumer, groupId=null] Received unknown topic or partition error in fetch"
            + " for partition cascade.policy-0",
        "WARN [Consumer clientId=policy-reader, groupId=null] Received unknown topic or partition error in fetch"
            + " for partition cascade.policy-0",
        // The next minute's first: the 119 of the first minute not written (the reader's key is due
        // then too, with nothing to sum up: forgotten).
        "WARN [Consumer clientId=global-consumer, groupId=null] Received unknown topic or partition error in fetch"
            + " for partition cascade.policy-0 (119 more like it not logged in the last 60 s)",
        "WARN [Consumer clientId=global-consumer, groupId=null] Received unknown topic or partition error in fetch"
            + " for partition cascade.policy-0 (119 more like it not logged in the last 60 s)");
  }

  @Test
  void aFloodThatStopsIsSummedUpAtTheLoggersNextCallAndOtherLevelsGoThroughUnchanged() {
    for (int i = 0; i < 5; i++) {
      logger.warn(FETCH, "global-consumer", "cascade.rules-0");
    }
    nanos.addAndGet(61 * SECOND);
    IllegalStateException cause = new IllegalStateException("boom");
    logger.error("failed: {}", "x", cause);
    logger.info("info {}", 1);
    assertThat(recorded.lines).containsExactly(
        "WARN [Consumer clientId=global-consumer, groupId=null] Received unknown topic or partition error in fetch"
            + " for partition cascade.rules-0",
        "ERROR failed: x",
        "WARN [Consumer clientId=global-consumer, groupId=null] Received unknown topic or partition error in fetch"
            + " for partition cascade.rules-0 (4 more like it not logged in the last 61 s)",
        "INFO info 1");
    assertThat(recorded.causes).containsExactly(null, cause, null, null);
  }

  @Test
  void onlyTheNamedLoggersAreLimitedAndTheTestsUseTheProvider() {
    ILoggerFactory factory = LimitingServiceProvider.limiting(name -> new Recording(),
        Map.of("limited", Duration.ofMinutes(1)));
    assertThat(factory.getLogger("limited")).isInstanceOf(LimitedLogger.class)
        .isSameAs(factory.getLogger("limited"));
    assertThat(factory.getLogger("other")).isInstanceOf(Recording.class);
    // The build names the provider (-Dslf4j.provider), as the jars list it alone.
    assertThat(LoggerFactory.getLogger("org.apache.kafka.clients.consumer.internals.FetchCollector"))
        .isInstanceOf(LimitedLogger.class);
    assertThat(LoggerFactory.getLogger(LimitedLoggerTest.class)).isNotInstanceOf(LimitedLogger.class);
  }

  /** Records each line as its level and message. */
  private static final class Recording extends LegacyAbstractLogger {
    final List<String> lines = new ArrayList<>();
    final List<Throwable> causes = new ArrayList<>();

    Recording() {
      this.name = "recording";
    }

    @Override
    protected String getFullyQualifiedCallerName() {
      return null;
    }

    @Override
    protected void handleNormalizedLoggingCall(Level level, Marker marker, String pattern, Object[] arguments,
        Throwable throwable) {
      lines.add(level + " " + MessageFormatter.basicArrayFormat(pattern, arguments));
      causes.add(throwable);
    }

    @Override
    public boolean isTraceEnabled() {
      return true;
    }

    @Override
    public boolean isDebugEnabled() {
      return true;
    }

    @Override
    public boolean isInfoEnabled() {
      return true;
    }

    @Override
    public boolean isWarnEnabled() {
      return true;
    }

    @Override
    public boolean isErrorEnabled() {
      return true;
    }
  }
}
