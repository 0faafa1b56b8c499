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
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The router's overhead, measured in one run on one machine, in rounds:
 *
 * <ol>
 *   <li>bare: the small model alone, generating the workload in calls of {@code small.batch.size}
 *       prompts, one call after another and from 4 callers at once (the continuous batcher merges
 *       those), before the router starts and again after it stops; the baseline is the best of the
 *       four medians;
 *   <li>router, nothing escalated (threshold +∞): the same workload through Kafka and the router,
 *       after one whole pass of warm-up, so the JIT has compiled the Kafka path too; its ratio to the
 *       baseline is the router's overhead;
 *   <li>router, ~30% escalated to a large model that takes 500 ms per call: the rate of the
 *       small-model path (requests routed per second, from the first request sent to the last answer
 *       served by the small model) against the nothing-escalated rate, which shows whether slow
 *       escalations hold up the confident answers.
 * </ol>
 *
 * <p>Every phase has its own topics. Run: {@code ./mvnw -B -q install -DskipTests && java -cp
 * router/target/cascade.jar:loadtest/target/classes dev.cascade.loadtest.RouterBenchmark [N [ROUNDS]]}
 * (N examples of the bundled test split, default 2000; 3 rounds); {@code CASCADE_*} environment
 * variables set the router's and the model's configuration.
 */
public final class RouterBenchmark {

  private static final int CALLERS = 4;

  private RouterBenchmark() {}

  public static void main(String[] args) throws Exception {
    int n = args.length > 0 ? Integer.parseInt(args[0]) : 2000;
    int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 3;
    List<Example> all = Examples.bundled("test");
    List<Example> examples = new ArrayList<>();
    for (int i = 0; examples.size() < n; i++) {
      examples.add(all.get(i % all.size()));
    }
    // The response cache would answer the repeated prompts of later rounds without the model.
    CascadeConfig base = CascadeConfig.load(null, System.getenv(), Map.of()).with(CascadeConfig.CACHE_MAX_ENTRIES, "0");
    int batch = base.get(CascadeConfig.BATCH_SIZE);
    int maxNew = base.get(CascadeConfig.MAX_NEW_TOKENS);
    System.out.printf(Locale.ROOT, "%d requests, %d rounds; small.batch.size=%d, model.threads=%d, model.spinning=%s,"
        + " streams.threads=%d, %d cores%n", n, rounds, batch, base.cpuThreads().intraOp(),
        base.cpuThreads().spinning(), base.get(CascadeConfig.STREAM_THREADS),
        Runtime.getRuntime().availableProcessors());
    try (TextGenerator small = TextGenerators.load("small", "OnnxRuntime", TextGenerators.DEFAULT_MAX_BATCH, base.cpuThreads());
        EmbeddedKafka kafka = EmbeddedKafka.start()) {
      // Warm-up, so JIT and ONNX Runtime's first-call costs are not counted.
      bare(small, examples, batch, maxNew, 1);
      bare(small, examples, batch, maxNew, CALLERS);
      double[][] before = bareRounds(small, examples, batch, maxNew, rounds, "before the router");

      CascadeConfig config = base.with(CascadeConfig.BOOTSTRAP_SERVERS, kafka.bootstrapServers());
      Server slowLarge = NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
          .addService(new SlowLargeModel(Duration.ofMillis(500))).build().start();
      double[] never;
      double[] some;
      try {
        CascadeConfig neverConfig = config.withOwnTopics("bench-never", "never")
            .with(CascadeConfig.POLICY_THRESHOLD, "1e300");
        never = routerRounds(neverConfig, small, slowLarge.getPort(), "never", examples, rounds);

        double threshold = ThresholdCalibration.calibrate(small, Examples.bundled("validation"),
            DeferralRules.of("chow-quantile", 0.0), 0.3, maxNew, 64, k -> { });
        CascadeConfig someConfig = config.withOwnTopics("bench-some", "some")
            .with(CascadeConfig.POLICY_THRESHOLD, Double.toString(threshold))
            .with(CascadeConfig.ESCALATION_DEADLINE_MS, "10000");
        some = routerRounds(someConfig, small, slowLarge.getPort(), "some", examples, rounds);
      } finally {
        slowLarge.shutdownNow();
      }
      double[][] after = bareRounds(small, examples, batch, maxNew, rounds, "after the router");

      double baseline = Math.max(Math.max(median(before[0]), median(before[1])),
          Math.max(median(after[0]), median(after[1])));
      System.out.printf(Locale.ROOT, "%nbaseline (best bare median): %.1f sequences/s%n", baseline);
      System.out.printf(Locale.ROOT, "router, nothing escalated: median %.1f requests/s, ratio to baseline %.3f%n",
          median(never), median(never) / baseline);
      System.out.printf(Locale.ROOT, "router, ~30%% escalated to a 500 ms large model: small-model path median %.1f"
          + " requests/s, %.1f%% of nothing-escalated%n", median(some), 100 * median(some) / median(never));
    }
    System.exit(0);
  }

