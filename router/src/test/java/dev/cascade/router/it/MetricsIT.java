package dev.cascade.router.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

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
import dev.cascade.router.metrics.CascadeMetrics;
import dev.cascade.router.metrics.Promtool;
import dev.cascade.router.metrics.Scrape;
import dev.cascade.router.rules.DeferralRules;
import dev.cascade.schemas.avro.CascadeResponse;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.avro.ServedBy;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The metrics against what really happened: one router on the embedded broker with the bundled
 * models (override with {@code -Dcascade.it.small-model} / {@code -Dcascade.it.large-model}) gets
 * fresh prompts, repeated prompts (cache hits), malformed records (dead letters), requests
 * whose deadline had passed (deadline_exceeded) and, with the large-model server stopped,
 * escalations that end degraded; then its scrape endpoint is read and
 * every counter and histogram count is compared with the responses and outcomes the workload got.
 */
class MetricsIT {

  private static final Duration IDLE = Duration.ofSeconds(60);
  private static final int JUNK = 3;
  private static final int LATE = 4;
  private static EmbeddedKafka kafka;
  private static TextGenerator small;
  private static TextGenerator large;
  private static LargeModelServer largeServer;
  private static boolean largeServerStopped;
  private static CascadeConfig config;
  private static CascadeRouter router;
  private static final List<CascadeResponse> responses = new ArrayList<>();
  private static final List<RoutingOutcome> outcomes = new ArrayList<>();
  private static Scrape scrape;

