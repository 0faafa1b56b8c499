package dev.cascade.router.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cascade.proto.v1.CascadeGrpc;
import dev.cascade.proto.v1.GenerateRequest;
import dev.cascade.router.metrics.Scrape;
import io.grpc.StatusRuntimeException;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A router that refuses its callers shows it: {@code cascade_health_serving} follows health, and
 * {@code cascade_door_responses_total} counts each door's generation calls by what they were
 * answered (both doors of one front door, Kafka replaced by {@link FakeChannel}).
 */
class DoorMetricsTest {

  private final FakeChannel channel = new FakeChannel();
  private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
  private final PrometheusRegistry registry = new PrometheusRegistry();
  private final AtomicBoolean ready = new AtomicBoolean(true);
  private FakeFrontDoor doors;

  @BeforeEach
  void start() throws Exception {
    doors = new FakeFrontDoor(channel, registry);
    doors.grpc.healthFollows(ready::get);
    doors.http.healthFollows(ready::get);
  }

  @AfterEach
  void stop() throws Exception {
    doors.stop(false);
  }

  private Scrape scrape() throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    PrometheusTextFormatWriter.create().write(out, registry.scrape());
    return Scrape.parse(out.toString(StandardCharsets.UTF_8));
  }

  private int complete(String path, String body) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + doors.http.port() + path))
        .header("Content-Type", "application/json").timeout(Duration.ofSeconds(30))
        .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString()).statusCode();
  }

  private double responses(String door, String code) throws Exception {
    return scrape().value("cascade_door_responses_total", "door", door, "code", code);
  }

  private void awaitServing(double expected) throws Exception {
    for (int i = 0; i < 100 && scrape().value("cascade_health_serving") != expected; i++) {
      Thread.sleep(50);
    }
    assertThat(scrape().value("cascade_health_serving")).as("after 5 s").isEqualTo(expected);
  }

  @Test
  void whileNotServingTheGaugeIsZeroAndEveryGenerationCallIsCountedAsRefused() throws Exception {
    awaitServing(1);
    // Counted from 0 before any call, so that a rate sees the first refusals.
    assertThat(scrape().samples()).filteredOn(x -> x.name().equals("cascade_door_responses_total"))
        .extracting(x -> x.labels().get("door") + " " + x.labels().get("code") + " " + x.value())
        .contains("grpc UNAVAILABLE 0.0", "grpc OK 0.0", "grpc INTERNAL 0.0", "grpc UNKNOWN 0.0", "http 503 0.0",
            "http 200 0.0", "http 500 0.0");
    assertThat(CascadeGrpc.newBlockingStub(doors.client).generate(GenerateRequest.newBuilder().setPrompt("a").build())
        .getText()).isEqualTo("A");
    assertThat(complete("/v1/completions", "{\"model\": \"cascade\", \"prompt\": \"b\"}")).isEqualTo(200);
    assertThat(complete("/v1/completions", "{\"model\": \"cascade\", \"prompt\": \"c\", \"max_tokens\": -1}"))
        .isEqualTo(400);

    ready.set(false); // the stream threads stopped, or Kafka does not answer
    awaitServing(0);
    for (int i = 0; i < 3; i++) {
      assertThatThrownBy(() -> CascadeGrpc.newBlockingStub(doors.client).generate(GenerateRequest.newBuilder()
          .setPrompt("d").build())).isInstanceOf(StatusRuntimeException.class).hasMessageStartingWith("UNAVAILABLE");
      assertThat(complete("/v1/chat/completions", "{\"model\": \"cascade\", \"messages\": [{\"role\": \"user\","
          + " \"content\": \"e\"}]}")).isEqualTo(503);
    }
    // Not a generation call: not counted.
    assertThat(http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + doors.http.port() + "/v1/models"))
        .build(), HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(200);

    assertThat(responses("grpc", "OK")).isEqualTo(1);
    assertThat(responses("grpc", "UNAVAILABLE")).isEqualTo(3);
    assertThat(responses("http", "200")).isEqualTo(1);
    assertThat(responses("http", "400")).isEqualTo(1);
    assertThat(responses("http", "503")).isEqualTo(3);
    assertThat(scrape().sum("cascade_door_responses_total")).isEqualTo(9);

    ready.set(true);
    awaitServing(1);
  }

  @Test
  void theChatMessagesNotSentToTheModelsAreCounted() throws Exception {
    String chat = "{\"model\": \"cascade\", \"messages\": [{\"role\": \"system\", \"content\": \"be brief\"},"
        + " {\"role\": \"user\", \"content\": \"first\"}, {\"role\": \"assistant\", \"content\": \"FIRST\"},"
        + " {\"role\": \"user\", \"content\": \"second\"}]}";
    assertThat(scrape().value("cascade_http_chat_messages_not_sent_total")).as("there from the start").isZero();
    assertThat(complete("/v1/chat/completions", chat)).isEqualTo(200);
    assertThat(scrape().value("cascade_http_chat_messages_not_sent_total")).isEqualTo(3);
    // One message, a completion, and a chat refused before it was taken: nothing more.
    assertThat(complete("/v1/chat/completions", "{\"model\": \"cascade\", \"messages\": [{\"role\": \"user\","
        + " \"content\": \"e\"}]}")).isEqualTo(200);
    assertThat(complete("/v1/completions", "{\"model\": \"cascade\", \"prompt\": \"b\"}")).isEqualTo(200);
    assertThat(complete("/v1/chat/completions", chat.replace("\"model\": \"cascade\"", "\"model\": \"cascade\","
        + " \"n\": 2"))).isEqualTo(400);
    assertThat(scrape().value("cascade_http_chat_messages_not_sent_total")).isEqualTo(3);
  }

  @Test
  void aGrpcCallWhoseCallerGaveUpIsCountedOnceAsCancelled() throws Exception {
    channel.silent = true; // no answer comes: the caller's deadline ends the call
    assertThatThrownBy(() -> CascadeGrpc.newBlockingStub(doors.client).withDeadlineAfter(300, TimeUnit.MILLISECONDS)
        .generate(GenerateRequest.newBuilder().setPrompt("f").build())).isInstanceOf(StatusRuntimeException.class);
    double counted = 0;
    for (int i = 0; i < 100 && counted == 0; i++) {
      Thread.sleep(50);
      counted = scrape().sum("cascade_door_responses_total");
    }
    assertThat(counted).isEqualTo(1);
    assertThat(responses("grpc", "CANCELLED") + responses("grpc", "DEADLINE_EXCEEDED")).isEqualTo(1);
  }
}