  private static double[][] bareRounds(TextGenerator small, List<Example> examples, int batch, int maxNew, int rounds,
      String when) throws InterruptedException {
    double[] sequential = new double[rounds];
    double[] concurrent = new double[rounds];
    for (int r = 0; r < rounds; r++) {
      sequential[r] = bare(small, examples, batch, maxNew, 1);
      concurrent[r] = bare(small, examples, batch, maxNew, CALLERS);
      System.out.printf(Locale.ROOT, "bare small model %s, round %d: calls of %d one after another %.1f, from %d"
          + " callers at once %.1f sequences/s%n", when, r + 1, batch, sequential[r], CALLERS, concurrent[r]);
    }
    return new double[][] {sequential, concurrent};
  }

  /**
   * The small model alone: {@code callers} threads take the next {@code batch} examples in turn and
   * generate them in one call; with more than one caller, the continuous batcher merges their rows.
   */
  private static double bare(TextGenerator small, List<Example> examples, int batch, int maxNew, int callers)
      throws InterruptedException {
    AtomicInteger next = new AtomicInteger();
    Runnable caller = () -> {
      for (int start = next.getAndAdd(batch); start < examples.size(); start = next.getAndAdd(batch)) {
        List<String> prompts = examples.subList(start, Math.min(examples.size(), start + batch)).stream()
            .map(Example::prompt).toList();
        List<Generation> g = small.generate(prompts, maxNew);
        if (g.size() != prompts.size()) {
          throw new IllegalStateException("generator returned " + g.size() + " for " + prompts.size());
        }
      }
    };
    long t0 = System.nanoTime();
    List<Thread> threads = new ArrayList<>();
    for (int i = 0; i < callers; i++) {
      Thread t = new Thread(caller, "bare-caller-" + i);
      t.start();
      threads.add(t);
    }
    for (Thread t : threads) {
      t.join();
    }
    return examples.size() / ((System.nanoTime() - t0) / 1e9);
  }

  /**
   * Requests through the small-model path per second in each round: all requests, from the first
   * sent to the last response the small model served (with nothing escalated, the last response).
   */
  private static double[] routerRounds(CascadeConfig config, TextGenerator small, int largePort, String prefix,
      List<Example> examples, int rounds) throws Exception {
    double[] rates = new double[rounds];
    try (CascadeRouter router = CascadeRouter.start(config, small, "127.0.0.1:" + largePort)) {
      run(config, prefix + "-warm", examples);
      for (int r = 0; r < rounds; r++) {
        CpuUse cpu = CpuUse.start(config.get(CascadeConfig.APPLICATION_ID));
        DemoWorkload.Result result = run(config, prefix + "-" + r, examples);
        String where = cpu.perRequest(examples.size());
        long first = result.sentAtNanos().values().stream().mapToLong(Long::longValue).min().orElseThrow();
        long last = Long.MIN_VALUE;
        int accepted = 0;
        for (CascadeResponse response : result.responses()) {
          if (response.getServedBy() == ServedBy.SMALL) {
            accepted++;
            last = Math.max(last, result.answeredAtNanos().get(response.getRequestId()));
          }
        }
        rates[r] = examples.size() / ((last - first) / 1e9);
        System.out.printf(Locale.ROOT, "router %s, round %d: %d responses, %d served by the small model, small-model"
            + " path %.1f requests/s; CPU per request: %s%n", prefix, r + 1, result.responses().size(), accepted,
            rates[r], where);
      }
    }
    return rates;
  }

  private static DemoWorkload.Result run(CascadeConfig config, String prefix, List<Example> examples) throws Exception {
    return DemoWorkload.run(CascadeRouter.clientProperties(config), config.topics().requests(),
        config.topics().responses(), config.topics().outcomes(), prefix, examples, Duration.ofSeconds(120), k -> { });
  }

  private static double median(double[] values) {
    double[] sorted = values.clone();
    Arrays.sort(sorted);
    int m = sorted.length / 2;
    return sorted.length % 2 == 1 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
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
