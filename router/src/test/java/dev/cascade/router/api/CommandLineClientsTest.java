package dev.cascade.router.api;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.cli.CascadeCommand;
import dev.cascade.router.policy.DeferralPolicy;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** {@code cascade ask} and {@code cascade policy} against a loopback server whose Kafka side is faked. */
class CommandLineClientsTest {

  private FakeKafkaServer server;
  private FakeChannel requests;
  private InMemoryPolicyStore policies;
  private String target;

  private record Run(int exitCode, String out, String err) {}

  @BeforeEach
  void start() throws Exception {
    InetSocketAddress loopback = new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);
    server = new FakeKafkaServer(NettyServerBuilder.forAddress(loopback),
        prompt -> prompt.isEmpty() ? Optional.of("prompt: must not be empty") : Optional.empty(),
        new DeferralPolicy("chow-quantile", 0.2, 2.0, 0.03, 0.0, 1, "config", 0, "configured default"),
        "tok", Duration.ofSeconds(5));
    requests = server.requests;
    policies = server.policies;
    target = "127.0.0.1:" + server.port();
  }

  @AfterEach
  void stop() throws Exception {
    server.stop();
  }

  private static Run run(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cli = CascadeCommand.commandLine();
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(err, true));
    int code = cli.execute(args);
    return new Run(code, out.toString(), err.toString());
  }

  @Test
  void askPrintsTheAnswerAndWithJsonTheWholeResponse() {
    Run plain = run("ask", "--target", target, "--prompt", "cascade", "--max-new-tokens", "9");
    assertThat(plain.exitCode()).isZero();
    assertThat(plain.out().strip()).isEqualTo("CASCADE");
    assertThat(plain.err()).contains("served_by=LARGE").contains("cache_hit=true");
    assertThat(requests.submitted.get(0).getMaxNewTokens()).isEqualTo(9);

    Run json = run("ask", "--target", target, "--prompt", "cascade", "--json", "--request-id", "j-1",
        "--bypass-cache");
    assertThat(json.exitCode()).isZero();
    assertThat(json.out()).contains("\"request_id\": \"j-1\"").contains("\"served_by\": \"LARGE\"")
        .contains("\"text\": \"CASCADE\"");
    assertThat(requests.submitted.get(1).getBypassCache()).isTrue();
  }

  @Test
  void askReportsAFailedCallWithItsStatus() {
    Run run = run("ask", "--target", target, "--prompt", "");
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.err()).contains("INVALID_ARGUMENT: prompt:");
  }

  @Test
  void policySetChangesOnlyWhatItIsGivenAndPolicyGetShowsIt() {
    Run set = run("policy", "set", "--target", target, "--token", "tok", "--rule", "chow-quantile", "--threshold",
        "3.5", "--reason", "cli test");
    assertThat(set.exitCode()).as(set.err()).isZero();
    assertThat(set.out()).contains("\"version\": \"2\"").contains("\"threshold\": 3.5");
    DeferralPolicy now = policies.current();
    assertThat(now.threshold()).isEqualTo(3.5);
    assertThat(now.alpha()).isEqualTo(0.2);
    assertThat(now.explorationRate()).isEqualTo(0.03);
    assertThat(now.reason()).isEqualTo("cli test");

    Run get = run("policy", "get", "--target", target);
    assertThat(get.exitCode()).isZero();
    assertThat(get.out()).contains("\"rule\": \"chow-quantile\"").contains("\"reason\": \"cli test\"");
  }

  @Test
  void policySetWithAWrongTokenIsRefusedAndWithoutOneDoesNotCall() {
    Run wrong = run("policy", "set", "--target", target, "--token", "nope", "--rule", "chow-sum", "--threshold", "1");
    assertThat(wrong.exitCode()).isEqualTo(1);
    assertThat(wrong.err()).contains("UNAUTHENTICATED");
    if (System.getenv("CASCADE_ADMIN_TOKEN") == null) {
      Run none = run("policy", "set", "--target", target, "--rule", "chow-sum", "--threshold", "1");
      assertThat(none.exitCode()).isEqualTo(2);
      assertThat(none.err()).contains("--token");
    }
    assertThat(policies.published).isEmpty();
  }
}
