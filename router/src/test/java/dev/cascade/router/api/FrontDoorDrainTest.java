package dev.cascade.router.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.common.util.concurrent.ListenableFuture;
import dev.cascade.proto.v1.CascadeGrpc;
import dev.cascade.proto.v1.GenerateRequest;
import dev.cascade.proto.v1.GenerateResponse;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * How the front door's two doors close ({@link FrontDoor#drain}, what {@code serve} does on SIGTERM):
 * new calls are refused on both at once, and the calls in flight on both are answered, HTTP ones
 * as gRPC ones (a gRPC server in-process, the HTTP door on loopback, Kafka replaced by
 * {@link FakeChannel}, told to answer only when the test says).
 */
class FrontDoorDrainTest {

  private static final ObjectMapper JSON = new ObjectMapper();

  private final FakeChannel channel = new FakeChannel();
  private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
  private FakeFrontDoor doors;
  private boolean drained;

  @BeforeEach
  void start() throws Exception {
    channel.silent = true;
    doors = new FakeFrontDoor(channel, null);
  }

  @AfterEach
  void stop() throws Exception {
    doors.stop(drained);
  }

  private CompletableFuture<HttpResponse<String>> complete(String prompt) {
    return http.sendAsync(HttpRequest.newBuilder(
        URI.create("http://127.0.0.1:" + doors.http.port() + "/v1/completions"))
        .header("Content-Type", "application/json").timeout(Duration.ofSeconds(60))
        .POST(HttpRequest.BodyPublishers.ofString("{\"model\": \"cascade\", \"prompt\": \"" + prompt + "\"}")).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  private void awaitSubmitted(int n) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (channel.submitted.size() < n && System.nanoTime() < deadline) {
      Thread.sleep(10);
    }
    assertThat(channel.submitted).hasSize(n);
  }

  @Test
  void callsWaitingOnEitherDoorWhenTheyCloseAreAnsweredAndNewCallsAreRefused() throws Exception {
    CompletableFuture<HttpResponse<String>> httpCall = complete("h");
    awaitSubmitted(1);
    ListenableFuture<GenerateResponse> grpcCall = CascadeGrpc.newFutureStub(doors.client)
        .withDeadlineAfter(60, TimeUnit.SECONDS).generate(GenerateRequest.newBuilder().setPrompt("g").build());
    awaitSubmitted(2);

    long begun = System.nanoTime();
    drained = true;
    Thread closing = new Thread(() -> FrontDoor.drain(doors.grpc, doors.http, Duration.ofSeconds(20)), "closing");
    closing.start();
    Thread.sleep(300);
    HttpResponse<String> refused = complete("late").get(10, TimeUnit.SECONDS);
    assertThat(refused.statusCode()).isEqualTo(503);
    assertThat(JSON.readTree(refused.body()).path("error").path("code").asText()).isEqualTo("shutting_down");
    assertThat(channel.submitted).hasSize(2);

    // Both doors keep their waiting calls until the answers come, and then answer them.
    Thread.sleep(1_000);
    assertThat(httpCall).isNotDone();
    assertThat(grpcCall.isDone()).isFalse();
    assertThat(closing.isAlive()).isTrue();
    channel.futures.get(0).complete(FakeChannel.answer(channel.submitted.get(0)));
    channel.futures.get(1).complete(FakeChannel.answer(channel.submitted.get(1)));
    HttpResponse<String> answered = httpCall.get(10, TimeUnit.SECONDS);
    assertThat(answered.statusCode()).as(answered.body()).isEqualTo(200);
    assertThat(JSON.readTree(answered.body()).path("choices").get(0).path("text").asText()).isEqualTo("H");
    assertThat(grpcCall.get(10, TimeUnit.SECONDS).getText()).isEqualTo("G");
    closing.join(10_000);
    assertThat(closing.isAlive()).isFalse();
    assertThat(Duration.ofNanos(System.nanoTime() - begun)).isLessThan(Duration.ofSeconds(15));
    assertThat(doors.http.callsInFlight()).isZero();
  }

  @Test
  void anHttpCallStillWaitingAtTheBoundIsNoLongerWaitedFor() throws Exception {
    CompletableFuture<HttpResponse<String>> httpCall = complete("h");
    awaitSubmitted(1);
    long begun = System.nanoTime();
    drained = true;
    FrontDoor.drain(doors.grpc, doors.http, Duration.ofMillis(1_500));
    long tookMs = (System.nanoTime() - begun) / 1_000_000;
    assertThat(tookMs).isBetween(1_000L, 6_000L);
    assertThat(doors.http.callsInFlight()).isEqualTo(1);
    assertThat(httpCall).isNotDone();
    // (FrontDoor.close then closes the Kafka side, which answers it 503; here its answer comes late.)
    channel.futures.get(0).complete(FakeChannel.answer(channel.submitted.get(0)));
    assertThat(httpCall.get(10, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
    assertThat(doors.http.awaitCalls(Duration.ofSeconds(5))).isTrue();
  }
}
