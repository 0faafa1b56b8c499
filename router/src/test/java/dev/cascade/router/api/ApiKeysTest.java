package dev.cascade.router.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cascade.router.policy.DeferralPolicy;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** API keys on Generate, over a real loopback server, through the command-line client. */
class ApiKeysTest {

  @TempDir
  Path dir;

  @Test
  void generateAndFeedbackNeedAKnownKeyAndGenerationCallsAreCountedByTheKeysName() throws Exception {
    Path file = dir.resolve("keys");
    Files.writeString(file, "# team keys\nsearch-team k-search-0123456789abcdef\n\nbatch k-batch-0123456789abcdef\n");
    PrometheusRegistry registry = new PrometheusRegistry();
    FakeKafkaServer server = server(ApiKeys.load(file, registry));
    String target = "127.0.0.1:" + server.port();
    try {
      CommandLineRun none = CommandLineRun.of("ask", "--target", target, "--prompt", "hello");
      assertThat(none.exitCode()).isEqualTo(1);
      assertThat(none.err()).contains("UNAUTHENTICATED").contains("missing API key")
          .contains("hint: ask and feedback send an API key with --api-key KEY, or from CASCADE_API_KEY");
      CommandLineRun wrong = CommandLineRun.of("ask", "--target", target, "--prompt", "hello", "--api-key",
          "k-nobody-0123456789abcdef");
      assertThat(wrong.err()).contains("UNAUTHENTICATED").contains("unknown API key")
          .contains("hint: the key sent (--api-key, or CASCADE_API_KEY) is not one of the router's api.keys-file")
          .doesNotContain("send an API key with");
      CommandLineRun ok = CommandLineRun.of("ask", "--target", target, "--prompt", "hello", "--api-key",
          "k-batch-0123456789abcdef");
      assertThat(ok.exitCode()).as(ok.err()).isEqualTo(0);
      assertThat(ok.out().strip()).isEqualTo("HELLO");
      CommandLineRun feedbackWithout = CommandLineRun.of("feedback", "--target", target, "--request-id", "r-1",
          "--correct");
      assertThat(feedbackWithout.err()).contains("UNAUTHENTICATED");
      CommandLineRun feedback = CommandLineRun.of("feedback", "--target", target, "--request-id", "r-1", "--correct",
          "--api-key", "k-batch-0123456789abcdef");
      assertThat(feedback.exitCode()).as(feedback.err()).isEqualTo(0);
      assertThat(server.feedback.written).hasSize(1);
      // Both headers, one key valid (a gateway's own x-api-key beside the caller's Bearer key): accepted, and
      // counted by the valid key's name.
      String gateway = "k-gateway-0123456789abcdef";
      assertThat(generate(target, gateway, "Bearer k-batch-0123456789abcdef")).isEqualTo("HELLO");
      assertThat(generate(target, "k-batch-0123456789abcdef", "Bearer " + gateway)).isEqualTo("HELLO");
      assertThatThrownBy(() -> generate(target, gateway, "Bearer " + gateway))
          .isInstanceOfSatisfying(io.grpc.StatusRuntimeException.class, e -> assertThat(e.getStatus().getCode())
              .isEqualTo(io.grpc.Status.Code.UNAUTHENTICATED));
      // A valid key without its scheme is refused saying so, without repeating the key.
      assertThatThrownBy(() -> generate(target, null, "k-batch-0123456789abcdef"))
          .isInstanceOfSatisfying(io.grpc.StatusRuntimeException.class, e -> assertThat(e.getStatus().getDescription())
              .contains("has no scheme").contains("'authorization: Bearer KEY' or 'x-api-key: KEY'")
              .doesNotContain("k-batch"));
      String metrics = scrape(registry);
      // Feedback calls need a key but are not counted as generation calls.
      assertThat(metrics).contains("cascade_api_requests_total{key=\"batch\"} 3.0")
          .doesNotContain("k-batch-0123456789abcdef").doesNotContain("search-team\"} 1");
    } finally {
      server.stop();
    }
  }

