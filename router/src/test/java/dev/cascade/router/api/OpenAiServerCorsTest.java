package dev.cascade.router.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cascade.router.routing.RequestValidator;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * CORS on the HTTP door ({@code http.cors-allowed-origins}) over a real loopback server with API
 * keys, Kafka replaced by {@link FakeChannel}: what a browser sends (a preflight, then the call with
 * its {@code Origin}) and what it needs back.
 */
class OpenAiServerCorsTest {

  private static final String KEY = "k-team-0123456789abcdef";
  private static final String APP = "https://app.example";
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir
  Path dir;

  private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
  private FakeChannel channel;
  private OpenAiServer server;

  private void start(List<String> origins) throws Exception {
    Path keys = dir.resolve("keys");
    Files.writeString(keys, "team " + KEY + "\n");
    channel = new FakeChannel();
    RequestValidator validator = new RequestValidator(FakeKafkaServer.model(p -> Optional.empty()));
    server = new OpenAiServer(channel, validator, ApiKeys.load(keys, null), TokenCounter.approximate(),
        new OpenAiServer.Settings(Duration.ofSeconds(5), 48, 16, OpenAiServer.bodyLimits(500, 65_536, 256), origins),
        new FakeKafkaServer.RecordingFeedback()).start("127.0.0.1", 0);
  }

  @AfterEach
  void stop() {
    server.stop();
  }

  private URI uri(String path) {
    return URI.create("http://127.0.0.1:" + server.port() + path);
  }

  private HttpResponse<String> preflight(String path, String origin, String method) throws Exception {
    return http.send(HttpRequest.newBuilder(uri(path)).method("OPTIONS", HttpRequest.BodyPublishers.noBody())
        .header("Origin", origin).header("Access-Control-Request-Method", method)
        .header("Access-Control-Request-Headers", "authorization, content-type, x-stainless-os").build(),
        HttpResponse.BodyHandlers.ofString());
  }

  private HttpResponse<String> call(String method, String path, String origin, String key, String body)
      throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(uri(path)).header("Origin", origin)
        .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
    if (key != null) {
      b.header("Authorization", "Bearer " + key);
    }
    return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void aPreflightToAServedPathIsAnsweredWithoutAKeyWithThePathsMethods() throws Exception {
    start(List.of("https://other.example", APP));
    for (String path : List.of("/v1/completions", "/v1/chat/completions", "/v1/feedback", "/v1/models",
        "/v1/models/cascade")) {
      HttpResponse<String> preflight = preflight(path, APP, "POST");
      assertThat(preflight.statusCode()).as(path).isEqualTo(204);
      assertThat(preflight.headers().firstValue("Access-Control-Allow-Origin")).hasValue(APP);
      assertThat(preflight.headers().allValues("Vary")).contains("Origin");
      assertThat(preflight.headers().firstValue("Access-Control-Allow-Headers"))
          .hasValue("authorization, content-type, x-stainless-os");
      assertThat(preflight.headers().firstValue("Access-Control-Max-Age")).hasValue("600");
      // The methods a 405 on that path names: the ones it serves.
      HttpResponse<String> wrongMethod = call("PUT", path, APP, KEY, "{}");
      assertThat(wrongMethod.statusCode()).as(path).isEqualTo(405);
      assertThat(preflight.headers().firstValue("Access-Control-Allow-Methods"))
          .isEqualTo(wrongMethod.headers().firstValue("Allow")).isPresent();
    }
    assertThat(channel.submitted).isEmpty();

    // Another origin, or a path the door does not serve: no preflight answer.
    HttpResponse<String> stranger = preflight("/v1/completions", "https://evil.example", "POST");
    assertThat(stranger.statusCode()).isEqualTo(403);
    assertThat(stranger.headers().firstValue("Access-Control-Allow-Origin")).isEmpty();
    assertThat(JSON.readTree(stranger.body()).path("error").path("code").asText()).isEqualTo("cors_origin_not_allowed");
    assertThat(JSON.readTree(stranger.body()).path("error").path("message").asText())
        .contains("https://evil.example", "http.cors-allowed-origins");
    HttpResponse<String> unknown = preflight("/v1/embeddings", APP, "POST");
    assertThat(unknown.statusCode()).isNotEqualTo(204);
    assertThat(unknown.headers().firstValue("Access-Control-Allow-Methods")).isEmpty();
  }

