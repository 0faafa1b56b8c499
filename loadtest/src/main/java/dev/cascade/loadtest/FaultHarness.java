package dev.cascade.loadtest;

import dev.cascade.router.cli.ClassDataArchive;
import dev.cascade.router.cli.JvmDefaults;
import dev.cascade.router.demo.Example;
import dev.cascade.router.demo.Examples;
import dev.cascade.router.learning.TierOutcomeReport;
import dev.cascade.router.routing.CostModel;
import dev.cascade.schemas.avro.CascadeRequest;
import dev.cascade.schemas.avro.CascadeResponse;
import dev.cascade.schemas.avro.DeadLetter;
import dev.cascade.schemas.avro.Decision;
import dev.cascade.schemas.avro.ServedBy;
import dev.cascade.schemas.serde.CascadeSerdes;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Collectors;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * The fault harness: the whole cascade as separate OS processes (a restartable broker, the
 * large-model server, several router instances sharing one application id), a paced producer of
 * requests and a {@code read_committed} verifier, with faults injected during the load: {@code
 * kill -9} of routers (each restarted 10 s later over its state directory), the broker stopped with
 * SIGTERM and with {@code kill -9} (restarted 5 s later with its log and port), the large-model
 * server killed for 10 s, slowed by 2 s a call for 30 s, and flapping (half its calls UNAVAILABLE)
 * for 20 s. It prints progress to stderr and one JSON object last on stdout.
 *
 * <p>Run (after {@code ./mvnw -B -q -pl loadtest -am package -DskipTests}, which builds {@code cascade.jar} too):
 *
 * <pre>
 * java -cp router/target/cascade.jar:loadtest/target/classes dev.cascade.loadtest.FaultHarness \
 *   [--requests 10000] [--rate 20] [--routers 3] [--router-kills 5] [--broker-restarts true]
 *   [--large-outage true] [--large-slow true] [--large-flap true] [--set KEY=VALUE]...
 *   [--middle MODEL [--middle-rule chow-sum:1.1568]] [--cds auto|off|FILE] [--jvm-opt OPT]...
 *   [--learn-set KEY=VALUE... [--learner-kills 2]]
 * </pre>
 *
 * <p>{@code --learn-set} runs a continuous learner ({@code cascade learn}) in its own process beside
 * the routers, with their {@code policy.*}, {@code cost.*} and tier settings and then these (e.g.
 * {@code learn.tier-answer-value=3000} to retune the middle tier); {@code --learner-kills} kills it
 * with {@code kill -9} that many times, spread over the load like the other faults, restarting it
 * 5 s later. The JSON then lists the policies the learner wrote ({@code learner_policies}), what
 * every request got under each policy version its small-model decision used ({@code small_phases}:
 * with {@code learn.small-answer-value} the learner moves the small model's threshold) and, with
 * {@code --middle}, what the requests reaching the middle tier got under each policy version
 * ({@code middle_phases}).
 *
 * <p>{@code --set} passes router configuration (e.g. {@code kafka.session.timeout.ms=6000}) to
 * every router, to compare recovery settings. {@code --middle} makes it a cascade of three: that
 * model (e.g. {@code medium}) behind a large-model server of its own, never faulted, between the
 * small and the large one, passing a request on by {@code --middle-rule}; the JSON then counts the
 * answers each tier served ({@code served_by_tier}, as it always does). The processes get the
 * {@code ./cascade} launcher's JVM options ({@link #jvmOptions}): the class-data-sharing archive of
 * {@code ./cascade cds} ({@code --cds}), C1 and the serial collector for the broker and C1 for
 * the routers ({@code JvmDefaults}), then the {@code --jvm-opt}s.
 */
public final class FaultHarness {

  /** What to run. */
  public record Options(int requests, double rate, int routers, int routerKills, boolean brokerRestarts,
      boolean largeOutage, boolean largeSlow, boolean largeFlap, Map<String, String> routerSettings,
      String middle, String middleRule, String cds, List<String> jvmOptions, Map<String, String> learnSettings,
      int learnerKills) {

    /** Without a learner. */
    public Options(int requests, double rate, int routers, int routerKills, boolean brokerRestarts,
        boolean largeOutage, boolean largeSlow, boolean largeFlap, Map<String, String> routerSettings,
        String middle, String middleRule, String cds, List<String> jvmOptions) {
      this(requests, rate, routers, routerKills, brokerRestarts, largeOutage, largeSlow, largeFlap, routerSettings,
          middle, middleRule, cds, jvmOptions, Map.of(), 0);
    }

    /** A cascade of two models: the small one and the large one. */
    public Options(int requests, double rate, int routers, int routerKills, boolean brokerRestarts,
        boolean largeOutage, boolean largeSlow, boolean largeFlap, Map<String, String> routerSettings) {
      this(requests, rate, routers, routerKills, brokerRestarts, largeOutage, largeSlow, largeFlap, routerSettings,
          "", "", "auto", List.of());
    }

    public static Options parse(String[] args) {
      Map<String, String> values = new LinkedHashMap<>();
      Map<String, String> sets = new LinkedHashMap<>();
      Map<String, String> learnSets = new LinkedHashMap<>();
      List<String> jvmOptions = new ArrayList<>();
      for (int i = 0; i < args.length; i++) {
        String name = args[i];
        if (!name.startsWith("--") || i + 1 >= args.length) {
          throw new IllegalArgumentException("expected --NAME VALUE pairs, got " + name);
        }
        String value = args[++i];
        if (name.equals("--set") || name.equals("--learn-set")) {
          String[] kv = value.split("=", 2);
          if (kv.length != 2) {
            throw new IllegalArgumentException(name + ": expected KEY=VALUE, got " + value);
          }
          (name.equals("--set") ? sets : learnSets).put(kv[0], kv[1]);
        } else if (name.equals("--jvm-opt")) {
          jvmOptions.add(value);
        } else {
          values.put(name.substring(2), value);
        }
      }
      Options o = new Options(Integer.parseInt(values.getOrDefault("requests", "10000")),
          Double.parseDouble(values.getOrDefault("rate", "20")), Integer.parseInt(values.getOrDefault("routers", "3")),
          Integer.parseInt(values.getOrDefault("router-kills", "5")),
          Boolean.parseBoolean(values.getOrDefault("broker-restarts", "true")),
          Boolean.parseBoolean(values.getOrDefault("large-outage", "true")),
          Boolean.parseBoolean(values.getOrDefault("large-slow", "true")),
          Boolean.parseBoolean(values.getOrDefault("large-flap", "true")), sets, values.getOrDefault("middle", ""),
          values.getOrDefault("middle-rule", DEFAULT_MIDDLE_RULE), values.getOrDefault("cds", "auto"), jvmOptions,
          learnSets, Integer.parseInt(values.getOrDefault("learner-kills", "0")));
      if (o.learnerKills() > 0 && learnSets.isEmpty()) {
        throw new IllegalArgumentException("--learner-kills: only with a learner (--learn-set KEY=VALUE)");
      }
      values.keySet().removeAll(List.of("requests", "rate", "routers", "router-kills", "broker-restarts",
          "large-outage", "large-slow", "large-flap", "middle", "middle-rule", "cds", "learner-kills"));
      if (!values.isEmpty()) {
        throw new IllegalArgumentException("unknown options: " + values.keySet());
      }
      return o;
    }
  }

  /**
   * The middle tier's rule unless {@code --middle-rule} says otherwise: the Chow-Sum threshold that
   * {@code demo --tiers small,medium,large} calibrates for the bundled medium model (it passes on
   * half of the validation examples the small model defers).
   */
  static final String DEFAULT_MIDDLE_RULE = "chow-sum:1.1568";

  /** A fault: when it began and ended (ms since the load started), and its recovery. */
  public record Fault(String name, long startMs, long endMs, double firstAnswerS, double backlogS, double p99Ms) {}

  /** What a run measured. */
  public record Result(int sent, int answered, int lost, int duplicates, int degraded, int deadLettered,
      double p50Ms, double p99Ms, double p99MsDuringFaults, List<Fault> faults, double seconds,
      Map<String, Integer> degradedReasons, Map<Integer, Integer> servedByTier, double escalationRate,
      List<Double> escalationRates, List<Double> middlePassOnRates, int middleEarlyStops, int middleExplored,
      TierOutcomeReport middleEvaluation, int middleExploreMismatches, List<LearnerPolicy> learnerPolicies,
      List<dev.cascade.router.learning.TierPhases.Phase> middlePhases,
      List<dev.cascade.router.learning.TierPhases.Phase> smallPhases) {

    public Result(int sent, int answered, int lost, int duplicates, int degraded, int deadLettered,
        double p50Ms, double p99Ms, double p99MsDuringFaults, List<Fault> faults, double seconds,
        Map<String, Integer> degradedReasons, Map<Integer, Integer> servedByTier, double escalationRate,
        List<Double> escalationRates, List<Double> middlePassOnRates, int middleEarlyStops, int middleExplored,
        TierOutcomeReport middleEvaluation, int middleExploreMismatches) {
      this(sent, answered, lost, duplicates, degraded, deadLettered, p50Ms, p99Ms, p99MsDuringFaults, faults, seconds,
          degradedReasons, servedByTier, escalationRate, escalationRates, middlePassOnRates, middleEarlyStops,
          middleExplored, middleEvaluation, middleExploreMismatches, List.of(), List.of(), List.of());
    }

    public Result(int sent, int answered, int lost, int duplicates, int degraded, int deadLettered,
        double p50Ms, double p99Ms, double p99MsDuringFaults, List<Fault> faults, double seconds,
        Map<String, Integer> degradedReasons, Map<Integer, Integer> servedByTier, double escalationRate,
        List<Double> escalationRates, List<Double> middlePassOnRates) {
      this(sent, answered, lost, duplicates, degraded, deadLettered, p50Ms, p99Ms, p99MsDuringFaults, faults, seconds,
          degradedReasons, servedByTier, escalationRate, escalationRates, middlePassOnRates, 0, 0, null, 0);
    }

    public String toJson() {
      StringBuilder s = new StringBuilder();
      s.append(String.format(Locale.ROOT, "{\"sent\": %d, \"answered\": %d, \"lost\": %d, \"duplicates\": %d, "
              + "\"degraded\": %d, \"dead_lettered\": %d, \"p50_ms\": %.0f, \"p99_ms\": %.0f, "
              + "\"p99_ms_during_faults\": %s, \"seconds\": %.0f, \"recovery_s\": {", sent, answered, lost,
          duplicates, degraded, deadLettered, p50Ms, p99Ms, number(p99MsDuringFaults, "%.0f"), seconds));
      for (int i = 0; i < faults.size(); i++) {
        Fault f = faults.get(i);
        s.append(i == 0 ? "" : ", ").append(String.format(Locale.ROOT,
            "\"%s\": {\"at_s\": %.1f, \"lasted_s\": %.1f, \"first_answer_s\": %s, \"backlog_s\": %s,"
            + " \"p99_ms\": %s}", f.name(), f.startMs() / 1000.0, (f.endMs() - f.startMs()) / 1000.0,
            number(f.firstAnswerS(), "%.2f"), number(f.backlogS(), "%.2f"), number(f.p99Ms(), "%.0f")));
      }
      s.append("}, \"served_by_tier\": {");
      int t = 0;
      for (Map.Entry<Integer, Integer> e : servedByTier.entrySet()) {
        s.append(t++ == 0 ? "" : ", ").append('"').append(e.getKey()).append("\": ").append(e.getValue());
      }
      s.append(String.format(Locale.ROOT, "}, \"escalation_rate\": %s, \"escalation_rate_per_%d\": [",
          number(escalationRate, "%.3f"), RATE_WINDOW));
      for (int w = 0; w < escalationRates.size(); w++) {
        s.append(w == 0 ? "" : ", ").append(number(escalationRates.get(w), "%.3f"));
      }
      s.append("]");
      if (!middlePassOnRates.isEmpty()) {
        // Of the requests of each window that reached the middle tier, the share it passed on.
        s.append(String.format(Locale.ROOT, ", \"middle_pass_on_per_%d\": [", RATE_WINDOW));
        for (int w = 0; w < middlePassOnRates.size(); w++) {
          s.append(w == 0 ? "" : ", ").append(number(middlePassOnRates.get(w), "%.3f"));
        }
        // Its answers that stopped early (escalation.early-defer), passed on as prefixes.
        s.append("], \"middle_early_stops\": ").append(middleEarlyStops);
        // Answers the middle tier's rule would have served, passed on by policy.tier-exploration-rates.
        s.append(", \"middle_explored\": ").append(middleExplored);
        // Outcomes whose explored flag is not what the tier's draw and the rule's decision say (replays included).
        s.append(", \"middle_explore_mismatches\": ").append(middleExploreMismatches);
      }
      if (middleEvaluation != null) {
        // The middle tier's rule evaluated from the outcomes, as eval --outcomes --tier 1 does.
        s.append(String.format(Locale.ROOT, ", \"middle_evaluation\": {\"used\": %d, \"explored\": %d,"
                + " \"effective_n\": %.1f, \"tier_accuracy\": %.4f, \"next_tier_accuracy\": %.4f,"
                + " \"chow_sum_auc_df\": %.4f, \"chow_sum_oracle_share_pct\": %.1f}", middleEvaluation.used(),
            middleEvaluation.explored(), middleEvaluation.effectiveN(), middleEvaluation.tierAccuracy(),
            middleEvaluation.nextAccuracy(), middleEvaluation.rule("chow-sum").aucDf(),
            middleEvaluation.rule("chow-sum").oracleSharePct()));
      }
      if (!learnerPolicies.isEmpty() || !middlePhases.isEmpty() || !smallPhases.isEmpty()) {
        // The policies the learner wrote (the middle tier's threshold and target in each), and the
        // requests reaching the middle tier under each policy version: the share passed on, the
        // share served right, and their mean cost (every tier's calls).
        s.append(", \"learner_policies\": [");
        for (int k = 0; k < learnerPolicies.size(); k++) {
          LearnerPolicy lp = learnerPolicies.get(k);
          s.append(k == 0 ? "" : ", ").append(String.format(Locale.ROOT, "{\"version\": %d, \"at_s\": %.1f,"
              + " \"small_rule\": \"%s\", \"small_threshold\": %s, \"small_target_rate\": %s,"
              + " \"middle_rule\": \"%s\", \"middle_threshold\": %s, \"middle_target_rate\": %s, \"reason\": \"%s\"}",
              lp.version(), lp.atMs() / 1000.0, lp.smallRule(), number(lp.smallThreshold(), "%.4f"),
              number(lp.smallTargetRate(), "%.3f"), lp.middleRule(), number(lp.middleThreshold(), "%.4f"),
              number(lp.middleTargetRate(), "%.3f"), lp.reason().replace("\\", "\\\\").replace("\"", "\\\"")));
        }
        s.append("], \"middle_phases\": ");
        phases(s, middlePhases);
        s.append(", \"small_phases\": ");
        phases(s, smallPhases);
      }
      s.append(", \"degraded_reasons\": {");
      int i = 0;
      for (Map.Entry<String, Integer> e : degradedReasons.entrySet()) {
        s.append(i++ == 0 ? "" : ", ").append('"').append(e.getKey().replace("\\", "\\\\").replace("\"", "\\\""))
            .append("\": ").append(e.getValue());
      }
      return s.append("}}").toString();
    }

    /** A number, or null where there is none (JSON has no NaN). */
    /** Phases as a JSON list: each policy version's requests, the share passed on, served right, and their mean cost. */
    private static void phases(StringBuilder s, List<dev.cascade.router.learning.TierPhases.Phase> phases) {
      s.append('[');
      for (int k = 0; k < phases.size(); k++) {
        dev.cascade.router.learning.TierPhases.Phase ph = phases.get(k);
        s.append(k == 0 ? "" : ", ").append(String.format(Locale.ROOT, "{\"policy_version\": %d, \"reached\": %d,"
            + " \"passed_on\": %s, \"right\": %s, \"cost\": %s}", ph.policyVersion(), ph.reached(),
            number(ph.passedOn(), "%.4f"), number(ph.right(), "%.4f"), number(ph.cost(), "%.1f")));
      }
      s.append(']');
    }

    private static String number(double value, String format) {
      return Double.isFinite(value) ? String.format(Locale.ROOT, format, value) : "null";
    }
  }

  /** Requests per window of {@code escalation_rate_per_250}, in the order they were sent. */
  static final int RATE_WINDOW = 250;

  private FaultHarness() {}

  /**
   * The escalated share (deferred or explored, from the outcomes) of each window of {@code window}
   * requests in the order they were sent, over those whose outcome was read (NaN for a window
   * with none); the last window may be shorter.
   */
  static List<Double> windowRates(Boolean[] escalatedInSendOrder, int window) {
    List<Double> rates = new ArrayList<>();
    for (int from = 0; from < escalatedInSendOrder.length; from += window) {
      int seen = 0;
      int escalated = 0;
      for (int i = from; i < Math.min(escalatedInSendOrder.length, from + window); i++) {
        if (escalatedInSendOrder[i] != null) {
          seen++;
          escalated += escalatedInSendOrder[i] ? 1 : 0;
        }
      }
      rates.add(seen == 0 ? Double.NaN : (double) escalated / seen);
    }
    return rates;
  }

  public static void main(String[] args) throws Exception {
    Result result = run(Options.parse(args), Files.createTempDirectory("cascade-faults-"));
    System.out.println(result.toJson());
    System.exit(0);
  }

  /** Runs the harness in {@code work} (logs of every process are kept there). */
  public static Result run(Options o, Path work) throws Exception {
    int brokerPort = freePort();
    int largePort = freePort();
    Path faultFile = work.resolve("large-model-faults");
    List<Proc> all = new CopyOnWriteArrayList<>();
    List<String> jvm = jvmOptions(o, System.getProperty("java.class.path"));
    log("JVM options of the processes: %s; before them, the broker's %s and the routers' %s", jvm,
        JvmDefaults.forCommand("broker"), JvmDefaults.forCommand("serve"));
    try {
      Proc broker = Proc.start(work, "broker", jvm, List.of("broker", "--data-dir", work.resolve("kafka").toString(),
          "--port", String.valueOf(brokerPort), "--controller-port", String.valueOf(freePort()),
          "--set", "topic.partitions=6"));
      all.add(broker);
      broker.await("bootstrap.servers=", Duration.ofSeconds(120));
      String bootstrap = "127.0.0.1:" + brokerPort;
      List<String> largeArgs = List.of("large-model", "--host", "127.0.0.1", "--port", String.valueOf(largePort),
          "--no-metrics", "--fault-file", faultFile.toString());
      Proc[] large = {Proc.start(work, "large-model", jvm, largeArgs)};
      all.add(large[0]);
      large[0].await("large-model=", Duration.ofSeconds(120));
      Map<String, String> tierSets = new LinkedHashMap<>();
      if (!o.middle().isEmpty()) {
        // A cascade of three: the middle model behind its own large-model server, never faulted.
        Proc middle = Proc.start(work, "middle-model", jvm, List.of("large-model", "--host", "127.0.0.1",
            "--model", o.middle(), "--port", "0", "--no-metrics"));
        all.add(middle);
        String middleTarget = middle.await("large-model=", Duration.ofSeconds(120)).substring("large-model=".length());
        tierSets.put("tiers", "middle=" + middleTarget + ",large=127.0.0.1:" + largePort);
        tierSets.put("policy.tier-rules", o.middleRule());
        // Per-token costs in proportion to the models' parameters, as demo --tiers sets them.
        double[] relative = CostModel.relativeToFirst(List.of("small", o.middle(), "large"));
        tierSets.put("cost.tiers.per-token", String.format(Locale.ROOT, "%.3f,%.3f", relative[1], relative[2]));
      }
      Proc[] routers = new Proc[o.routers()];
      List<List<String>> routerArgs = new ArrayList<>();
      for (int i = 0; i < o.routers(); i++) {
        List<String> a = new ArrayList<>(List.of("serve"));
        Map<String, String> sets = new LinkedHashMap<>(Map.of("bootstrap.servers", bootstrap,
            "large.target", "127.0.0.1:" + largePort, "state.dir", work.resolve("router-" + i).toString(),
            "metrics.enabled", "false", "topic.partitions", "6", "admin.token-file", work.resolve("token").toString(),
            "application.id", "cascade-faults"));
        sets.putAll(tierSets);
        if (tierSets.containsKey("tiers")) {
          sets.remove("large.target"); // tiers names the large model too; serve refuses both at once
        }
        sets.putAll(o.routerSettings());
        sets.forEach((k, v) -> {
          a.add("--set");
          a.add(k + "=" + v);
        });
        routerArgs.add(a);
        routers[i] = Proc.start(work, "router-" + i, jvm, a);
        all.add(routers[i]);
      }
      for (Proc r : routers) {
        r.await("grpc=", Duration.ofSeconds(180));
      }
      if (!o.learnSettings().isEmpty()) {
        // The continuous learner in its own process, with the routers' policy and tiers (its policy
        // topic fallback must be theirs), then the --learn-sets.
        List<String> a = new ArrayList<>(List.of("learn"));
        Map<String, String> sets = new LinkedHashMap<>(Map.of("bootstrap.servers", bootstrap,
            "state.dir", work.resolve("learner").toString(), "metrics.enabled", "false", "topic.partitions", "6"));
        sets.putAll(tierSets);
        o.routerSettings().forEach((k, v) -> {
          if (k.startsWith("policy.") || k.startsWith("cost.")) {
            sets.put(k, v);
          }
        });
        sets.putAll(o.learnSettings());
        sets.forEach((k, v) -> {
          a.add("--set");
          a.add(k + "=" + v);
        });
        Proc learner = Proc.start(work, "learner", jvm, a);
        all.add(learner);
        learner.await("learner=", Duration.ofSeconds(180));
      }
      log("all processes up: broker %s, large model 127.0.0.1:%d, %d routers%s", bootstrap, largePort, o.routers(),
          o.learnSettings().isEmpty() ? "" : ", a learner");

      Verifier verifier = new Verifier(bootstrap);
      verifier.start();
      List<Example> examples = Examples.bundled("test");
      long durationMs = Math.round(o.requests() / o.rate() * 1000);
      List<Fault> faults = new CopyOnWriteArrayList<>();
      List<Scheduled> plan = plan(o, durationMs);
      long[] sentAt = new long[o.requests()];
      long loadStart = System.currentTimeMillis();
      Thread injector = new Thread(() -> {
        for (Scheduled s : plan) {
          try {
            sleepUntil(loadStart + s.atMs());
            long start = System.currentTimeMillis() - loadStart;
            log("fault %s at %.1f s", s.name(), start / 1000.0);
            s.action().run(routers, routerArgs, large, largeArgs, broker, faultFile, work, all);
            long end = System.currentTimeMillis() - loadStart;
            faults.add(new Fault(s.name(), start, end, Double.NaN, Double.NaN, Double.NaN));
            log("fault %s over at %.1f s", s.name(), end / 1000.0);
          } catch (Exception e) {
            log("fault %s failed: %s", s.name(), e);
          }
        }
      }, "faults");
      injector.setDaemon(true);
      injector.start();

      try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(producerProps(bootstrap))) {
        for (int i = 0; i < o.requests(); i++) {
          sleepUntil(loadStart + Math.round(i / o.rate() * 1000));
          Example e = examples.get(i % examples.size());
          String id = "f-" + i;
          long now = System.currentTimeMillis();
          sentAt[i] = now;
          CascadeRequest request = CascadeRequest.newBuilder().setRequestId(id).setPrompt(e.prompt())
              .setMaxNewTokens(0).setReference(e.reference()).setMetadata(Map.of()).setCreatedAtMs(now)
              .setMessages(java.util.List.of()).build();
          producer.send(new ProducerRecord<>("cascade.requests", id.getBytes(StandardCharsets.UTF_8),
              CascadeSerdes.requests().serializer().serialize("cascade.requests", request)));
          if (i % Math.max(1, (int) (o.rate() * 30)) == 0) {
            log("sent %d, answered %d", i + 1, verifier.answered());
          }
        }
        producer.flush();
      }
      injector.join(TimeUnit.MINUTES.toMillis(5));
      long drainUntil = System.currentTimeMillis() + 180_000;
      while (verifier.answered() < o.requests() && System.currentTimeMillis() < drainUntil) {
        Thread.sleep(200);
      }
      Thread.sleep(2_000); // late duplicates would show up here
      verifier.stop();
      List<LearnerPolicy> learned = o.learnSettings().isEmpty() ? List.of() : learnerPolicies(bootstrap, loadStart);
      return result(o, sentAt, loadStart, verifier, faults, learned);
    } finally {
      // The last started first: the broker last, so the others close their clients against it.
      List<Proc> byStart = new ArrayList<>(all);
      java.util.Collections.reverse(byStart);
      for (Proc p : byStart) {
        p.stop();
      }
    }
  }

  private static Result result(Options o, long[] sentAt, long loadStart, Verifier v, List<Fault> faults,
      List<LearnerPolicy> learned) {
    List<Double> latencies = new ArrayList<>();
    List<Double> duringFaults = new ArrayList<>();
    int answered = 0;
    int duplicates = 0;
    for (int i = 0; i < o.requests(); i++) {
      Answer a = v.answers.get("f-" + i);
      if (a == null) {
        continue;
      }
      answered++;
      duplicates += a.count - 1;
      double latency = a.firstAtMs - sentAt[i];
      latencies.add(latency);
      long sent = sentAt[i] - loadStart;
      if (faults.stream().anyMatch(f -> sent >= f.startMs() && sent <= f.endMs())) {
        duringFaults.add(latency);
      }
    }
    List<Fault> measured = new ArrayList<>();
    for (Fault f : faults) {
      double first = Double.NaN;
      double last = Double.NaN;
      List<Double> sentDuring = new ArrayList<>();
      for (int i = 0; i < o.requests(); i++) {
        long sent = sentAt[i] - loadStart;
        Answer a = v.answers.get("f-" + i);
        if (sent < f.startMs() || sent > f.endMs() || a == null) {
          continue;
        }
        double at = (a.firstAtMs - loadStart - f.startMs()) / 1000.0;
        first = Double.isNaN(first) ? at : Math.min(first, at);
        last = Double.isNaN(last) ? at : Math.max(last, at);
        sentDuring.add((double) (a.firstAtMs - sentAt[i]));
      }
      measured.add(new Fault(f.name(), f.startMs(), f.endMs(), first, last, percentile(sentDuring, 0.99)));
    }
    int degraded = (int) v.answers.values().stream().filter(a -> a.degraded).count();
    Boolean[] escalated = new Boolean[o.requests()];
    for (int i = 0; i < o.requests(); i++) {
      escalated[i] = v.escalated.get("f-" + i);
    }
    double escalationRate = windowRates(escalated, Math.max(1, o.requests())).get(0);
    Boolean[] passedOn = new Boolean[o.requests()];
    for (int i = 0; i < o.requests(); i++) {
      passedOn[i] = v.middlePassedOn.get("f-" + i);
    }
    return new Result(o.requests(), answered, o.requests() - answered, duplicates, degraded, v.deadLettered.get(),
        percentile(latencies, 0.5), percentile(latencies, 0.99), percentile(duringFaults, 0.99), measured,
        (System.currentTimeMillis() - loadStart) / 1000.0, new java.util.TreeMap<>(v.degradedReasons),
        new java.util.TreeMap<>(v.answers.values().stream().collect(Collectors.groupingBy(a -> a.servedTier,
            Collectors.summingInt(a -> 1)))), escalationRate, windowRates(escalated, RATE_WINDOW),
        o.middle().isEmpty() ? List.of() : windowRates(passedOn, RATE_WINDOW),
        (int) v.middleStoppedEarly.values().stream().filter(b -> b).count(),
        (int) v.middleAnswers.values().stream().filter(dev.cascade.schemas.avro.TierAnswer::getExplored).count(),
        v.middleOutcomes.used() == 0 ? null : TierOutcomeReport.compute(v.middleOutcomes, 200, 1),
        exploreMismatches(v.middleAnswers, o.routerSettings()), learned,
        o.middle().isEmpty() || learned.isEmpty() ? List.of()
            : dev.cascade.router.learning.TierPhases.of(v.middleReached.values(), 1),
        o.learnSettings().isEmpty() ? List.of() : dev.cascade.router.learning.TierPhases.ofSmall(v.reached.values()));
  }

  /**
   * The middle tier's answers whose {@code explored} flag differs from what the tier's exploration
   * draw ({@code policy.tier-exploration-rates}' first rate; 0 when not set) and its rule's decision
   * say: explored exactly where the rule would have served the answer and the request's draw is
   * below the rate. Every router and every replay after a kill must make the same choice.
   */
  static int exploreMismatches(Map<String, dev.cascade.schemas.avro.TierAnswer> middleAnswers,
      Map<String, String> routerSettings) {
    String rates = routerSettings.getOrDefault("policy.tier-exploration-rates", "");
    double rate = rates.isBlank() ? 0.0 : Double.parseDouble(rates.split(",")[0].trim());
    dev.cascade.router.policy.TierPolicy drawing = new dev.cascade.router.policy.TierPolicy("chow-sum", 0, 0, 0, rate);
    int mismatches = 0;
    for (Map.Entry<String, dev.cascade.schemas.avro.TierAnswer> e : middleAnswers.entrySet()) {
      dev.cascade.schemas.avro.TierAnswer t = e.getValue();
      boolean ruleServes = !(t.getScore() > t.getThreshold()) && !t.getStoppedEarly();
      mismatches += t.getExplored() != (ruleServes && drawing.explores(e.getKey(), 1)) ? 1 : 0;
    }
    return mismatches;
  }

  /** A fault at a time. */
  record Scheduled(String name, long atMs, Action action) {}

  private interface Action {
    void run(Proc[] routers, List<List<String>> routerArgs, Proc[] large, List<String> largeArgs, Proc broker,
        Path faultFile, Path work, List<Proc> all) throws Exception;
  }

  /** The faults, spread over the middle of the load, at least 25 s apart. */
  static List<Scheduled> plan(Options o, long durationMs) {
    List<String> names = new ArrayList<>();
    for (int k = 0; k < o.routerKills(); k++) {
      names.add("router_kill_" + (k + 1));
    }
    for (int k = 0; k < o.learnerKills(); k++) {
      names.add("learner_kill_" + (k + 1));
    }
    if (o.brokerRestarts()) {
      names.add(2 % (names.size() + 1), "broker_sigterm");
      names.add("broker_kill9");
    }
    if (o.largeOutage()) {
      names.add(Math.min(1, names.size()), "large_model_down_10s");
    }
    if (o.largeSlow()) {
      names.add(Math.min(3, names.size()), "large_model_slow_30s");
    }
    if (o.largeFlap()) {
      names.add(Math.min(5, names.size()), "large_model_flapping_20s");
    }
    List<Scheduled> plan = new ArrayList<>();
    long first = durationMs / 10;
    long span = Math.max(1, durationMs * 75 / 100);
    for (int i = 0; i < names.size(); i++) {
      long at = first + (names.size() == 1 ? 0 : span * i / (names.size() - 1));
      String name = names.get(i);
      plan.add(new Scheduled(name, at, action(name)));
    }
    return plan;
  }

  private static Action action(String name) {
    if (name.startsWith("router_kill_")) {
      int k = Integer.parseInt(name.substring("router_kill_".length())) - 1;
      return (routers, routerArgs, large, largeArgs, broker, faultFile, work, all) -> {
        int i = k % routers.length;
        routers[i].kill9();
        Thread.sleep(10_000);
        routers[i] = Proc.start(work, "router-" + i + "-restart-" + (k + 1), routers[i].jvm, routerArgs.get(i));
        all.add(routers[i]);
        routers[i].await("grpc=", Duration.ofSeconds(180));
      };
    }
    if (name.startsWith("learner_kill_")) {
      // kill -9 on the learner, then the same command again after 5 s: its tier tuner keeps no state.
      return (routers, routerArgs, large, largeArgs, broker, faultFile, work, all) -> {
        Proc learner = all.stream().filter(p -> p.name.equals("learner")).findFirst().orElseThrow();
        learner.kill9();
        Thread.sleep(5_000);
        long t0 = System.nanoTime();
        learner.restart(work);
        learner.await("learner=", Duration.ofSeconds(180));
        log("%s: the restarted learner took %.1f s to print learner= (RUNNING)", name, (System.nanoTime() - t0) / 1e9);
      };
    }
    return switch (name) {
      case "broker_sigterm", "broker_kill9" -> (routers, routerArgs, large, largeArgs, broker, faultFile, work, all) -> {
        long t0 = System.nanoTime();
        if (name.equals("broker_kill9")) {
          broker.kill9();
        } else {
          broker.term();
        }
        log("%s: the broker exited %.1f s after the signal", name, (System.nanoTime() - t0) / 1e9);
        Thread.sleep(5_000);
        long t1 = System.nanoTime();
        broker.restart(work);
        broker.await("bootstrap.servers=", Duration.ofSeconds(120));
        log("%s: the restarted broker took %.1f s to print bootstrap.servers", name, (System.nanoTime() - t1) / 1e9);
      };
      case "large_model_down_10s" -> (routers, routerArgs, large, largeArgs, broker, faultFile, work, all) -> {
        large[0].kill9();
        Thread.sleep(10_000);
        large[0] = Proc.start(work, "large-model-restart", large[0].jvm, largeArgs);
        all.add(large[0]);
        large[0].await("large-model=", Duration.ofSeconds(120));
      };
      case "large_model_slow_30s" -> (routers, routerArgs, large, largeArgs, broker, faultFile, work, all) -> {
        Files.writeString(faultFile, "delay-ms=2000\n");
        Thread.sleep(30_000);
        Files.writeString(faultFile, "");
      };
      case "large_model_flapping_20s" -> (routers, routerArgs, large, largeArgs, broker, faultFile, work, all) -> {
        Files.writeString(faultFile, "unavailable-fraction=0.5\n");
        Thread.sleep(20_000);
        Files.writeString(faultFile, "");
      };
      default -> throw new IllegalArgumentException(name);
    };
  }

  /** One answer per request id as a read_committed reader sees them. */
  private static final class Answer {
    final long firstAtMs;
    final boolean degraded;
    /** The tier whose answer was served: 0 the small model, then 1, 2, … in cascade order. */
    final int servedTier;
    int count = 1;

    Answer(long firstAtMs, boolean degraded, int servedTier) {
      this.firstAtMs = firstAtMs;
      this.degraded = degraded;
      this.servedTier = servedTier;
    }
  }

  /** Reads every partition of the responses and dead-letter topics, read_committed, from the start. */
  private static final class Verifier {
    final Map<String, Answer> answers = new ConcurrentHashMap<>();
    final java.util.concurrent.atomic.AtomicInteger deadLettered = new java.util.concurrent.atomic.AtomicInteger();
    /** Degraded outcomes by the start of their reason (numbers cut off). */
    final Map<String, Integer> degradedReasons = new ConcurrentHashMap<>();
    /** Per request id, whether its outcome says it was escalated (deferred or explored). */
    final Map<String, Boolean> escalated = new ConcurrentHashMap<>();
    /** Per request that reached the middle tier (tier 1 of three): whether it passed the request on. */
    final Map<String, Boolean> middlePassedOn = new ConcurrentHashMap<>();
    final Map<String, Boolean> middleStoppedEarly = new ConcurrentHashMap<>();
    /** Per request that reached the middle tier: its scored answer there. */
    final Map<String, dev.cascade.schemas.avro.TierAnswer> middleAnswers = new ConcurrentHashMap<>();
    /** Per request that reached the middle tier: its first outcome. */
    final Map<String, dev.cascade.schemas.avro.RoutingOutcome> middleReached = new ConcurrentHashMap<>();
    /** Every request's first outcome (replays after a kill write it again). */
    final Map<String, dev.cascade.schemas.avro.RoutingOutcome> reached = new ConcurrentHashMap<>();
    /** Each request's first outcome, for the middle tier's evaluation (read by this thread only until it stops). */
    final TierOutcomeReport.Collector middleOutcomes = new TierOutcomeReport.Collector(1);
    private final java.util.Set<String> outcomeIds = new java.util.HashSet<>();
    private final String bootstrap;
    private final AtomicBoolean running = new AtomicBoolean(true);
    private Thread thread;

    Verifier(String bootstrap) {
      this.bootstrap = bootstrap;
    }

    int answered() {
      return answers.size();
    }

    void start() {
      thread = new Thread(this::loop, "verifier");
      thread.setDaemon(true);
      thread.start();
    }

    void stop() throws InterruptedException {
      running.set(false);
      thread.join(10_000);
    }

    private void loop() {
      Properties p = new Properties();
      p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
      p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
      p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
      p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
      try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(p, new StringDeserializer(),
          new ByteArrayDeserializer())) {
        List<TopicPartition> parts = new ArrayList<>();
        for (String topic : List.of("cascade.responses", "cascade.dead-letters", "cascade.outcomes")) {
          List<PartitionInfo> infos = null;
          while (infos == null || infos.isEmpty()) {
            infos = consumer.partitionsFor(topic, Duration.ofSeconds(30));
          }
          infos.forEach(i -> parts.add(new TopicPartition(i.topic(), i.partition())));
        }
        consumer.assign(parts);
        consumer.seekToBeginning(parts);
        while (running.get()) {
          for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(100))) {
            long now = System.currentTimeMillis();
            if (r.topic().equals("cascade.responses")) {
              CascadeResponse response = CascadeSerdes.responses().deserializer().deserialize(r.topic(), r.value());
              answers.compute(response.getRequestId(), (id, a) -> {
                if (a == null) {
                  return new Answer(now, response.getServedBy() == ServedBy.SMALL_DEGRADED,
                      response.getServedTier() != null ? response.getServedTier()
                          : response.getServedBy() == ServedBy.LARGE ? 1 : 0);
                }
                a.count++;
                return a;
              });
            } else if (r.topic().equals("cascade.outcomes")) {
              dev.cascade.schemas.avro.RoutingOutcome o = CascadeSerdes.outcomes().deserializer()
                  .deserialize(r.topic(), r.value());
              escalated.put(o.getRequestId(), o.getDecision() != Decision.ACCEPT);
              reached.putIfAbsent(o.getRequestId(), o);
              o.getTierAnswers().stream().filter(t -> t.getTier() == 1 && t.getRule() != null).findFirst()
                  .ifPresent(t -> {
                    middlePassedOn.put(o.getRequestId(), t.getDeferred());
                    middleStoppedEarly.put(o.getRequestId(), t.getStoppedEarly());
                    middleAnswers.put(o.getRequestId(), t);
                    middleReached.putIfAbsent(o.getRequestId(), o);
                  });
              if (outcomeIds.add(o.getRequestId())) {
                middleOutcomes.accept(o);
              }
              if (o.getDegraded() && o.getDegradedReason() != null) {
                String reason = o.getDegradedReason().replaceAll("[0-9]+", "N");
                degradedReasons.merge(reason.substring(0, Math.min(90, reason.length())), 1, Integer::sum);
              }
            } else {
              DeadLetter d = CascadeSerdes.deadLetters().deserializer().deserialize(r.topic(), r.value());
              deadLettered.incrementAndGet();
              log("dead letter: %s", d.getReason());
            }
          }
        }
      } catch (RuntimeException e) {
        log("verifier failed: %s", e);
      }
    }
  }

  /** A policy the learner wrote: when (ms since the load started), and the middle tier's settings in it. */
  record LearnerPolicy(long version, long atMs, String smallRule, double smallThreshold, double smallTargetRate,
      String middleRule, double middleThreshold, double middleTargetRate, String reason) {}


  /** The learner's policies on the policy topic ({@code read_committed}), in order. */
  static List<LearnerPolicy> learnerPolicies(String bootstrap, long loadStart) {
    List<LearnerPolicy> out = new ArrayList<>();
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(p, new StringDeserializer(),
        new ByteArrayDeserializer())) {
      TopicPartition partition = new TopicPartition("cascade.policy", 0);
      consumer.assign(List.of(partition));
      consumer.seekToBeginning(List.of(partition));
      long end = consumer.endOffsets(List.of(partition)).get(partition);
      while (consumer.position(partition) < end) {
        for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(500))) {
          dev.cascade.schemas.avro.DeferralPolicy policy = CascadeSerdes.policies().decode(r.value());
          if (!"learner".equals(policy.getUpdatedBy())) {
            continue;
          }
          dev.cascade.schemas.avro.TierPolicy middle = policy.getTierPolicies().isEmpty() ? null
              : policy.getTierPolicies().get(0);
          out.add(new LearnerPolicy(policy.getVersion(), policy.getUpdatedAtMs() - loadStart,
              policy.getRuleModelVersion() != null ? policy.getRule() + "@" + policy.getRuleModelVersion() : policy.getRule(),
              policy.getThreshold(), policy.getTargetEscalationRate(),
              middle == null ? "" : middle.getAlpha() == 0.0 ? middle.getRule() : middle.getRule() + "-" + middle.getAlpha(),
              middle == null ? Double.NaN : middle.getThreshold(),
              middle == null ? Double.NaN : middle.getTargetEscalationRate(), policy.getReason()));
        }
      }
    }
    return out;
  }

  /** A cascade command in its own JVM, its output kept in a log file and scanned for lines. */
  static final class Proc {
    private final String name;
    /** The JVM options of {@link FaultHarness#jvmOptions} (the archive, then the --jvm-opts), kept for restarts. */
    final List<String> jvm;
    private final List<String> args;
    private final List<String> lines = new CopyOnWriteArrayList<>();
    private Process process;

    private Proc(String name, List<String> jvm, List<String> args) {
      this.name = name;
      this.jvm = List.copyOf(jvm);
      this.args = args;
    }

    /** With no JVM options beyond the launcher's for the command (no archive). */
    static Proc start(Path work, String name, List<String> args) throws IOException {
      return start(work, name, List.of(), args);
    }

    static Proc start(Path work, String name, List<String> jvm, List<String> args) throws IOException {
      Proc p = new Proc(name, jvm, args);
      p.launch(work);
      return p;
    }

    /**
     * The command line: java, the classpath, the harness's heap, the options the launcher gives this
     * command ({@link JvmDefaults#forCommand}), {@code jvm} (the archive, then {@code --jvm-opt}s,
     * which win), the launcher's system properties, the cascade command and its arguments.
     */
    static List<String> command(List<String> jvm, List<String> args) {
      List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
          "-cp", System.getProperty("java.class.path"), "-Xmx1g"));
      command.addAll(JvmDefaults.forCommand(args.isEmpty() ? "" : args.get(0)));
      command.addAll(jvm);
      command.addAll(List.of(
          "-Dorg.apache.avro.SERIALIZABLE_PACKAGES=dev.cascade.schemas.avro,java.lang,java.util,org.apache.avro.util",
          "-Dai.djl.offline=true", "dev.cascade.router.cli.CascadeCommand"));
      command.addAll(args);
      return command;
    }

    private void launch(Path work) throws IOException {
      List<String> command = command(jvm, args);
      lines.clear();
      process = new ProcessBuilder(command).redirectErrorStream(true).start();
      Path logFile = work.resolve(name + ".log");
      Process running = process;
      Thread reader = new Thread(() -> {
        try (BufferedReader in = new BufferedReader(new InputStreamReader(running.getInputStream(),
            StandardCharsets.UTF_8)); PrintWriter out = new PrintWriter(Files.newBufferedWriter(logFile,
            StandardCharsets.UTF_8, java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND))) {
          String line;
          while ((line = in.readLine()) != null) {
            lines.add(line);
            out.println(line);
            out.flush();
          }
        } catch (IOException e) {
          // the process died
        }
      }, name + "-output");
      reader.setDaemon(true);
      reader.start();
    }

    void restart(Path work) throws IOException {
      launch(work);
    }

    /** The operating system's id of the process. */
    long pid() {
      return process.pid();
    }

    String await(String prefix, Duration timeout) throws InterruptedException {
      long deadline = System.nanoTime() + timeout.toNanos();
      while (System.nanoTime() < deadline) {
        for (String l : lines) {
          if (l.startsWith(prefix)) {
            return l;
          }
        }
        if (!process.isAlive()) {
          throw new IllegalStateException(name + " exited (" + process.exitValue() + ") before printing " + prefix
              + ":\n" + lines.stream().skip(Math.max(0, lines.size() - 30)).collect(Collectors.joining("\n")));
        }
        Thread.sleep(50);
      }
      throw new IllegalStateException(name + " did not print " + prefix + " within " + timeout);
    }

    void kill9() throws InterruptedException {
      process.destroyForcibly();
      process.waitFor();
    }

    void term() throws InterruptedException {
      process.destroy();
      if (!process.waitFor(60, TimeUnit.SECONDS)) {
        process.destroyForcibly().waitFor();
      }
    }

    void stop() {
      try {
        if (process != null && process.isAlive()) {
          term();
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  /**
   * The JVM options of every process the harness starts, as the {@code ./cascade} launcher gives
   * them, then {@code --jvm-opt}s (which win). {@code --cds auto} (the default): the
   * class-data-sharing archive that {@code ./cascade cds} made for the jar first on {@code
   * classPath}, if there is one (the launcher's rule, {@link ClassDataArchive}); {@code off}: none;
   * else the archive at that path.
   */
  static List<String> jvmOptions(Options o, String classPath) {
    List<String> options = new ArrayList<>();
    String cds = o.cds();
    if (cds.equals("auto")) {
      String first = classPath.split(java.io.File.pathSeparator, 2)[0];
      Path jar = Path.of(first);
      if (first.endsWith(".jar") && Files.isRegularFile(jar)) {
        try {
          Path archive = ClassDataArchive.forJar(jar);
          if (Files.isRegularFile(archive)) {
            options.addAll(ClassDataArchive.jvmOptions(archive));
          }
        } catch (IOException e) {
          // no archive
        }
      }
    } else if (!cds.equals("off")) {
      if (!Files.isRegularFile(Path.of(cds))) {
        throw new IllegalArgumentException("--cds: expected auto, off or an archive file, got " + cds);
      }
      options.addAll(ClassDataArchive.jvmOptions(Path.of(cds)));
    }
    options.addAll(o.jvmOptions());
    return options;
  }

  private static Properties producerProps(String bootstrap) {
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
    p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 300_000);
    p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 300_000);
    p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
    p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
    return p;
  }

  private static double percentile(List<Double> values, double q) {
    if (values.isEmpty()) {
      return Double.NaN;
    }
    double[] sorted = values.stream().mapToDouble(Double::doubleValue).toArray();
    Arrays.sort(sorted);
    return sorted[Math.min(sorted.length - 1, (int) Math.floor(q * sorted.length))];
  }

  private static void sleepUntil(long wallMs) throws InterruptedException {
    long wait = wallMs - System.currentTimeMillis();
    if (wait > 0) {
      Thread.sleep(wait);
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  private static void log(String format, Object... args) {
    System.err.printf(Locale.ROOT, "[faults %tT] " + format + "%n",
        java.util.stream.Stream.concat(java.util.stream.Stream.of(new java.util.Date()), Arrays.stream(args)).toArray());
  }
}
