package dev.cascade.router.bench;

import dev.cascade.models.DecodingStats;
import dev.cascade.models.Generation;
import dev.cascade.models.TextGenerator;
import dev.cascade.models.TextGenerators;
import dev.cascade.models.LoadOptions;
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
import dev.cascade.router.learning.LearnedRules;
import dev.cascade.router.rules.DeferralRule;
import dev.cascade.schemas.avro.CascadeResponse;
import dev.cascade.schemas.avro.ServedBy;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.io.PrintWriter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;

/**
 * The router's overhead, measured in one process on one machine, in rounds:
 *
 * <ol>
 *   <li>bare: the small model alone, generating the workload in calls of {@code small.batch.size}
 *       prompts, one call after another and from 4 callers at once (the continuous batcher merges
 *       those), before the router starts and again after it stops; the baseline is the best of the
 *       four medians;
 *   <li>router, nothing escalated (threshold +∞): the same workload through an embedded broker and
 *       the router ({@code exactly_once_v2}, response cache off), after whole passes of warm-up until the
 *       JIT has settled ({@link #warmUp}), so it has compiled the Kafka path too; its rate once
 *       answers flow ({@link #steadyRate}) over the baseline is the router's overhead. A bare
 *       round (both ways, the better counted) also runs before the first of these rounds and after
 *       each, with the router idle, and each round's rate
 *       over the mean of the two bare rounds beside it is its paired ratio
 *       ({@link Result#pairedRatio()}): the same overhead with the machine's drift between phases
 *       taken out;
 *   <li>router, ~30% escalated (threshold calibrated on the validation split) to a stand-in large
 *       model that answers after 500 ms without holding a thread: the rate of the small-model path
 *       (all requests, once answers flow, up to the last answer the small model served)
 *       against the nothing-escalated rate, which shows whether slow escalations hold up the
 *       confident answers.
 * </ol>
 *
 * <p>Every phase has its own topics. Each router round also measures the process's CPU per request
 * by thread group ({@link CpuUse}). The router's and the model's settings come from {@code config}
 * (the {@code CASCADE_*} environment variables and {@code -c} options of the command), with the
 * response cache off, as the prompts repeat from round to round.
 */
public final class RouterBench {

  private static final int CALLERS = 4;
  /** The stand-in large model's answer time. */
  static final Duration LARGE_DELAY = Duration.ofMillis(500);
  /** The share of requests the escalating phase's threshold is calibrated to escalate. */
  static final double ESCALATED_FRACTION = 0.3;
  /** JIT CPU per request (ms) under which a warm-up pass counts as settled. */
  static final double WARM_JIT_MS_PER_REQUEST = 0.05;
  /** Default most requests of warm-up before each router phase. */
  public static final int DEFAULT_WARM_UP_REQUESTS = 100_000;
  /** Fewest validation examples the escalating threshold is calibrated on. */
  static final int MIN_CALIBRATION = 500;

  /**
   * What to run.
   *
   * @param requests requests (test-split prompts, cycled) per round
   * @param rounds measured rounds of each phase
   * @param warmUpRequests most requests of warm-up before each router phase's rounds: whole passes
   *     of the workload until the JIT settles ({@link #warmUp}), at least one
   * @param config the router's configuration (bootstrap servers and topics are set per phase)
   */
  public record Options(int requests, int rounds, int warmUpRequests, CascadeConfig config) {
    public Options {
      if (requests < 1) {
        throw new IllegalArgumentException("--requests: must be at least 1, got " + requests);
      }
      if (rounds < 1) {
        throw new IllegalArgumentException("--rounds: must be at least 1, got " + rounds);
      }
      if (warmUpRequests < 0) {
        throw new IllegalArgumentException("--warm-up: must be 0 (one pass) or more, got " + warmUpRequests);
      }
    }

    /** With the default warm-up ({@link #DEFAULT_WARM_UP_REQUESTS}). */
    public Options(int requests, int rounds, CascadeConfig config) {
      this(requests, rounds, DEFAULT_WARM_UP_REQUESTS, config);
    }

    /** Most warm-up passes: enough for {@code warmUpRequests}, at least one. */
    int maxWarmUpPasses() {
      return Math.max(1, (int) Math.ceil((double) warmUpRequests / requests));
    }
  }

