package dev.cascade.router.embedded;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.topics.BrokerWatch;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.CommonClientConfigs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A real broker answers, stops answering when it is stopped, and answers again once restarted. */
class BrokerWatchIT {

  @TempDir
  Path dir;

  @Test
  void aStoppedBrokerIsLostWithinTheTimeoutAndFoundAgainAfterItsRestart() throws Exception {
    Path logDir = Files.createDirectories(dir.resolve("kafka"));
    int brokerPort = EmbeddedKafka.freePort();
    int controllerPort = EmbeddedKafka.freePort();
    EmbeddedKafka kafka = EmbeddedKafka.start(logDir, brokerPort, controllerPort);
    try (BrokerWatch watch = BrokerWatch.start(Map.of(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG,
        kafka.bootstrapServers()), Duration.ofSeconds(2))) {
      // Answering: reachable throughout a span longer than the timeout.
      long until = System.nanoTime() + Duration.ofSeconds(3).toNanos();
      while (System.nanoTime() < until) {
        assertThat(watch.reachable()).isTrue();
        Thread.sleep(100);
      }
      kafka.close();
      waitFor(() -> !watch.reachable(), Duration.ofSeconds(10));
      assertThat(watch.problem()).hasValueSatisfying(p -> assertThat(p)
          .startsWith("Kafka at 127.0.0.1:" + brokerPort + " has not answered for"));
      kafka = EmbeddedKafka.start(logDir, brokerPort, controllerPort);
      waitFor(watch::reachable, Duration.ofSeconds(30));
      assertThat(watch.problem()).isEmpty();
    } finally {
      kafka.close();
    }
  }

  private static void waitFor(BooleanSupplier condition, Duration atMost) throws InterruptedException {
    long deadline = System.nanoTime() + atMost.toNanos();
    while (!condition.getAsBoolean()) {
      assertThat(System.nanoTime()).as("waited %s", atMost).isLessThan(deadline);
      Thread.sleep(100);
    }
  }
}
