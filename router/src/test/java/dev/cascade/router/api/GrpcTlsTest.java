package dev.cascade.router.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cascade.models.server.GrpcTls;
import dev.cascade.proto.v1.LargeGenerateRequest;
import dev.cascade.proto.v1.LargeGenerateResponse;
import dev.cascade.proto.v1.LargeModelGrpc;
import dev.cascade.router.TestCertificates;
import dev.cascade.router.escalation.EscalationClient;
import dev.cascade.router.escalation.EscalationSettings;
import dev.cascade.router.policy.DeferralPolicy;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.Server;
import io.grpc.stub.StreamObserver;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * TLS and mutual TLS on real Netty servers over loopback, with certificates made by {@code keytool}
 * at test time: the front door with the command-line client, and the large-model call. The
 * client's hint to use TLS comes when a plaintext connection failed, not when a plaintext server
 * answered UNAVAILABLE itself.
 */
class GrpcTlsTest {

  private static final String PASSWORD = "test-secret";

  @TempDir
  static Path dir;

  private static GrpcTls.Store serverKeys;
  private static GrpcTls.Store serverTrust;
  private static GrpcTls.Store clientKeys;
  private static GrpcTls.Store clientTrust;

  @BeforeAll
  static void makeCertificates() throws Exception {
    serverKeys = keyPair("server");
    serverTrust = trustStoreOf("server");
    clientKeys = keyPair("client");
    clientTrust = trustStoreOf("client");
  }

  private static GrpcTls.Store keyPair(String name) throws Exception {
    return new GrpcTls.Store(TestCertificates.keyPair(dir, name, PASSWORD), PASSWORD);
  }

  private static GrpcTls.Store trustStoreOf(String name) throws Exception {
    return new GrpcTls.Store(TestCertificates.trustStoreOf(dir, name, PASSWORD), PASSWORD);
  }

  /** Echoes the prompt upper-cased. */
  private static final class Upper extends LargeModelGrpc.LargeModelImplBase {
    @Override
    public void generate(LargeGenerateRequest request, StreamObserver<LargeGenerateResponse> out) {
      out.onNext(LargeGenerateResponse.newBuilder().setText(request.getPrompt().toUpperCase()).build());
      out.onCompleted();
    }
  }

  // Deadlines far above a TLS handshake on a loaded 2-core CI machine (5 s timed out there): the refusals come at once anyway.
  private static EscalationSettings settings() {
    return new EscalationSettings(4, Duration.ofSeconds(20), 0, Duration.ofMillis(1), 50, Duration.ofSeconds(20), 8);
  }

  @Test
  void theRouterCallsATlsLargeModelAndAPlaintextClientIsRefused() throws Exception {
    Server server = Grpc.newServerBuilderForPort(0, GrpcTls.server(serverKeys, GrpcTls.Store.NONE))
        .addService(new Upper()).build().start();
    String target = "localhost:" + server.getPort();
    try (EscalationClient tls = EscalationClient.connect(target, settings(),
            GrpcTls.client(serverTrust, GrpcTls.Store.NONE));
        EscalationClient plain = EscalationClient.connect(target, settings(), InsecureChannelCredentials.create())) {
      assertThat(tls.generate("r1", "over tls", 8).get(30, TimeUnit.SECONDS).text()).isEqualTo("OVER TLS");
      assertThatThrownBy(() -> plain.generate("r2", "plain", 8).get(30, TimeUnit.SECONDS))
          .isInstanceOf(ExecutionException.class).hasMessageContaining("UNAVAILABLE");
    } finally {
      server.shutdownNow();
    }
  }

  @Test
  void mutualTlsRequiresATrustedClientCertificate() throws Exception {
    Server server = Grpc.newServerBuilderForPort(0, GrpcTls.server(serverKeys, clientTrust))
        .addService(new Upper()).build().start();
    String target = "localhost:" + server.getPort();
    try (EscalationClient withCertificate = EscalationClient.connect(target, settings(),
            GrpcTls.client(serverTrust, clientKeys));
        EscalationClient without = EscalationClient.connect(target, settings(),
            GrpcTls.client(serverTrust, GrpcTls.Store.NONE));
        EscalationClient untrusted = EscalationClient.connect(target, settings(),
            GrpcTls.client(serverTrust, serverKeys))) {
      assertThat(withCertificate.generate("r1", "mutual", 8).get(30, TimeUnit.SECONDS).text()).isEqualTo("MUTUAL");
      assertThatThrownBy(() -> without.generate("r2", "no certificate", 8).get(30, TimeUnit.SECONDS))
          .isInstanceOf(ExecutionException.class).hasMessageContaining("UNAVAILABLE");
      assertThatThrownBy(() -> untrusted.generate("r3", "wrong certificate", 8).get(30, TimeUnit.SECONDS))
          .isInstanceOf(ExecutionException.class).hasMessageContaining("UNAVAILABLE");
    } finally {
      server.shutdownNow();
    }
    assertThatThrownBy(() -> GrpcTls.server(GrpcTls.Store.NONE, clientTrust))
        .hasMessageContaining("needs the server's own key store");
  }

  @Test
  void theFrontDoorServesTlsToTheCommandLineClientAndAPlaintextOneGetsAHint() throws Exception {
    InetSocketAddress loopback = new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);
    FakeKafkaServer server = new FakeKafkaServer(
        NettyServerBuilder.forAddress(loopback, GrpcTls.server(serverKeys, clientTrust)),
        prompt -> Optional.empty(), new DeferralPolicy("chow-sum", 0, 2.0, 0, 0, 1, "config", 0, ""), "tok",
        Duration.ofSeconds(5));
    String target = "localhost:" + server.port();
    try {
      CommandLineRun ok = CommandLineRun.of("ask", "--target", target, "--prompt", "secure", "--tls-trust-store",
          serverTrust.path().toString(), "--tls-trust-store-password", PASSWORD, "--tls-key-store",
          clientKeys.path().toString(), "--tls-key-store-password", PASSWORD);
      assertThat(ok.exitCode()).isEqualTo(0);
      assertThat(ok.out().strip()).isEqualTo("SECURE");
      CommandLineRun plain = CommandLineRun.of("ask", "--target", target, "--prompt", "secure", "--deadline-ms",
          "3000");
      assertThat(plain.exitCode()).isEqualTo(1);
      assertThat(plain.err()).contains("UNAVAILABLE").contains("hint: connected in plaintext; if " + target
          + " serves TLS, pass --tls-trust-store FILE");
    } finally {
      server.stop();
    }
  }

  @Test
  void aPlaintextServerThatAnswersUnavailableGetsNoTlsHint() throws Exception {
    // The router's door while it has lost Kafka: the server answers UNAVAILABLE with why.
    FakeKafkaServer server = new FakeKafkaServer(
        NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)),
        prompt -> Optional.empty(), new DeferralPolicy("chow-sum", 0, 2.0, 0, 0, 1, "config", 0, ""), "tok",
        Duration.ofSeconds(5));
    server.healthFollows(() -> false);
    try {
      CommandLineRun run = CommandLineRun.of("ask", "--target", "localhost:" + server.port(), "--prompt", "cascade",
          "--deadline-ms", "3000");
      assertThat(run.exitCode()).isEqualTo(1);
      assertThat(run.err().strip()).startsWith("error: UNAVAILABLE: this router cannot answer now (health NOT_SERVING")
          .doesNotContain("hint:").doesNotContain("\n");
    } finally {
      server.stop();
    }
  }

}