  /**
   * One router phase: the small-model path's rate and the CPU per request, per round.
   *
   * @param requestsPerS per round, the rate once answers flow ({@link #steadyRate}): the requests
   *     after the first answered over the time from the first answer to the small model's last
   * @param windowRequestsPerS per round, all requests over the whole window, from the first sent to
   *     the small model's last answer, which also counts the first answer's latency
   * @param firstAnswerMs per round, from the first request sent to the first answer read
   * @param decodingBusy per round, the decoding threads' time in forward passes over the window the
   *     rate is measured on (first request sent to the small model's last answer); NaN where the
   *     model does not count its passes
   * @param rowsPerPass per round, the rows a forward pass held on average; NaN likewise
   * @param pairedBare the bare model's sequences/s (the better of its two ways) beside the idle
   *     router, before the first round and after each; empty for a phase measured without them
   * @param changelogRecords per round, per state store, the records its changelog took per request
   *     ({@link ChangelogGrowth}, commit markers included)
   * @param decodingTime per round, where the decoding thread's time went ({@link DecodingTime}); empty
   *     where the model does not count it
   */
  public record Phase(double[] requestsPerS, double[] windowRequestsPerS, double[] firstAnswerMs,
      CpuUse.PerRequest[] cpu, double escalatedFraction, int warmUpPasses, double[] decodingBusy,
      double[] rowsPerPass, double[] pairedBare, List<Map<String, Double>> changelogRecords,
      List<DecodingTime> decodingTime) {

    /** Per state store, the median over the rounds of its changelog records per request. */
    public Map<String, Double> medianChangelogRecords() {
      Map<String, Double> out = new TreeMap<>();
      changelogRecords.stream().flatMap(m -> m.keySet().stream()).distinct().forEach(store -> out.put(store,
          RouterBench.median(changelogRecords.stream().mapToDouble(m -> m.getOrDefault(store, 0.0)).toArray())));
      return out;
    }

    /**
     * Per round, its rate over the mean of the bare rounds just before and just after it
     * ({@link #pairedBare}, one more than the rounds); empty where the phase has none.
     */
    public double[] pairedRatios() {
      if (pairedBare.length != requestsPerS.length + 1) {
        return new double[0];
      }
      double[] ratios = new double[requestsPerS.length];
      for (int r = 0; r < ratios.length; r++) {
        ratios[r] = requestsPerS[r] / ((pairedBare[r] + pairedBare[r + 1]) / 2);
      }
      return ratios;
    }

    public double median() {
      return RouterBench.median(requestsPerS);
    }

    /** The median round's rate over its whole window ({@link #windowRequestsPerS}). */
    public double windowMedian() {
      return RouterBench.median(windowRequestsPerS);
    }

    /** The median of each thread group's CPU per request over the rounds. */
    public CpuUse.PerRequest medianCpu() {
      return new CpuUse.PerRequest(
          RouterBench.median(Arrays.stream(cpu).mapToDouble(CpuUse.PerRequest::model).toArray()),
          RouterBench.median(Arrays.stream(cpu).mapToDouble(CpuUse.PerRequest::modelDecoding).toArray()),
          RouterBench.median(Arrays.stream(cpu).mapToDouble(CpuUse.PerRequest::router).toArray()),
          RouterBench.median(Arrays.stream(cpu).mapToDouble(CpuUse.PerRequest::brokerAndLoadGenerator).toArray()),
          RouterBench.median(Arrays.stream(cpu).mapToDouble(CpuUse.PerRequest::loadGenerator).toArray()),
          RouterBench.median(Arrays.stream(cpu).mapToDouble(CpuUse.PerRequest::other).toArray()),
          RouterBench.median(Arrays.stream(cpu).mapToDouble(CpuUse.PerRequest::otherJit).toArray()),
          RouterBench.median(Arrays.stream(cpu).mapToDouble(CpuUse.PerRequest::otherGc).toArray()));
    }
  }

