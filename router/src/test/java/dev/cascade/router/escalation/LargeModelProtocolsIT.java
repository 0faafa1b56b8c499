package dev.cascade.router.escalation;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cascade.models.TextGenerator;
import dev.cascade.models.TextGenerators;
import dev.cascade.models.server.LargeModelServer;
import dev.cascade.models.server.ServerLimits;
import dev.cascade.router.demo.Example;
import dev.cascade.router.demo.Examples;
import dev.cascade.router.metrics.CascadeMetrics;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.OptionalInt;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The router's escalation client against the bundled large-model server (the real large ONNX
 * model) on loopback, over each protocol of {@code large.target}: the same answers as over
 * cascade://, and the same codes, breaker and metrics when the server is unreachable or refuses.
 */
class LargeModelProtocolsIT {

  private static TextGenerator large;
  private static LargeModelServer server;
  private static List<String> prompts;

  @BeforeAll
  static void start() throws Exception {
    large = TextGenerators.load("large", "OnnxRuntime");
    server = new LargeModelServer(NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)),
        large, new ServerLimits(4, 64)).start().serveHttp("127.0.0.1", 0);
    prompts = Examples.bundled("test").stream().map(Example::prompt).limit(8).toList();
  }

  @AfterAll
  static void stop() throws Exception {
    server.stop();
    large.close();
  }

  private static String target(String protocol, int grpcPort, int httpPort) {
    return switch (protocol) {
      case "cascade" -> "cascade://127.0.0.1:" + grpcPort;
      case "kserve" -> "kserve://127.0.0.1:" + grpcPort + "/large";
      case "openai" -> "openai://127.0.0.1:" + httpPort + "/v1?model=large";
      case "openai-chat" -> "openai://127.0.0.1:" + httpPort + "/v1?model=large&api=chat";
      case "anthropic" -> "anthropic://127.0.0.1:" + httpPort + "/v1?model=large";
      default -> throw new IllegalArgumentException(protocol);
    };
  }

  private static EscalationSettings settings(int retries, int maxNewTokens) {
    return new EscalationSettings(8, Duration.ofSeconds(60), retries, Duration.ofMillis(1), 50,
        Duration.ofSeconds(600), maxNewTokens);
  }

  @ParameterizedTest
  @ValueSource(strings = {"kserve", "openai", "openai-chat", "anthropic"})
  void answersAreTheSameAsOverCascade(String protocol) throws Exception {
    int limit = large.info().maxNewTokensLimit();
    try (EscalationClient reference = EscalationClient.connect("127.0.0.1:" + server.port(), settings(0, 0));
        EscalationClient other = EscalationClient.connect(target(protocol, server.port(), server.httpPort()),
            settings(0, limit))) {
      assertThat(other.ready().get(30, TimeUnit.SECONDS)).isTrue();
      assertThat(reference.ready().get(30, TimeUnit.SECONDS)).isTrue();
      assertThat(reference.maxNewTokens().get(30, TimeUnit.SECONDS)).isEqualTo(OptionalInt.of(limit));
      for (int i = 0; i < prompts.size(); i++) {
        String prompt = prompts.get(i);
        // Asking for more than the limit: both clamp to it.
        LargeAnswer expected = reference.generate("r" + i, prompt, limit + 16).get(60, TimeUnit.SECONDS);
        LargeAnswer answer = other.generate("r" + i, prompt, limit + 16).get(60, TimeUnit.SECONDS);
        assertThat(answer.text()).as("prompt %s over %s", prompt, protocol).isEqualTo(expected.text());
        assertThat(answer.attempts()).isEqualTo(1);
        // No token ids over these protocols, but the bundled server says how many there were.
        assertThat(answer.tokens()).isEmpty();
        assertThat(answer.outputTokens()).isEqualTo(expected.tokens().length);
        assertThat(expected.tokens()).isNotEmpty();
        // And how many the prompt was, as over cascade:// (LargeGenerateResponse.prompt_tokens).
        assertThat(answer.promptTokens()).isEqualTo(large.promptTokens(prompt).orElseThrow())
            .isEqualTo(expected.promptTokens());
        // Shorter limits are honoured the same way.
        assertThat(other.generate("s" + i, prompt, 2).get(60, TimeUnit.SECONDS).text())
            .isEqualTo(reference.generate("s" + i, prompt, 2).get(60, TimeUnit.SECONDS).text());
      }
    }
  }

  /**
   * {@code large-model --tls-key-store} secures its HTTP port too: an {@code openais://} target
   * trusting its certificate ({@code large.tls.trust-store}) gets the answers {@code cascade://}
   * gives; a plain {@code openai://} one gets INVALID_ARGUMENT saying to use HTTPS, and one trusting
   * another certificate, UNAVAILABLE.
   */
  @org.junit.jupiter.api.Test
  void anOpenaisTargetReachesTheServersHttpsPort(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
      throws Exception {
    String password = "large-secret";
    java.nio.file.Path keys = dev.cascade.router.TestCertificates.keyPair(dir, "large", password);
    java.nio.file.Path trust = dev.cascade.router.TestCertificates.trustStoreOf(dir, "large", password);
    dev.cascade.router.TestCertificates.keyPair(dir, "other", password);
    java.nio.file.Path otherTrust = dev.cascade.router.TestCertificates.trustStoreOf(dir, "other", password);
    dev.cascade.models.server.GrpcTls.Opened tls = dev.cascade.models.server.GrpcTls.Opened.of(
        dev.cascade.models.server.GrpcTls.Store.of(keys.toString(), password),
        dev.cascade.models.server.GrpcTls.Store.NONE);
    LargeModelServer secure = new LargeModelServer(NettyServerBuilder.forAddress(new InetSocketAddress(
        InetAddress.getLoopbackAddress(), 0), dev.cascade.models.server.GrpcTls.server(tls)), large,
        new ServerLimits(4, 64)).start().serveHttp("127.0.0.1", 0, tls);
    try (EscalationClient reference = EscalationClient.connect("127.0.0.1:" + server.port(), settings(0, 0));
        EscalationClient https = EscalationClient.connect(LargeTarget.parse("openais://127.0.0.1:"
            + secure.httpPort() + "/v1?model=large"), settings(0, 8), trusting(trust, password));
        EscalationClient plain = EscalationClient.connect("openai://127.0.0.1:" + secure.httpPort() + "/v1?model=large",
            settings(0, 8));
        EscalationClient untrusting = EscalationClient.connect(LargeTarget.parse("openais://127.0.0.1:"
            + secure.httpPort() + "/v1?model=large"), settings(0, 8), trusting(otherTrust, password))) {
      assertThat(https.ready().get(30, TimeUnit.SECONDS)).isTrue();
      for (int i = 0; i < 3; i++) {
        String prompt = prompts.get(i);
        assertThat(https.generate("t" + i, prompt, 8).get(60, TimeUnit.SECONDS).text())
            .isEqualTo(reference.generate("t" + i, prompt, 8).get(60, TimeUnit.SECONDS).text());
      }
      // Plain HTTP to the HTTPS port: refused at once, saying so (a misconfiguration, not an outage to
      // retry through).
      Throwable plainFailure = failure(plain, "plain");
      assertThat(EscalationClient.codeOf(plainFailure)).isEqualTo("INVALID_ARGUMENT");
      assertThat(plainFailure).hasMessageContaining("this port speaks HTTPS (TLS)").hasMessageContaining("openais://");
      assertThat(EscalationClient.codeOf(failure(untrusting, "untrusted"))).isEqualTo("UNAVAILABLE");
    } finally {
      secure.stop();
    }
  }

  private static LargeModelTransports.Options trusting(java.nio.file.Path trust, String password) {
    dev.cascade.models.server.GrpcTls.Opened opened = dev.cascade.models.server.GrpcTls.Opened.of(
        dev.cascade.models.server.GrpcTls.Store.NONE, dev.cascade.models.server.GrpcTls.Store.of(trust.toString(),
            password));
    return new LargeModelTransports.Options(dev.cascade.models.server.GrpcTls.client(opened),
        KServeTransport.Tensors.DEFAULT, "", dev.cascade.models.server.GrpcTls.clientContext(opened));
  }

  @ParameterizedTest
  @ValueSource(strings = {"cascade", "kserve", "openai", "anthropic"})
  void anUnreachableServerIsUnavailableRetriedAndOpensTheBreaker(String protocol) throws Exception {
    int closed;
    try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      closed = socket.getLocalPort();
    }
    PrometheusRegistry registry = new PrometheusRegistry();
    CascadeMetrics metrics = CascadeMetrics.register(registry, 0.5, 0);
    try (EscalationClient client = EscalationClient.connect(target(protocol, closed, closed), settings(1, 8))) {
      metrics.observe(client.name(), client.breaker());
      // Each call is tried twice (one retry), each try counted by the breaker: after 5 calls it has
      // seen its minimum of 10, all failed, and opens.
      for (int i = 0; i < 5; i++) {
        Throwable error = failure(client, "u" + i);
        metrics.largeModelCallEnded(client.name(), error);
        assertThat(EscalationClient.codeOf(error)).as("%s call %d: %s", protocol, i, error).isEqualTo("UNAVAILABLE");
        assertThat(EscalationClient.isRefusal(EscalationClient.codeOf(error))).isFalse();
      }
      assertThat(client.breakerState()).isEqualTo(CircuitBreaker.State.OPEN);
      Throwable refused = failure(client, "open");
      metrics.largeModelCallEnded(client.name(), refused);
      assertThat(EscalationClient.codeOf(refused)).isEqualTo("CIRCUIT_OPEN");
      String scrape = scrape(registry);
      assertThat(scrape).contains("cascade_large_model_calls_total{code=\"UNAVAILABLE\",tier=\"large\"} 5.0")
          .contains("cascade_large_model_calls_total{code=\"CIRCUIT_OPEN\",tier=\"large\"} 1.0")
          .contains("cascade_circuit_breaker_state{state=\"open\",tier=\"large\"} 1.0");
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"cascade", "kserve", "openai", "anthropic"})
  void aRequestTheServerRefusesIsARefusalOnEveryProtocolAndLeavesTheBreakerAlone(String protocol) throws Exception {
    int limit = large.info().maxNewTokensLimit();
    PrometheusRegistry registry = new PrometheusRegistry();
    CascadeMetrics metrics = CascadeMetrics.register(registry, 0.5, 0);
    // Configured with a limit above the model's: the server refuses the call.
    try (EscalationClient client = EscalationClient.connect(target(protocol, server.port(), server.httpPort()),
        settings(2, limit + 1))) {
      Throwable error = failure(client, "too-many", limit + 100);
      metrics.largeModelCallEnded(client.name(), error);
      assertThat(EscalationClient.codeOf(error)).as("%s: %s", protocol, error).isEqualTo("INVALID_ARGUMENT");
      assertThat(EscalationClient.isRefusal(EscalationClient.codeOf(error))).isTrue();
      assertThat(error).hasMessageContaining(String.valueOf(limit + 1));
      assertThat(client.breaker().getMetrics().getNumberOfFailedCalls()).isZero();
      assertThat(scrape(registry)).contains("cascade_large_model_refusals_total{code=\"INVALID_ARGUMENT\",tier=\"large\"} 1.0");
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"kserve", "openai", "anthropic"})
  void aModelTheServerDoesNotServeIsARefusal(String protocol) throws Exception {
    String target = target(protocol, server.port(), server.httpPort()).replace("large", "missing");
    try (EscalationClient client = EscalationClient.connect(target, settings(2, 8))) {
      Throwable error = failure(client, "missing");
      assertThat(EscalationClient.codeOf(error)).as("%s: %s", protocol, error).isEqualTo("FAILED_PRECONDITION");
      assertThat(EscalationClient.isRefusal(EscalationClient.codeOf(error))).isTrue();
      assertThat(client.ready().handle((ready, e) -> e != null || !ready).get(30, TimeUnit.SECONDS)).isTrue();
    }
  }

  private static Throwable failure(EscalationClient client, String id) {
    return failure(client, id, 4);
  }

  private static Throwable failure(EscalationClient client, String id, int maxNewTokens) {
    Throwable[] caught = new Throwable[1];
    assertThatThrownBy(() -> client.generate(id, "the cat", maxNewTokens).get(60, TimeUnit.SECONDS))
        .isInstanceOf(ExecutionException.class)
        .satisfies(e -> caught[0] = e.getCause());
    return caught[0];
  }

  private static String scrape(PrometheusRegistry registry) throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    PrometheusTextFormatWriter.create().write(out, registry.scrape());
    return out.toString(StandardCharsets.UTF_8);
  }
}
