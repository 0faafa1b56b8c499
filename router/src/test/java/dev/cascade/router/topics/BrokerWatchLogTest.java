package dev.cascade.router.topics;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.embedded.EmbeddedKafka;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.CommonClientConfigs;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A cluster that does not answer (nothing listens at its address) is logged once when it is lost,
 * then at most once a minute on the watch's clock, which the test moves: each question still goes
 * to the address and fails.
 */
class BrokerWatchLogTest {

  private static final long SECOND = 1_000_000_000L;

  private final ByteArrayOutputStream log = new ByteArrayOutputStream();
  private PrintStream stderr;

  @BeforeEach
  void captureTheLog() {
    // slf4j-simple writes to whatever System.err is at the time of each line.
    stderr = System.err;
    System.setErr(new PrintStream(log, true, StandardCharsets.UTF_8));
  }

  @AfterEach
  void restoreTheLog() {
    System.setErr(stderr);
  }

  private long lines(String containing) {
    System.err.flush();
    return log.toString(StandardCharsets.UTF_8).lines().filter(l -> l.contains(containing)).count();
  }

  @Test
  void aLostClusterIsLoggedOnceThenOnceAMinuteWithTheQuestionsLeftUnanswered() {
    AtomicLong nanos = new AtomicLong();
    String bootstrap = "127.0.0.1:" + EmbeddedKafka.freePort();
    try (BrokerWatch watch = new BrokerWatch(Map.of(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, bootstrap),
        Duration.ofSeconds(1), nanos::get, "the test waits", "the test goes on")) {
      watch.ask();
      assertThat(lines("Kafka at " + bootstrap)).as("not lost within the timeout").isZero();
      nanos.addAndGet(2 * SECOND);
      watch.ask();
      assertThat(lines("Kafka at " + bootstrap + " (bootstrap.servers) has not answered for 1000 ms")).isOne();
      for (int i = 0; i < 3; i++) {
        nanos.addAndGet(10 * SECOND);
        watch.ask();
      }
      assertThat(lines("Kafka at " + bootstrap)).as("nothing more within the minute").isOne();
      nanos.addAndGet(30 * SECOND);
      watch.ask();
      assertThat(lines("still unreachable")).isOne();
      assertThat(log.toString(StandardCharsets.UTF_8)).containsPattern("Kafka at " + bootstrap.replace(".", "\\.")
          + " \\(bootstrap\\.servers\\) still unreachable, since \\d\\d:\\d\\d:\\d\\d \\(62 s; 4 more questions"
          + " unanswered since the last line; latest: .*\\): the test waits");
      assertThat(watch.reachable()).isFalse();
    }
  }
}