  /**
   * The measurement.
   *
   * @param bareBaseline the best of the four bare medians, sequences/s
   * @param never the router with nothing escalated
   * @param escalating the router with ~30% escalated to the 500 ms large model
   * @param threshold the escalating phase's threshold
   * @param bareDecodingTime where the decoding thread's time went in the bare rounds before and after
   *     the router ({@link DecodingTime}): [0] calls one after another, [1] from 4 callers at once;
   *     empty lists where the model does not count it
   */
  public record Result(String rule, int requests, int rounds, int batchSize, int cores, double[][] bareBefore,
      double[][] bareAfter, double bareBaseline, Phase never, Phase escalating, double threshold,
      List<List<DecodingTime>> bareDecodingTime) {

    public double ratio() {
      return never.median() / bareBaseline;
    }

    /**
     * The median over the nothing-escalated rounds of each round's rate over the bare model's rate
     * measured just before and just after it: what the router costs, with the machine's drift over
     * minutes taken out (the bare model's rate moved by up to a fifth between the phases of one run
     * on the shared 2-core machine this was written on).
     */
    public double pairedRatio() {
      return median(never.pairedRatios());
    }

    public double escalatingPathRatio() {
      return escalating.median() / never.median();
    }
  }

  private RouterBench() {}

  /** Runs every phase; progress lines go to {@code log}. */
  public static Result run(Options options, PrintWriter log) throws Exception {
    int n = options.requests();
    int rounds = options.rounds();
    List<Example> all = Examples.bundled("test");
    List<Example> examples = new ArrayList<>(n);
    for (int i = 0; examples.size() < n; i++) {
      examples.add(all.get(i % all.size()));
    }
    // The response cache would answer the repeated prompts of later rounds without the model.
    CascadeConfig base = options.config().with(CascadeConfig.CACHE_MAX_ENTRIES, "0");
    int batch = base.get(CascadeConfig.BATCH_SIZE);
    int maxNew = base.get(CascadeConfig.MAX_NEW_TOKENS);
    String rule = base.get(CascadeConfig.POLICY_RULE);
    int cores = Runtime.getRuntime().availableProcessors();
    log.printf(Locale.ROOT, "%d requests, %d rounds; policy.rule=%s, small.batch.size=%d, model.threads=%d,"
        + " model.spinning=%s, model.decoders=%d, streams.threads=%d, %d cores%n", n, rounds, rule, batch,
        base.cpuThreads().intraOp(), base.cpuThreads().spinning(), base.cpuThreads().decoders(),
        base.get(CascadeConfig.STREAM_THREADS), cores);
    log.flush();
    try (TextGenerator small = TextGenerators.load(base.get(CascadeConfig.SMALL_MODEL),
        base.get(CascadeConfig.ENGINE), LoadOptions.DEFAULT.withThreads(base.cpuThreads()));
        EmbeddedKafka kafka = EmbeddedKafka.start()) {
      // Warm-up, so JIT and ONNX Runtime's first-call costs are not counted.
      bare(small, examples, batch, maxNew, 1, new ArrayList<>());
      bare(small, examples, batch, maxNew, CALLERS, new ArrayList<>());
      List<List<DecodingTime>> bareTimes = List.of(new ArrayList<>(), new ArrayList<>());
      double[][] before = bareRounds(small, examples, batch, maxNew, rounds, "before the router", bareTimes, log);

      CascadeConfig config = base.with(CascadeConfig.BOOTSTRAP_SERVERS, kafka.bootstrapServers());
      Server slowLarge = NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
          .addService(new SlowLargeModel(LARGE_DELAY)).build().start();
      Phase never;
      Phase some;
      double threshold;
      try {
        CascadeConfig neverConfig = config.withOwnTopics("bench-never", "never")
            .with(CascadeConfig.POLICY_THRESHOLD, "1e300");
        never = routerRounds(neverConfig, small, slowLarge.getPort(), "never", examples, rounds,
            options.maxWarmUpPasses(), true, log);

        DeferralRule scoring = LearnedRules.bundled().create(rule, base.get(CascadeConfig.POLICY_ALPHA));
        List<Example> validation = Examples.bundled("validation");
        validation = validation.subList(0, Math.min(validation.size(), Math.max(MIN_CALIBRATION, n)));
        threshold = ThresholdCalibration.calibrate(small, validation, scoring, ESCALATED_FRACTION, maxNew, 64,
            k -> { });
        CascadeConfig someConfig = config.withOwnTopics("bench-some", "some")
            .with(CascadeConfig.POLICY_THRESHOLD, Double.toString(threshold))
            .with(CascadeConfig.ESCALATION_DEADLINE_MS, "10000");
        some = routerRounds(someConfig, small, slowLarge.getPort(), "some", examples, rounds,
            options.maxWarmUpPasses(), false, log);
      } finally {
        slowLarge.shutdownNow();
      }
      double[][] after = bareRounds(small, examples, batch, maxNew, rounds, "after the router", bareTimes, log);
      double baseline = Math.max(Math.max(median(before[0]), median(before[1])),
          Math.max(median(after[0]), median(after[1])));
      return new Result(rule, n, rounds, batch, cores, before, after, baseline, never, some, threshold, bareTimes);
    }
  }

