package dev.cascade.router.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cascade.models.Generation;
import dev.cascade.models.TextGenerator;
import dev.cascade.models.TextGenerators;
import dev.cascade.models.server.LargeModelServer;
import dev.cascade.models.server.ServerLimits;
import dev.cascade.router.CascadeRouter;
import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.demo.DemoWorkload;
import dev.cascade.router.demo.Example;
import dev.cascade.router.demo.Examples;
import dev.cascade.router.demo.ThresholdCalibration;
import dev.cascade.router.embedded.EmbeddedKafka;
import dev.cascade.router.evaluation.CascadeEvaluation;
import dev.cascade.router.learner.ContinuousLearner;
import dev.cascade.router.learning.CascadeAnswers;
import dev.cascade.router.learning.LearnedRules;
import dev.cascade.router.learning.ModelFingerprint;
import dev.cascade.router.learning.RuleCatalog;
import dev.cascade.router.rules.DeferralRules;
import dev.cascade.schemas.avro.CascadeResponse;
import dev.cascade.schemas.avro.Decision;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.avro.ServedBy;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import java.awt.BasicStroke;
import java.awt.Color;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * {@code cascade demo --learn}: the online learning loop, start to finish, on the embedded
 * default. A router starts with no learned rule in force (Chow-Sum), a target escalation rate and
 * exploration; the continuous learner runs beside it (its own Kafka Streams application) and
 * publishes the rules it earns; a labelled stream flows through at a steady rate. Evaluation is
 * prequential: every request is scored by the rule in force when it arrived, before the learner
 * can learn from it. Then the report, per window of requests.
 */
final class LearnDemo {

  /**
   * What the learning demo is told.
   *
   * @param dataName where the requests come from ({@code test split}, a file's name); the report
   *     adds what was sent ({@link #describe})
   */
  record Settings(List<Example> examples, String dataName, double rate, double targetRate, double exploration,
      int window, boolean json, Path plot, boolean feedback) {

    /** Settings whose requests carry their references. */
    Settings(List<Example> examples, String dataName, double rate, double targetRate, double exploration, int window,
        boolean json, Path plot) {
      this(examples, dataName, rate, targetRate, exploration, window, json, plot, false);
    }
  }

  /**
   * One window of the stream.
   *
   * @param from index of its first request
   * @param to index after its last
   * @param rule the rule that decided most of its requests, as outcomes name it
   * @param ruleVersion its version (null for a closed-form rule)
   * @param escalationRate fraction of its requests escalated (deferred or explored)
   * @param accuracySmallOnly exact match of the small model's answers
   * @param accuracyCascade exact match of the answers served
   * @param accuracyLargeOnly exact match of the large model's answers
   * @param aucDfRuleInForce AUC-DF of the recorded scores, over the window's requests that rule decided
   * @param aucDfChowSum AUC-DF of Chow-Sum scored in shadow, on the same requests
   * @param aucDfShipped AUC-DF of the shipped offline rule scored in shadow, on the same requests (null when
   *     not scored)
   * @param decidedByRuleInForce how many requests those AUC-DF values cover
   * @param meanThreshold mean threshold of the window's decisions
   */
  record Window(int from, int to, String rule, Long ruleVersion, double escalationRate, double accuracySmallOnly,
      double accuracyCascade, double accuracyLargeOnly, double aucDfRuleInForce, double aucDfChowSum,
      Double aucDfShipped, int decidedByRuleInForce, double meanThreshold) {}

  /**
   * A rule version the learner published, and how soon it decided a request.
   *
   * @param firstRequestIndex the first request (in send order) it decided
   * @param inForceAfterMs from the policy naming it being written (its updated_at_ms, set by the
   *     learner when the round ends, before the punctuation and transaction that publish it) to the
   *     first decision made under it (the router's receipt of that request plus its queue,
   *     small-model and rule time): an upper bound on publish-to-in-force, as a batch already in the
   *     small model when the policy arrived is decided under the old one
   */
  record Swap(String rule, long ruleVersion, long policyVersion, Long firstRequestIndex, Long inForceAfterMs) {}

  private static final String SHIPPED = "posthoc-quantile@" + LearnedRules.BUNDLED_VERSION;

  private LearnDemo() {}