  /** A loopback door answering the prompt upper-cased, guarded by {@code keys}. */
  private static FakeKafkaServer server(ApiKeys keys) throws Exception {
    return new FakeKafkaServer(NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)),
        prompt -> Optional.empty(), new DeferralPolicy("chow-sum", 0, 2.0, 0, 0, 1, "config", 0, ""), "admin-tok",
        Duration.ofSeconds(5), keys);
  }

  /** A Generate call with both key headers as given; its answer's text. */
  private static String generate(String target, String xApiKey, String authorization) {
    io.grpc.Metadata headers = new io.grpc.Metadata();
    if (xApiKey != null) {
      headers.put(ApiKeys.X_API_KEY, xApiKey);
    }
    if (authorization != null) {
      headers.put(ApiKeys.AUTHORIZATION, authorization);
    }
    io.grpc.ManagedChannel channel = io.grpc.ManagedChannelBuilder.forTarget(target).usePlaintext().build();
    try {
      return dev.cascade.proto.v1.CascadeGrpc.newBlockingStub(channel)
          .withInterceptors(io.grpc.stub.MetadataUtils.newAttachHeadersInterceptor(headers))
          .withDeadlineAfter(30, java.util.concurrent.TimeUnit.SECONDS)
          .generate(dev.cascade.proto.v1.GenerateRequest.newBuilder().setPrompt("hello").build()).getText();
    } finally {
      channel.shutdownNow();
    }
  }

  @Test
  void aRefusalForNoKeySaysWhatWasWrongWithTheAuthorizationValueWithoutRepeatingIt() {
    String accepted = "'authorization: Bearer KEY'";
    assertThat(ApiKeys.notPresented(null, accepted)).isEqualTo("none was sent; send " + accepted);
    assertThat(ApiKeys.notPresented("Basic dXNlcjpzZWNyZXQ=", accepted))
        .isEqualTo("the authorization scheme is 'Basic', not 'Bearer'; send " + accepted);
    assertThat(ApiKeys.notPresented("sk-0123456789abcdef", accepted)).contains("has no scheme")
        .doesNotContain("sk-0123");
    assertThat(ApiKeys.notPresented("sk-0123456789 abcdef", accepted)).contains("does not start with 'Bearer '")
        .doesNotContain("sk-0123");
    assertThat(ApiKeys.notPresented("Bearer", accepted)).contains("Bearer token is empty");
    assertThat(ApiKeys.presented("Basic dXNlcjpzZWNyZXQ=", null)).isEmpty();
  }

  @Test
  void aBadKeysFileIsRefusedAtStartNamingTheLine() throws Exception {
    Path file = dir.resolve("bad");
    Files.writeString(file, "ok k-0123456789abcdef\nshort abc\n");
    assertThatThrownBy(() -> ApiKeys.load(file, null))
        .hasMessageContaining("line 2: the key of 'short' (second field) has 3 characters; a key needs at least 16");
    Files.writeString(file, "bad/name k-0123456789abcdef\n");
    assertThatThrownBy(() -> ApiKeys.load(file, null)).hasMessageContaining("line 1: the name (first field)");
    Files.writeString(file, "lonely\n");
    assertThatThrownBy(() -> ApiKeys.load(file, null)).hasMessageContaining("line 1: expected 'NAME KEY' or"
        + " 'NAME KEY LIMIT', found 1 field ");
    Files.writeString(file, "ok k-0123456789abcdef\nok k-other-0123456789abcdef\n");
    assertThatThrownBy(() -> ApiKeys.load(file, null)).hasMessageContaining("line 2: name 'ok' repeats");
    // One key under two names: which name would count and limit its calls? Refused.
    Files.writeString(file, "ok k-0123456789abcdef\nalias k-0123456789abcdef\n");
    assertThatThrownBy(() -> ApiKeys.load(file, null))
        .hasMessageContaining("line 2: the key of 'alias' is also the key of 'ok'")
        .hasMessageNotContaining("k-0123456789abcdef");
    Files.writeString(file, "# nothing\n");
    assertThatThrownBy(() -> ApiKeys.load(file, null)).hasMessageContaining("holds no key");
  }

  @Test
  void aKeyOverItsLimitIsRefusedUntilItsNextWindowOverGrpcWithThePushback() throws Exception {
    Path file = dir.resolve("keys");
    // batch: api.rate-limit (3/s); search-team its own 1/min; open: none, whatever the default
    Files.writeString(file, "batch k-batch-0123456789abcdef\nsearch-team k-search-0123456789abcdef 1/min\n"
        + "open k-open-0123456789abcdef none\n");
    long[] now = {0};
    PrometheusRegistry registry = new PrometheusRegistry();
    ApiKeys keys = ApiKeys.load(file, null).limitedTo(dev.cascade.router.config.RateLimit.parse("3/s"), () -> now[0])
        .counted(registry);
    FakeKafkaServer server = server(keys);
    String target = "127.0.0.1:" + server.port();
    try {
      now[0] = 100_000_000L; // 0.1 s into the first window
      for (int i = 0; i < 3; i++) {
        assertThat(generate(target, "k-batch-0123456789abcdef", null)).isEqualTo("HELLO");
      }
      io.grpc.StatusRuntimeException over = org.junit.jupiter.api.Assertions.assertThrows(
          io.grpc.StatusRuntimeException.class, () -> generate(target, "k-batch-0123456789abcdef", null));
      assertThat(over.getStatus().getCode()).isEqualTo(io.grpc.Status.Code.RESOURCE_EXHAUSTED);
      assertThat(over.getStatus().getDescription()).isEqualTo("API key 'batch' is over its limit of 3/s generation"
          + " calls on this router (api.rate-limit); retry in 900 ms");
      assertThat(over.getTrailers().get(ApiKeys.RETRY_PUSHBACK_MS)).isEqualTo("900");
      // Feedback is not limited.
      CommandLineRun feedback = CommandLineRun.of("feedback", "--target", target, "--request-id", "r-1", "--correct",
          "--api-key", "k-batch-0123456789abcdef");
      assertThat(feedback.exitCode()).as(feedback.err()).isEqualTo(0);
      // The next window: three more.
      now[0] = 1_050_000_000L;
      assertThat(generate(target, "k-batch-0123456789abcdef", null)).isEqualTo("HELLO");
      // A key's own limit wins, and its refusal names the file.
      assertThat(generate(target, "k-search-0123456789abcdef", null)).isEqualTo("HELLO");
      assertThatThrownBy(() -> generate(target, "k-search-0123456789abcdef", null))
          .isInstanceOfSatisfying(io.grpc.StatusRuntimeException.class, e -> assertThat(e.getStatus().getDescription())
              .contains("'search-team' is over its limit of 1/min").contains("its line in api.keys-file"));
      for (int i = 0; i < 10; i++) {
        assertThat(generate(target, "k-open-0123456789abcdef", null)).isEqualTo("HELLO");
      }
      assertThat(scrape(registry)).contains("cascade_api_rate_limited_total{key=\"batch\"} 1.0")
          .contains("cascade_api_rate_limited_total{key=\"search-team\"} 1.0")
          .contains("cascade_api_rate_limited_total{key=\"open\"} 0.0")
          .contains("cascade_api_requests_total{key=\"batch\"} 5.0");
    } finally {
      server.stop();
    }
  }

  @Test
  void aReloadPutsAChangedValidFileInForceAndKeepsTheKeysWhenItIsNot() throws Exception {
    Path file = dir.resolve("rotating");
    Files.writeString(file, "batch k-batch-0123456789abcdef\nold k-old-0123456789abcdef\n");
    long[] now = {100_000_000L};
    PrometheusRegistry registry = new PrometheusRegistry();
    ApiKeys keys = ApiKeys.load(file, null).limitedTo(dev.cascade.router.config.RateLimit.parse("2/s"), () -> now[0])
        .counted(registry);
    assertThat(keys.reload()).isEqualTo(ApiKeys.Reload.UNCHANGED);
    assertThat(keys.refusedForMs("batch")).isEmpty();
    assertThat(keys.refusedForMs("batch")).isEmpty();
    assertThat(keys.refusedForMs("batch")).isPresent();
    // Rotated: 'old' goes, 'new' comes, batch's limit is unchanged (its window is kept: still refused).
    Files.writeString(file, "batch k-batch-0123456789abcdef\nnew k-new-0123456789abcdef 1/min\n");
    assertThat(keys.reload()).isEqualTo(ApiKeys.Reload.RELOADED);
    assertThat(keys.nameOf(java.util.List.of("k-old-0123456789abcdef"))).isNull();
    assertThat(keys.nameOf(java.util.List.of("k-new-0123456789abcdef"))).isEqualTo("new");
    assertThat(keys.refusedForMs("batch")).isPresent();
    assertThat(keys.refusedForMs("new")).isEmpty();
    assertThat(keys.refusedForMs("new")).isPresent();
    // A broken file: the keys in force stay, refused once however often it is looked at.
    Files.writeString(file, "batch k-batch-0123456789abcdef\nnew short\n");
    assertThat(keys.reload()).isEqualTo(ApiKeys.Reload.REFUSED);
    assertThat(keys.reload()).isEqualTo(ApiKeys.Reload.REFUSED);
    assertThat(keys.nameOf(java.util.List.of("k-new-0123456789abcdef"))).isEqualTo("new");
    Files.delete(file);
    assertThat(keys.reload()).isEqualTo(ApiKeys.Reload.REFUSED);
    assertThat(keys.nameOf(java.util.List.of("k-batch-0123456789abcdef"))).isEqualTo("batch");
    // Fixed: in force again, batch's limit changed (a fresh window).
    Files.writeString(file, "batch k-batch-0123456789abcdef 5/s\n");
    assertThat(keys.reload()).isEqualTo(ApiKeys.Reload.RELOADED);
    assertThat(keys.refusedForMs("batch")).isEmpty();
    assertThat(keys.nameOf(java.util.List.of("k-new-0123456789abcdef"))).isNull();
    assertThat(scrape(registry)).contains("cascade_api_keys_reloads_total{result=\"reloaded\"} 2.0")
        .contains("cascade_api_keys_reloads_total{result=\"refused\"} 2.0")
        .contains("cascade_api_requests_total{key=\"new\"} 0.0");
  }

  @Test
  void theGrpcDoorTakesARotatedKeyWithoutARestart() throws Exception {
    Path file = dir.resolve("rotated-live");
    Files.writeString(file, "team k-first-0123456789abcdef\n");
    ApiKeys keys = ApiKeys.load(file, null);
    FakeKafkaServer server = server(keys);
    String target = "127.0.0.1:" + server.port();
    try (AutoCloseable reloading = keys.reloadEvery(Duration.ofMillis(50))) {
      assertThat(generate(target, "k-first-0123456789abcdef", null)).isEqualTo("HELLO");
      Files.writeString(file, "team k-second-0123456789abcdef\n");
      long until = System.nanoTime() + 30_000_000_000L;
      while (keys.nameOf(java.util.List.of("k-second-0123456789abcdef")) == null && System.nanoTime() < until) {
        Thread.sleep(20);
      }
      assertThat(generate(target, "k-second-0123456789abcdef", null)).isEqualTo("HELLO");
      assertThatThrownBy(() -> generate(target, "k-first-0123456789abcdef", null))
          .isInstanceOfSatisfying(io.grpc.StatusRuntimeException.class, e -> assertThat(e.getStatus().getCode())
              .isEqualTo(io.grpc.Status.Code.UNAUTHENTICATED));
    } finally {
      server.stop();
    }
  }

  @Test
  void aKeysOwnLimitIsCheckedWhenTheFileIsRead() throws Exception {
    Path file = dir.resolve("bad-limit");
    Files.writeString(file, "ok k-0123456789abcdef 10/day\n");
    assertThatThrownBy(() -> ApiKeys.load(file, null)).hasMessageContaining("line 1: the limit of 'ok' '10/day':"
        + " expected N/s, N/min or N/h");
    Files.writeString(file, "ok k-0123456789abcdef 10/s extra\n");
    assertThatThrownBy(() -> ApiKeys.load(file, null)).hasMessageContaining("line 1: expected 'NAME KEY' or"
        + " 'NAME KEY LIMIT'");
  }

  private static String scrape(PrometheusRegistry registry) throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    new PrometheusTextFormatWriter(false).write(out, registry.scrape());
    return out.toString(StandardCharsets.UTF_8);
  }

}