  /** Bare rounds, both ways; where the decoding thread's time went in each goes to {@code times} ([0], [1]). */
  private static double[][] bareRounds(TextGenerator small, List<Example> examples, int batch, int maxNew, int rounds,
      String when, List<List<DecodingTime>> times, PrintWriter log) throws InterruptedException {
    double[] sequential = new double[rounds];
    double[] concurrent = new double[rounds];
    for (int r = 0; r < rounds; r++) {
      double[] both = bothWays(small, examples, batch, maxNew, times);
      sequential[r] = both[0];
      concurrent[r] = both[1];
      log.printf(Locale.ROOT, "bare small model %s, round %d: calls of %d one after another %.1f, from %d"
          + " callers at once %.1f sequences/s%s%n", when, r + 1, batch, sequential[r], CALLERS, concurrent[r],
          lastTimes(times));
      log.flush();
    }
    return new double[][] {sequential, concurrent};
  }

  /**
   * The small model alone: {@code callers} threads take the next {@code batch} examples in turn and
   * generate them in one call; with more than one caller, the continuous batcher merges their rows.
   * Where the decoding thread's time went meanwhile is added to {@code times}, where the model counts it.
   */
  private static double bare(TextGenerator small, List<Example> examples, int batch, int maxNew, int callers,
      List<DecodingTime> times) throws InterruptedException {
    Optional<DecodingStats> before = small.decodingStats();
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
    double rate = examples.size() / ((System.nanoTime() - t0) / 1e9);
    small.decodingStats().flatMap(after -> before.map(after::minus)).map(DecodingTime::of).ifPresent(times::add);
    return rate;
  }

  /** The log's words for the latest bare round's decoding time, both ways; empty where not counted. */
  private static String lastTimes(List<List<DecodingTime>> times) {
    if (times.get(0).isEmpty() || times.get(1).isEmpty()) {
      return "";
    }
    return "; decoding thread, one after another: " + times.get(0).get(times.get(0).size() - 1)
        + "; from " + CALLERS + " callers: " + times.get(1).get(times.get(1).size() - 1);
  }

