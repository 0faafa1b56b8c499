package dev.cascade.router.it;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cascade.proto.v1.CascadeGrpc;
import dev.cascade.proto.v1.GenerateRequest;
import dev.cascade.router.embedded.EmbeddedKafka;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code serve}'s doors when its Kafka broker dies, all as separate processes: the broker ({@code
 * cascade broker} over a data directory) killed with {@code kill -9} under a running {@code serve},
 * then calls on both doors, then the broker restarted and {@code serve} stopped with SIGTERM.
 *
 * <p>A producer that has lost every broker forgets the requests topic's metadata, and a send then
 * waits for it up to {@code max.block.ms}: 60 s by Kafka's default, on the caller's thread, before
 * the door's own wait had even begun. So a call was answered 503 after 60 s, past the door's wait,
 * and its request, failed within {@code send()}, still counted as awaiting a reply, so the stopping
 * front door kept its reply topic. Here the calls are answered as Kafka being gone (UNAVAILABLE,
 * 503 {@code unavailable}) within the door's wait, and on SIGTERM the reply topic is deleted: no
 * request of those calls is waited for. (Health is told not to watch the broker, {@code
 * health.kafka-timeout-ms=0}, so that every call reaches the send rather than being refused as
 * NOT_SERVING first.)
 */
class BrokerKilledDoorIT {

  /** The doors' wait ({@code grpc.default-deadline-ms}); the old answer came only after 60 s. */
  private static final Duration WAIT = Duration.ofSeconds(10);
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir
  Path dir;

  private JvmProcess broker(int port, int controllerPort) throws Exception {
    JvmProcess broker = JvmProcess.cascade(List.of("broker", "--data-dir", dir.resolve("kafka").toString(),
        "--port", String.valueOf(port), "--controller-port", String.valueOf(controllerPort)));
    assertThat(broker.await("bootstrap.servers=", Duration.ofSeconds(120))).as(broker.output()).isTrue();
    return broker;
  }

  @Test
  void callsAfterTheBrokerDiesAreAnsweredUnavailableWithinTheWaitAndNoneKeepsTheReplyTopic() throws Exception {
    int port = EmbeddedKafka.freePort();
    int controllerPort = EmbeddedKafka.freePort();
    List<JvmProcess> processes = new ArrayList<>();
    try {
      JvmProcess broker = broker(port, controllerPort);
      processes.add(broker);
      List<String> args = new ArrayList<>(List.of("serve"));
      for (String kv : List.of("bootstrap.servers=127.0.0.1:" + port, "state.dir=" + dir.resolve("state"),
          // No large model runs: nothing is escalated.
          "large.target=127.0.0.1:" + EmbeddedKafka.freePort(), "policy.rule=chow-sum", "policy.threshold=1000",
          "grpc.host=127.0.0.1", "metrics.enabled=false", "health.kafka-timeout-ms=0",
          "grpc.default-deadline-ms=" + WAIT.toMillis())) {
        args.add("--set");
        args.add(kv);
      }
      JvmProcess serve = JvmProcess.cascade(args);
      processes.add(serve);
      String openai = serve.awaitLine("openai=", Duration.ofSeconds(180))
          .orElseThrow(() -> new AssertionError("serve did not start:\n" + serve.output()));
      String grpc = serve.awaitLine("grpc=", Duration.ofSeconds(10)).orElseThrow();
      URI completions = URI.create(openai.substring("openai=".length()) + "/completions");
      URI local = URI.create("http://127.0.0.1:" + completions.getPort() + completions.getPath());
      ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1",
          Integer.parseInt(grpc.substring(grpc.lastIndexOf(':') + 1))).usePlaintext().build();
      HttpClient http = HttpClient.newHttpClient();
      try {
        answered(http, local, "cascade");

        broker.kill9();
        // The first request after the kill may find the producer still holding the metadata, and
        // wait in it for a broker (its call then ends at the door's wait: 408); trying to send it, the
        // producer finds every broker gone and forgets the metadata.
        HttpResponse<String> first = complete(http, local, "first");
        assertThat(first.statusCode()).as(first.body()).isIn(408, 503);
        assertThat(JSON.readTree(first.body()).path("error").path("code").asText()).as(first.body())
            .isIn("request_timeout", "unavailable");
        // The calls after it wait for that metadata in the producer: each is answered within its
        // wait (the clients' timeout is the wait and 10 s more, far below the 60 s of the old answer).
        List<CompletableFuture<HttpResponse<String>>> calls = new ArrayList<>();
        for (String prompt : List.of("router", "broker", "stream", "answer")) {
          calls.add(http.sendAsync(request(local, prompt), HttpResponse.BodyHandlers.ofString()));
        }
        StatusRuntimeException grpcFailure = null;
        try {
          CascadeGrpc.newBlockingStub(channel).withDeadlineAfter(WAIT.toSeconds() + 10, TimeUnit.SECONDS)
              .generate(GenerateRequest.newBuilder().setPrompt("kafka").build());
        } catch (StatusRuntimeException e) {
          grpcFailure = e;
        }
        assertThat(grpcFailure).as("answered although the broker is dead").isNotNull();
        assertThat(grpcFailure.getStatus().getCode()).as(grpcFailure.getStatus().toString())
            .isEqualTo(Status.Code.UNAVAILABLE);
        for (CompletableFuture<HttpResponse<String>> call : calls) {
          HttpResponse<String> answer = call.get(WAIT.toSeconds() + 20, TimeUnit.SECONDS);
          assertThat(answer.statusCode()).as(answer.body()).isEqualTo(503);
          assertThat(JSON.readTree(answer.body()).path("error").path("code").asText()).as(answer.body())
              .isEqualTo("unavailable");
        }

        // The broker back over its data: the doors answer again.
        processes.add(broker(port, controllerPort));
        answered(http, local, "again");
      } finally {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
      assertThat(serve.process.isAlive()).as("serve running before SIGTERM: %s", serve.output()).isTrue();
      serve.close();
      // Every request of those calls was either answered or never written: the stopping front door
      // waited for none of them, and deleted its reply topic.
      try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, "127.0.0.1:" + port))) {
        assertThat(admin.listTopics().names().get(60, TimeUnit.SECONDS))
            .as("exit %d: %s", serve.process.exitValue(), serve.output())
            .contains("cascade.requests").noneMatch(t -> t.startsWith("cascade.responses.front-door-"));
      }
    } finally {
      for (JvmProcess p : processes) {
        p.close();
      }
    }
  }

  /** Calls until answered 200 (the router may still be starting, or finding its broker again), for up to 2 minutes. */
  private static void answered(HttpClient http, URI uri, String prompt) throws Exception {
    long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
    HttpResponse<String> answer = complete(http, uri, prompt);
    while (answer.statusCode() != 200 && System.nanoTime() < deadline) {
      Thread.sleep(1_000);
      answer = complete(http, uri, prompt);
    }
    assertThat(answer.statusCode()).as(answer.body()).isEqualTo(200);
  }

  private static HttpRequest request(URI uri, String prompt) {
    return HttpRequest.newBuilder(uri).header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"cascade\",\"prompt\":\"" + prompt + "\"}"))
        .timeout(WAIT.plusSeconds(10)).build();
  }

  private static HttpResponse<String> complete(HttpClient http, URI uri, String prompt) throws Exception {
    return http.send(request(uri, prompt), HttpResponse.BodyHandlers.ofString());
  }
}
