package dev.cascade.router.it;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import dev.cascade.models.TextGenerator;
import dev.cascade.models.TextGenerators;
import dev.cascade.models.server.LargeModelServer;
import dev.cascade.models.server.ServerLimits;
import dev.cascade.router.CascadeRouter;
import dev.cascade.router.api.FrontDoor;
import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.embedded.EmbeddedKafka;
import dev.cascade.router.routing.RequestValidator;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;

/**
 * A cascade in the test's own JVM, for the ITs that call its doors: the embedded broker, the small
 * and large models (ONNX Runtime), the large one behind its gRPC server on loopback, and the routers,
 * doors and other things a test starts on them. {@link #close} closes all of them, the last started
 * first, and goes on past one that fails.
 */
final class LocalCascade implements AutoCloseable {

  final EmbeddedKafka kafka;
  final TextGenerator small;
  final TextGenerator large;
  final LargeModelServer largeServer;
  private final Deque<AutoCloseable> started = new ArrayDeque<>();

  /**
   * Starts the broker, loads the models ({@link TextGenerators#load}'s names or directories) and
   * serves the large one; what started is closed again if a later step fails.
   */
  LocalCascade(String smallModel, String largeModel) throws Exception {
    try {
      kafka = closing(EmbeddedKafka.start());
      small = closing(TextGenerators.load(smallModel, "OnnxRuntime"));
      large = closing(TextGenerators.load(largeModel, "OnnxRuntime"));
      largeServer = new LargeModelServer(NettyServerBuilder.forAddress(loopback()), large,
          new ServerLimits(2, 512)).start();
      closing(largeServer::stop);
    } catch (Throwable t) {
      try {
        close();
      } catch (Exception e) {
        t.addSuppressed(e);
      }
      throw t;
    }
  }

  /** {@code c}, to be closed by {@link #close} (before what was started earlier). */
  <T extends AutoCloseable> T closing(T c) {
    started.push(c);
    return c;
  }

  /** The large-model server's address, as a router's large-model target. */
  String largeAddress() {
    return "127.0.0.1:" + largeServer.port();
  }

  /** A router on the broker with {@code smallModel}, escalating to {@code largeTarget}. */
  CascadeRouter router(CascadeConfig config, TextGenerator smallModel, String largeTarget) {
    return closing(CascadeRouter.start(config, smallModel, largeTarget));
  }

  /** {@code router}'s doors on loopback (ports of their own), checking requests against {@code smallModel}. */
  FrontDoor door(CascadeConfig config, TextGenerator smallModel, CascadeRouter router) {
    return closing(FrontDoor.start(config, new RequestValidator(smallModel), router.rules(), loopback()));
  }

  /** The unmodified OpenAI client for {@code door}'s HTTP door with {@code apiKey}: no retries, 60 s a call. */
  static OpenAIClient openAi(FrontDoor door, String apiKey) {
    return OpenAIOkHttpClient.builder().baseUrl("http://127.0.0.1:" + door.httpPort() + "/v1").apiKey(apiKey)
        .maxRetries(0).timeout(Duration.ofSeconds(60)).build();
  }

  /**
   * The routing outcomes of {@code ids}, read from {@code config}'s outcomes topic (read_committed),
   * waiting up to 60 s for all of them.
   */
  static java.util.Map<String, dev.cascade.schemas.avro.RoutingOutcome> outcomes(CascadeConfig config,
      java.util.List<String> ids) {
    java.util.Map<String, Object> props = new java.util.HashMap<>(CascadeRouter.clientProperties(config));
    props.put(org.apache.kafka.clients.consumer.ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    props.put(org.apache.kafka.clients.consumer.ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    props.put(org.apache.kafka.clients.consumer.ConsumerConfig.GROUP_ID_CONFIG, "it-outcomes-" + System.nanoTime());
    java.util.Map<String, dev.cascade.schemas.avro.RoutingOutcome> found = new java.util.HashMap<>();
    try (org.apache.kafka.clients.consumer.KafkaConsumer<String, dev.cascade.schemas.avro.RoutingOutcome> consumer =
        new org.apache.kafka.clients.consumer.KafkaConsumer<>(props,
            new org.apache.kafka.common.serialization.StringDeserializer(),
            dev.cascade.schemas.serde.CascadeSerdes.outcomes().deserializer())) {
      consumer.subscribe(java.util.List.of(config.topics().outcomes()));
      long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(60);
      while (!found.keySet().containsAll(ids) && System.nanoTime() < deadline) {
        for (var r : consumer.poll(Duration.ofMillis(200))) {
          if (ids.contains(r.key())) {
            found.put(r.key(), r.value());
          }
        }
      }
    }
    org.assertj.core.api.Assertions.assertThat(found.keySet()).containsExactlyInAnyOrderElementsOf(ids);
    return found;
  }

  private static InetSocketAddress loopback() {
    return new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);
  }

  @Override
  public void close() throws Exception {
    Exception failed = null;
    while (!started.isEmpty()) {
      try {
        started.pop().close();
      } catch (Exception e) {
        if (failed == null) {
          failed = e;
        } else {
          failed.addSuppressed(e);
        }
      }
    }
    if (failed != null) {
      throw failed;
    }
  }
}
