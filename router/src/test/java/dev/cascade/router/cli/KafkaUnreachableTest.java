package dev.cascade.router.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.api.CommandLineRun;
import dev.cascade.router.topics.CannedTcpServer;
import java.net.ServerSocket;
import org.junit.jupiter.api.Test;

/**
 * {@code serve} pointed at an address where no broker listens, at a port that is not Kafka's, at a
 * host name that does not resolve, and at Kafka client settings the client refuses: one line naming what is wrong, not a
 * stack trace, and not a wait without end.
 */
class KafkaUnreachableTest {

  /** A loopback port nothing listens on (bound, then closed). */
  private static int closedPort() throws Exception {
    try (ServerSocket socket = new ServerSocket(0)) {
      return socket.getLocalPort();
    }
  }

  @Test
  void noBrokerAtTheAddressIsOneLineNamingItAndExit1() throws Exception {
    String address = "127.0.0.1:" + closedPort();
    CommandLineRun run = CommandLineRun.of("serve", "--set", "bootstrap.servers=" + address,
        "--set", "large.target=127.0.0.1:" + closedPort(), "--set", "model.engine=OnnxRuntime",
        "--set", "kafka.default.api.timeout.ms=2000", "--set", "kafka.request.timeout.ms=1000");
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.err().strip()).startsWith("error: bootstrap.servers: no Kafka broker answered at " + address
        + " within 2000 ms (kafka.default.api.timeout.ms)").doesNotContain("\n").doesNotContain("\tat ");
  }

  @Test
  void aPortThatIsNotKafkasIsSaidToAnswerAsWhatItIs() throws Exception {
    // What bootstrap.servers set to a large model's HTTP port meets.
    try (CannedTcpServer http = CannedTcpServer.http()) {
      CommandLineRun run = CommandLineRun.of("serve", "--set", "bootstrap.servers=" + http.address(),
          "--set", "large.target=127.0.0.1:" + closedPort(), "--set", "model.engine=OnnxRuntime",
          "--set", "kafka.default.api.timeout.ms=2000", "--set", "kafka.request.timeout.ms=1000");
      assertThat(run.exitCode()).isEqualTo(1);
      assertThat(run.err().strip()).startsWith("error: bootstrap.servers: no Kafka broker answered at " + http.address()
          + " within 2000 ms (kafka.default.api.timeout.ms): " + http.address() + " accepts TCP connections but"
          + " answered a Kafka request as an HTTP server: is that the broker's port").doesNotContain("\n");
    }
  }

  @Test
  void aBrokerNameThatDoesNotResolveIsNamedAfterTheWaitAsUnreachableNotAsAKafkaSetting() throws Exception {
    // .invalid never resolves (RFC 6761); a name not published yet looks the same until it is.
    CommandLineRun run = CommandLineRun.of("serve", "--set", "bootstrap.servers=kafak.invalid:9092",
        "--set", "large.target=127.0.0.1:" + closedPort(), "--set", "model.engine=OnnxRuntime",
        "--set", "kafka.default.api.timeout.ms=2000", "--set", "kafka.request.timeout.ms=1000");
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.err().strip()).startsWith("error: bootstrap.servers: the host name kafak.invalid (in"
        + " kafak.invalid:9092) did not resolve within 2000 ms (kafka.default.api.timeout.ms)")
        .doesNotContain("kafka.*").doesNotContain("\n").doesNotContain("\tat ");
  }

  @Test
  void aKafkaSettingTheClientRefusesIsOneLineAndExit2() throws Exception {
    // The admin client needs default.api.timeout.ms >= request.timeout.ms (30 s by default).
    CommandLineRun run = CommandLineRun.of("serve", "--set", "bootstrap.servers=127.0.0.1:" + closedPort(),
        "--set", "large.target=127.0.0.1:" + closedPort(), "--set", "model.engine=OnnxRuntime",
        "--set", "kafka.default.api.timeout.ms=1000");
    assertThat(run.exitCode()).isEqualTo(2);
    assertThat(run.err().strip()).isEqualTo("error: kafka.default.api.timeout.ms: refused by the Kafka client: must be"
        + " no smaller than kafka.request.timeout.ms (30000) (from the command line)");
  }
}