  /**
   * Requests through the small-model path per second in each round, once answers flow
   * ({@link #steadyRate}: up to the last response the small model served; with nothing escalated,
   * the last response), and over the whole round from the first request sent.
   * With {@code pairedBare}, a bare round ({@link #pairedBareRound}) runs before the first round
   * and after each, the router started and idle (its threads polling an empty input), so each round
   * has the bare model's rate of the same minute beside it.
   */
  private static Phase routerRounds(CascadeConfig config, TextGenerator small, int largePort, String prefix,
      List<Example> examples, int rounds, int maxWarmUpPasses, boolean pairedBare, PrintWriter log)
      throws Exception {
    double[] paired = new double[pairedBare ? rounds + 1 : 0];
    double[] rates = new double[rounds];
    double[] windowRates = new double[rounds];
    double[] firstAnswerMs = new double[rounds];
    double[] busy = new double[rounds];
    double[] rows = new double[rounds];
    List<DecodingTime> times = new ArrayList<>();
    int warmUpPasses;
    CpuUse.PerRequest[] cpu = new CpuUse.PerRequest[rounds];
    List<Map<String, Double>> changelogs = new ArrayList<>();
    long escalated = 0;
    long answered = 0;
    try (CascadeRouter router = CascadeRouter.start(config, small, "127.0.0.1:" + largePort)) {
      warmUpPasses = warmUp(config, prefix, examples, maxWarmUpPasses, log);
      if (pairedBare) {
        paired[0] = pairedBareRound(config, small, examples, prefix, 0, log);
      }
      for (int r = 0; r < rounds; r++) {
        ChangelogGrowth changelog = ChangelogGrowth.start(CascadeRouter.clientProperties(config),
            config.get(CascadeConfig.APPLICATION_ID));
        CpuUse use = CpuUse.start(config.get(CascadeConfig.APPLICATION_ID));
        Optional<DecodingStats> before = small.decodingStats();
        DemoWorkload.Result result = run(config, prefix + "-" + r, examples);
        cpu[r] = use.perRequest(examples.size());
        Optional<DecodingStats> during = small.decodingStats().flatMap(after -> before.map(after::minus));
        if (result.answeredAtNanos().size() < examples.size()) {
          throw new IllegalStateException("router " + prefix + ", round " + (r + 1) + ": "
              + result.answeredAtNanos().size() + " of " + examples.size() + " requests answered");
        }
        long first = result.sentAtNanos().values().stream().mapToLong(Long::longValue).min().orElseThrow();
        long last = Long.MIN_VALUE;
        int accepted = 0;
        for (CascadeResponse response : result.responses()) {
          if (response.getServedBy() == ServedBy.SMALL) {
            accepted++;
            last = Math.max(last, result.answeredAtNanos().get(response.getRequestId()));
          }
        }
        if (accepted == 0) {
          throw new IllegalStateException("router " + prefix + ", round " + (r + 1) + ": no answer from the small model");
        }
        answered += result.responses().size();
        escalated += result.responses().size() - accepted;
        windowRates[r] = examples.size() / ((last - first) / 1e9);
        long firstAnswer = result.answeredAtNanos().values().stream().mapToLong(Long::longValue).min().orElseThrow();
        rates[r] = steadyRate(result.answeredAtNanos().values(), firstAnswer, last, examples.size(), first);
        firstAnswerMs[r] = (firstAnswer - first) / 1e6;
        long window = last - first;
        busy[r] = during.map(d -> (double) d.passNanos() / window).orElse(Double.NaN);
        rows[r] = during.map(DecodingStats::rowsPerPass).orElse(Double.NaN);
        Optional<DecodingTime> time = during.map(DecodingTime::of);
        time.ifPresent(times::add);
        log.printf(Locale.ROOT, "router %s, round %d: %d responses, %d served by the small model, small-model"
            + " path %.1f requests/s once answers flowed (%.1f over the whole round, the first answer after %.0f ms);"
            + " decoding thread in forward passes %.1f%% of the round, %.1f rows a pass%s; CPU per request: %s%n",
            prefix, r + 1, result.responses().size(), accepted, rates[r], windowRates[r], firstAnswerMs[r],
            100 * busy[r], rows[r], time.map(t -> " (" + t + ")").orElse(""), cpu[r]);
        // After the round's last answer was read, so every transaction of the round has committed.
        changelogs.add(changelog.perRequest(examples.size()));
        log.printf(Locale.ROOT, "router %s, round %d: changelog records per request %s%n", prefix, r + 1,
            changelogs.get(r).entrySet().stream().map(e -> String.format(Locale.ROOT, "%s %.2f", e.getKey(), e.getValue()))
                .collect(Collectors.joining(", ")));
        log.flush();
        if (pairedBare) {
          paired[r + 1] = pairedBareRound(config, small, examples, prefix, r + 1, log);
        }
      }
    }
    return new Phase(rates, windowRates, firstAnswerMs, cpu, answered == 0 ? 0 : (double) escalated / answered,
        warmUpPasses, busy, rows, paired, changelogs, times);
  }

  /**
   * A round's rate once answers flow: the requests answered after the first answer was read, over
   * the time from that answer to {@code last} (the small model's last answer). A round's first
   * answer comes only after a whole trip through the pipeline (the broker, a micro-batch's
   * generation, the exactly-once commit: about 200 ms on the 2-core machine at full load), which is
   * latency, not throughput; the bare model's calls have no such trip. Answers are read in polls and
   * become visible a transaction at a time, so the answers read together with the first are left
   * out with the time before them. With every answer read at once (a round too short to have two
   * polls) it is the whole window's rate, {@code requests} from {@code firstSent} to {@code last}.
   *
   * @param answeredAt when each answer was read (those read in one poll share a time)
   * @param firstAnswer the earliest of {@code answeredAt}
   */
  static double steadyRate(java.util.Collection<Long> answeredAt, long firstAnswer, long last, int requests,
      long firstSent) {
    long withFirst = answeredAt.stream().filter(t -> t == firstAnswer).count();
    if (last <= firstAnswer || withFirst >= requests) {
      return requests / ((last - firstSent) / 1e9);
    }
    return (requests - withFirst) / ((last - firstAnswer) / 1e9);
  }

