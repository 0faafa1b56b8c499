package dev.cascade.router.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

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
import dev.cascade.router.routing.SmallStop;
import dev.cascade.router.rules.DeferralRules;
import dev.cascade.router.topology.CascadeTopology;
import dev.cascade.router.topology.PolicyRecords;
import dev.cascade.router.policy.DeferralPolicy;
import dev.cascade.schemas.avro.CascadeResponse;
import dev.cascade.schemas.avro.DeadLetter;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.avro.ServedBy;
import dev.cascade.schemas.serde.CascadeSerdes;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The cascade end to end on a real embedded broker, with the real bundled models and a real
 * large-model gRPC server on loopback.
 */
class CascadeRouterIT {

  private static final Duration IDLE = Duration.ofSeconds(60);
  private static EmbeddedKafka kafka;
  private static TextGenerator small;
  private static TextGenerator large;
  private static LargeModelServer largeServer;
  private static CascadeConfig config;
  private static CascadeRouter router;
  private static List<Example> test;

  @BeforeAll
  static void start() throws Exception {
    kafka = EmbeddedKafka.start();
    small = TextGenerators.load("small", "OnnxRuntime");
    large = TextGenerators.load("large", "OnnxRuntime");
    largeServer = new LargeModelServer(
        NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)), large,
        new ServerLimits(2, 512)).start();
    double threshold = ThresholdCalibration.calibrate(small, Examples.bundled("validation").subList(0, 300),
        DeferralRules.of("chow-quantile", 0.0), 0.3, 48, 64, n -> { });
    config = CascadeConfig.load(null, Map.of(), Map.of(
        "bootstrap.servers", kafka.bootstrapServers(),
        "policy.rule", "chow-quantile", "policy.alpha", "0", "policy.threshold", Double.toString(threshold),
        "topic.partitions", "2",
        // The large model serves 2 calls at a time here: on a loaded CI machine a call can pass the
        // default 5 s, and enough of them open the breaker, which then answers SMALL_DEGRADED at once
        // (escalation.fail-fast-when-open). These tests are about the answers, not about a slow model.
        "escalation.deadline-ms", "30000"));
    router = CascadeRouter.start(config, small, "127.0.0.1:" + largeServer.port());
    test = Examples.bundled("test");
  }

  @AfterAll
  static void stop() throws Exception {
    if (router != null) {
      router.close();
    }
    if (largeServer != null) {
      largeServer.stop();
    }
    if (small != null) {
      small.close();
    }
    if (large != null) {
      large.close();
    }
    if (kafka != null) {
      kafka.close();
    }
  }

  private static DemoWorkload.Result send(CascadeConfig c, String prefix, List<Example> examples) throws Exception {
    return DemoWorkload.run(CascadeRouter.clientProperties(c), c.topics().requests(), c.topics().responses(),
        c.topics().outcomes(), prefix, examples, IDLE, n -> { });
  }

  @Test
  void aPacedWorkloadIsSentOnItsScheduleAndAnsweredInFull() throws Exception {
    List<Example> examples = test.subList(300, 330);
    DemoWorkload.Result result = DemoWorkload.run(CascadeRouter.clientProperties(config), config.topics().requests(),
        config.topics().responses(), config.topics().outcomes(), "paced", examples, 50, IDLE, n -> { });
    long first = result.sentAtNanos().values().stream().mapToLong(Long::longValue).min().orElseThrow();
    long last = result.sentAtNanos().values().stream().mapToLong(Long::longValue).max().orElseThrow();
    assertThat((last - first) / 1e6).as("30 requests at 50/s span 29 intervals of 20 ms").isGreaterThanOrEqualTo(575);
    assertThat(result.answeredAtNanos()).hasSize(examples.size());
    assertThatThrownBy(() -> DemoWorkload.run(CascadeRouter.clientProperties(config), config.topics().requests(),
        config.topics().responses(), config.topics().outcomes(), "bad", examples, -1, IDLE, n -> { }))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("rate");
  }

  @Test
  void aWorkloadWithoutAnTopicSnapshotReadsResponsesOnly() throws Exception {
    List<Example> examples = test.subList(330, 350);
    DemoWorkload.Result result = DemoWorkload.run(CascadeRouter.clientProperties(config), config.topics().requests(),
        config.topics().responses(), null, "responses-only", examples, IDLE, n -> { });
    assertThat(result.answeredAtNanos()).hasSize(examples.size());
    assertThat(result.responses()).hasSize(examples.size());
    assertThat(result.outcomes()).as("the outcomes topic is not read").isEmpty();
  }

  private static double streamThreadPolls(CascadeRouter r) {
    return r.streams().metrics().values().stream()
        .filter(m -> m.metricName().group().equals("stream-thread-metrics") && m.metricName().name().equals("poll-total"))
        .mapToDouble(m -> ((Number) m.metricValue()).doubleValue()).sum();
  }

  @Test
  void anIdleRouterPollsAtTheIdlePollAndStillAnswersTheNextRequest() throws Exception {
    // Idle (after a second without work), the stream thread's polls block up to
    // streams.idle-poll-ms (100): about 20 in 2 s, where the 5 ms poll.ms would make about 400.
    long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
    double polls;
    do {
      double before = streamThreadPolls(router);
      Thread.sleep(2_000);
      polls = streamThreadPolls(router) - before;
    } while (polls >= 60 && System.nanoTime() < deadline);
    assertThat(polls).as("stream-thread polls in 2 s of idleness").isPositive().isLessThan(60);

    DemoWorkload.Result result = send(config, "after-idle", test.subList(350, 352));
    assertThat(result.responses()).extracting(CascadeResponse::getRequestId)
        .containsExactlyInAnyOrder("after-idle-0", "after-idle-1");
  }

  @Test
  void everyRequestGetsExactlyOneResponseAndEscalatedOnesCarryTheLargeAnswer() throws Exception {
    List<Example> examples = test.subList(0, 120);
    DemoWorkload.Result result = send(config, "n", examples);

    assertThat(result.responses()).hasSize(examples.size());
    Set<String> ids = new HashSet<>();
    result.responses().forEach(r -> ids.add(r.getRequestId()));
    assertThat(ids).hasSize(examples.size());
    assertThat(result.outcomes()).hasSize(examples.size());

    long largeServed = result.responses().stream().filter(r -> r.getServedBy() == ServedBy.LARGE).count();
    long smallServed = result.responses().stream().filter(r -> r.getServedBy() == ServedBy.SMALL).count();
    assertThat(largeServed).isPositive();
    assertThat(smallServed).isPositive();
    for (CascadeResponse r : result.responses()) {
      RoutingOutcome o = result.outcomes().get(r.getRequestId());
      String prompt = examples.get(Integer.parseInt(r.getRequestId().substring(2))).prompt();
      assertThat(o.getPrompt()).isEqualTo(prompt);
      if (r.getServedBy() == ServedBy.LARGE) {
        String direct = large.generate(List.of(prompt), 48).get(0).text();
        assertThat(r.getText()).isEqualTo(o.getLargeText()).isEqualTo(direct);
        assertThat(r.getDeferralScore()).isGreaterThan(r.getThreshold());
      } else {
        assertThat(r.getServedBy()).isEqualTo(ServedBy.SMALL);
        assertThat(r.getText()).isEqualTo(o.getSmallText());
        assertThat(r.getDeferralScore()).isLessThanOrEqualTo(r.getThreshold());
      }
    }
  }

  @Test
  void aRequestPastItsDeadlineIsAnsweredDeadlineExceededWithoutTheModelAndAFreshOneIsServed() throws Exception {
    // The same prompts twice: first with deadlines that passed a second before they were sent (their
    // callers gave up while they waited in Kafka), then with a minute to go.
    List<Example> examples = test.subList(1100, 1106);
    DemoWorkload.Result expired = DemoWorkload.run(CascadeRouter.clientProperties(config), config.topics().requests(),
        config.topics().responses(), config.topics().outcomes(), "expired", examples, 0, IDLE,
        DemoWorkload.Progress.answered(n -> { }), null, -1_000L);
    DemoWorkload.Result fresh = DemoWorkload.run(CascadeRouter.clientProperties(config), config.topics().requests(),
        config.topics().responses(), config.topics().outcomes(), "fresh", examples, 0, IDLE,
        DemoWorkload.Progress.answered(n -> { }), null, 60_000L);

    assertThat(expired.responses()).as("exactly one response each").hasSize(examples.size())
        .extracting(CascadeResponse::getRequestId).doesNotHaveDuplicates();
    assertThat(expired.responses()).allSatisfy(r -> {
      assertThat(r.getDeadlineExceeded()).isTrue();
      assertThat(r.getText()).isEmpty();
      assertThat(r.getServedBy()).isEqualTo(ServedBy.SMALL_DEGRADED);
    });
    assertThat(expired.outcomes()).hasSize(examples.size()).allSatisfy((id, o) -> {
      assertThat(o.getDeadlineExceeded()).isTrue();
      assertThat(o.getDegradedReason()).startsWith("deadline_exceeded: the request's deadline_ms passed");
      assertThat(o.getSmallText()).isEmpty();
      assertThat(o.getSmallTokens()).as("the small model generated nothing").isEmpty();
      assertThat(o.getLatencies().getSmallModelMs()).isZero();
      assertThat(o.getLargeText()).isNull();
      assertThat(o.getCostUnits()).isZero();
    });
    assertThat(fresh.responses()).hasSize(examples.size()).allSatisfy(r -> {
      assertThat(r.getDeadlineExceeded()).isFalse();
      assertThat(r.getText()).isNotEmpty();
    });
    // Had the expired copies been generated, these would have found their generations in the
    // response cache (small_model_ms 0): the small model ran for each of them now, for the first time.
    assertThat(fresh.outcomes()).hasSize(examples.size()).allSatisfy((id, o) -> {
      assertThat(o.getCacheHit()).isFalse();
      assertThat(o.getLatencies().getSmallModelMs()).isPositive();
      assertThat(o.getSmallTokens()).isNotEmpty();
    });
  }

  @Test
  void aMalformedRecordIsDeadLetteredAndTheNextOneIsAnswered() throws Exception {
    try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(Map.of("bootstrap.servers", kafka.bootstrapServers()),
        new ByteArraySerializer(), new ByteArraySerializer())) {
      producer.send(new ProducerRecord<>(config.topics().requests(), "junk".getBytes(), "not avro at all".getBytes())).get();
    }
    DemoWorkload.Result result = send(config, "after-junk", test.subList(200, 203));
    assertThat(result.responses()).hasSize(3);
    DeadLetter dead = readOne(config.topics().deadLetters(), d -> new String(d.getKey().array()).equals("junk"));
    assertThat(dead.getStage()).isEqualTo("deserialize");
    assertThat(new String(dead.getValue().array())).isEqualTo("not avro at all");
    assertThat(dead.getReason()).isNotBlank();
  }

  @Test
  void aPolicyRecordOnThePolicyTopicChangesTheFollowingDecisions() throws Exception {
    publishPolicy(new DeferralPolicy("chow-sum", 0, -1e9, 0, 0, 41, "it", System.currentTimeMillis(), "escalate all"));
    awaitPolicyVersion(41);
    DemoWorkload.Result all = send(config, "p41", test.subList(300, 320));
    assertThat(all.responses()).allSatisfy(r -> {
      assertThat(r.getPolicyVersion()).isEqualTo(41);
      assertThat(r.getServedBy()).isEqualTo(ServedBy.LARGE);
      assertThat(r.getRule()).isEqualTo("chow-sum");
    });
    publishPolicy(new DeferralPolicy("chow-sum", 0, 1e9, 0, 0, 42, "it", System.currentTimeMillis(), "escalate none"));
    awaitPolicyVersion(42);
    DemoWorkload.Result none = send(config, "p42", test.subList(320, 340));
    assertThat(none.responses()).allSatisfy(r -> {
      assertThat(r.getPolicyVersion()).isEqualTo(42);
      assertThat(r.getServedBy()).isEqualTo(ServedBy.SMALL);
    });
    // Back to the configured policy's behaviour for the other tests.
    publishPolicy(new DeferralPolicy("chow-quantile", 0, config.get(CascadeConfig.POLICY_THRESHOLD), 0, 0, 43, "it",
        System.currentTimeMillis(), "restore"));
    awaitPolicyVersion(43);
  }

  @Test
  void aLabelShareSetLiveInThePolicyDecodesTheDeferralsEarlyDeferralWouldStopToTheirEnd() throws Exception {
    double threshold = config.get(CascadeConfig.POLICY_THRESHOLD);
    List<Example> items = test.subList(400, 460);
    // The configured policy (chow-quantile at alpha 0, a fixed threshold) with no share of its own:
    // the router's small.early-defer-label-share, 0, applies and every deferral that can stop does.
    publishPolicy(new DeferralPolicy("chow-quantile", 0, threshold, 0, 0, 51, "it", System.currentTimeMillis(),
        "no label share"));
    awaitPolicyVersion(51);
    DemoWorkload.Result before = send(config, "ls51", items);
    // The same prompts once the policy asks for every such deferral to be decoded whole.
    publishPolicy(new DeferralPolicy("chow-quantile", 0, threshold, 0, 0, 52, "it", System.currentTimeMillis(),
        "label share 1").withEarlyDeferLabelShare(1.0));
    awaitPolicyVersion(52);
    DemoWorkload.Result after = send(config, "ls52", items);
    publishPolicy(new DeferralPolicy("chow-quantile", 0, threshold, 0, 0, 53, "it", System.currentTimeMillis(),
        "restore"));
    awaitPolicyVersion(53);

    assertThat(before.outcomes()).hasSize(items.size());
    assertThat(after.outcomes()).hasSize(items.size());
    int stopped = 0;
    for (int i = 0; i < items.size(); i++) {
      RoutingOutcome was = before.outcomes().get("ls51-" + i);
      RoutingOutcome now = after.outcomes().get("ls52-" + i);
      assertThat(was.getLabelPropensity()).isNull();
      assertThat(now.getDecision()).as(items.get(i).prompt()).isEqualTo(was.getDecision());
      if (!SmallStop.EARLY_DEFER.equals(was.getSmallStop())) {
        assertThat(now.getLabelPropensity()).as(items.get(i).prompt()).isNull();
        continue;
      }
      stopped++;
      // Decoded to its end, with the small model's whole answer, and so a label.
      assertThat(was.getSmallCorrect()).as("a prefix is not judged").isNull();
      assertThat(now.getSmallStop()).as(items.get(i).prompt()).isIn(SmallStop.EOS, SmallStop.TOKEN_LIMIT);
      assertThat(now.getLabelPropensity()).isEqualTo(1.0);
      assertThat(now.getSmallText()).isEqualTo(small.generate(List.of(items.get(i).prompt()), 48).get(0).text());
      assertThat(now.getSmallCorrect()).isNotNull();
    }
    assertThat(stopped).as("deferrals that early deferral stopped under version 51").isPositive();
  }

  /** The shared configuration with its own application id and topics, all named after {@code name}. */
  private static CascadeConfig isolated(String name) {
    return config.withOwnTopics("cascade-" + name, name);
  }

  /** The small model, 300 ms slower per call, so a router can be stopped with batches in flight. */
  private static final class SlowSmallModel implements TextGenerator {
    @Override
    public List<dev.cascade.models.Generation> generate(List<String> prompts, int maxNewTokens) {
      return generate(prompts, maxNewTokens, Cancellation.NONE);
    }

    @Override
    public List<dev.cascade.models.Generation> generate(List<String> prompts, int maxNewTokens,
        Cancellation cancellation) {
      try {
        Thread.sleep(300);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted", e);
      }
      return small.generate(prompts, maxNewTokens, cancellation);
    }

    @Override
    public java.util.Optional<String> checkPrompt(String prompt) {
      return small.checkPrompt(prompt);
    }

    @Override
    public dev.cascade.models.ModelInfo info() {
      return small.info();
    }

    @Override
    public void close() {}
  }

  @Test
  void aRouterStoppedWithBatchesInFlightLosesNothingAndItsSuccessorAnswersTheRestOnce() throws Exception {
    CascadeConfig restart = isolated("restart").with(CascadeConfig.BATCH_SIZE, "8");
    // 20 batches of 8 at 300 ms or more each, two tasks at a time: at least 3 s of work.
    List<Example> examples = test.subList(500, 660);
    long stoppedAt;
    java.util.concurrent.atomic.AtomicInteger answered = new java.util.concurrent.atomic.AtomicInteger();
    java.util.concurrent.CompletableFuture<DemoWorkload.Result> workload;
    try (CascadeRouter first = CascadeRouter.start(restart, new SlowSmallModel(), "127.0.0.1:" + largeServer.port())) {
      workload = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
        try {
          return DemoWorkload.run(CascadeRouter.clientProperties(restart), restart.topics().requests(),
              restart.topics().responses(), restart.topics().outcomes(), "restart", examples, IDLE, answered::set);
        } catch (Exception e) {
          throw new IllegalStateException(e);
        }
      });
      long deadline = System.nanoTime() + 60_000_000_000L;
      while (answered.get() < 8 && System.nanoTime() < deadline) {
        Thread.sleep(10); // until the first router has answered a batch, with more waiting or in flight
      }
      stoppedAt = System.nanoTime();
    }
    try (CascadeRouter second = CascadeRouter.start(restart, small, "127.0.0.1:" + largeServer.port())) {
      DemoWorkload.Result result = workload.get(120, java.util.concurrent.TimeUnit.SECONDS);
      long byFirst = result.answeredAtNanos().values().stream().filter(t -> t < stoppedAt).count();
      assertThat(byFirst).as("the first router answered some, not all").isBetween(1L, examples.size() - 1L);
      assertThat(result.responses()).extracting(CascadeResponse::getRequestId).doesNotHaveDuplicates()
          .hasSize(examples.size());
      assertThat(result.outcomes()).hasSize(examples.size());
      double restored = second.metrics().registry().orElseThrow().scrape().stream()
          .filter(m -> m.getMetadata().getPrometheusName().equals("cascade_requests_restored"))
          .flatMap(m -> ((io.prometheus.metrics.model.snapshots.CounterSnapshot) m).getDataPoints().stream())
          .mapToDouble(io.prometheus.metrics.model.snapshots.CounterSnapshot.CounterDataPointSnapshot::getValue)
          .sum();
      assertThat(restored).as("requests the first took in and left unanswered, batched again by the second")
          .isPositive();
    }
  }

  @Test
  void aRouterStartedWhereOthersHaveRoutedHoldsTheTargetRateFromItsFirstRequest() throws Exception {
    // A configured threshold no score reaches: a controller still warming up escalates nothing.
    CascadeConfig target = isolated("warm").with(CascadeConfig.POLICY_TARGET_RATE, "0.3")
        .with(CascadeConfig.POLICY_THRESHOLD, "1000");
    try (CascadeRouter first = CascadeRouter.start(target, small, "127.0.0.1:" + largeServer.port())) {
      send(target, "warm-a", test.subList(700, 950)); // past its own warm-up of 200
    }
    List<Example> next = test.subList(950, 1000);
    DemoWorkload.Result seeded;
    try (CascadeRouter second = CascadeRouter.start(target, small, "127.0.0.1:" + largeServer.port())) {
      seeded = send(target, "warm-b", next);
    }
    assertThat(seeded.outcomes()).hasSize(next.size());
    assertThat(seeded.outcomes().values()).as("decided by the seeded window, not the configured threshold")
        .allSatisfy(o -> assertThat(o.getThreshold()).isLessThan(1000.0));
    long escalated = seeded.outcomes().values().stream()
        .filter(o -> o.getDecision() != dev.cascade.schemas.avro.Decision.ACCEPT).count();
    assertThat(escalated).as("of 50 at a target of 0.3").isBetween(5L, 30L);

    // Without the warm start, the same restart decides its first requests by the configured threshold.
    CascadeConfig cold = target.with(CascadeConfig.POLICY_WARM_START, "false");
    DemoWorkload.Result unseeded;
    try (CascadeRouter third = CascadeRouter.start(cold, small, "127.0.0.1:" + largeServer.port())) {
      unseeded = send(cold, "warm-c", next);
    }
    assertThat(unseeded.outcomes().values()).allSatisfy(o -> assertThat(o.getThreshold()).isEqualTo(1000.0));
  }

  @Test
  void withTheLargeModelDownEveryRequestIsStillAnsweredDegradedWhereEscalated() throws Exception {
    // A short wait for the dead large model, so its escalations degrade within a second.
    CascadeConfig down = isolated("down").with(CascadeConfig.ESCALATION_BACKOFF_MS, "5")
        .with(CascadeConfig.ESCALATION_MAX_WAIT_MS, "800");
    int deadPort = EmbeddedKafka.freePort();
    List<Example> examples = test.subList(400, 460);
    DemoWorkload.Result result;
    try (CascadeRouter downRouter = CascadeRouter.start(down, small, "127.0.0.1:" + deadPort)) {
      result = send(down, "down", examples);
    }
    assertThat(result.responses()).hasSize(examples.size());
    assertThat(result.responses()).extracting(CascadeResponse::getRequestId).doesNotHaveDuplicates();
    assertThat(result.responses()).extracting(CascadeResponse::getServedBy)
        .contains(ServedBy.SMALL_DEGRADED).doesNotContain(ServedBy.LARGE);
    for (CascadeResponse r : result.responses()) {
      RoutingOutcome o = result.outcomes().get(r.getRequestId());
      assertThat(r.getText()).isEqualTo(o.getSmallText());
      if (r.getServedBy() == ServedBy.SMALL_DEGRADED) {
        assertThat(o.getDegraded()).isTrue();
        // Its wait ended by max-wait, or at once once the breaker had opened (escalation.fail-fast-when-open).
        assertThat(o.getDegradedReason()).containsAnyOf("escalation.max-wait-ms (800)",
            "its circuit breaker is open (escalation.fail-fast-when-open)");
      }
    }
  }

  private static void publishPolicy(DeferralPolicy policy) throws Exception {
    try (KafkaProducer<String, dev.cascade.schemas.avro.DeferralPolicy> producer = new KafkaProducer<>(
        Map.of("bootstrap.servers", kafka.bootstrapServers()), new StringSerializer(), CascadeSerdes.policies().serializer())) {
      producer.send(new ProducerRecord<>(config.topics().policy(), CascadeTopology.POLICY_KEY, PolicyRecords.toAvro(policy))).get();
    }
  }

  /** Sends probe requests until one is decided under {@code version}. */
  private static void awaitPolicyVersion(long version) throws Exception {
    for (int attempt = 0; attempt < 100; attempt++) {
      DemoWorkload.Result probe = send(config, "probe-" + version + "-" + attempt, test.subList(0, 1));
      if (probe.responses().get(0).getPolicyVersion() == version) {
        return;
      }
      Thread.sleep(100);
    }
    throw new AssertionError("policy version " + version + " never applied");
  }

  private static DeadLetter readOne(String topic, java.util.function.Predicate<DeadLetter> match) {
    Map<String, Object> props = new HashMap<>();
    props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
    props.put(ConsumerConfig.GROUP_ID_CONFIG, "dlq-reader-" + System.nanoTime());
    props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    try (KafkaConsumer<String, DeadLetter> consumer = new KafkaConsumer<>(props, new StringDeserializer(),
        CascadeSerdes.deadLetters().deserializer())) {
      consumer.subscribe(List.of(topic));
      long deadline = System.currentTimeMillis() + 30_000;
      while (System.currentTimeMillis() < deadline) {
        for (ConsumerRecord<String, DeadLetter> r : consumer.poll(Duration.ofMillis(200))) {
          if (match.test(r.value())) {
            return r.value();
          }
        }
      }
    }
    throw new AssertionError("no matching dead letter on " + topic);
  }
}
