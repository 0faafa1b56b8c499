package dev.cascade.router.cli;


import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cascade.models.DraftWindow;
import dev.cascade.router.bench.CpuUse;
import dev.cascade.router.bench.DecodingTime;
import dev.cascade.router.bench.ModelBench;
import dev.cascade.router.bench.RouterBench;
import dev.cascade.router.bench.SpeculativeBench;
import dev.cascade.router.config.CascadeConfig;
import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code cascade bench model|router}: the benchmarks, a table or one JSON object on stdout. */
@Command(name = "bench", mixinStandardHelpOptions = true,
    description = "Benchmarks: a model alone (throughput, latency, memory, FLOP utilisation), the router's "
        + "overhead over the bare small model, or the large model's time per escalated request with and "
        + "without the small model's answer as a draft. Progress goes to stderr; the result (a table, or one "
        + "JSON object with --json) to stdout.",
    subcommands = {BenchCommand.ModelCommand.class, BenchCommand.RouterCommand.class,
        BenchCommand.SpeculativeCommand.class})
final class BenchCommand implements Runnable {

  @Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    RuntimeCommand.missingCommand(spec);
  }

  private static final ObjectMapper MAPPER = new ObjectMapper();

  @Command(name = "model", mixinStandardHelpOptions = true,
      description = "One model in this process, ONNX Runtime on CPU with its own thread defaults: for each batch "
          + "size, generate in a closed loop for --seconds (prompts: the bundled test split); sequences/s"
          + " and tokens/s (generated tokens plus end-of-sequence), p50/p99 of one generation at batch 1,"
          + " resident memory, and model FLOPs utilisation: 2 x parameters FLOPs per token x tokens/s / "
          + "the peak FLOP rate of a 1024x1024 float32 MatMul in ONNX Runtime with the same thread "
          + "settings (best of 20).")
  static final class ModelCommand implements Callable<Integer> {

    @Option(names = "--model", converter = ModelArguments.Model.class, defaultValue = "small", paramLabel = "small|medium|large|DIR",
        description = "The model: small, medium, large, or a directory with model.onnx and tokenizer.json (default: "
            + "${DEFAULT-VALUE}).")
    String model;

    @Option(names = "--batch", split = ",", paramLabel = "N[,N...]", defaultValue = "1,8,32",
        description = "Batch sizes, comma-separated (default: ${DEFAULT-VALUE}).")
    List<Integer> batches;

    @Option(names = "--seconds", defaultValue = "15", paramLabel = "S",
        description = "How long each batch size runs (default: ${DEFAULT-VALUE}).")
    double seconds;

    @Option(names = "--no-kv-cache", description = "Run the model without its key/value cache.")
    boolean noKvCache;

    @Option(names = "--json", description = "Print one JSON object instead of a table.")
    boolean json;

    @Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
      ModelBench.Options options = new ModelBench.Options(model, batches, seconds, !noKvCache);
      ModelBench.Result r = ModelBench.run(options, spec.commandLine().getErr());
      PrintWriter out = spec.commandLine().getOut();
      if (json) {
        out.println(MAPPER.writeValueAsString(toJson(r, options)));
      } else {
        printTable(out, r);
      }
      out.flush();
      return 0;
    }

    static ObjectNode toJson(ModelBench.Result r, ModelBench.Options options) {
      ObjectNode node = MAPPER.createObjectNode();
      node.put("model", r.model());
      if (r.parameters() > 0) {
        node.put("parameters", r.parameters());
      } else {
        node.putNull("parameters"); // unknown, as flops_per_token then is
      }
      node.put("cores", r.cores());
      node.put("seconds_per_batch", options.seconds());
      node.put("kv_cache", r.kvCache());
      if (r.kvCacheBytesPerPosition().isPresent()) {
        node.put("kv_cache_bytes_per_position", r.kvCacheBytesPerPosition().getAsLong());
      } else {
        node.putNull("kv_cache_bytes_per_position");
      }
      putByBatch(node.putObject("sequences_per_s"), r.sequencesPerS());
      putByBatch(node.putObject("tokens_per_s"), r.tokensPerS());
      putOptional(node, "p50_ms", r.p50Ms());
      putOptional(node, "p99_ms", r.p99Ms());
      node.put("resident_mb", round(r.residentMb(), 1));
      putOptional(node, "flops_per_token", r.flopsPerToken());
      node.put("peak_gflops", round(r.peak().gflops(), 2));
      node.put("peak_matmul", r.peak().n() + "x" + r.peak().n() + " float32, best of " + r.peak().repetitions());
      if (r.mfu().isEmpty()) {
        node.putNull("mfu");
      } else {
        ObjectNode mfu = node.putObject("mfu");
        r.mfu().forEach((batch, value) -> mfu.put(Integer.toString(batch), value));
      }
      return node;
    }

    private static void printTable(PrintWriter out, ModelBench.Result r) {
      out.printf(Locale.ROOT, "model %s, %s parameters, %d cores; resident memory %.0f MiB; key/value cache %s;"
          + " FLOPs per token %s; peak %.1f GFLOP/s (%dx%d float32 MatMul, ONNX Runtime, best of %d)%n", r.model(),
          r.parameters() <= 0 ? "unknown" : String.format(Locale.ROOT, "%,d", r.parameters()), r.cores(), r.residentMb(),
          r.kvCacheBytesPerPosition().isPresent()
              ? String.format(Locale.ROOT, "%,d bytes a position", r.kvCacheBytesPerPosition().getAsLong()) : "off",
          r.flopsPerToken().isPresent()
              ? String.format(Locale.ROOT, "%,.0f", r.flopsPerToken().getAsDouble()) : "unknown",
          r.peak().gflops(), r.peak().n(), r.peak().n(), r.peak().repetitions());
      out.println("| batch | sequences/s | tokens/s | p50 ms | p99 ms | MFU |");
      out.println("| --- | --- | --- | --- | --- | --- |");
      for (Map.Entry<Integer, Double> e : r.sequencesPerS().entrySet()) {
        int batch = e.getKey();
        Double mfu = r.mfu().get(batch);
        out.printf(Locale.ROOT, "| %d | %.1f | %.0f | %s | %s | %s |%n", batch, e.getValue(), r.tokensPerS().get(batch),
            batch == 1 ? format(r.p50Ms()) : "", batch == 1 ? format(r.p99Ms()) : "",
            mfu == null ? "unknown" : String.format(Locale.ROOT, "%.4f%%", 100 * mfu));
      }
    }
  }

  @Command(name = "router", mixinStandardHelpOptions = true,
      description = "The router's overhead in one process: the bare small model (sequences/s), then the same "
          + "requests through an embedded broker and the router with nothing escalated (requests/s, counted"
          + " from the first answer: the pipeline's first trip is latency; ratio = router / bare), then with ~30%% escalated to a stand-in large model that answers after 500"
          + " ms (escalating_path_ratio = the small-model path's rate / the nothing-escalated rate), and "
          + "CPU per request by thread group. The router's settings: CASCADE_* variables, --config and "
          + "--set (the response cache is always off).")
  static final class RouterCommand implements Callable<Integer> {

    @Option(names = "--requests", defaultValue = "2000", paramLabel = "N",
        description = "Requests per round (test-split prompts, cycled) (default: ${DEFAULT-VALUE}).")
    int requests;

    @Option(names = "--rounds", defaultValue = "3", paramLabel = "R",
        description = "Measured rounds of each phase, after the warm-up (default: ${DEFAULT-VALUE}).")
    int rounds;

    @Option(names = "--warm-up", defaultValue = "" + RouterBench.DEFAULT_WARM_UP_REQUESTS, paramLabel = "N",
        description = "Most requests of warm-up before each router phase: whole passes of the workload until the"
            + " JIT compiler threads take at most 0.05 ms of CPU per request, at least one pass (default:"
            + " ${DEFAULT-VALUE}).")
    int warmUp;

    @Option(names = "--rule", paramLabel = "RULE",
        description = "The deferral rule the router scores with (policy.rule), e.g. chow-quantile, posthoc-quantile"
            + " (default: the configuration's).")
    String rule;

    @Option(names = "--json", description = "Print one JSON object instead of a table.")
    boolean json;

    @Mixin
    ConfigOptions configOptions;

    @Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
      Map<String, String> flags = new LinkedHashMap<>();
      if (rule != null) {
        flags.put(CascadeConfig.POLICY_RULE.name(), rule);
      }
      CascadeConfig config = configOptions.load(flags);
      RouterBench.Options options = new RouterBench.Options(requests, rounds, warmUp, config);
      // Before the bare model runs and the broker starts, not at the router's start minutes later.
      dev.cascade.router.CascadeRouter.checkConfiguredPolicy(config);
      RouterBench.Result r = RouterBench.run(options, spec.commandLine().getErr());
      PrintWriter out = spec.commandLine().getOut();
      if (json) {
        out.println(MAPPER.writeValueAsString(toJson(r)));
      } else {
        printTable(out, r);
      }
      out.flush();
      return 0;
    }

    static ObjectNode toJson(RouterBench.Result r) {
      ObjectNode node = MAPPER.createObjectNode();
      node.put("rule", r.rule());
      node.put("requests", r.requests());
      node.put("rounds", r.rounds());
      node.put("batch_size", r.batchSize());
      node.put("cores", r.cores());
      node.put("bare_sequences_per_s", round(r.bareBaseline(), 2));
      node.put("router_requests_per_s", round(r.never().median(), 2));
      node.put("router_window_requests_per_s", round(r.never().windowMedian(), 2));
      node.put("ratio", round(r.ratio(), 4));
      node.put("paired_ratio", round(r.pairedRatio(), 4));
      putRounded(node, "paired_ratios", r.never().pairedRatios(), 4);
      putRounded(node, "paired_bare_sequences_per_s", r.never().pairedBare(), 2);
      node.put("escalating_requests_per_s", round(r.escalating().median(), 2));
      node.put("escalating_path_ratio", round(r.escalatingPathRatio(), 4));
      node.put("escalated_fraction", round(r.escalating().escalatedFraction(), 4));
      node.put("threshold", r.threshold());
      ObjectNode busy = node.putObject("decoding_busy");
      putOptional(busy, "nothing_escalated", medianOrEmpty(r.never().decodingBusy(), 4));
      putOptional(busy, "escalating", medianOrEmpty(r.escalating().decodingBusy(), 4));
      ObjectNode rows = node.putObject("rows_per_pass");
      putOptional(rows, "nothing_escalated", medianOrEmpty(r.never().rowsPerPass(), 2));
      putOptional(rows, "escalating", medianOrEmpty(r.escalating().rowsPerPass(), 2));
      ObjectNode decodingTime = node.putObject("decoding_time");
      putDecodingTime(decodingTime, "bare_one_caller", r.bareDecodingTime().get(0));
      putDecodingTime(decodingTime, "bare_callers", r.bareDecodingTime().get(1));
      putDecodingTime(decodingTime, "nothing_escalated", r.never().decodingTime());
      putDecodingTime(decodingTime, "escalating", r.escalating().decodingTime());
      ObjectNode warm = node.putObject("warm_up_passes");
      warm.put("nothing_escalated", r.never().warmUpPasses());
      warm.put("escalating", r.escalating().warmUpPasses());
      ObjectNode cpu = node.putObject("cpu_ms_per_request");
      putCpu(cpu.putObject("nothing_escalated"), r.never().medianCpu());
      putCpu(cpu.putObject("escalating"), r.escalating().medianCpu());
      ObjectNode changelogs = node.putObject("changelog_records_per_request");
      ObjectNode neverChangelogs = changelogs.putObject("nothing_escalated");
      r.never().medianChangelogRecords().forEach((store, n) -> neverChangelogs.put(store, round(n, 3)));
      ObjectNode escalatingChangelogs = changelogs.putObject("escalating");
      r.escalating().medianChangelogRecords().forEach((store, n) -> escalatingChangelogs.put(store, round(n, 3)));
      ObjectNode perRound = node.putObject("rounds_requests_per_s");
      putRounded(perRound, "nothing_escalated", r.never().requestsPerS(), 2);
      putRounded(perRound, "escalating", r.escalating().requestsPerS(), 2);
      ObjectNode perRoundWindow = node.putObject("rounds_window_requests_per_s");
      putRounded(perRoundWindow, "nothing_escalated", r.never().windowRequestsPerS(), 2);
      putRounded(perRoundWindow, "escalating", r.escalating().windowRequestsPerS(), 2);
      ObjectNode firstAnswer = node.putObject("first_answer_ms");
      firstAnswer.put("nothing_escalated", round(RouterBench.median(r.never().firstAnswerMs()), 1));
      firstAnswer.put("escalating", round(RouterBench.median(r.escalating().firstAnswerMs()), 1));
      return node;
    }

    /** The median round's {@link DecodingTime}, part by part; nothing where the model did not count it. */
    private static void putDecodingTime(ObjectNode node, String key, List<DecodingTime> rounds) {
      if (rounds.isEmpty()) {
        return;
      }
      DecodingTime t = DecodingTime.median(rounds);
      ObjectNode out = node.putObject(key);
      out.put("run", round(t.run(), 4));
      out.put("step_rest", round(t.stepRest(), 4));
      out.put("between_steps", round(t.betweenSteps(), 4));
      out.put("waiting", round(t.waiting(), 4));
      out.put("waits", round(t.waits(), 1));
      out.put("tail_ms", round(t.tailMs(), 1));
      out.put("span_ms", round(t.spanMs(), 1));
      out.put("passes", round(t.passes(), 1));
      out.put("rows_per_pass", round(t.rowsPerPass(), 2));
    }

    private static void putRounded(ObjectNode node, String key, double[] values, int digits) {
      var array = node.putArray(key);
      for (double v : values) {
        array.add(round(v, digits));
      }
    }

    /** The median of the rounds' values, rounded; empty where the model did not count (NaN). */
    private static OptionalDouble medianOrEmpty(double[] values, int digits) {
      double m = RouterBench.median(values);
      return Double.isNaN(m) ? OptionalDouble.empty() : OptionalDouble.of(round(m, digits));
    }

    private static void putCpu(ObjectNode node, CpuUse.PerRequest cpu) {
      node.put("model", round(cpu.model(), 3));
      node.put("model_decoding", round(cpu.modelDecoding(), 3));
      node.put("router", round(cpu.router(), 3));
      node.put("broker_and_load_generator", round(cpu.brokerAndLoadGenerator(), 3));
      node.put("load_generator", round(cpu.loadGenerator(), 3));
      node.put("other", round(cpu.other(), 3));
      putOptional(node, "other_jit", Double.isNaN(cpu.otherJit()) ? OptionalDouble.empty()
          : OptionalDouble.of(round(cpu.otherJit(), 3)));
      putOptional(node, "other_gc", Double.isNaN(cpu.otherGc()) ? OptionalDouble.empty()
          : OptionalDouble.of(round(cpu.otherGc(), 3)));
    }

    /** Two decimals, or "n/a" where the part was not measured (the JIT and GC threads' share needs Linux). */
    static String measuredOrNa(double ms) {
      return Double.isNaN(ms) ? "n/a" : String.format(Locale.ROOT, "%.2f", ms);
    }

    private static void printTable(PrintWriter out, RouterBench.Result r) {
      out.printf(Locale.ROOT, "%d requests x %d rounds, rule %s, batch %d, %d cores%n", r.requests(), r.rounds(),
          r.rule(), r.batchSize(), r.cores());
      out.println("| bare baseline | router, nothing escalated | over the whole round | ratio | paired ratio"
          + " | small-model path with 500 ms escalations | escalated |");
      out.println("| --- | --- | --- | --- | --- | --- | --- |");
      out.printf(Locale.ROOT, "| %.1f seq/s | %.1f req/s | %.1f req/s | %.3f | %.3f | %.1f req/s (%.1f%%) | %.1f%% |%n",
          r.bareBaseline(), r.never().median(), r.never().windowMedian(), r.ratio(), r.pairedRatio(),
          r.escalating().median(),
          100 * r.escalatingPathRatio(),
          100 * r.escalating().escalatedFraction());
      out.println();
      out.println("CPU per request (ms, median of rounds):");
      out.println("| phase | model | of which decoding | router | broker and load generator | of which load generator"
          + " | other (GC, JIT, native pools) | of which JIT | of which GC |");
      out.println("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
      for (var phase : List.of(Map.entry("nothing escalated", r.never()), Map.entry("escalating", r.escalating()))) {
        CpuUse.PerRequest c = phase.getValue().medianCpu();
        out.printf(Locale.ROOT, "| %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %s | %s |%n", phase.getKey(),
            c.model(), c.modelDecoding(), c.router(), c.brokerAndLoadGenerator(), c.loadGenerator(), c.other(),
            measuredOrNa(c.otherJit()), measuredOrNa(c.otherGc()));
      }
    }
  }

  @Command(name = "speculative", mixinStandardHelpOptions = true,
      description = "Speculative escalation: the bundled small model answers the test split; --rule scores its "
          + "answers and the --escalate share with the highest scores are the escalated items. The bundled large "
          + "model answers each of them without and with the small model's tokens as a draft, sequentially "
          + "(one request per call) and batched (--batch requests per call): ms per request (mean, p50), time "
          + "saved, how much of the drafts it kept, and how many outputs are identical token for token.")
  static final class SpeculativeCommand implements Callable<Integer> {

    @Option(names = "--rule", defaultValue = "chow-quantile-0", paramLabel = "RULE",
        description = "The Chow rule that picks the escalated items (default: ${DEFAULT-VALUE}, the router's "
            + "default policy rule).")
    String rule;

    @Option(names = "--escalate", defaultValue = "0.3", paramLabel = "SHARE",
        description = "The share of the test split escalated, the highest scores; 1 for every item (default: "
            + "${DEFAULT-VALUE}, the demo's rate).")
    double escalate;

    @Option(names = "--requests", defaultValue = "0", paramLabel = "N",
        description = "At most N escalated items, 0 for all (default: ${DEFAULT-VALUE}).")
    int requests;

    @Option(names = "--batch", defaultValue = "16", paramLabel = "N",
        description = "Requests per call in the batched phase (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--no-kv-cache", description = "Run both models without their key/value cache.")
    boolean noKvCache;

    @Option(names = "--draft-window", defaultValue = "8,2,16", paramLabel = "FIRST,MIN,MAX",
        converter = DraftWindowConverter.class,
        description = "Draft tokens the large model checks per pass: FIRST first, then up to MAX while the draft is "
            + "right, down to MIN after a miss; one number fixes it (default: ${DEFAULT-VALUE}, as large-model).")
    DraftWindow draftWindow;

    @Option(names = "--json", description = "Print one JSON object instead of a table.")
    boolean json;

    @Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
      SpeculativeBench.Options options = new SpeculativeBench.Options(rule, escalate, requests, batch, !noKvCache,
          draftWindow);
      SpeculativeBench.Result r = SpeculativeBench.run(options, spec.commandLine().getErr());
      PrintWriter out = spec.commandLine().getOut();
      if (json) {
        out.println(MAPPER.writeValueAsString(toJson(r)));
      } else {
        printTable(out, r);
      }
      out.flush();
      return 0;
    }

    static ObjectNode toJson(SpeculativeBench.Result r) {
      ObjectNode node = MAPPER.createObjectNode();
      node.put("test_items", r.testItems());
      node.put("items", r.items());
      node.put("rule", r.rule());
      node.put("threshold", Double.isInfinite(r.threshold()) ? null : round(r.threshold(), 6));
      node.put("cores", r.cores());
      node.put("kv_cache", r.kvCache());
      node.put("draft_window", r.draftWindow().toString());
      node.put("draft_tokens_mean", round((double) r.draftTokens() / r.items(), 3));
      node.put("accepted_tokens_mean", round((double) r.acceptedTokens() / r.items(), 3));
      node.put("acceptance_rate", round(r.acceptanceRate(), 4));
      node.put("whole_draft_kept", r.wholeDraftKept());
      node.put("large_tokens_mean", round((double) r.largeTokens() / r.items(), 3));
      putPhase(node.putObject("sequential"), r.sequential());
      ObjectNode batched = node.putObject("batched");
      batched.put("batch", r.batch());
      putPhase(batched, r.batched());
      return node;
    }

    private static void putPhase(ObjectNode node, SpeculativeBench.Phase p) {
      ObjectNode without = node.putObject("without_draft");
      without.put("mean_ms", round(p.withoutMeanMs(), 3));
      without.put("p50_ms", round(p.withoutP50Ms(), 3));
      ObjectNode with = node.putObject("with_draft");
      with.put("mean_ms", round(p.withMeanMs(), 3));
      with.put("p50_ms", round(p.withP50Ms(), 3));
      node.put("time_saved", round(p.timeSaved(), 4));
      node.put("identical_outputs", p.identical());
    }

    private static void printTable(PrintWriter out, SpeculativeBench.Result r) {
      out.printf(Locale.ROOT, "%d of %d test items escalated (%s), %s, draft window %s, %d cores; drafts: %.2f tokens on"
          + " average, %.2f kept (%.1f%%), whole draft kept on %d; the large model's answers: %.2f tokens on average%n",
          r.items(), r.testItems(), r.rule(), r.kvCache() ? "key/value cache" : "no cache", r.draftWindow(), r.cores(),
          (double) r.draftTokens() / r.items(), (double) r.acceptedTokens() / r.items(), 100 * r.acceptanceRate(),
          r.wholeDraftKept(), (double) r.largeTokens() / r.items());
      out.println("| phase | ms/request without draft (mean / p50) | with draft (mean / p50) | time saved |"
          + " identical outputs |");
      out.println("| --- | --- | --- | --- | --- |");
      for (var phase : List.of(Map.entry("sequential", r.sequential()),
          Map.entry("batched, " + r.batch() + " per call", r.batched()))) {
        SpeculativeBench.Phase p = phase.getValue();
        out.printf(Locale.ROOT, "| %s | %.2f / %.2f | %.2f / %.2f | %.1f%% | %d of %d |%n", phase.getKey(),
            p.withoutMeanMs(), p.withoutP50Ms(), p.withMeanMs(), p.withP50Ms(), 100 * p.timeSaved(), p.identical(),
            r.items());
      }
    }
  }

  private static void putByBatch(ObjectNode node, Map<Integer, Double> values) {
    values.forEach((batch, value) -> node.put(Integer.toString(batch), round(value, 2)));
  }

  private static void putOptional(ObjectNode node, String key, OptionalDouble value) {
    if (value.isPresent()) {
      node.put(key, value.getAsDouble());
    } else {
      node.putNull(key);
    }
  }

  private static String format(OptionalDouble ms) {
    return ms.isPresent() ? String.format(Locale.ROOT, "%.1f", ms.getAsDouble()) : "";
  }

  private static double round(double value, int places) {
    double scale = Math.pow(10, places);
    return Math.round(value * scale) / scale;
  }
}
