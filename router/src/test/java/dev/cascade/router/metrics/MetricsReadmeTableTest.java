package dev.cascade.router.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.models.Generation;
import dev.cascade.router.cache.ResponseCache;
import dev.cascade.router.escalation.LargeAnswer;
import dev.cascade.router.features.FeatureExtractor;
import dev.cascade.router.policy.Decision;
import dev.cascade.router.routing.CostModel;
import dev.cascade.router.routing.PendingRequest;
import dev.cascade.router.routing.RoutingRecords;
import dev.cascade.router.routing.Scored;
import dev.cascade.schemas.avro.CascadeRequest;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.junit.jupiter.api.Test;

/**
 * README.md's metrics table lists exactly the metrics the code registers (the JVM's aside), each
 * with its type and label names.
 */
class MetricsReadmeTableTest {

  private static final Pattern ROW = Pattern.compile(
      "^\\| `([a-z_]+)` \\| (counter|gauge|histogram) \\|([^|]*)\\|", Pattern.MULTILINE);
  private static final Pattern TYPE = Pattern.compile("^# TYPE ([a-z_]+) ([a-z]+)$", Pattern.MULTILINE);
  private static final Pattern BACKTICKED = Pattern.compile("`([a-z_]+)`");

  @Test
  void everyMetricIsDocumentedWithItsTypeAndLabels() throws Exception {
    String readme = Files.readString(Path.of("..", "README.md"));
    Map<String, String> documented = new TreeMap<>();
    Matcher m = ROW.matcher(readme);
    while (m.find()) {
      List<String> labels = new ArrayList<>();
      Matcher l = BACKTICKED.matcher(m.group(3));
      while (l.find()) {
        labels.add(l.group(1));
      }
      documented.put(m.group(1), m.group(2) + " " + new TreeSet<>(labels));
    }

    String exposition = everythingRegistered();
    Scrape scrape = Scrape.parse(exposition);
    Map<String, String> actual = new TreeMap<>();
    Matcher t = TYPE.matcher(exposition);
    while (t.find()) {
      String family = t.group(1);
      String type = t.group(2);
      if (family.startsWith("jvm_") || family.startsWith("process_")) {
        continue;
      }
      String name = family;
      TreeSet<String> labels = new TreeSet<>();
      for (Scrape.Sample s : scrape.samples()) {
        if (s.name().equals(name) || s.name().equals(family + "_bucket") || s.name().equals(family + "_count")) {
          labels.addAll(s.labels().keySet());
        }
      }
      labels.remove("le");
      actual.put(name, type + " " + labels);
    }
    assertThat(documented).containsExactlyInAnyOrderEntriesOf(actual);
  }

  /**
   * The counters with a fixed set of label values that alerts watch with {@code increase()}: a fresh
   * process serves every value its README row names, at 0, before anything is counted (a series
   * that first appears at 1 shows no increase, so the alert would miss the first event after a
   * start), and no value the row does not name.
   */
  @Test
  void aFreshRegistryServesEveryDocumentedLabelValueAtZero() throws Exception {
    String readme = Files.readString(Path.of("..", "README.md"));
    PrometheusRegistry registry = new PrometheusRegistry();
    CascadeMetrics.register(registry, 1.0, 0);
    new dev.cascade.router.learner.LearnerMetrics(registry);
    Scrape fresh = Scrape.parse(Exposition.of(registry));
    for (String counter : List.of("cascade_rule_fallbacks_total", "cascade_rules_records_total",
        "cascade_learner_outcomes_total", "cascade_learner_unlabelled_outcomes_total", "cascade_learner_labels_total", "cascade_learner_feedback_total",
        "cascade_learner_trainings_total", "cascade_learner_dead_letters_total")) {
      Matcher row = Pattern.compile("^\\| `" + counter + "` \\| counter \\| `([a-z_]+)` \\|([^|]*)\\|$",
          Pattern.MULTILINE).matcher(readme);
      assertThat(row.find()).as(counter + "'s README row").isTrue();
      String label = row.group(1);
      TreeSet<String> documented = new TreeSet<>();
      Matcher value = BACKTICKED.matcher(row.group(2));
      while (value.find()) {
        documented.add(value.group(1));
      }
      TreeSet<String> served = new TreeSet<>();
      for (Scrape.Sample sample : fresh.samples()) {
        if (sample.name().equals(counter)) {
          assertThat(sample.value()).as(sample.toString()).isZero();
          served.add(sample.labels().get(label));
        }
      }
      assertThat(served).as(counter + "{" + label + "} on a fresh registry").isEqualTo(documented);
    }
  }

