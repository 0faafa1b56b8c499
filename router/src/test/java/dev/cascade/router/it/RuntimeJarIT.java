package dev.cascade.router.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.proto.v1.CascadeGrpc;
import dev.cascade.proto.v1.GenerateRequest;
import dev.cascade.proto.v1.GenerateResponse;
import dev.cascade.proto.v1.ServedBy;
import dev.cascade.router.embedded.EmbeddedKafka;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.zip.ZipFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The slim runtime jar ({@code cascade-runtime.jar}), run as the container image runs it: separate
 * JVMs started with {@code java -jar}, a large-model server and a router on a real broker. It must
 * serve and escalate without the tools' dependencies (Kafka's broker, Scala, charting), which it
 * must not carry.
 */
class RuntimeJarIT {

  private static final Path RUNTIME = Path.of("target", "cascade-runtime.jar");
  private static final Path FULL = Path.of("target", "cascade.jar");

  @TempDir
  Path state;

  @Test
  void theRuntimeJarLeavesTheToolsOutAndIsSmaller() throws Exception {
    assertThat(RUNTIME).as("built by the package phase").exists();
    assertThat(Files.size(RUNTIME)).isLessThan(Files.size(FULL) * 4 / 5);
    try (ZipFile zip = new ZipFile(RUNTIME.toFile())) {
      assertThat(zip.getEntry("dev/cascade/router/cli/RuntimeCommand.class")).isNotNull();
      assertThat(zip.getEntry("dev/cascade/router/cli/ServeCommand.class")).isNotNull();
      assertThat(zip.getEntry("org/apache/kafka/streams/KafkaStreams.class")).isNotNull();
      for (String absent : List.of("kafka/server/KafkaRaftServer.class", "scala/Predef.class",
          "org/knowm/xchart/XYChart.class", "dev/cascade/router/embedded/EmbeddedKafka.class",
          "dev/cascade/router/cli/DemoCommand.class", "dev/cascade/router/cli/CdsWorkloadCommand.class",
          "me/tongfei/progressbar/ProgressBar.class")) {
        assertThat(zip.getEntry(absent)).as(absent).isNull();
      }
    }
    try (JvmProcess demo = JvmProcess.jar(RUNTIME, List.of("demo"))) {
      assertThat(demo.process.waitFor(60, TimeUnit.SECONDS)).isTrue();
      assertThat(demo.process.exitValue()).isNotZero();
      assertThat(demo.output()).contains("Unmatched argument").contains("demo");
    }
  }

  @Test
  void theRuntimeJarServesAndEscalatesOnARealBroker() throws Exception {
    try (EmbeddedKafka kafka = EmbeddedKafka.start();
        JvmProcess large = JvmProcess.jar(RUNTIME, List.of("large-model", "--host", "127.0.0.1", "--port", "0"))) {
      String largeAddress = large.awaitLine("large-model=", Duration.ofSeconds(120))
          .orElseThrow(() -> new AssertionError("large-model did not start:\n" + large.output()))
          .substring("large-model=".length());
      try (JvmProcess serve = JvmProcess.jar(RUNTIME, List.of("serve",
          "--set", "bootstrap.servers=" + kafka.bootstrapServers(), "--set", "large.target=" + largeAddress,
          "--set", "state.dir=" + state, "--set", "topic.partitions=2", "--set", "metrics.enabled=false",
          // Everything deferred: every answer must come from the large model through the slim jar.
          "--set", "policy.rule=chow-sum", "--set", "policy.threshold=-1000"))) {
        String grpc = serve.awaitLine("grpc=", Duration.ofSeconds(180))
            .orElseThrow(() -> new AssertionError("serve did not start:\n" + serve.output()));
        int port = Integer.parseInt(grpc.substring(grpc.lastIndexOf(':') + 1));
        ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
        try {
          for (String prompt : List.of("cascade", "runtime", "router")) {
            GenerateResponse response = CascadeGrpc.newBlockingStub(channel).withWaitForReady()
                .withDeadlineAfter(90, TimeUnit.SECONDS)
                .generate(GenerateRequest.newBuilder().setPrompt(prompt).build());
            assertThat(response.getServedBy()).as(prompt).isEqualTo(ServedBy.LARGE);
            assertThat(response.getText()).as(prompt).isNotBlank();
          }
        } finally {
          channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
        // The OpenAI-compatible HTTP door runs from the slim jar too.
        String openai = serve.awaitLine("openai=", Duration.ofSeconds(10))
            .orElseThrow(() -> new AssertionError("no openai= line:\n" + serve.output()))
            .substring("openai=".length());
        java.net.URI uri = java.net.URI.create(openai + "/completions");
        java.net.http.HttpResponse<String> reply = java.net.http.HttpClient.newHttpClient().send(
            java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://127.0.0.1:" + uri.getPort() + uri.getPath()))
                .header("Content-Type", "application/json")
                .POST(java.net.http.HttpRequest.BodyPublishers.ofString("{\"model\":\"cascade\",\"prompt\":\"slim\"}"))
                .timeout(Duration.ofSeconds(90)).build(),
            java.net.http.HttpResponse.BodyHandlers.ofString());
        assertThat(reply.statusCode()).as(reply.body()).isEqualTo(200);
        assertThat(reply.body()).contains("\"text_completion\"");
      }
    }
  }
}
