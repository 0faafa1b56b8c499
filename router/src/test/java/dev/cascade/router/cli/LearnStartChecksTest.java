package dev.cascade.router.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.api.CommandLineRun;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import org.junit.jupiter.api.Test;

/**
 * What {@code learn} checks before it touches Kafka: its metrics port, as {@code serve} does (Kafka
 * here is 127.0.0.1:1, where nothing answers: a check made after joining the group would first wait
 * out a Kafka client's timeout, and against a live cluster would rebalance the running learner).
 */
class LearnStartChecksTest {

  @Test
  void aTakenMetricsPortIsOneLineNamingTheKeyAndExit1() throws Exception {
    try (ServerSocket taken = new ServerSocket()) {
      taken.bind(new InetSocketAddress(0));
      CommandLineRun run = CommandLineRun.of("learn", "--set", "bootstrap.servers=127.0.0.1:1", "--set",
          "metrics.port=" + taken.getLocalPort());
      assertThat(run.exitCode()).isEqualTo(1);
      assertThat(run.err().strip()).isEqualTo("error: metrics.port " + taken.getLocalPort() + ": address already in use");
    }
  }
}