  /** A registry with every metric of the router and the large-model server, each with at least one sample. */
  private static String everythingRegistered() throws Exception {
    PrometheusRegistry registry = new PrometheusRegistry();
    CascadeMetrics metrics = CascadeMetrics.register(registry, 1.0, 0);
    metrics.observe(ResponseCache.create(10, Duration.ofMinutes(1)));
    metrics.observeSmall(new dev.cascade.models.TextGenerator() {
      @Override
      public List<Generation> generate(List<String> prompts, int maxNewTokens) {
        return List.of();
      }

      @Override
      public List<Generation> generate(List<String> prompts, int maxNewTokens,
          dev.cascade.models.TextGenerator.Cancellation cancellation) {
        return List.of();
      }

      @Override
      public java.util.Optional<String> checkPrompt(String prompt) {
        return java.util.Optional.empty();
      }

      @Override
      public java.util.OptionalLong prefillsReused() {
        return java.util.OptionalLong.of(0);
      }

      @Override
      public dev.cascade.models.ModelInfo info() {
        return null;
      }

      @Override
      public void close() {}
    });
    metrics.observe("large", CircuitBreaker.ofDefaults("large"));
    dev.cascade.router.escalation.TierChecks.registerCheckedGauge(registry, List.of("large"), tier -> false);
    Generation g = new Generation("ab", new int[] {1, 2}, new float[] {-0.1f, -0.2f}, new float[2], null);
    RoutingRecords records = new RoutingRecords(new CostModel(1, 10), String::length, metrics);
    PendingRequest p = new PendingRequest(CascadeRequest.newBuilder().setRequestId("r").setPrompt("ab")
        .setMetadata(Map.of()).setCreatedAtMs(0).build(), 0);
    Scored s = new Scored(FeatureExtractor.extract(g.tokenLogprobs(), g.entropies()), "chow-sum", 0, 0.3, 0.5, 1,
        Decision.DEFER, 1);
    records.afterEscalation(records.escalated(p, g, s, 1, 1, 2).escalation(),
        new LargeAnswer("ab", new int[] {1, 2}, new float[2], 1, 1), null, 1, 3);
    // Three tiers: the middle one stopped early and passed the request on.
    var e = records.escalated(p, g, s, 1, 1, 2).escalation();
    var middle = records.tierAnswer(e, 1, "medium", 4.5, new LargeAnswer("a", new int[] {1}, new float[] {-3f}, 1, 1,
        1, 0, 0, true), new dev.cascade.router.policy.TierPolicy("chow-sum", 0, 1.0), 3.0, true);
    // And one whose middle tier label sampling decoded whole where it would have stopped.
    var sampledMiddle = records.tierAnswer(e, 1, "medium", 4.5, new LargeAnswer("a", new int[] {1}, new float[] {-3f},
        1, 1), new dev.cascade.router.policy.TierPolicy("chow-sum", 0, 1.0), 3.0, true);
    sampledMiddle.setLabelPropensity(0.5);
    records.afterTiers(dev.cascade.schemas.avro.Escalation.newBuilder(e).setTierAnswers(List.of(sampledMiddle)).build(),
        records.tierAnswer(e, 2, "large", 12.8, new LargeAnswer("ab", new int[] {1, 2}, new float[2], 1, 1), null, null,
            false), null, 1, 3);
    records.afterTiers(dev.cascade.schemas.avro.Escalation.newBuilder(e).setTierAnswers(List.of(middle)).build(),
        records.tierAnswer(e, 2, "large", 12.8, new LargeAnswer("ab", new int[] {1, 2}, new float[2], 1, 1), null, null,
            false), null, 1, 3);
    metrics.batchRouted(1);
    metrics.ruleFallback(dev.cascade.router.learning.RuleResolver.Problem.MISSING_VERSION);
    metrics.ruleRecord(dev.cascade.router.learning.RuleCatalog.Admission.LOADED);
    metrics.largeModelCallStarted();
    metrics.largeModelCallEnded("large", io.grpc.Status.INVALID_ARGUMENT.asRuntimeException());
    metrics.smallModelFailed(1);
    metrics.escalationParked();
    metrics.tierFallback();
    metrics.tierSkipped("medium", dev.cascade.router.routing.RoutingRecords.SKIPPED_BREAKER_OPEN);
    metrics.tierDecided("medium", 1.0, true, false);
    java.nio.file.Path keys = java.nio.file.Files.createTempFile("api-keys", "");
    java.nio.file.Files.writeString(keys, "name k-0123456789abcdef\n");
    dev.cascade.router.api.ApiKeys.load(keys, registry);
    new dev.cascade.router.api.AdminAudit(registry);
    dev.cascade.router.api.ReplyTopicReaper.register(registry);
    dev.cascade.router.api.PolicyTopic.registerMissingGauge(registry, () -> false);
    dev.cascade.router.api.DoorMetrics.register(registry, () -> true);
    java.nio.file.Files.delete(keys);
    dev.cascade.router.learner.LearnerMetrics learner = new dev.cascade.router.learner.LearnerMetrics(registry);
    learner.outcome("labelled");
    learner.label("reference");
    learner.feedback("joined");
    learner.training("published", 0.01, 0.001);
    learner.published(1);
    learner.examples(10);
    learner.deadLetter("rule");
    learner.tierTuning(1, "retuned", 12.5);
    metrics.largeModelCallEnded("large", null);

    Map<MetricName, Metric> kafka = new java.util.HashMap<>();
    for (String[] spec : new String[][] {
        {"stream-thread-metrics", "process-total"}, {"stream-thread-metrics", "commit-total"},
        {"stream-thread-metrics", "commit-latency-avg"}, {"consumer-fetch-manager-metrics", "records-lag"},
        {"consumer-fetch-manager-metrics", "records-lag-max"}}) {
      MetricName name = new MetricName(spec[1], spec[0], "", Map.of("client-id", "c", "topic", "t", "partition", "0"));
      kafka.put(name, new Metric() {
        @Override
        public MetricName metricName() {
          return name;
        }

        @Override
        public Object metricValue() {
          return 1.0;
        }
      });
    }
    registry.register(new KafkaStreamsCollector(() -> kafka));

    String serverName = InProcessServerBuilder.generateName();
    Server server = InProcessServerBuilder.forName(serverName)
        .addService(new HealthStatusManager().getHealthService())
        .intercept(GrpcServerMetrics.register(registry)).build().start();
    ManagedChannel channel = InProcessChannelBuilder.forName(serverName).build();
    try {
      HealthGrpc.newBlockingStub(channel).check(HealthCheckRequest.getDefaultInstance());
    } finally {
      channel.shutdownNow();
      server.shutdownNow();
    }
    return Exposition.of(registry);
  }
}