  /**
   * A bare round beside the started, idle router, in both of the bare phases' ways (calls one after
   * another, and from 4 callers at once): the better of the two, as the baseline takes the best
   * bare median. Its log line says what the idle router's and broker's threads cost meanwhile, and
   * how many rows the model's forward passes held.
   */
  private static double pairedBareRound(CascadeConfig config, TextGenerator small, List<Example> examples,
      String prefix, int after, PrintWriter log) throws InterruptedException {
    int batch = config.get(CascadeConfig.BATCH_SIZE);
    int maxNew = config.get(CascadeConfig.MAX_NEW_TOKENS);
    CpuUse use = CpuUse.start(config.get(CascadeConfig.APPLICATION_ID));
    Optional<DecodingStats> before = small.decodingStats();
    List<List<DecodingTime>> times = List.of(new ArrayList<>(), new ArrayList<>());
    double[] both = bothWays(small, examples, batch, maxNew, times);
    CpuUse.PerRequest cpu = use.perRequest(2 * examples.size());
    double rows = small.decodingStats().flatMap(d -> before.map(d::minus)).map(DecodingStats::rowsPerPass)
        .orElse(Double.NaN);
    log.printf(Locale.ROOT, "bare small model beside the idle router %s, after round %d: calls of %d one after"
        + " another %.1f, from %d callers at once %.1f sequences/s, %.1f rows a pass over both; the idle router's"
        + " threads %.3f ms and the other Java threads (broker, callers) %.3f ms of CPU per sequence%s%n", prefix, after,
        batch, both[0], CALLERS, both[1], rows, cpu.router(), cpu.brokerAndLoadGenerator(), lastTimes(times));
    log.flush();
    return Math.max(both[0], both[1]);
  }

  /** The bare model's sequences/s in calls one after another, then from {@link #CALLERS} callers at once. */
  private static double[] bothWays(TextGenerator small, List<Example> examples, int batch, int maxNew,
      List<List<DecodingTime>> times) throws InterruptedException {
    return new double[] {bare(small, examples, batch, maxNew, 1, times.get(0)),
        bare(small, examples, batch, maxNew, CALLERS, times.get(1))};
  }

  /**
   * Whole passes of the workload until the JIT has settled: until a pass's JIT compiler threads
   * took at most {@link #WARM_JIT_MS_PER_REQUEST} of CPU per request, or {@code maxPasses} passes.
   * The broker, the Kafka clients and Kafka Streams are a large body of code that the JIT goes on
   * compiling for tens of thousands of requests (0.8 ms of CPU per request in the first pass of
   * 10,000, still 0.15 in the fourth, on a 2-core machine); a round measured meanwhile counts that
   * compiling, on the cores the model needs, against the router, which a long-running instance
   * pays once. Returns the passes run.
   */
  private static int warmUp(CascadeConfig config, String prefix, List<Example> examples, int maxPasses,
      PrintWriter log) throws InterruptedException {
    for (int pass = 1; ; pass++) {
      CpuUse use = CpuUse.start(config.get(CascadeConfig.APPLICATION_ID));
      run(config, prefix + "-warm-" + pass, examples);
      double jit = use.perRequest(examples.size()).otherJit();
      log.printf(Locale.ROOT, "router %s, warm-up pass %d: JIT %.2f ms of CPU per request%n", prefix, pass, jit);
      log.flush();
      if (!(jit > WARM_JIT_MS_PER_REQUEST) || pass >= maxPasses) {
        return pass;
      }
    }
  }

  private static DemoWorkload.Result run(CascadeConfig config, String prefix, List<Example> examples)
      throws InterruptedException {
    // Responses only: the benchmark uses no outcome, and reading them (the largest records the router
    // writes) took the machine's CPU from the router it measures.
    return DemoWorkload.run(CascadeRouter.clientProperties(config), config.topics().requests(),
        config.topics().responses(), null, prefix, examples, Duration.ofSeconds(120), k -> { });
  }

  public static double median(double[] values) {
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