  @Test
  void answersAndErrorsToAnAllowedOriginCarryItsHeaders() throws Exception {
    start(List.of(APP));
    HttpResponse<String> answer = call("POST", "/v1/completions", APP, KEY, "{\"model\": \"cascade\", \"prompt\": \"abc\"}");
    assertThat(answer.statusCode()).as(answer.body()).isEqualTo(200);
    assertThat(answer.headers().firstValue("Access-Control-Allow-Origin")).hasValue(APP);
    assertThat(answer.headers().allValues("Vary")).contains("Origin");
    // Every header of the answer a page would read is exposed to it.
    List<String> exposed = List.of(answer.headers().firstValue("Access-Control-Expose-Headers").orElseThrow()
        .split(", "));
    assertThat(answer.headers().map().keySet()).filteredOn(h -> h.startsWith("x-")).isNotEmpty()
        .allSatisfy(h -> assertThat(exposed).contains(h));
    assertThat(exposed).contains("Retry-After").contains("x-should-retry");

    HttpResponse<String> stream = call("POST", "/v1/chat/completions", APP, KEY, "{\"model\": \"cascade\", \"messages\":"
        + " [{\"role\": \"user\", \"content\": \"abc\"}], \"stream\": true}");
    assertThat(stream.headers().firstValue("content-type")).hasValueSatisfying(t -> assertThat(t)
        .startsWith("text/event-stream"));
    assertThat(stream.headers().firstValue("Access-Control-Allow-Origin")).hasValue(APP);

    for (HttpResponse<String> error : List.of(
        call("POST", "/v1/completions", APP, KEY, "{\"model\": \"cascade\"}"),
        call("POST", "/v1/completions", APP, null, "{\"model\": \"cascade\", \"prompt\": \"abc\"}"),
        call("GET", "/v1/embeddings", APP, KEY, null),
        call("GET", "/v1/models/gpt-4o", APP, KEY, null))) {
      assertThat(error.statusCode()).as(error.body()).isBetween(400, 499);
      assertThat(error.headers().firstValue("Access-Control-Allow-Origin")).as(error.body()).hasValue(APP);
    }
    // The body guard's own answer, before any route: a body that does not arrive in its time.
    String late = raw("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: " + APP
        + "\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{");
    assertThat(late).startsWith("HTTP/1.1 408 ").containsIgnoringCase("Access-Control-Allow-Origin: " + APP);

    // Another origin: the answer, as before, without them (the browser then withholds it from the page).
    HttpResponse<String> stranger = call("GET", "/v1/models", "https://evil.example", KEY, null);
    assertThat(stranger.statusCode()).isEqualTo(200);
    assertThat(stranger.headers().firstValue("Access-Control-Allow-Origin")).isEmpty();
    assertThat(stranger.headers().allValues("Vary")).contains("Origin");
  }

  /** What the door answers to {@code request}, sent as is over a socket (what no HTTP client would send). */
  private String raw(String request) throws Exception {
    try (java.net.Socket socket = new java.net.Socket("127.0.0.1", server.port())) {
      socket.setSoTimeout(20_000);
      socket.getOutputStream().write(request.getBytes(StandardCharsets.US_ASCII));
      return new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    }
  }

  @Test
  void whatJettyRefusesBeforeAnyHandlerCarriesTheHeadersToo() throws Exception {
    start(List.of("https://other.example", APP));
    // A malformed header line after the Origin: 400, in OpenAI's shape, readable by the page.
    String malformed = raw("GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: " + APP
        + "\r\nNot a header line\r\n\r\n");
    assertThat(malformed).startsWith("HTTP/1.1 400 ").containsIgnoringCase("Access-Control-Allow-Origin: " + APP)
        .containsIgnoringCase("Access-Control-Expose-Headers: ").containsIgnoringCase("Vary: Origin")
        .contains("\"bad_request\"");
    // Headers over the limit (Jetty's 8 KiB) after the Origin: 431.
    String large = raw("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: " + APP + "\r\nX-Big: "
        + "a".repeat(20_000) + "\r\n\r\n");
    assertThat(large).startsWith("HTTP/1.1 431 ").containsIgnoringCase("Access-Control-Allow-Origin: " + APP)
        .contains("\"request_header_fields_too_large\"");
    // The origin is the refused request's, not an earlier one's on the same connection.
    String second = raw("GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: " + APP + "\r\nAuthorization: Bearer "
        + KEY + "\r\n\r\nGET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nNot a header line\r\n\r\n");
    assertThat(second).startsWith("HTTP/1.1 200 ");
    String refusal = second.substring(second.indexOf("HTTP/1.1 400 "));
    assertThat(refusal).doesNotContainIgnoringCase("Access-Control-Allow-Origin");
    // Another origin: no CORS headers, as for any answer to it.
    String stranger = raw("GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: https://evil.example"
        + "\r\nNot a header line\r\n\r\n");
    assertThat(stranger).startsWith("HTTP/1.1 400 ").doesNotContainIgnoringCase("Access-Control-Allow-Origin")
        .containsIgnoringCase("Vary: Origin");
  }

  @Test
  void anyOriginIsAllowedWithAStar() throws Exception {
    start(List.of("*"));
    HttpResponse<String> preflight = preflight("/v1/chat/completions", "http://localhost:5173", "POST");
    assertThat(preflight.statusCode()).isEqualTo(204);
    assertThat(preflight.headers().firstValue("Access-Control-Allow-Origin")).hasValue("*");
    HttpResponse<String> models = call("GET", "/v1/models", "http://localhost:5173", KEY, null);
    assertThat(models.headers().firstValue("Access-Control-Allow-Origin")).hasValue("*");
    assertThat(models.headers().allValues("Vary")).doesNotContain("Origin");
  }

  @Test
  void withoutTheSettingThereIsNoCors() throws Exception {
    start(List.of());
    HttpResponse<String> preflight = preflight("/v1/completions", APP, "POST");
    assertThat(preflight.statusCode()).as("the key is needed, as for any call").isEqualTo(401);
    assertThat(preflight.headers().firstValue("Access-Control-Allow-Origin")).isEmpty();
    HttpResponse<String> models = call("GET", "/v1/models", APP, KEY, null);
    assertThat(models.statusCode()).isEqualTo(200);
    assertThat(models.headers().map().keySet()).noneMatch(h -> h.toLowerCase(java.util.Locale.ROOT)
        .startsWith("access-control-"));
    assertThat(models.headers().allValues("Vary")).doesNotContain("Origin");
  }
}
