package dev.cascade.loadtest;

import dev.cascade.models.Generation;
import dev.cascade.models.TextGenerator;
import dev.cascade.models.TextGenerators;
import dev.cascade.proto.v1.LargeGenerateRequest;
import dev.cascade.proto.v1.LargeGenerateResponse;
import dev.cascade.proto.v1.LargeModelGrpc;
import dev.cascade.router.CascadeRouter;
import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.demo.DemoWorkload;
import dev.cascade.router.demo.Example;
import dev.cascade.router.demo.Examples;
import dev.cascade.router.demo.ThresholdCalibration;
import dev.cascade.router.embedded.EmbeddedKafka;
import dev.cascade.router.rules.DeferralRules;
import dev.cascade.schemas.avro.CascadeResponse;
import dev.cascade.schemas.avro.ServedBy;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The router's overhead, measured in one run on one machine:
 *
 * <ol>
 *   <li>bare: the small model alone, generating the workload in batches of {@code small.batch.size};
 *   <li>router, nothing escalated: the same workload through Kafka and the router (threshold +∞);
 *   <li>router, ~30% escalated to a large model that takes 500 ms per call: throughput of the
 *       accepted path (SMALL answers per second), which must not suffer from the slow escalations.
 * </ol>
 *
 * <p>Run: {@code ./mvnw -B -q install -DskipTests && java -cp router/target/cascade.jar:loadtest/target/classes
 * dev.cascade.loadtest.RouterBenchmark [N]} (N examples of the bundled test split, default 2000);
 * {@code CASCADE_*} environment variables set the router's configuration.
 */
public final class RouterBenchmark {

  private RouterBenchmark() {}

  public static void main(String[] args) throws Exception {
    int n = args.length > 0 ? Integer.parseInt(args[0]) : 2000;
    List<Example> all = Examples.bundled("test");
    List<Example> examples = new ArrayList<>();
    for (int i = 0; examples.size() < n; i++) {
      examples.add(all.get(i % all.size()));
    }
    // The response cache would answer the repeated prompts of later runs without the model.
    CascadeConfig base = CascadeConfig.load(null, System.getenv(), Map.of()).with(CascadeConfig.CACHE_MAX_ENTRIES, "0");
    int batch = base.get(CascadeConfig.BATCH_SIZE);
    int maxNew = base.get(CascadeConfig.MAX_NEW_TOKENS);
    try (TextGenerator small = TextGenerators.load("small", "OnnxRuntime");
        EmbeddedKafka kafka = EmbeddedKafka.start()) {
      // Warm-up, so JIT and ONNX Runtime's first-call costs are not counted.
      bare(small, examples.subList(0, Math.min(256, n)), batch, maxNew);
      double bare = bare(small, examples, batch, maxNew);
      System.out.printf(Locale.ROOT, "bare small model, batch %d: %.1f sequences/s%n", batch, bare);

      CascadeConfig config = base.with(CascadeConfig.BOOTSTRAP_SERVERS, kafka.bootstrapServers());
      Server slowLarge = NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
          .addService(new SlowLargeModel(Duration.ofMillis(500))).build().start();
      try {
        CascadeConfig never = config.with(CascadeConfig.APPLICATION_ID, "bench-never")
            .with(CascadeConfig.POLICY_THRESHOLD, "1e300");
        double router = acceptedThroughput(never, small, slowLarge.getPort(), "never", examples);
        System.out.printf(Locale.ROOT, "router, nothing escalated: %.1f requests/s (ratio to bare %.3f)%n",
            router, router / bare);

        double threshold = ThresholdCalibration.calibrate(small, Examples.bundled("validation"),
            DeferralRules.of("chow-quantile", 0.0), 0.3, maxNew, 64, k -> { });
        CascadeConfig some = config.with(CascadeConfig.APPLICATION_ID, "bench-some")
            .with(CascadeConfig.POLICY_THRESHOLD, Double.toString(threshold))
            .with(CascadeConfig.ESCALATION_DEADLINE_MS, "10000");
        double accepted = acceptedThroughput(some, small, slowLarge.getPort(), "some", examples);
        System.out.printf(Locale.ROOT,
            "router, ~30%% escalated to a 500 ms large model: accepted path %.1f requests/s (%.1f%% of nothing-escalated)%n",
            accepted, 100 * accepted / router);
      } finally {
        slowLarge.shutdownNow();
      }
    }
    System.exit(0);
  }

  private static double bare(TextGenerator small, List<Example> examples, int batch, int maxNew) {
    long t0 = System.nanoTime();
    for (int start = 0; start < examples.size(); start += batch) {
      List<String> prompts = examples.subList(start, Math.min(examples.size(), start + batch)).stream()
          .map(Example::prompt).toList();
      List<Generation> g = small.generate(prompts, maxNew);
      if (g.size() != prompts.size()) {
        throw new IllegalStateException("generator returned " + g.size() + " for " + prompts.size());
      }
    }
    return examples.size() / ((System.nanoTime() - t0) / 1e9);
  }

  /** SMALL-served responses per second, from the first request sent to the last SMALL response read. */
  private static double acceptedThroughput(CascadeConfig config, TextGenerator small, int largePort, String prefix,
      List<Example> examples) throws Exception {
    try (CascadeRouter router = CascadeRouter.start(config, small, "127.0.0.1:" + largePort)) {
      // Warm-up through the whole path.
      run(config, prefix + "-warm", examples.subList(0, Math.min(200, examples.size())));
      DemoWorkload.Result result = run(config, prefix, examples);
      long first = result.sentAtNanos().values().stream().mapToLong(Long::longValue).min().orElseThrow();
      long last = Long.MIN_VALUE;
      int accepted = 0;
      for (CascadeResponse r : result.responses()) {
        if (r.getServedBy() == ServedBy.SMALL) {
          accepted++;
          last = Math.max(last, result.answeredAtNanos().get(r.getRequestId()));
        }
      }
      System.out.printf(Locale.ROOT, "  %s: %d responses, %d served by the small model%n", prefix,
          result.responses().size(), accepted);
      return accepted / ((last - first) / 1e9);
    }
  }

  private static DemoWorkload.Result run(CascadeConfig config, String prefix, List<Example> examples) throws Exception {
    return DemoWorkload.run(CascadeRouter.clientProperties(config), config.topics().requests(),
        config.topics().responses(), config.topics().outcomes(), prefix, examples, Duration.ofSeconds(120), k -> { });
  }

  /** A large model that answers after a fixed delay without holding a thread while it waits. */
  private static final class SlowLargeModel extends LargeModelGrpc.LargeModelImplBase {
    private final Duration delay;
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "slow-large-model");
      t.setDaemon(true);
      return t;
    });

    SlowLargeModel(Duration delay) {
      this.delay = delay;
    }

    @Override
    public void generate(LargeGenerateRequest request, StreamObserver<LargeGenerateResponse> out) {
      timer.schedule(() -> {
        out.onNext(LargeGenerateResponse.newBuilder().setText(request.getPrompt()).setModel("slow").build());
        out.onCompleted();
      }, delay.toMillis(), TimeUnit.MILLISECONDS);
    }
  }

}