  @BeforeAll
  static void runWorkload() throws Exception {
    kafka = EmbeddedKafka.start();
    small = TextGenerators.load(System.getProperty("cascade.it.small-model", "small"), "OnnxRuntime");
    large = TextGenerators.load(System.getProperty("cascade.it.large-model", "large"), "OnnxRuntime");
    largeServer = new LargeModelServer(
        NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)), large,
        new ServerLimits(2, 512)).start();
    double threshold = ThresholdCalibration.calibrate(small, Examples.bundled("validation").subList(0, 100),
        DeferralRules.of("chow-quantile", 0.0), 0.3, 48, 64, n -> { });
    config = CascadeConfig.load(null, Map.of(), Map.of(
        "bootstrap.servers", kafka.bootstrapServers(),
        "application.id", "metrics-it",
        "policy.rule", "chow-quantile", "policy.alpha", "0", "policy.threshold", Double.toString(threshold),
        "topic.partitions", "2",
        "escalation.backoff-ms", "5",
        "escalation.max-wait-ms", "800",
        // The waits are what this workload counts: a failed call parks its escalation for another,
        // also while the breaker is open (fail-fast answers degraded at once instead).
        "escalation.fail-fast-when-open", "false",
        "metrics.port", "0"));
    router = CascadeRouter.start(config, small, "127.0.0.1:" + largeServer.port());

    List<Example> test = Examples.bundled("test");
    send("fresh", test.subList(0, 40));
    send("again", test.subList(0, 20));
    send("late", test.subList(80, 80 + LATE), -1_000L);
    try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(
        Map.of("bootstrap.servers", kafka.bootstrapServers()), new ByteArraySerializer(), new ByteArraySerializer())) {
      for (int i = 0; i < JUNK; i++) {
        producer.send(new ProducerRecord<>(config.topics().requests(), ("junk-" + i).getBytes(),
            "not avro".getBytes())).get();
      }
    }
    largeServer.stop();
    largeServerStopped = true;
    send("down", test.subList(40, 80));

    // Dead letters get no response to wait for: poll the endpoint until they are counted.
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    do {
      scrape = scrape();
    } while (scrape.value("cascade_requests_total", "outcome", "dead_lettered") < JUNK
        && System.nanoTime() < deadline && sleep());
  }

  private static boolean sleep() throws InterruptedException {
    Thread.sleep(100);
    return true;
  }

  private static void send(String prefix, List<Example> examples) throws Exception {
    send(prefix, examples, null);
  }

  /** As above, each request due {@code deadlineAfterMs} after it is created (null: no deadline). */
  private static void send(String prefix, List<Example> examples, Long deadlineAfterMs) throws Exception {
    DemoWorkload.Result result = DemoWorkload.run(CascadeRouter.clientProperties(config), config.topics().requests(),
        config.topics().responses(), config.topics().outcomes(), prefix, examples, 0, IDLE,
        DemoWorkload.Progress.answered(n -> { }), null, deadlineAfterMs);
    assertThat(result.responses()).hasSize(examples.size());
    responses.addAll(result.responses());
    outcomes.addAll(result.outcomes().values());
  }

  private static Scrape scrape() throws Exception {
    String url = router.metrics().endpoint().orElseThrow().url("127.0.0.1");
    HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(url)).build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).isEqualTo(200);
    return Scrape.parse(r.body());
  }

  @AfterAll
  static void stop() throws Exception {
    if (router != null) {
      router.close();
    }
    if (largeServer != null && !largeServerStopped) {
      largeServer.stop();
    }
    for (AutoCloseable c : new AutoCloseable[] {small, large, kafka}) {
      if (c != null) {
        c.close();
      }
    }
  }

  private static long served(ServedBy by, boolean cacheHit) {
    return responses.stream().filter(r -> r.getServedBy() == by && r.getCacheHit() == cacheHit
        && !r.getDeadlineExceeded()).count();
  }

  private static long deadlineExceeded() {
    return responses.stream().filter(CascadeResponse::getDeadlineExceeded).count();
  }

  @Test
  void requestCountersAgreeWithTheResponses() {
    long answered = responses.size();
    double received = scrape.value("cascade_requests_received_total");
    assertThat(received).isEqualTo(answered + JUNK);
    assertThat(scrape.sum("cascade_requests_total")).isEqualTo(received);
    assertThat(scrape.value("cascade_requests_total", "outcome", "served_small")).isEqualTo(served(ServedBy.SMALL, false));
    assertThat(scrape.value("cascade_requests_total", "outcome", "cache_hit")).isEqualTo(served(ServedBy.SMALL, true));
    assertThat(scrape.value("cascade_requests_total", "outcome", "served_large")).isEqualTo(served(ServedBy.LARGE, false));
    assertThat(scrape.value("cascade_requests_total", "outcome", "small_degraded"))
        .isEqualTo(served(ServedBy.SMALL_DEGRADED, false));
    assertThat(scrape.value("cascade_requests_total", "outcome", "dead_lettered")).isEqualTo(JUNK);
    assertThat(scrape.value("cascade_requests_total", "outcome", "deadline_exceeded")).isEqualTo(deadlineExceeded())
        .isEqualTo(LATE);
    // The workload really went every way.
    for (String outcome : CascadeMetrics.OUTCOMES) {
      assertThat(scrape.value("cascade_requests_total", "outcome", outcome)).as(outcome).isPositive();
    }
  }

  @Test
  void escalationsAreTheLargeAndDegradedAnswersAndEachCallEndedInAnAnswerOrAWait() {
    double large = scrape.value("cascade_requests_total", "outcome", "served_large");
    double degraded = scrape.value("cascade_requests_total", "outcome", "small_degraded");
    assertThat(scrape.sum("cascade_escalations_total")).isEqualTo(large + degraded);
    // Every call ends in an answer, or a failure that parks the escalation for another call.
    assertThat(scrape.value("cascade_escalation_waits_total")).as("the dead server's calls were retried").isPositive();
    assertThat(scrape.sum("cascade_large_model_calls_total"))
        .isEqualTo(large + degraded + scrape.value("cascade_escalation_waits_total"));
    assertThat(scrape.value("cascade_large_model_calls_total", "tier", "large", "code", "OK")).isEqualTo(large);
    assertThat(scrape.value("cascade_escalations_in_flight")).isZero();
    assertThat(scrape.sum("cascade_circuit_breaker_state")).isEqualTo(1);
  }

  @Test
  void histogramsCountTheRequestsTheyTime() {
    double answered = responses.size();
    double escalated = served(ServedBy.LARGE, false) + served(ServedBy.SMALL_DEGRADED, false);
    // A request past its deadline waited and was answered, but no model ran for it, and nothing decided.
    double generated = answered - deadlineExceeded();
    for (String stage : new String[] {"queue", "end_to_end"}) {
      assertThat(scrape.value("cascade_stage_duration_seconds_count", "stage", stage)).as(stage).isEqualTo(answered);
    }
    for (String stage : new String[] {"small_model", "features_rule"}) {
      assertThat(scrape.value("cascade_stage_duration_seconds_count", "stage", stage)).as(stage).isEqualTo(generated);
    }
    assertThat(scrape.value("cascade_stage_duration_seconds_count", "stage", "escalation")).isEqualTo(escalated);
    assertThat(scrape.value("cascade_deferral_score_count", "rule", "chow-quantile")).isEqualTo(generated);
    assertThat(scrape.value("cascade_microbatch_size_sum")).isEqualTo(answered);
    assertThat(scrape.value("cascade_microbatch_size_count")).isPositive();
    double endToEndSeconds = responses.stream().mapToDouble(r -> r.getLatencies().getTotalMs() / 1e3).sum();
    assertThat(scrape.value("cascade_stage_duration_seconds_sum", "stage", "end_to_end"))
        .isCloseTo(endToEndSeconds, within(1e-6));
  }

  @Test
  void costAndCacheAndPolicyMatchTheOutcomes() {
    double spent = outcomes.stream().mapToDouble(RoutingOutcome::getCostUnits).sum();
    double largeOnly = outcomes.stream().mapToDouble(RoutingOutcome::getCostUnitsLargeOnly).sum();
    assertThat(scrape.value("cascade_cost_units_spent_total")).isCloseTo(spent, within(1e-6));
    assertThat(scrape.value("cascade_cost_units_large_only_total")).isCloseTo(largeOnly, within(1e-6));
    assertThat(scrape.value("cascade_cost_units_saved")).isCloseTo(largeOnly - spent, within(1e-6));
    assertThat(scrape.value("cascade_cache_hits_total"))
        .isGreaterThanOrEqualTo(scrape.value("cascade_requests_total", "outcome", "cache_hit"));
    assertThat(scrape.value("cascade_cache_misses_total")).isPositive();
    // Served for the bundled small model (a key/value cache, reuse on); chow-quantile scores no prompt before it decodes.
    assertThat(scrape.value("cascade_small_prefills_reused_total")).isZero();
    assertThat(scrape.value("cascade_policy_threshold")).isEqualTo(config.get(CascadeConfig.POLICY_THRESHOLD));
    assertThat(scrape.value("cascade_policy_version")).isZero();
  }

  @Test
  void kafkaStreamsAndJvmMetricsAreBridged() {
    assertThat(scrape.value("kafka_streams_records_processed_total")).isPositive();
    assertThat(scrape.has("kafka_streams_commit_latency_seconds")).isTrue();
    assertThat(scrape.has("kafka_consumer_records_lag")).isTrue();
    assertThat(scrape.has("jvm_memory_used_bytes")).isTrue();
  }

  @Test
  void anIdleRouterCommitsNoTransactions() throws Exception {
    // Everything is answered: no task has a request waiting, a batch running or an escalation
    // pending, so no punctuator runs to mark it as needing a commit, and no transaction is committed.
    // (Before, a wall-clock punctuator every few ms made every task commit each commit.interval.ms.)
    long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
    double before;
    double after;
    do {
      before = scrape().value("kafka_streams_commits_total");
      Thread.sleep(2_000);
      after = scrape().value("kafka_streams_commits_total");
    } while (after != before && System.nanoTime() < deadline);
    assertThat(after).as("commits over 2 s with nothing to route").isEqualTo(before);
    assertThat(before).as("commits while it routed").isPositive();
  }

  @Test
  void noLabelCarriesARequestIdOrAPrompt() {
    for (Scrape.Sample s : scrape.samples()) {
      for (String v : s.labels().values()) {
        assertThat(v).doesNotStartWith("fresh-").doesNotStartWith("again-").doesNotStartWith("down-")
            .doesNotStartWith("late-")
            .doesNotStartWith("junk-");
      }
    }
  }

  @Test
  void theExpositionPassesPromtool() throws Exception {
    Optional<Path> promtool = Promtool.find();
    Assumptions.assumeTrue(promtool.isPresent(),
        "promtool is not installed (Debian package 'prometheus'; .ci/run installs it): exposition not checked");
    Promtool.Result result = Promtool.check(promtool.get(), scrape.text());
    assertThat(result.exitCode()).as(result.output()).isZero();
  }
}
