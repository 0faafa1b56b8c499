package dev.cascade.router.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.proto.v1.CascadeGrpc;
import dev.cascade.proto.v1.GenerateRequest;
import dev.cascade.proto.v1.GenerateResponse;
import dev.cascade.proto.v1.ServedBy;
import dev.cascade.router.embedded.EmbeddedKafka;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
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

  /** A {@code java -jar} process whose output lines are collected. */
  private static final class JarProcess implements AutoCloseable {
    final Process process;
    final List<String> lines = new CopyOnWriteArrayList<>();

    JarProcess(Path jar, String... args) throws Exception {
      List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
          "-Dorg.apache.avro.SERIALIZABLE_PACKAGES=dev.cascade.schemas.avro,java.lang,java.util,org.apache.avro.util",
          "-Dai.djl.offline=true", "-jar", jar.toString()));
      command.addAll(List.of(args));
      process = new ProcessBuilder(command).redirectErrorStream(true).start();
      Thread reader = new Thread(() -> {
        try (BufferedReader in = new BufferedReader(new InputStreamReader(process.getInputStream(),
            StandardCharsets.UTF_8))) {
          String line;
          while ((line = in.readLine()) != null) {
            lines.add(line);
          }
        } catch (java.io.IOException e) {
          // the process ended
        }
      }, "jar-output");
      reader.setDaemon(true);
      reader.start();
    }

    /** The first line starting with {@code prefix}, waiting up to {@code timeout}; empty if the process died first. */
    Optional<String> await(String prefix, Duration timeout) throws InterruptedException {
      long deadline = System.nanoTime() + timeout.toNanos();
      while (System.nanoTime() < deadline) {
        Optional<String> line = lines.stream().filter(l -> l.startsWith(prefix)).findFirst();
        if (line.isPresent() || !process.isAlive()) {
          return line;
        }
        Thread.sleep(100);
      }
      return Optional.empty();
    }

    String output() {
      return String.join("\n", lines);
    }

    @Override
    public void close() {
      process.destroy();
      try {
        if (!process.waitFor(20, TimeUnit.SECONDS)) {
          process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
      } catch (InterruptedException e) {
        process.destroyForcibly();
        Thread.currentThread().interrupt();
      }
    }
  }

  @Test
  void theRuntimeJarLeavesTheToolsOutAndIsSmaller() throws Exception {
    assertThat(RUNTIME).as("built by the package phase").exists();
    assertThat(Files.size(RUNTIME)).isLessThan(Files.size(FULL) * 3 / 4);
    try (ZipFile zip = new ZipFile(RUNTIME.toFile())) {
      assertThat(zip.getEntry("dev/cascade/router/cli/RuntimeCommand.class")).isNotNull();
      assertThat(zip.getEntry("dev/cascade/router/cli/ServeCommand.class")).isNotNull();
      assertThat(zip.getEntry("org/apache/kafka/streams/KafkaStreams.class")).isNotNull();
      for (String absent : List.of("kafka/server/KafkaRaftServer.class", "scala/Predef.class",
          "org/knowm/xchart/XYChart.class", "dev/cascade/router/embedded/EmbeddedKafka.class",
          "dev/cascade/router/cli/DemoCommand.class", "me/tongfei/progressbar/ProgressBar.class")) {
        assertThat(zip.getEntry(absent)).as(absent).isNull();
      }
    }
    try (JarProcess demo = new JarProcess(RUNTIME, "demo")) {
      assertThat(demo.process.waitFor(60, TimeUnit.SECONDS)).isTrue();
      assertThat(demo.process.exitValue()).isNotZero();
      assertThat(demo.output()).contains("Unmatched argument").contains("demo");
    }
  }

  @Test
  void theRuntimeJarServesAndEscalatesOnARealBroker() throws Exception {
    try (EmbeddedKafka kafka = EmbeddedKafka.start();
        JarProcess large = new JarProcess(RUNTIME, "large-model", "--port", "0")) {
      String largeAddress = large.await("large-model=", Duration.ofSeconds(120))
          .orElseThrow(() -> new AssertionError("large-model did not start:\n" + large.output()))
          .substring("large-model=".length());
      try (JarProcess serve = new JarProcess(RUNTIME, "serve",
          "--set", "bootstrap.servers=" + kafka.bootstrapServers(), "--set", "large.target=" + largeAddress,
          "--set", "state.dir=" + state, "--set", "topic.partitions=2", "--set", "metrics.enabled=false",
          // Everything deferred: every answer must come from the large model through the slim jar.
          "--set", "policy.rule=chow-sum", "--set", "policy.threshold=-1000")) {
        String grpc = serve.await("grpc=", Duration.ofSeconds(180))
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
        String openai = serve.await("openai=", Duration.ofSeconds(10))
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
