package dev.cascade.loadtest;

import dev.cascade.models.CpuThreads;
import dev.cascade.models.TextGenerator;
import dev.cascade.models.TextGenerators;
import dev.cascade.models.server.LargeModelServer;
import dev.cascade.models.server.ServerLimits;
import dev.cascade.models.LoadOptions;
import dev.cascade.proto.v1.CascadeGrpc;
import dev.cascade.proto.v1.GenerateRequest;
import dev.cascade.proto.v1.Policy;
import dev.cascade.proto.v1.PolicyAdminGrpc;
import dev.cascade.proto.v1.UpdatePolicyRequest;
import dev.cascade.router.CascadeRouter;
import dev.cascade.router.api.FrontDoor;
import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.demo.Example;
import dev.cascade.router.demo.Examples;
import dev.cascade.router.embedded.EmbeddedKafka;
import dev.cascade.router.routing.RequestValidator;
import dev.cascade.schemas.avro.CascadeRequest;
import dev.cascade.schemas.avro.CascadeResponse;
import dev.cascade.schemas.serde.CascadeSerdes;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.MetadataUtils;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.HdrHistogram.Histogram;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The doors, measured in one run on one machine: an embedded broker, the bundled models, one
 * router instance and its gRPC front door.
 *
 * <ol>
 *   <li>Live tuning: time from {@code UpdatePolicy} returning to the first decision made under the
 *       new version (the earliest {@code completed_at_ms} of a response carrying it), with probe
 *       requests every 5 ms; 20 updates.
 *   <li>Request latency, closed loop, 1 and 16 concurrent callers: {@code Cascade.Generate} over
 *       loopback against a plain Kafka client (produce the request, read its response with a
 *       {@code read_committed} consumer) in the same run. The policy escalates nothing and every
 *       request bypasses the cache, so each one runs the small model and the two doors see the
 *       same work.
 * </ol>
 *
 * <p>Run: {@code ./mvnw -B -q -pl loadtest -am package -DskipTests &&
 * java -cp router/target/cascade.jar:loadtest/target/classes
 * -Dorg.apache.avro.SERIALIZABLE_PACKAGES=dev.cascade.schemas.avro,java.lang,java.util,org.apache.avro.util
 * -Dai.djl.offline=true dev.cascade.loadtest.DoorsBenchmark [REQUESTS_PER_LEVEL [SMALL [LARGE]]]} (default 400,
 * the bundled small and large models; a model is a bundled name or a directory). The large model
 * is loaded but, with nothing escalated, not called while measuring.
 */
public final class DoorsBenchmark {

  private static final String TOKEN = "bench-token";

  private DoorsBenchmark() {}