  static int run(CascadeConfig base, Settings settings) throws Exception {
    EvalCommand.quietTribuo();
    List<String> warnings = new ArrayList<>();
    tooFewToPublish(settings.examples().size(), base.get(CascadeConfig.LEARN_MIN_LABELS)).ifPresent(warnings::add);
    warnings.forEach(System.err::println);
    String engine = base.get(CascadeConfig.ENGINE);
    int maxNew = base.get(CascadeConfig.MAX_NEW_TOKENS);
    boolean bundledSmall = ModelFingerprint.of(base.get(CascadeConfig.SMALL_MODEL))
        .equals(ModelFingerprint.of(LearnedRules.BUNDLED_MODEL));
    String shadows = bundledSmall ? "chow-sum," + SHIPPED : "chow-sum";
    try (TextGenerator small = TextGenerators.load(base.get(CascadeConfig.SMALL_MODEL), engine, base.loadOptions());
        TextGenerator large = TextGenerators.load(base.get(CascadeConfig.LARGE_MODEL), engine, base.loadOptions());
        EmbeddedKafka kafka = EmbeddedKafka.start()) {
      // The starting threshold, for Chow-Sum at the target rate, until the controller has seen enough
      // scores: calibrated on the validation split (Chow-Sum is not trained, so nothing leaks).
      List<Example> validation = Examples.bundled("validation");
      List<Generation> answers = CascadeAnswers.generateCached(small, base.get(CascadeConfig.SMALL_MODEL),
          validation.stream().map(Example::prompt).toList(),
          CascadeAnswers.Settings.configured(base), EvalCommand.progressBars());
      double start = ThresholdCalibration.calibrate(answers, DeferralRules.of("chow-sum", 0), settings.targetRate());
      CascadeConfig config = base.with(CascadeConfig.BOOTSTRAP_SERVERS, kafka.bootstrapServers())
          .with(CascadeConfig.POLICY_RULE, "chow-sum")
          .with(CascadeConfig.POLICY_THRESHOLD, Double.toString(start))
          .with(CascadeConfig.POLICY_TARGET_RATE, Double.toString(settings.targetRate()))
          .with(CascadeConfig.POLICY_EXPLORATION, Double.toString(settings.exploration()))
          .with(CascadeConfig.POLICY_SHADOW_RULES, shadows);
      System.err.printf(Locale.ROOT, "learning demo: %s; %d requests at %.0f/s, target escalation %.2f, exploration"
          + " %.2f, starting with chow-sum (threshold %.4f), shadows %s%n",
          describe(settings.dataName(), settings.examples()), settings.examples().size(), settings.rate(),
          settings.targetRate(), settings.exploration(), start, shadows);
      LargeModelServer largeServer = new LargeModelServer(
          NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)), large,
          new ServerLimits(config.get(CascadeConfig.ESCALATION_MAX_IN_FLIGHT),
              config.get(CascadeConfig.ESCALATION_MAX_IN_FLIGHT))).start();
      PrometheusRegistry learnerMetrics = new PrometheusRegistry();
      long feedbackSent = 0;
      long feedbackFailed = 0;
      DemoWorkload.Result result;
      List<RuleCatalog.Entry> published;
      Map<Long, Long> policyTimes;
      try (CascadeRouter router = CascadeRouter.start(config, small, "127.0.0.1:" + largeServer.port())) {
        // On the policy topic (which the router made) before the learner starts: the learner then
        // compares against the policy in force, instead of warning that the topic holds none.
        DemoCommand.publishPolicy(config);
        try (ContinuousLearner learner = ContinuousLearner.start(config, learnerMetrics);
            FeedbackSender feedback = settings.feedback() ? FeedbackSender.start(config, small, router, settings.examples())
                : null;
            var bar = Progress.bar("requests", settings.examples().size(), Progress.shown(settings.json()), true)) {
          result = DemoWorkload.run(CascadeRouter.clientProperties(config), config.topics().requests(),
              config.topics().responses(), config.topics().outcomes(), "learn", settings.examples(), settings.rate(),
              Duration.ofSeconds(120), Progress.of(bar), feedback == null ? null : feedback::send);
          if (feedback != null) {
            feedbackSent = feedback.awaitAll();
            feedbackFailed = feedback.failed();
          }
          published = router.rules().catalog().entries().stream().filter(e -> e.version() > 0).toList();
          policyTimes = policyTimes(config);
        }
      } finally {
        largeServer.stop();
      }
      List<String> largeTexts = new ArrayList<>();
      int[] largeTokens = new int[settings.examples().size()];
      DemoCommand.largeOnlyBaseline(large, settings.examples(), result, maxNew, largeTexts, largeTokens, "learn-",
          Progress.shown(settings.json()), 1);
      Map<String, Object> report = report(settings, result, largeTexts, published, policyTimes, learnerMetrics);
      report.put("learn_min_labels", base.get(CascadeConfig.LEARN_MIN_LABELS));
      report.put("warnings", warnings);
      if (settings.feedback()) {
        report.put("feedback_sent", feedbackSent);
        report.put("feedback_failed", feedbackFailed);
      }
      // The report first: it is what the run measured, and a plot that cannot be drawn must not lose it.
      if (settings.json()) {
        System.out.println(new ObjectMapper().writeValueAsString(report));
      } else {
        System.out.println(text(report));
      }
      System.out.flush();
      if (settings.plot() != null) {
        System.err.println(plot(settings, result, published, settings.plot()));
      }
      return ((Number) report.get("lost")).longValue() == 0 && ((Number) report.get("duplicates")).longValue() == 0
          ? 0 : 1;
    }
  }

  @SuppressWarnings("unchecked")
  static Map<String, Object> report(Settings settings, DemoWorkload.Result result, List<String> largeTexts,
      List<RuleCatalog.Entry> published, Map<Long, Long> policyTimes, PrometheusRegistry learnerMetrics) {
    List<Example> examples = settings.examples();
    int n = examples.size();
    Map<String, Integer> answers = new HashMap<>();
    for (CascadeResponse r : result.responses()) {
      answers.merge(r.getRequestId(), 1, Integer::sum);
    }
    long lost = 0;
    long duplicates = 0;
    for (int i = 0; i < n; i++) {
      int count = answers.getOrDefault("learn-" + i, 0);
      lost += count == 0 ? 1 : 0;
      duplicates += Math.max(0, count - 1);
    }
    List<Window> windows = new ArrayList<>();
    for (int from = 0; from < n; from += settings.window()) {
      windows.add(window(examples, result, largeTexts, from, Math.min(n, from + settings.window())));
    }
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("data", describe(settings.dataName(), examples));
    out.put("kinds", kindCounts(examples));
    out.put("requests", n);
    out.put("responses", answers.size());
    out.put("lost", lost);
    out.put("duplicates", duplicates);
    out.put("rate_per_s", settings.rate());
    out.put("target_escalation_rate", settings.targetRate());
    out.put("exploration_rate", settings.exploration());
    out.put("labels", settings.feedback() ? "feedback" : "reference");
    Map<String, Long> sources = new TreeMap<>();
    for (String source : List.of("reference", "feedback", "teacher")) {
      sources.put(source, (long) counter(learnerMetrics, "cascade_learner_labels", "source", source));
    }
    out.put("learner_labels", sources);
    out.put("rules_published", published.size());
    out.put("rules_rejected", (long) counter(learnerMetrics, "cascade_learner_trainings", "rejected"));
    out.put("rounds_skipped", (long) counter(learnerMetrics, "cascade_learner_trainings", "skipped"));
    // The learner is stopped once every answer is read; a round still training then is cut off
    // without a verdict, counted in none of the above.
    out.put("round_cut_off", gauge(learnerMetrics, "cascade_learner_training_running") > 0);
    out.put("final_rule", windows.isEmpty() ? null : spec(windows.get(windows.size() - 1)));
    out.put("swaps", swaps(examples, result, published, policyTimes).stream().map(LearnDemo::swapJson).toList());
    out.put("second_half", secondHalf(examples, result, largeTexts));
    out.put("windows", windows.stream().map(LearnDemo::windowJson).toList());
    return out;
  }

  private static Window window(List<Example> examples, DemoWorkload.Result result, List<String> largeTexts, int from,
      int to) {
    List<RoutingOutcome> outcomes = new ArrayList<>();
    List<Integer> index = new ArrayList<>();
    for (int i = from; i < to; i++) {
      RoutingOutcome o = result.outcomes().get("learn-" + i);
      if (o != null) {
        outcomes.add(o);
        index.add(i);
      }
    }
    Map<String, Long> byRule = outcomes.stream().collect(Collectors.groupingBy(LearnDemo::spec, TreeMap::new,
        Collectors.counting()));
    String inForce = byRule.entrySet().stream().max(Map.Entry.comparingByValue()).map(Map.Entry::getKey).orElse("");
    int m = outcomes.size();
    double escalated = 0;
    double small = 0;
    double cascade = 0;
    double large = 0;
    double thresholds = 0;
    List<Integer> decided = new ArrayList<>();
    for (int j = 0; j < m; j++) {
      RoutingOutcome o = outcomes.get(j);
      String reference = examples.get(index.get(j)).reference();
      escalated += o.getDecision() != Decision.ACCEPT ? 1 : 0;
      small += o.getSmallText().equals(reference) ? 1 : 0;
      String served = o.getServedBy() == ServedBy.LARGE ? o.getLargeText() : o.getSmallText();
      cascade += served.equals(reference) ? 1 : 0;
      large += reference.equals(largeTexts.get(index.get(j))) ? 1 : 0;
      thresholds += o.getThreshold();
      if (spec(o).equals(inForce)) {
        decided.add(j);
      }
    }
    Auc auc = auc(examples, outcomes, index, largeTexts, decided);
    RoutingOutcome sample = decided.isEmpty() ? null : outcomes.get(decided.get(0));
    return new Window(from, to, sample == null ? "" : sample.getRule(), sample == null ? null : sample.getRuleVersion(),
        escalated / Math.max(1, m), small / Math.max(1, m), cascade / Math.max(1, m), large / Math.max(1, m),
        auc.inForce, auc.chowSum, auc.shipped, decided.size(), thresholds / Math.max(1, m));
  }

  private record Auc(double inForce, double chowSum, Double shipped) {}

  /** AUC-DF of the recorded scores and the shadows' on the chosen outcomes, with both models' correctness known. */
  private static Auc auc(List<Example> examples, List<RoutingOutcome> outcomes, List<Integer> index,
      List<String> largeTexts, List<Integer> chosen) {
    int k = chosen.size();
    if (k == 0) {
      return new Auc(Double.NaN, Double.NaN, null);
    }
    boolean[] small = new boolean[k];
    boolean[] large = new boolean[k];
    double[] inForce = new double[k];
    double[] chowSum = new double[k];
    double[] shipped = new double[k];
    boolean hasShipped = true;
    for (int j = 0; j < k; j++) {
      RoutingOutcome o = outcomes.get(chosen.get(j));
      String reference = examples.get(index.get(chosen.get(j))).reference();
      small[j] = o.getSmallText().equals(reference);
      large[j] = reference.equals(largeTexts.get(index.get(chosen.get(j))));
      inForce[j] = o.getScore();
      chowSum[j] = o.getShadowScores().getOrDefault("chow-sum", Double.NaN);
      Double s = o.getShadowScores().get(SHIPPED);
      hasShipped &= s != null;
      shipped[j] = s == null ? 0 : s;
    }
    CascadeEvaluation evaluation = new CascadeEvaluation(small, large);
    return new Auc(evaluation.aucDf(inForce), evaluation.aucDf(chowSum),
        hasShipped ? evaluation.aucDf(shipped) : null);
  }

  /** Over the second half of the stream, the requests a published (learned) rule decided. */
  private static Map<String, Object> secondHalf(List<Example> examples, DemoWorkload.Result result,
      List<String> largeTexts) {
    List<RoutingOutcome> outcomes = new ArrayList<>();
    List<Integer> index = new ArrayList<>();
    List<Integer> learned = new ArrayList<>();
    for (int i = examples.size() / 2; i < examples.size(); i++) {
      RoutingOutcome o = result.outcomes().get("learn-" + i);
      if (o != null) {
        if (o.getRuleVersion() != null && o.getRuleVersion() > 0) {
          learned.add(outcomes.size());
        }
        outcomes.add(o);
        index.add(i);
      }
    }
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("requests", outcomes.size());
    out.put("decided_by_published_rules", learned.size());
    Auc auc = auc(examples, outcomes, index, largeTexts, learned);
    out.put("auc_df_published_rules", nullIfNaN(auc.inForce()));
    out.put("auc_df_chow_sum", nullIfNaN(auc.chowSum()));
    out.put("auc_df_shipped_rule", auc.shipped());
    return out;
  }

  private static List<Swap> swaps(List<Example> examples, DemoWorkload.Result result, List<RuleCatalog.Entry> published,
      Map<Long, Long> policyTimes) {
    List<Swap> out = new ArrayList<>();
    for (RuleCatalog.Entry e : published) {
      Long first = null;
      Long after = null;
      long policyVersion = -1;
      for (int i = 0; i < examples.size(); i++) {
        RoutingOutcome o = result.outcomes().get("learn-" + i);
        if (o != null && e.name().equals(o.getRule()) && Long.valueOf(e.version()).equals(o.getRuleVersion())) {
          if (first == null || i < first) {
            first = (long) i;
            policyVersion = o.getPolicyVersion();
          }
        }
      }
      if (first != null && policyTimes.containsKey(policyVersion)) {
        long written = policyTimes.get(policyVersion);
        long earliest = Long.MAX_VALUE;
        for (RoutingOutcome o : result.outcomes().values()) {
          if (o.getPolicyVersion() == policyVersion) {
            var l = o.getLatencies();
            double received = o.getCompletedAtMs() - l.getTotalMs();
            earliest = Math.min(earliest, Math.round(received + l.getQueueMs() + l.getSmallModelMs() + l.getRuleMs()));
          }
        }
        after = earliest - written;
      }
      out.add(new Swap(e.name(), e.version(), policyVersion, first, after));
    }
    return out;
  }

  /** Policy version to when it was written, from the policy topic (read_committed). */
  private static Map<Long, Long> policyTimes(CascadeConfig config) {
    Map<String, Object> props = new HashMap<>(CascadeRouter.clientProperties(config));
    props.put(org.apache.kafka.clients.consumer.ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    props.put(org.apache.kafka.clients.consumer.ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    Map<Long, Long> times = new HashMap<>();
    try (var consumer = new org.apache.kafka.clients.consumer.KafkaConsumer<>(props,
        new org.apache.kafka.common.serialization.StringDeserializer(),
        new org.apache.kafka.common.serialization.ByteArrayDeserializer())) {
      var partition = new org.apache.kafka.common.TopicPartition(config.topics().policy(), 0);
      consumer.assign(List.of(partition));
      consumer.seekToBeginning(List.of(partition));
      long end = consumer.endOffsets(List.of(partition)).get(partition);
      while (consumer.position(partition) < end) {
        for (var r : consumer.poll(Duration.ofMillis(500))) {
          if (r.value() != null) {
            var p = dev.cascade.schemas.serde.CascadeSerdes.policies().decode(r.value());
            times.put(p.getVersion(), p.getUpdatedAtMs());
          }
        }
      }
    }
    return times;
  }

  /**
   * A warning line when {@code requests} are fewer than {@code learn.min-labels}: the learner
   * trains only once it holds that many labelled outcomes, and a request gives at most one.
   */
  static java.util.Optional<String> tooFewToPublish(int requests, int minLabels) {
    if (requests >= minLabels) {
      return java.util.Optional.empty();
    }
    return java.util.Optional.of(String.format(Locale.ROOT, "warning: %d requests, fewer than the %d labelled outcomes"
        + " the learner needs before it trains (learn.min-labels): no rule can be published in this run", requests,
        minLabels));
  }

  /** How many requests of each kind were sent, kinds in order of first appearance ({@code none}: no kind). */
  static Map<String, Integer> kindCounts(List<Example> examples) {
    Map<String, Integer> counts = new LinkedHashMap<>();
    examples.forEach(e -> counts.merge(e.kind() == null ? "none" : e.kind(), 1, Integer::sum));
    return counts;
  }

  /**
   * What was sent, in order: {@code source: 2444 words, then 1056 phrases}, or, when the kinds
   * alternate more than that, the counts and {@code interleaved}.
   */
  static String describe(String source, List<Example> examples) {
    List<Map.Entry<String, Integer>> runs = new ArrayList<>();
    for (Example e : examples) {
      String kind = e.kind() == null ? "none" : e.kind();
      if (!runs.isEmpty() && runs.get(runs.size() - 1).getKey().equals(kind)) {
        Map.Entry<String, Integer> last = runs.remove(runs.size() - 1);
        runs.add(Map.entry(kind, last.getValue() + 1));
      } else {
        runs.add(Map.entry(kind, 1));
      }
    }
    if (runs.size() <= 4) {
      return source + ": " + String.join(", then ", runs.stream().map(r -> count(r.getKey(), r.getValue())).toList());
    }
    return source + ": " + String.join(", ", kindCounts(examples).entrySet().stream()
        .map(r -> count(r.getKey(), r.getValue())).toList()) + ", interleaved";
  }

  private static String count(String kind, int n) {
    return n + " " + (kind.equals("none") ? "without a kind" : n == 1 ? kind : kind + "s");
  }

  private static Map<String, Object> swapJson(Swap s) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("rule", s.rule());
    m.put("rule_version", s.ruleVersion());
    m.put("policy_version", s.policyVersion());
    m.put("first_request_index", s.firstRequestIndex());
    m.put("in_force_after_ms", s.inForceAfterMs());
    return m;
  }

  private static Map<String, Object> windowJson(Window w) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("from", w.from());
    m.put("to", w.to());
    m.put("rule", w.rule());
    m.put("rule_version", w.ruleVersion());
    m.put("escalation_rate", w.escalationRate());
    m.put("accuracy_small_only", w.accuracySmallOnly());
    m.put("accuracy_cascade", w.accuracyCascade());
    m.put("accuracy_large_only", w.accuracyLargeOnly());
    m.put("auc_df_rule_in_force", nullIfNaN(w.aucDfRuleInForce()));
    m.put("auc_df_chow_sum", nullIfNaN(w.aucDfChowSum()));
    m.put("auc_df_shipped_rule", w.aucDfShipped());
    m.put("decided_by_rule_in_force", w.decidedByRuleInForce());
    m.put("mean_threshold", w.meanThreshold());
    return m;
  }

  @SuppressWarnings("unchecked")
  static String text(Map<String, Object> report) {
    StringBuilder b = new StringBuilder();
    b.append(String.format(Locale.ROOT, "data %s; %s requests, %s responses, %s lost, %s duplicates;"
            + " target escalation %.2f; rules published %s, rejected %s%s%n", report.get("data"), report.get("requests"),
        report.get("responses"), report.get("lost"), report.get("duplicates"), (Double) report.get("target_escalation_rate"),
        report.get("rules_published"), report.get("rules_rejected"),
        Boolean.TRUE.equals(report.get("round_cut_off")) ? " (one more round still training when the stream ended)" : ""));
    b.append(String.format(Locale.ROOT, "%-11s %-22s %6s %7s %7s %7s %8s %8s %8s%n", "requests", "rule in force",
        "escal.", "small", "cascade", "large", "AUC rule", "AUC chow", "AUC ship"));
    for (Map<String, Object> w : (List<Map<String, Object>>) report.get("windows")) {
      Object version = w.get("rule_version");
      b.append(String.format(Locale.ROOT, "%5d-%-5d %-22s %6.3f %7.3f %7.3f %7.3f %8s %8s %8s%n", w.get("from"),
          w.get("to"), w.get("rule") + (version == null ? "" : "@" + version), (Double) w.get("escalation_rate"),
          (Double) w.get("accuracy_small_only"), (Double) w.get("accuracy_cascade"),
          (Double) w.get("accuracy_large_only"), fmt(w.get("auc_df_rule_in_force")), fmt(w.get("auc_df_chow_sum")),
          fmt(w.get("auc_df_shipped_rule"))));
    }
    Map<String, Object> half = (Map<String, Object>) report.get("second_half");
    int decided = ((Number) half.get("decided_by_published_rules")).intValue();
    b.append(String.format(Locale.ROOT, "second half (%s requests): ", half.get("requests")));
    if (decided == 0) {
      b.append("no published rule decided any of them");
    } else {
      b.append(String.format(Locale.ROOT, "published rules decided %d; AUC-DF on those: published %s, Chow-Sum (shadow)"
          + " %s, shipped rule (shadow) %s", decided, fmt(half.get("auc_df_published_rules")),
          fmt(half.get("auc_df_chow_sum")), fmt(half.get("auc_df_shipped_rule"))));
    }
    b.append('\n');
    b.append("labels: ").append("feedback".equals(report.get("labels")) ? "feedback through the gRPC door"
        : "the requests' references");
    if (report.containsKey("feedback_sent")) {
      b.append(" (given ").append(report.get("feedback_sent")).append(", failed ")
          .append(report.get("feedback_failed")).append(')');
    }
    b.append("; the learner's by source: ").append(String.join(", ", ((Map<String, Object>) report.get("learner_labels"))
        .entrySet().stream().map(e -> e.getKey() + " " + e.getValue()).toList()));
    b.append('\n');
    List<Map<String, Object>> swaps = (List<Map<String, Object>>) report.get("swaps");
    b.append("published rules in force: ");
    if (swaps.isEmpty()) {
      b.append("none");
    }
    for (int i = 0; i < swaps.size(); i++) {
      Map<String, Object> s = swaps.get(i);
      b.append(i == 0 ? "" : "; ").append(s.get("rule")).append('@').append(s.get("rule_version"));
      if (s.get("first_request_index") == null) {
        b.append(" decided no request");
      } else {
        b.append(" from request #").append(s.get("first_request_index")).append(" (policy v")
            .append(s.get("policy_version"));
        if (s.get("in_force_after_ms") != null) {
          b.append(", ").append(s.get("in_force_after_ms")).append(" ms after the learner wrote it");
        }
        b.append(')');
      }
    }
    for (Object warning : (List<?>) report.getOrDefault("warnings", List.of())) {
      b.append('\n').append(warning);
    }
    return b.toString();
  }

  private static String fmt(Object v) {
    return v == null ? "-" : String.format(Locale.ROOT, "%.4f", (Double) v);
  }

  private static Double nullIfNaN(double v) {
    return Double.isNaN(v) ? null : v;
  }

  private static String spec(RoutingOutcome o) {
    return o.getRuleVersion() == null ? o.getRule() : o.getRule() + "@" + o.getRuleVersion();
  }

  private static String spec(Window w) {
    return w.ruleVersion() == null ? w.rule() : w.rule() + "@" + w.ruleVersion();
  }

  private static double counter(PrometheusRegistry registry, String name, String result) {
    return counter(registry, name, "result", result);
  }

  /** The sum of a gauge's data points; 0 when the registry has no such gauge. */
  private static double gauge(PrometheusRegistry registry, String name) {
    return registry.scrape(name::equals).stream().filter(m -> m instanceof GaugeSnapshot)
        .flatMap(m -> ((GaugeSnapshot) m).getDataPoints().stream())
        .mapToDouble(GaugeSnapshot.GaugeDataPointSnapshot::getValue).sum();
  }

  private static double counter(PrometheusRegistry registry, String name, String label, String value) {
    for (MetricSnapshot snapshot : registry.scrape()) {
      if (snapshot instanceof CounterSnapshot counter && counter.getMetadata().getName().equals(name)) {
        return counter.getDataPoints().stream().filter(d -> value.equals(d.getLabels().get(label)))
            .mapToDouble(CounterSnapshot.CounterDataPointSnapshot::getValue).sum();
      }
    }
    return 0;
  }

  /**
   * What the plot draws, against the request's index in send order (0-based): the escalation rate
   * over the last {@code window} requests, from the first request at which that many were sent,
   * and the threshold of every decision, from request 0.
   *
   * @param window the rolling window: {@link #plotWindow}
   */
  record PlotSeries(int window, List<Double> rateX, List<Double> rate, List<Double> thresholdX,
      List<Double> threshold) {

    /** Whether there is nothing to draw: no request has an outcome. */
    boolean isEmpty() {
      return thresholdX.isEmpty();
    }
  }

  /**
   * The plot's rolling window: the report's {@code --window}, or a quarter of the requests when
   * fewer than four windows were sent, so that a short run still draws a curve (at least 1).
   */
  static int plotWindow(int requests, int window) {
    return Math.max(1, Math.min(window, requests / 4));
  }

  static PlotSeries plotSeries(int n, int window, Map<String, RoutingOutcome> outcomes) {
    int w = plotWindow(n, window);
    List<Double> rateX = new ArrayList<>();
    List<Double> rate = new ArrayList<>();
    List<Double> thresholdX = new ArrayList<>();
    List<Double> threshold = new ArrayList<>();
    boolean[] escalated = new boolean[n];
    int inWindow = 0;
    for (int i = 0; i < n; i++) {
      RoutingOutcome o = outcomes.get("learn-" + i);
      escalated[i] = o != null && o.getDecision() != Decision.ACCEPT;
      inWindow += escalated[i] ? 1 : 0;
      if (i >= w) {
        inWindow -= escalated[i - w] ? 1 : 0;
      }
      if (o == null) {
        continue;
      }
      thresholdX.add((double) i);
      threshold.add(o.getThreshold());
      if (i >= w - 1) {
        rateX.add((double) i);
        rate.add((double) inWindow / w);
      }
    }
    return new PlotSeries(w, rateX, rate, thresholdX, threshold);
  }

  /**
   * Draws the escalation rate (rolling, {@link #plotSeries}) and the threshold against requests into
   * {@code out}; what it did, as a line for stderr (nothing is drawn when no request has an outcome).
   */
  static String plot(Settings settings, DemoWorkload.Result result, List<RuleCatalog.Entry> published, Path out)
      throws IOException {
    int n = settings.examples().size();
    PlotSeries series = plotSeries(n, settings.window(), result.outcomes());
    if (series.isEmpty()) {
      return "warning: --plot: not drawn, no request has a routing outcome to plot";
    }
    int w = series.window();
    XYChart chart = new XYChartBuilder().width(1100).height(600)
        .title("demo --learn, " + describe(settings.dataName(), settings.examples()) + ": escalation rate and threshold")
        .xAxisTitle("requests").yAxisTitle("escalation rate").build();
    chart.getStyler().setMarkerSize(0);
    if (!series.rate().isEmpty()) {
      XYSeries r = chart.addSeries("escalation rate (rolling " + w + ")", series.rateX(), series.rate());
      r.setMarker(SeriesMarkers.NONE);
    }
    XYSeries target = chart.addSeries("target " + settings.targetRate(), List.of(0.0, (double) Math.max(1, n - 1)),
        List.of(settings.targetRate(), settings.targetRate()));
    target.setMarker(SeriesMarkers.NONE);
    target.setLineColor(Color.GRAY);
    target.setLineStyle(new BasicStroke(1.5f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[] {6f}, 0f));
    XYSeries t = chart.addSeries("threshold (right axis)", series.thresholdX(), series.threshold());
    t.setMarker(SeriesMarkers.NONE);
    t.setYAxisGroup(1);
    chart.setYAxisGroupTitle(1, "threshold");
    chart.getStyler().setYAxisGroupPosition(1, Styler.YAxisPosition.Right);
    for (RuleCatalog.Entry e : published) {
      List<Swap> s = swaps(settings.examples(), result, List.of(e), Map.of());
      if (!s.isEmpty() && s.get(0).firstRequestIndex() != null) {
        double at = s.get(0).firstRequestIndex();
        XYSeries mark = chart.addSeries(e.name() + "@" + e.version() + " in force", List.of(at, at), List.of(0.0, 1.0));
        mark.setMarker(SeriesMarkers.NONE);
        mark.setLineStyle(new BasicStroke(1f));
      }
    }
    PlotFile.save(chart, out);
    return "plot: " + out + (w < settings.window() ? " (escalation rate rolling over " + w + " requests: fewer than 4"
        + " windows of --window " + settings.window() + " were sent)" : "");
  }

  /**
   * The default stream: the bundled test split, words first and phrases second (or the other way),
   * each in file order, so the traffic shifts once.
   */
  static List<Example> byKind(List<Example> examples, boolean phrasesFirst) {
    List<Example> sorted = new ArrayList<>(examples);
    sorted.sort(Comparator.comparing((Example e) -> "phrase".equals(e.kind()) != phrasesFirst ? 1 : 0));
    return sorted;
  }

  /**
   * With {@code --labels feedback}: the requests go without their references, and each answer's
   * reference is given back as feedback through the router's own gRPC door ({@code
   * Cascade.SubmitFeedback}, a {@link dev.cascade.router.api.FrontDoor} on loopback), as a user who
   * judges the answers would, for the learner to join with the outcome.
   */
  static final class FeedbackSender implements AutoCloseable {
    private final dev.cascade.router.api.FrontDoor door;
    private final io.grpc.ManagedChannel channel;
    private final dev.cascade.proto.v1.CascadeGrpc.CascadeFutureStub stub;
    private final List<Example> examples;
    private final java.util.concurrent.Phaser pending = new java.util.concurrent.Phaser(1);
    private final java.util.concurrent.atomic.AtomicLong sent = new java.util.concurrent.atomic.AtomicLong();
    private final java.util.concurrent.atomic.AtomicLong failed = new java.util.concurrent.atomic.AtomicLong();

    private FeedbackSender(dev.cascade.router.api.FrontDoor door, List<Example> examples) {
      this.door = door;
      this.examples = examples;
      this.channel = io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder.forAddress("127.0.0.1", door.port())
          .usePlaintext().build();
      this.stub = dev.cascade.proto.v1.CascadeGrpc.newFutureStub(channel);
    }

    static FeedbackSender start(CascadeConfig config, TextGenerator small, CascadeRouter router,
        List<Example> examples) {
      // The demo's own loopback door, which only the demo calls: without API keys or TLS, whatever the
      // configuration says for serve's doors (the demo warns that those keys are not used).
      CascadeConfig door = config.with(CascadeConfig.API_KEYS_FILE, "").with(CascadeConfig.GRPC_TLS_KEY_STORE, "")
          .with(CascadeConfig.GRPC_TLS_CLIENT_TRUST_STORE, "").with(CascadeConfig.HTTP_TLS_KEY_STORE, "")
          .with(CascadeConfig.HTTP_TLS_CLIENT_TRUST_STORE, "");
      return new FeedbackSender(dev.cascade.router.api.FrontDoor.start(door,
          new dev.cascade.router.routing.RequestValidator(small), router.rules(),
          new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)), examples);
    }

    /** Gives example {@code index}'s reference as feedback on its answer (not waiting for the call). */
    void send(int index, CascadeResponse response) {
      pending.register();
      var call = stub.withDeadlineAfter(30, java.util.concurrent.TimeUnit.SECONDS).submitFeedback(
          dev.cascade.proto.v1.FeedbackRequest.newBuilder().setRequestId(response.getRequestId())
              .setCorrectedText(examples.get(index).reference()).setSource("demo").build());
      call.addListener(() -> {
        try {
          call.get();
          sent.incrementAndGet();
        } catch (Exception e) {
          failed.incrementAndGet();
        } finally {
          pending.arriveAndDeregister();
        }
      }, Runnable::run);
    }

    /** Waits for every call sent; the number written. */
    long awaitAll() {
      pending.arriveAndAwaitAdvance();
      return sent.get();
    }

    long failed() {
      return failed.get();
    }

    @Override
    public void close() {
      channel.shutdownNow();
      door.close();
    }
  }
}