  public static void main(String[] args) throws Exception {
    int perLevel = args.length > 0 ? Integer.parseInt(args[0]) : 400;
    String smallName = args.length > 1 ? args[1] : "small";
    String largeName = args.length > 2 ? args[2] : "large";
    List<Example> examples = Examples.bundled("test");
    // Both models share the cores with the broker and the router, as in the demo.
    CpuThreads threads = CascadeConfig.defaults().cpuThreads();
    try (EmbeddedKafka kafka = EmbeddedKafka.start();
        TextGenerator small = TextGenerators.load(smallName, "OnnxRuntime", LoadOptions.DEFAULT.withThreads(threads));
        TextGenerator large = TextGenerators.load(largeName, "OnnxRuntime", LoadOptions.DEFAULT.withThreads(threads))) {
      LargeModelServer largeServer = new LargeModelServer(
          NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)), large,
          new ServerLimits(2, 512)).start();
      CascadeConfig config = CascadeConfig.load(null, Map.of(), Map.of(
          "bootstrap.servers", kafka.bootstrapServers(), "application.id", "doors-bench",
          "admin.token", TOKEN, "topic.partitions", "4"));
      try (CascadeRouter router = CascadeRouter.start(config, small, "127.0.0.1:" + largeServer.port());
          FrontDoor door = FrontDoor.start(config, new RequestValidator(small), router.rules(),
              new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
          KafkaRoundTrip kafkaPath = new KafkaRoundTrip(CascadeRouter.clientProperties(config), config)) {
        ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", door.port()).usePlaintext().build();
        System.out.printf(Locale.ROOT, "cores %d, small %s, large %s, engine %s%n",
            Runtime.getRuntime().availableProcessors(), small.info().name(), large.info().name(), small.info().engine());
        update(channel, 1e9, "bench: escalate nothing");

        policyApplyLatency(channel, kafkaPath, examples);

        Callers grpc = (id, prompt) -> CascadeGrpc.newBlockingStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS)
            .generate(GenerateRequest.newBuilder().setRequestId(id).setPrompt(prompt).setBypassCache(true).build());
        Callers viaKafka = (id, prompt) -> kafkaPath.call(CascadeRequest.newBuilder().setRequestId(id)
            .setPrompt(prompt).setMaxNewTokens(0).setMetadata(Map.of()).setBypassCache(true)
            .setCreatedAtMs(System.currentTimeMillis()).setMessages(java.util.List.of()).build()).get(60, TimeUnit.SECONDS);
        closedLoop("warm-kafka", viaKafka, 4, 80, examples);
        closedLoop("warm-grpc", grpc, 4, 80, examples);
        System.out.println("latency, closed loop, cache bypassed, nothing escalated (ms):");
        System.out.println("path   callers requests   p50     p99     max   req/s");
        for (int callers : new int[] {1, 16}) {
          // A-B-B-A halves, so a drift in machine load over the run falls on both paths alike.
          Run k1 = closedLoop("kafka-" + callers + "a", viaKafka, callers, perLevel / 2, examples);
          Run g1 = closedLoop("grpc-" + callers + "a", grpc, callers, perLevel / 2, examples);
          Run g2 = closedLoop("grpc-" + callers + "b", grpc, callers, perLevel - perLevel / 2, examples);
          Run k2 = closedLoop("kafka-" + callers + "b", viaKafka, callers, perLevel - perLevel / 2, examples);
          report("kafka", callers, k1.plus(k2));
          report("grpc", callers, g1.plus(g2));
        }
        channel.shutdownNow();
      } finally {
        largeServer.stop();
      }
    }
  }

  @FunctionalInterface
  private interface Callers {
    Object call(String id, String prompt) throws Exception;
  }

  private record Run(Histogram micros, double seconds) {
    Run plus(Run other) {
      Histogram sum = micros.copy();
      sum.add(other.micros);
      return new Run(sum, seconds + other.seconds);
    }
  }

  private static Run closedLoop(String prefix, Callers door, int callers, int requests, List<Example> examples)
      throws Exception {
    Histogram micros = new Histogram(TimeUnit.MINUTES.toMicros(2), 3);
    AtomicInteger next = new AtomicInteger();
    ExecutorService pool = Executors.newFixedThreadPool(callers);
    long t0 = System.nanoTime();
    try {
      List<Future<?>> workers = new ArrayList<>();
      for (int c = 0; c < callers; c++) {
        workers.add(pool.submit(() -> {
          for (int i = next.getAndIncrement(); i < requests; i = next.getAndIncrement()) {
            long start = System.nanoTime();
            door.call(prefix + "-" + i, examples.get(i % examples.size()).prompt());
            long us = (System.nanoTime() - start) / 1000;
            synchronized (micros) {
              micros.recordValue(us);
            }
          }
          return null;
        }));
      }
      for (Future<?> w : workers) {
        w.get();
      }
    } finally {
      pool.shutdownNow();
    }
    return new Run(micros, (System.nanoTime() - t0) / 1e9);
  }

  private static void report(String path, int callers, Run run) {
    Histogram h = run.micros();
    System.out.printf(Locale.ROOT, "%-6s %7d %8d %7.1f %7.1f %7.1f %6.1f%n", path, callers, h.getTotalCount(),
        h.getValueAtPercentile(50) / 1000.0, h.getValueAtPercentile(99) / 1000.0, h.getMaxValue() / 1000.0,
        h.getTotalCount() / run.seconds());
  }

  private static Policy update(ManagedChannel channel, double threshold, String reason) {
    Metadata headers = new Metadata();
    headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + TOKEN);
    return PolicyAdminGrpc.newBlockingStub(channel).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers))
        .withDeadlineAfter(30, TimeUnit.SECONDS)
        .updatePolicy(UpdatePolicyRequest.newBuilder().setPolicy(Policy.newBuilder().setRule("chow-sum")
            .setThreshold(threshold).setReason(reason)).build());
  }

  /** 20 updates under probe traffic every 5 ms; prints median and max of return-to-first-decision. */
  private static void policyApplyLatency(ManagedChannel channel, KafkaRoundTrip kafkaPath, List<Example> examples)
      throws Exception {
    Map<Long, Long> firstDecisionMs = new ConcurrentHashMap<>();
    kafkaPath.onResponse(r -> firstDecisionMs.merge(r.getPolicyVersion(), r.getCompletedAtMs(), Math::min));
    AtomicLong probes = new AtomicLong();
    var prober = Executors.newSingleThreadScheduledExecutor();
    prober.scheduleAtFixedRate(() -> {
      long i = probes.incrementAndGet();
      kafkaPath.send(CascadeRequest.newBuilder().setRequestId("probe-" + i)
          .setPrompt(examples.get((int) (i % examples.size())).prompt()).setMaxNewTokens(0).setMetadata(Map.of())
          .setCreatedAtMs(System.currentTimeMillis()).setMessages(java.util.List.of()).build());
    }, 0, 5, TimeUnit.MILLISECONDS);
    try {
      Thread.sleep(2000);
      List<Long> afterReturn = new ArrayList<>();
      List<Long> callMs = new ArrayList<>();
      for (int k = 0; k < 20; k++) {
        long before = System.currentTimeMillis();
        Policy p = update(channel, 1e9 + k + 1, "bench update " + k);
        long returned = System.currentTimeMillis();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!firstDecisionMs.containsKey(p.getVersion()) && System.nanoTime() < deadline) {
          Thread.sleep(2);
        }
        Thread.sleep(500); // late-arriving responses may carry an earlier decision under the same version
        Long first = firstDecisionMs.get(p.getVersion());
        if (first == null) {
          throw new IllegalStateException("policy version " + p.getVersion() + " not applied within 10 s");
        }
        afterReturn.add(first - returned);
        callMs.add(returned - before);
      }
      afterReturn.sort(null);
      callMs.sort(null);
      System.out.printf(Locale.ROOT, "policy update, 20 updates, probes every 5 ms: UpdatePolicy call median %d ms"
          + " max %d ms; from UpdatePolicy returning to the first decision under the new version: median %d ms,"
          + " max %d ms (min %d ms)%n", median(callMs), callMs.get(callMs.size() - 1), median(afterReturn),
          afterReturn.get(afterReturn.size() - 1), afterReturn.get(0));
    } finally {
      prober.shutdownNow();
      prober.awaitTermination(5, TimeUnit.SECONDS);
      kafkaPath.onResponse(r -> { });
    }
  }

  private static long median(List<Long> sorted) {
    int n = sorted.size();
    return n % 2 == 1 ? sorted.get(n / 2) : (sorted.get(n / 2 - 1) + sorted.get(n / 2)) / 2;
  }

  /** A plain Kafka client of the cascade: produce a request, read its response (read_committed). */
  private static final class KafkaRoundTrip implements AutoCloseable {
    private final KafkaProducer<String, CascadeRequest> producer;
    private final KafkaConsumer<byte[], byte[]> consumer;
    private final String requests;
    private final Map<String, CompletableFuture<CascadeResponse>> waiting = new ConcurrentHashMap<>();
    private volatile java.util.function.Consumer<CascadeResponse> listener = r -> { };
    private volatile boolean running = true;
    private final Thread reader;

    KafkaRoundTrip(Map<String, Object> clientProps, CascadeConfig config) {
      Map<String, Object> p = new HashMap<>(clientProps);
      p.put(ProducerConfig.ACKS_CONFIG, "all");
      p.put(ProducerConfig.LINGER_MS_CONFIG, 1);
      producer = new KafkaProducer<>(p, new StringSerializer(), CascadeSerdes.requests().serializer());
      Map<String, Object> c = new HashMap<>(clientProps);
      c.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
      consumer = new KafkaConsumer<>(c, new ByteArrayDeserializer(), new ByteArrayDeserializer());
      requests = config.topics().requests();
      List<TopicPartition> parts = new ArrayList<>();
      consumer.partitionsFor(config.topics().responses())
          .forEach(i -> parts.add(new TopicPartition(i.topic(), i.partition())));
      consumer.assign(parts);
      consumer.seekToEnd(parts);
      parts.forEach(consumer::position);
      var deserializer = CascadeSerdes.responses().deserializer();
      reader = new Thread(() -> {
        while (running) {
          for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(100))) {
            CascadeResponse response = deserializer.deserialize(r.topic(), r.value());
            listener.accept(response);
            CompletableFuture<CascadeResponse> f = waiting.remove(response.getRequestId());
            if (f != null) {
              f.complete(response);
            }
          }
        }
        consumer.close();
      }, "kafka-round-trip");
      reader.start();
    }

    void onResponse(java.util.function.Consumer<CascadeResponse> l) {
      listener = l;
    }

    void send(CascadeRequest request) {
      producer.send(new ProducerRecord<>(requests, request.getRequestId(), request));
    }

    CompletableFuture<CascadeResponse> call(CascadeRequest request) {
      CompletableFuture<CascadeResponse> f = new CompletableFuture<>();
      waiting.put(request.getRequestId(), f);
      send(request);
      return f;
    }

    @Override
    public void close() throws InterruptedException {
      running = false;
      reader.join(5000);
      producer.close();
    }
  }
}
