package dev.cascade.router.topology;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.cascade.proto.v1.LargeGenerateRequest;
import dev.cascade.proto.v1.LargeGenerateResponse;
import dev.cascade.proto.v1.LargeModelGrpc;
import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.escalation.EscalationClient;
import dev.cascade.router.escalation.EscalationSettings;
import dev.cascade.router.policy.DeferralPolicy;
import dev.cascade.router.policy.TargetRateController;
import dev.cascade.router.routing.CostModel;
import dev.cascade.router.routing.RequestValidator;
import dev.cascade.router.routing.RoutingRecords;
import dev.cascade.router.routing.SmallModelRouter;
import dev.cascade.router.rules.DeferralRules;
import dev.cascade.schemas.avro.CascadeRequest;
import dev.cascade.schemas.avro.CascadeResponse;
import dev.cascade.schemas.avro.DeadLetter;
import dev.cascade.schemas.avro.Decision;
import dev.cascade.schemas.avro.Escalation;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.avro.TierAnswer;
import dev.cascade.schemas.avro.ServedBy;
import dev.cascade.schemas.avro.TierWait;
import dev.cascade.schemas.serde.CascadeSerdes;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.state.KeyValueStore;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Routing decisions, policy changes, escalation and dead-lettering, through the real topology on TopologyTestDriver. */
class CascadeTopologyTest {

  private final CascadeConfig config = CascadeConfig.defaults();
  private Duration batchTimeout = Duration.ofSeconds(30);
  private ReplyTopics replies;
  private final ScriptedSmallModel small = new ScriptedSmallModel();
  private Server largeServer;
  private ManagedChannel channel;
  private EscalationClient escalations;
  private TopologyTestDriver driver;
  private TestInputTopic<byte[], byte[]> requests;
  private TestInputTopic<String, dev.cascade.schemas.avro.DeferralPolicy> policies;
  private TestOutputTopic<String, CascadeResponse> responses;
  /** Most small-model batches of one task in flight, for the next {@link #startDriver}. */
  private int batchesInFlight = 1;
  private TestOutputTopic<String, RoutingOutcome> outcomes;
  private TestOutputTopic<String, Escalation> escalated;
  private TestOutputTopic<byte[], DeadLetter> deadLetters;

  @BeforeEach
  void start() throws Exception {
    String name = InProcessServerBuilder.generateName();
    largeServer = InProcessServerBuilder.forName(name).addService(new UppercaseLargeModel()).build().start();
    channel = InProcessChannelBuilder.forName(name).build();
    escalations = new EscalationClient(channel, false, new EscalationSettings(4, Duration.ofSeconds(2), 1,
        Duration.ofMillis(1), 50, Duration.ofSeconds(5), 0, Duration.ofMillis(400)));
    startDriver(3, Duration.ofMillis(20));
  }

  private void startDriver(int batchSize, Duration wait) {
    startDriver(batchSize, wait, Runnable::run);
  }

  private void startDriver(int batchSize, Duration wait, Executor smallModelWorkers) {
    // Threshold 1.0 on Chow-Quantile-0: "unsure" prompts (score 3) defer, others (0.01) are accepted.
    DeferralPolicy policy = new DeferralPolicy("chow-quantile", 0.0, 1.0, 0.0, 0.0, 0, "test", 0, "test");
    RoutingRecords records = new RoutingRecords(new CostModel(1, 10), String::length);
    startDriver(new CascadeTopology.Parts(config.topics(),
        () -> new SmallModelRouter(small, DeferralRules.builtIn(), new TargetRateController(), records, 48, Clock.systemUTC()),
        new RequestValidator(small), dev.cascade.router.learning.RuleResolver.of(DeferralRules.builtIn()), policy, batchSize, wait, escalations, records, 4, 48,
        smallModelWorkers, batchTimeout).withBatchesInFlight(batchesInFlight));
  }

  /**
   * A cascade of three: the scripted small model, {@code medium} (tier 1, the escalations client,
   * deferring by Chow-Sum at threshold 1) and {@code large} (tier 2).
   */
  private void startTieredDriver(EscalationClient medium, EscalationClient large) {
    startTieredDriver(medium, large, new dev.cascade.router.policy.TierPolicy("chow-sum", 0.0, 1.0));
  }

  /** As above, medium deciding by {@code middle}. */
  private void startTieredDriver(EscalationClient medium, EscalationClient large,
      dev.cascade.router.policy.TierPolicy middle) {
    startTieredDriver(medium, large, middle, 0.0);
  }

  /** As above, with {@code labelShare} of medium's early deferrals decoded to the end all the same. */
  private void startTieredDriver(EscalationClient medium, EscalationClient large,
      dev.cascade.router.policy.TierPolicy middle, double labelShare) {
    DeferralPolicy policy = new DeferralPolicy("chow-quantile", 0.0, 1.0, 0.0, 0.0, 0, "test", 0, "test", null,
        List.of(), "chow-sum", null, List.of(middle));
    RoutingRecords records = new RoutingRecords(new CostModel(1, 10), String::length);
    escalations = medium;
    startDriver(new CascadeTopology.Parts(config.topics(),
        () -> new SmallModelRouter(small, DeferralRules.builtIn(), new TargetRateController(), records, 48, Clock.systemUTC()),
        new RequestValidator(small), dev.cascade.router.learning.RuleResolver.of(DeferralRules.builtIn()), policy, 3,
        Duration.ofMillis(20), medium, records, 4, 48, Runnable::run, batchTimeout,
        new dev.cascade.router.escalation.EscalationTiers(List.of(
            new dev.cascade.router.escalation.EscalationTiers.Tier(1, "medium", medium, 4),
            new dev.cascade.router.escalation.EscalationTiers.Tier(2, "large", large, 10)),
            new dev.cascade.router.policy.TierThresholds(), labelShare)));
  }

  private void startDriver(CascadeTopology.Parts parts) {
    Properties props = new Properties();
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, "topology-test");
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
    driver = new TopologyTestDriver(replies == null ? CascadeTopology.build(parts) : CascadeTopology.build(parts, replies),
        props);
    requests = driver.createInputTopic(config.topics().requests(), new ByteArraySerializer(), new ByteArraySerializer());
    policies = driver.createInputTopic(config.topics().policy(), new StringSerializer(), CascadeSerdes.policies().serializer());
    responses = driver.createOutputTopic(config.topics().responses(), new StringDeserializer(), CascadeSerdes.responses().deserializer());
    outcomes = driver.createOutputTopic(config.topics().outcomes(), new StringDeserializer(), CascadeSerdes.outcomes().deserializer());
    escalated = driver.createOutputTopic(config.topics().escalations(), new StringDeserializer(), CascadeSerdes.escalations().deserializer());
    deadLetters = driver.createOutputTopic(config.topics().deadLetters(), Serdes.ByteArray().deserializer(), CascadeSerdes.deadLetters().deserializer());
  }

  /** Restarts the driver (batches of {@code batchSize}) with an escalations client on {@code settings}. */
  private void restartWith(EscalationSettings settings, int batchSize) {
    driver.close();
    escalations.close();
    escalations = new EscalationClient(channel, false, settings);
    startDriver(batchSize, Duration.ofMillis(20));
  }

  /**
   * Restarts with an 8 s wait for an unavailable model (escalation.max-wait-ms), calls of {@code
   * callDeadline} tried {@code retries} more times, then sends {@code prompt} with a deadline of
   * {@code deadlineAfterMs} after now and collects its one answer.
   */
  private List<CascadeResponse> sendWithADeadline(Duration callDeadline, int retries, String prompt,
      long deadlineAfterMs) throws InterruptedException {
    // Waiting out the failures whatever the breaker does (its open state is the next test's).
    restartWith(new EscalationSettings(4, callDeadline, retries, Duration.ofMillis(1), 50, Duration.ofSeconds(5), 0,
        Duration.ofSeconds(8)).withFailFastWhenOpen(false), 3);
    send("a", prompt, null, System.currentTimeMillis() + deadlineAfterMs);
    return collect(1);
  }

  @AfterEach
  void stop() {
    driver.close();
    escalations.close();
    channel.shutdownNow();
    largeServer.shutdownNow();
  }

  private void send(String id, String prompt) {
    send(id, prompt, null);
  }

  private void send(String id, String prompt, String reference) {
    send(id, prompt, reference, null);
  }

  private void send(String id, String prompt, String reference, Long deadlineMs) {
    CascadeRequest r = CascadeRequest.newBuilder().setRequestId(id).setPrompt(prompt).setMaxNewTokens(0)
        .setReference(reference).setMetadata(Map.of()).setCreatedAtMs(System.currentTimeMillis())
        .setDeadlineMs(deadlineMs).build();
    requests.pipeInput(id.getBytes(), CascadeSerdes.requests().serializer().serialize("t", r));
  }

  /**
   * Advances the wall clock until {@code expected} responses are out (or 10 s pass): the
   * escalator's calls and pipelined small-model batches complete asynchronously. The driver feeds
   * the escalations topic, which the topology both writes and reads, back into the escalator by
   * itself.
   */
  private List<CascadeResponse> collect(int expected) throws InterruptedException {
    List<CascadeResponse> out = new ArrayList<>(responses.readValuesToList());
    long deadline = System.currentTimeMillis() + 10_000;
    while (out.size() < expected && System.currentTimeMillis() < deadline) {
      Thread.sleep(5);
      driver.advanceWallClockTime(Duration.ofMillis(5));
      out.addAll(responses.readValuesToList());
    }
    return out;
  }

  /** A test body that may throw. */
  private interface Body {
    void run() throws Exception;
  }

  /**
   * Restarts the driver with small-model batches on a real worker thread and the scripted model's
   * gate shut, runs {@code body}, and stops the worker.
   */
  private void withGatedWorker(int batchSize, Body body) throws Exception {
    withGatedWorkers(batchSize, 1, body);
  }

  /** As {@link #withGatedWorker}, with {@code threads} worker threads. */
  private void withGatedWorkers(int batchSize, int threads, Body body) throws Exception {
    driver.close();
    ExecutorService workers = Executors.newFixedThreadPool(threads);
    try {
      small.gate = new CountDownLatch(1);
      startDriver(batchSize, Duration.ofMillis(20), workers);
      body.run();
    } finally {
      small.gate.countDown();
      workers.shutdownNow();
    }
  }

  @Test
  void theStreamThreadGoesOnWhileABatchGeneratesAndForwardsItOnceDone() throws Exception {
    withGatedWorker(3, () -> {
      send("a", "alpha");
      send("b", "beta");
      send("c", "gamma"); // a full batch: started on the worker, held at the gate
      send("d", "delta"); // taken at once: the stream thread is not waiting for the model
      driver.advanceWallClockTime(Duration.ofMillis(25));
      assertThat(responses.isEmpty()).isTrue();
      KeyValueStore<String, CascadeRequest> batchStore = driver.getKeyValueStore(CascadeTopology.BATCH_STORE);
      assertThat(batchStore.approximateNumEntries()).as("in flight and waiting, all still in the store").isEqualTo(4);
      small.gate.countDown();
      List<CascadeResponse> out = collect(4);
      assertThat(out).extracting(CascadeResponse::getRequestId).containsExactlyInAnyOrder("a", "b", "c", "d");
      assertThat(small.batchSizes).containsExactly(3, 1);
      assertThat(batchStore.approximateNumEntries()).as("each left with its answer").isZero();
    });
  }

  @Test
  void aFullBatchWaitsForTheOneInFlightSoTheStoreStaysBounded() throws Exception {
    withGatedWorker(2, () -> {
      send("a", "alpha");
      send("b", "beta"); // in flight, held at the gate
      send("c", "gamma");
      CompletableFuture<Void> fourth = CompletableFuture.runAsync(() -> send("d", "delta"));
      Thread.sleep(200);
      assertThat(fourth).as("the second full batch waits for the first").isNotDone();
      small.gate.countDown();
      fourth.get(10, TimeUnit.SECONDS);
      assertThat(collect(4)).extracting(CascadeResponse::getRequestId).containsExactlyInAnyOrder("a", "b", "c", "d");
      assertThat(small.batchSizes).containsExactly(2, 2);
    });
  }

  @Test
  void withTwoBatchesInFlightTheSecondStartsWhileTheFirstGeneratesAndTheThirdWaits() throws Exception {
    batchesInFlight = 2;
    withGatedWorkers(2, 2, () -> {
      send("a", "alpha");
      send("b", "beta"); // the first batch, held at the gate
      send("c", "gamma");
      send("d", "delta"); // the second, started at once: the model has work queued behind the first
      for (long deadline = System.currentTimeMillis() + 10_000;
          small.entered.get() < 2 && System.currentTimeMillis() < deadline; ) {
        Thread.sleep(5);
      }
      assertThat(small.entered.get()).as("both batches handed to the model while the first is held").isEqualTo(2);
      send("e", "epsilon");
      CompletableFuture<Void> sixth = CompletableFuture.runAsync(() -> send("f", "zeta"));
      Thread.sleep(200);
      assertThat(sixth).as("a third full batch waits while two generate").isNotDone();
      small.gate.countDown();
      sixth.get(10, TimeUnit.SECONDS);
      assertThat(collect(6)).extracting(CascadeResponse::getRequestId).containsExactlyInAnyOrder("a", "b", "c", "d", "e", "f");
      assertThat(small.batchSizes).containsExactlyInAnyOrder(2, 2, 2);
    });
  }

  @Test
  void aBatchThatFinishesBeforeAnOlderOneIsForwardedAndItsPlaceTakenAtOnce() throws Exception {
    batchesInFlight = 2;
    small.slowGate = new CountDownLatch(1);
    withGatedWorkers(2, 3, () -> {
      small.gate.countDown(); // only the batch with a slow prompt is held
      send("a", "slow alpha");
      send("b", "beta"); // the first batch, held at the slow gate
      send("c", "gamma");
      send("d", "delta"); // the second: finishes at once
      List<CascadeResponse> early = new ArrayList<>();
      for (long deadline = System.currentTimeMillis() + 10_000;
          early.size() < 2 && System.currentTimeMillis() < deadline; ) {
        driver.advanceWallClockTime(Duration.ofMillis(10));
        early.addAll(responses.readValuesToList());
        Thread.sleep(5);
      }
      assertThat(early).extracting(CascadeResponse::getRequestId)
          .as("the second batch's answers leave while the first still generates").containsExactlyInAnyOrder("c", "d");
      send("e", "epsilon");
      CompletableFuture<Void> sixth = CompletableFuture.runAsync(() -> send("f", "zeta"));
      sixth.get(10, TimeUnit.SECONDS); // a finished batch does not hold a place: no wait for the slow one
      assertThat(collect(2)).extracting(CascadeResponse::getRequestId).containsExactlyInAnyOrder("e", "f");
      small.slowGate.countDown();
      assertThat(collect(2)).extracting(CascadeResponse::getRequestId).containsExactlyInAnyOrder("a", "b");
      assertThat(small.batchSizes).containsExactlyInAnyOrder(2, 2, 2);
    });
  }

  @Test
  void aPartialBatchWaitsByTheRoutersClockNotByTheRecordsTimestamp() {
    CascadeRequest r = CascadeRequest.newBuilder().setRequestId("future").setPrompt("hello").setMaxNewTokens(0)
        .setReference(null).setMetadata(Map.of()).setCreatedAtMs(System.currentTimeMillis()).build();
    long anHourAhead = System.currentTimeMillis() + 3_600_000L;
    requests.pipeInput("future".getBytes(), CascadeSerdes.requests().serializer().serialize("t", r), anHourAhead);
    assertThat(responses.isEmpty()).isTrue();
    driver.advanceWallClockTime(Duration.ofMillis(25)); // past the 20 ms wait
    assertThat(responses.readValuesToList()).extracting(CascadeResponse::getRequestId).containsExactly("future");
  }

  @Test
  void confidentAnswersReturnAtOnceAndUnsureOnesEscalateToTheLargeModel() throws Exception {
    send("a", "hello", "olleh");
    send("b", "unsure one");
    send("c", "world");
    // A full batch of 3 runs at once, in one small-model call.
    assertThat(small.batchSizes).containsExactly(3);
    List<CascadeResponse> direct = responses.readValuesToList();
    assertThat(direct).extracting(CascadeResponse::getRequestId).containsExactly("a", "c");
    assertThat(direct).allSatisfy(r -> assertThat(r.getServedBy()).isEqualTo(ServedBy.SMALL));
    assertThat(direct).allSatisfy(r -> assertThat(r.getDecision()).isEqualTo(Decision.ACCEPT));
    assertThat(direct.get(0).getText()).isEqualTo("olleh");
    assertThat(escalated.readValuesToList()).extracting(Escalation::getRequestId).containsExactly("b");
    List<RoutingOutcome> accepted = outcomes.readValuesToList();
    assertThat(accepted).extracting(RoutingOutcome::getRequestId).containsExactly("a", "c");
    assertThat(accepted.get(0).getSmallCorrect()).isTrue();
    assertThat(accepted.get(0).getDecision()).isEqualTo(Decision.ACCEPT);
    assertThat(accepted.get(0).getFeatures()).containsKey("lp_q0");

    List<CascadeResponse> late = collect(1);
    assertThat(late).singleElement().satisfies(r -> {
      assertThat(r.getRequestId()).isEqualTo("b");
      assertThat(r.getServedBy()).isEqualTo(ServedBy.LARGE);
      assertThat(r.getText()).isEqualTo("UNSURE ONE");
      assertThat(r.getDeferralScore()).isGreaterThan(r.getThreshold());
      assertThat(r.getDecision()).isEqualTo(Decision.DEFER);
    });
    List<RoutingOutcome> escalatedOutcomes = outcomes.readValuesToList();
    assertThat(escalatedOutcomes).singleElement().satisfies(o -> {
      assertThat(o.getLargeText()).isEqualTo("UNSURE ONE");
      assertThat(o.getSmallText()).isEqualTo("eno erusnu");
      assertThat(o.getAgree()).isFalse();
      assertThat(o.getCostUnits()).isGreaterThan(o.getCostUnitsLargeOnly());
    });
  }

  @Test
  void aPartialBatchRunsWhenItsOldestRequestHasWaitedLongEnough() {
    send("a", "one");
    send("b", "two");
    assertThat(responses.isEmpty()).isTrue();
    driver.advanceWallClockTime(Duration.ofMillis(25));
    assertThat(small.batchSizes).containsExactly(2);
    assertThat(responses.readKeyValuesToList()).extracting(kv -> kv.key).containsExactly("a", "b");
  }

  @Test
  void aNewPolicyOnThePolicyTopicChangesTheFollowingDecisions() throws Exception {
    send("a", "unsure 1");
    driver.advanceWallClockTime(Duration.ofMillis(25));
    assertThat(escalated.readValuesToList()).hasSize(1);
    responses.readValuesToList();
    policies.pipeInput(CascadeTopology.POLICY_KEY, dev.cascade.schemas.avro.DeferralPolicy.newBuilder()
        .setRule("chow-quantile").setAlpha(0).setThreshold(5.0).setExplorationRate(0).setTargetEscalationRate(0)
        .setVersion(7).setUpdatedBy("operator").setUpdatedAtMs(1).setReason("fewer escalations").build());
    send("b", "unsure 2");
    driver.advanceWallClockTime(Duration.ofMillis(25));
    assertThat(escalated.isEmpty()).isTrue();
    CascadeResponse r = responses.readValuesToList().stream().filter(x -> x.getRequestId().equals("b")).findFirst().orElseThrow();
    assertThat(r.getServedBy()).isEqualTo(ServedBy.SMALL);
    assertThat(r.getPolicyVersion()).isEqualTo(7);
    assertThat(r.getThreshold()).isEqualTo(5.0);
    // Exploring every request the rule would accept: passed on all the same, and the response says why.
    policies.pipeInput(CascadeTopology.POLICY_KEY, dev.cascade.schemas.avro.DeferralPolicy.newBuilder()
        .setRule("chow-quantile").setAlpha(0).setThreshold(5.0).setExplorationRate(1.0).setTargetEscalationRate(0)
        .setVersion(8).setUpdatedBy("operator").setUpdatedAtMs(2).setReason("explore all").build());
    send("c", "unsure 3");
    driver.advanceWallClockTime(Duration.ofMillis(25));
    assertThat(escalated.readValuesToList()).extracting(Escalation::getDecision).containsExactly(Decision.EXPLORE);
    // The late answers: "a" (deferred under the first policy) and "c".
    assertThat(collect(2).stream().filter(x -> x.getRequestId().equals("c"))).singleElement().satisfies(x -> {
      assertThat(x.getServedBy()).isEqualTo(ServedBy.LARGE);
      assertThat(x.getDeferralScore()).isLessThanOrEqualTo(x.getThreshold());
      assertThat(x.getDecision()).isEqualTo(Decision.EXPLORE);
    });
  }

  @Test
  void aPolicyReadFromTheTopicShowsInTheMetricsBeforeAnyDecision() throws Exception {
    driver.close();
    io.prometheus.metrics.model.registry.PrometheusRegistry registry =
        new io.prometheus.metrics.model.registry.PrometheusRegistry();
    RoutingRecords records = new RoutingRecords(new CostModel(1, 10), String::length,
        dev.cascade.router.metrics.CascadeMetrics.register(registry, 1.0, 0));
    startDriver(new CascadeTopology.Parts(config.topics(),
        () -> new SmallModelRouter(small, DeferralRules.builtIn(), new TargetRateController(), records, 48, Clock.systemUTC()),
        new RequestValidator(small), dev.cascade.router.learning.RuleResolver.of(DeferralRules.builtIn()),
        new DeferralPolicy("chow-quantile", 0.0, 1.0, 0.0, 0.0, 0, "test", 0, "test"), 3, Duration.ofMillis(20),
        escalations, records, 4, 48, Runnable::run, batchTimeout));
    // What a restarted router's restore reads: a policy pinning a learned rule's version, and no request yet.
    policies.pipeInput(CascadeTopology.POLICY_KEY, dev.cascade.schemas.avro.DeferralPolicy.newBuilder()
        .setRule("posthoc-quantile").setRuleModelVersion(1L).setAlpha(0).setThreshold(0.42).setExplorationRate(0)
        .setTargetEscalationRate(0).setVersion(5).setUpdatedBy("learner").setUpdatedAtMs(1).setReason("").build());
    java.io.ByteArrayOutputStream text = new java.io.ByteArrayOutputStream();
    io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter.create().write(text, registry.scrape());
    dev.cascade.router.metrics.Scrape scrape = dev.cascade.router.metrics.Scrape.parse(text.toString());
    assertThat(scrape.value("cascade_policy_version")).isEqualTo(5);
    assertThat(scrape.value("cascade_policy_threshold")).isEqualTo(0.42);
    assertThat(scrape.value("cascade_rule_version")).isEqualTo(1);
    assertThat(scrape.value("cascade_policy_updates_applied_total")).as("counted by decisions only").isZero();
  }

  @Test
  void aPolicyWhoseRuleCannotBeAppliedIsScoredByItsFallbackRule() {
    policies.pipeInput(CascadeTopology.POLICY_KEY, dev.cascade.schemas.avro.DeferralPolicy.newBuilder()
        .setRule("no-such-rule").setAlpha(0).setThreshold(-1.0).setExplorationRate(0).setTargetEscalationRate(0)
        .setVersion(3).setUpdatedBy("x").setUpdatedAtMs(1).setReason("").setFallbackRule("chow-average").build());
    send("a", "unsure");
    driver.advanceWallClockTime(Duration.ofMillis(25));
    dev.cascade.schemas.avro.Escalation e = escalated.readValue();
    assertThat(e.getPolicyVersion()).isEqualTo(3);
    assertThat(e.getRule()).isEqualTo("chow-average");
    assertThat(e.getRuleFallbackReason()).contains("no-such-rule");
    assertThat(e.getPropensity()).isEqualTo(1.0);
  }

  @Test
  void anInvalidPolicyRecordKeepsTheConfiguredDefault() {
    policies.pipeInput(CascadeTopology.POLICY_KEY, dev.cascade.schemas.avro.DeferralPolicy.newBuilder()
        .setRule("chow-sum").setAlpha(0).setThreshold(5.0).setExplorationRate(2.0).setTargetEscalationRate(0)
        .setVersion(3).setUpdatedBy("x").setUpdatedAtMs(1).setReason("").build());
    send("a", "unsure");
    driver.advanceWallClockTime(Duration.ofMillis(25));
    assertThat(escalated.readValue().getPolicyVersion()).isEqualTo(0);
  }

  @Test
  void malformedRecordsGoToTheDeadLetterTopicAndProcessingGoesOn() {
    requests.pipeInput("bad".getBytes(), new byte[] {1, 2, 3, 4});
    send("empty", "");
    send("hash", "a#b");
    send("ok", "fine");
    driver.advanceWallClockTime(Duration.ofMillis(25));
    List<DeadLetter> dead = deadLetters.readValuesToList();
    assertThat(dead).hasSize(3);
    assertThat(dead.get(0).getStage()).isEqualTo("deserialize");
    assertThat(dead.get(0).getReason()).containsIgnoringCase("magic");
    assertThat(dead.get(0).getValue().array()).containsExactly(1, 2, 3, 4);
    assertThat(dead.get(0).getTopic()).isEqualTo(config.topics().requests());
    assertThat(dead.get(1).getStage()).isEqualTo("validate");
    assertThat(dead.get(1).getReason()).contains("prompt");
    assertThat(dead.get(2).getReason()).contains("'#'");
    assertThat(responses.readKeyValuesToList()).extracting(kv -> kv.key).containsExactly("ok");
  }

  @Test
  void aRequestIdWithAControlCharacterIsDeadLetteredNamingIt() {
    // A request id goes into log lines and is the key of the request's records: no line breaks in it.
    send("a\nb", "fine");
    send("ok", "fine");
    driver.advanceWallClockTime(Duration.ofMillis(25));
    List<DeadLetter> dead = deadLetters.readValuesToList();
    assertThat(dead).singleElement().satisfies(d -> {
      assertThat(d.getStage()).isEqualTo("validate");
      assertThat(d.getReason()).startsWith("request_id: ").contains("control character").contains("U+000A");
    });
    assertThat(responses.readKeyValuesToList()).extracting(kv -> kv.key).containsExactly("ok");
  }

  @Test
  void aRequestKeyedOtherwiseThanByItsIdIsDeadLetteredNamingTheKey() {
    CascadeRequest r = CascadeRequest.newBuilder().setRequestId("by-id").setPrompt("fine").setMaxNewTokens(0)
        .setReference(null).setMetadata(Map.of()).setCreatedAtMs(System.currentTimeMillis()).build();
    byte[] value = CascadeSerdes.requests().serializer().serialize("t", r);
    requests.pipeInput("other".getBytes(), value);
    requests.pipeInput((byte[]) null, value);
    requests.pipeInput("by-id".getBytes(), value);
    driver.advanceWallClockTime(Duration.ofMillis(25));
    List<org.apache.kafka.streams.KeyValue<byte[], DeadLetter>> keyed = deadLetters.readKeyValuesToList();
    // Keyed by the request id, so a reader of the dead letters finds them by it.
    assertThat(keyed).extracting(kv -> new String(kv.key, java.nio.charset.StandardCharsets.UTF_8))
        .containsExactly("by-id", "by-id");
    List<DeadLetter> dead = keyed.stream().map(kv -> kv.value).toList();
    assertThat(dead).extracting(DeadLetter::getReason).containsExactly(
        "key: must be the request id \"by-id\" (UTF-8), was \"other\" (a request id is checked for duplicates within"
            + " the partition its key picks)",
        "key: must be the request id \"by-id\" (UTF-8), was null (a request id is checked for duplicates within the"
            + " partition its key picks)");
    assertThat(dead).allSatisfy(d -> {
      assertThat(d.getStage()).isEqualTo("validate");
      assertThat(d.getErrorClass()).isEqualTo("invalid:key");
    });
    assertThat(responses.readKeyValuesToList()).extracting(kv -> kv.key).containsExactly("by-id");
  }

  @Test
  void aFrontDoorsAnswersAndRefusalsGoToItsReplyTopicAndEverythingElseToTheSharedTopics() throws Exception {
    driver.close();
    String prefix = config.replyTopicPrefix();
    List<String> asked = new ArrayList<>();
    replies = ReplyTopics.of(config.topics().responses(), prefix, java.util.Set.copyOf(config.topics().all()), topic -> {
      asked.add(topic);
      return topic.equals(prefix + "front-door-a");
    }, System::nanoTime);
    startDriver(1, Duration.ofMillis(20));
    TestOutputTopic<byte[], byte[]> toA = driver.createOutputTopic(prefix + "front-door-a",
        Serdes.ByteArray().deserializer(), Serdes.ByteArray().deserializer());
    sendFor("a-1", "alpha", "front-door-a");
    sendFor("a-2", "unsure, so escalated", "front-door-a");
    sendFor("a-1", "again", "front-door-a"); // a duplicate id: refused
    sendFor("a-3", "explode and down", "front-door-a"); // neither model answers: refused at escalation
    sendFor("b-1", "beta", "front-door-b"); // a front door without a reply topic
    send("kafka-1", "gamma"); // a plain Kafka client: no reply_to

    List<org.apache.kafka.streams.test.TestRecord<byte[], byte[]>> onA = new ArrayList<>();
    List<CascadeResponse> shared = new ArrayList<>();
    List<DeadLetter> dead = new ArrayList<>();
    long deadline = System.currentTimeMillis() + 10_000;
    while ((onA.size() < 4 || shared.size() < 2 || dead.size() < 2) && System.currentTimeMillis() < deadline) {
      Thread.sleep(5);
      driver.advanceWallClockTime(Duration.ofMillis(5));
      onA.addAll(toA.readRecordsToList());
      shared.addAll(responses.readValuesToList());
      dead.addAll(deadLetters.readValuesToList());
    }
    // Front door A's topic: its two answers (one from each model) and copies of its two refusals.
    List<CascadeResponse> answersToA = onA.stream()
        .filter(r -> r.headers().lastHeader(CascadeTopology.DEAD_LETTER_HEADER) == null)
        .map(r -> CascadeSerdes.responses().deserializer().deserialize("t", r.value())).toList();
    assertThat(answersToA).extracting(CascadeResponse::getRequestId).containsExactlyInAnyOrder("a-1", "a-2");
    assertThat(answersToA).allSatisfy(r -> assertThat(r.getReplyTo()).isEqualTo("front-door-a"));
    assertThat(answersToA).extracting(r -> r.getServedBy()).containsExactlyInAnyOrder(ServedBy.SMALL, ServedBy.LARGE);
    List<DeadLetter> refusalsToA = onA.stream()
        .filter(r -> r.headers().lastHeader(CascadeTopology.DEAD_LETTER_HEADER) != null)
        .map(r -> CascadeSerdes.deadLetters().deserializer().deserialize("t", r.value())).toList();
    assertThat(refusalsToA).extracting(DeadLetter::getStage).containsExactlyInAnyOrder("validate", "escalation");
    assertThat(onA).allSatisfy(r -> assertThat(new String(
        r.headers().lastHeader(CascadeTopology.REPLY_TO_HEADER).value())).isEqualTo("front-door-a"));
    // The shared topics: the other two answers, and every dead letter, as before.
    assertThat(shared).extracting(CascadeResponse::getRequestId).containsExactlyInAnyOrder("b-1", "kafka-1");
    assertThat(dead).extracting(DeadLetter::getStage).containsExactlyInAnyOrder("validate", "escalation");
    assertThat(toA.isEmpty() && responses.isEmpty() && deadLetters.isEmpty()).isTrue();
    // The broker was asked about each front door's reply topic once, never about a plain Kafka client's.
    assertThat(asked).containsExactlyInAnyOrder(prefix + "front-door-a", prefix + "front-door-b");
  }

  private void sendFor(String id, String prompt, String replyTo) {
    CascadeRequest r = CascadeRequest.newBuilder().setRequestId(id).setPrompt(prompt).setMaxNewTokens(0)
        .setMetadata(Map.of()).setReplyTo(replyTo).setCreatedAtMs(System.currentTimeMillis()).build();
    requests.pipeInput(id.getBytes(), CascadeSerdes.requests().serializer().serialize("t", r));
  }

  @Test
  void aRepeatedRequestIdIsDeadLetteredInsteadOfAnsweredTwice() {
    send("same", "first");
    send("same", "second");
    driver.advanceWallClockTime(Duration.ofMillis(25));
    assertThat(responses.readValuesToList()).singleElement()
        .satisfies(r -> assertThat(r.getText()).isEqualTo("tsrif"));
    assertThat(deadLetters.readValue().getReason()).contains("request_id: duplicate");
  }

  @Test
  void aRequestTheSmallModelCannotRunIsEscalatedAndItsBatchMatesAreAnswered() throws Exception {
    send("a", "fine");
    send("b", "explode");
    send("c", "also fine");
    List<CascadeResponse> out = collect(3);
    assertThat(out).extracting(CascadeResponse::getRequestId).containsExactlyInAnyOrder("a", "b", "c");
    assertThat(out).filteredOn(r -> r.getRequestId().equals("b")).singleElement().satisfies(r -> {
      assertThat(r.getServedBy()).isEqualTo(ServedBy.LARGE);
      assertThat(r.getText()).isEqualTo("EXPLODE");
    });
    assertThat(outcomes.readValuesToList()).filteredOn(o -> o.getRequestId().equals("b")).singleElement()
        .satisfies(o -> {
          assertThat(o.getSmallFailure()).contains("scripted failure");
          assertThat(o.getSmallCorrect()).isNull();
          assertThat(o.getDegraded()).isFalse();
        });
    assertThat(deadLetters.isEmpty()).isTrue();
  }

  @Test
  void aRequestNeitherModelCanAnswerIsDeadLetteredWithBothReasons() throws Exception {
    send("a", "explode and down");
    long deadline = System.currentTimeMillis() + 10_000;
    while (deadLetters.isEmpty() && System.currentTimeMillis() < deadline) {
      Thread.sleep(5);
      driver.advanceWallClockTime(Duration.ofMillis(5));
    }
    DeadLetter dead = deadLetters.readValue();
    assertThat(dead.getStage()).isEqualTo("escalation");
    assertThat(dead.getReason()).contains("scripted failure").contains("UNAVAILABLE");
    assertThat(responses.isEmpty()).isTrue();
  }

  @Test
  void aHungBatchIsGivenUpAndItsRequestsAreAnsweredByTheLargeModel() throws Exception {
    batchTimeout = Duration.ofMillis(200);
    withGatedWorker(2, () -> {
      send("a", "alpha");
      send("b", "beta"); // a full batch, held at the gate: the model hangs
      driver.advanceWallClockTime(Duration.ofMillis(150));
      assertThat(escalated.isEmpty()).as("not given up before the timeout").isTrue();
      driver.advanceWallClockTime(Duration.ofMillis(100));
      List<CascadeResponse> out = collect(2);
      assertThat(out).extracting(CascadeResponse::getRequestId).containsExactlyInAnyOrder("a", "b");
      assertThat(out).allSatisfy(r -> assertThat(r.getServedBy()).isEqualTo(ServedBy.LARGE));
      assertThat(outcomes.readValuesToList()).hasSize(2)
          .allSatisfy(o -> assertThat(o.getSmallFailure()).contains("timed out after 200 ms"));
      // The stream thread went on: a later request is batched (and, once the model is back, answered).
      small.gate.countDown();
      send("c", "gamma");
      assertThat(collect(1)).extracting(CascadeResponse::getRequestId).containsExactly("c");
    });
  }

  @Test
  void withTwoBatchesInFlightAHungModelHasEachBatchGivenUpInTurn() throws Exception {
    batchTimeout = Duration.ofMillis(200);
    batchesInFlight = 2;
    withGatedWorkers(2, 2, () -> {
      send("a", "alpha");
      send("b", "beta");
      driver.advanceWallClockTime(Duration.ofMillis(100));
      send("c", "gamma");
      send("d", "delta"); // both batches held at the gate: the model hangs
      driver.advanceWallClockTime(Duration.ofMillis(150));
      assertThat(escalated.readValuesToList()).extracting(Escalation::getRequestId)
          .as("the older batch, past its timeout; the newer one not yet").containsExactlyInAnyOrder("a", "b");
      driver.advanceWallClockTime(Duration.ofMillis(100));
      assertThat(escalated.readValuesToList()).extracting(Escalation::getRequestId).containsExactlyInAnyOrder("c", "d");
      List<CascadeResponse> out = collect(4);
      assertThat(out).extracting(CascadeResponse::getRequestId).containsExactlyInAnyOrder("a", "b", "c", "d");
      assertThat(out).allSatisfy(r -> assertThat(r.getServedBy()).isEqualTo(ServedBy.LARGE));
      assertThat(outcomes.readValuesToList()).hasSize(4)
          .allSatisfy(o -> assertThat(o.getSmallFailure()).contains("timed out after 200 ms"));
    });
  }

  /**
   * A topology fuzz test: 1,500 records, random and mutated (valid requests, refused prompts,
   * out-of-range token limits, oversized metadata, repeated ids, garbage bytes, valid encodings
   * with bytes flipped, cut or appended, empty values). Every record ends in exactly one response
   * or one dead letter; none is lost, none is answered twice, and the topology never throws.
   */
  @Test
  void fuzzedInputIsEachAnsweredOrDeadLetteredExactlyOnce() throws Exception {
    java.util.SplittableRandom random = new java.util.SplittableRandom(20261130);
    int n = 1_500;
    String letters = "abcdefghijklmnopqrstuvwxyz #'-";
    for (int i = 0; i < n; i++) {
      int kind = random.nextInt(6);
      StringBuilder prompt = new StringBuilder(random.nextBoolean() ? "unsure " : "");
      for (int c = random.nextInt(12); c > 0; c--) {
        prompt.append(letters.charAt(random.nextInt(letters.length())));
      }
      String id = kind == 1 && i > 0 ? "fuzz-" + random.nextInt(i) : "fuzz-" + i; // some repeat an earlier id
      Map<String, String> metadata = new java.util.HashMap<>();
      for (int m = random.nextInt(kind == 2 ? 40 : 3); m > 0; m--) {
        metadata.put("k" + m, "v".repeat(random.nextInt(kind == 2 ? 1100 : 10)));
      }
      CascadeRequest r = CascadeRequest.newBuilder().setRequestId(id).setPrompt(prompt.toString())
          .setMaxNewTokens(kind == 3 ? random.nextInt(-5, 700) : random.nextInt(0, 48)).setMetadata(metadata)
          .setCreatedAtMs(System.currentTimeMillis()).build();
      byte[] value = CascadeSerdes.requests().serializer().serialize("t", r);
      if (kind == 4) {
        value = new byte[random.nextInt(0, 40)];
        for (int b = 0; b < value.length; b++) {
          value[b] = (byte) random.nextInt(256);
        }
      } else if (kind == 5) {
        value = value.clone();
        switch (random.nextInt(3)) {
          case 0 -> {
            for (int f = random.nextInt(1, 4); f > 0; f--) {
              value[random.nextInt(10, value.length)] = (byte) random.nextInt(256);
            }
          }
          case 1 -> value = java.util.Arrays.copyOf(value, random.nextInt(0, value.length));
          default -> value = java.util.Arrays.copyOf(value, value.length + random.nextInt(1, 20));
        }
      }
      // Keyed by the id, as producers must, but now and then by something else (or nothing).
      byte[] key = random.nextInt(20) == 0 ? (random.nextBoolean() ? null : ("key-" + i).getBytes()) : id.getBytes();
      requests.pipeInput(key, value);
    }
    List<String> answered = new ArrayList<>();
    int dead = 0;
    long deadline = System.currentTimeMillis() + 30_000;
    while (answered.size() + dead < n && System.currentTimeMillis() < deadline) {
      responses.readValuesToList().forEach(v -> answered.add(v.getRequestId()));
      dead += deadLetters.readValuesToList().size();
      Thread.sleep(5);
      driver.advanceWallClockTime(Duration.ofMillis(20));
    }
    Thread.sleep(200);
    driver.advanceWallClockTime(Duration.ofMillis(500));
    responses.readValuesToList().forEach(v -> answered.add(v.getRequestId()));
    dead += deadLetters.readValuesToList().size();
    System.out.printf("topology fuzz: %d records, %d answered, %d dead-lettered%n", n, answered.size(), dead);
    assertThat(answered).as("no request answered twice").doesNotHaveDuplicates();
    assertThat(answered.size() + dead).as("every record answered or dead-lettered, once").isEqualTo(n);
    assertThat(answered.size()).as("the valid ones answered").isGreaterThan(n / 3);
  }

  @Test
  void aFailingLargeModelAnswersWithTheSmallTextMarkedDegraded() throws Exception {
    java.io.PrintStream err = System.err;
    java.io.ByteArrayOutputStream logged = new java.io.ByteArrayOutputStream();
    List<CascadeResponse> late;
    // slf4j-simple writes to System.err as it is when it writes: the escalator's warning is caught here.
    System.setErr(new java.io.PrintStream(new java.io.OutputStream() {
      @Override
      public synchronized void write(int b) {
        err.write(b);
        logged.write(b);
      }

      @Override
      public synchronized void write(byte[] b, int off, int len) {
        err.write(b, off, len);
        logged.write(b, off, len);
      }
    }, true));
    try {
      send("a", "unsure but down");
      driver.advanceWallClockTime(Duration.ofMillis(25));
      late = collect(1);
    } finally {
      System.setErr(err);
    }
    assertThat(logged.toString(java.nio.charset.StandardCharsets.UTF_8))
        .as("a tier's failure that degrades a request is logged")
        .contains("WARN").contains("large: 1 request degraded").contains("latest: request a: large unavailable for");
    assertThat(late).singleElement().satisfies(r -> {
      assertThat(r.getServedBy()).isEqualTo(ServedBy.SMALL_DEGRADED);
      assertThat(r.getText()).isEqualTo("nwod tub erusnu");
    });
    RoutingOutcome o = outcomes.readValue();
    assertThat(o.getDegraded()).isTrue();
    // Names the tier, and says whether the wait has passed max-wait, or the next try's would.
    java.util.regex.Matcher m = java.util.regex.Pattern.compile(
        "^large unavailable for (\\d+) ms; (past|another try would pass) escalation\\.max-wait-ms \\(400\\) after \\d+ (?:try|tries): ")
        .matcher(o.getDegradedReason());
    assertThat(m.find()).as(o.getDegradedReason()).isTrue();
    assertThat(m.group(2)).as(o.getDegradedReason()).isEqualTo(Long.parseLong(m.group(1)) >= 400 ? "past"
        : "another try would pass");
    assertThat(o.getDegradedReason()).contains("UNAVAILABLE");
  }

  @Test
  void onceTheBreakerIsOpenEscalationsAreAnsweredDegradedAtOnceNamingTheFailureThatOpenedIt() throws Exception {
    // A minute's wait for the model, and a breaker that stays open 30 s once 10 calls have failed:
    // without escalation.fail-fast-when-open (on by default) none of these would be answered here.
    restartWith(new EscalationSettings(4, Duration.ofSeconds(2), 0, Duration.ofMillis(1), 50, Duration.ofSeconds(30), 0,
        Duration.ofSeconds(60)), 1);
    for (int i = 0; i < 12; i++) {
      send("down-" + i, "unsure but down " + i);
    }
    List<CascadeResponse> down = collect(12);
    assertThat(down).hasSize(12).allSatisfy(r -> assertThat(r.getServedBy()).isEqualTo(ServedBy.SMALL_DEGRADED));
    assertThat(escalations.breakerState()).isEqualTo(io.github.resilience4j.circuitbreaker.CircuitBreaker.State.OPEN);
    List<RoutingOutcome> first = outcomes.readValuesToList();
    assertThat(first).hasSize(12).allSatisfy(o -> {
      assertThat(o.getDegraded()).isTrue();
      assertThat(o.getDegradedReason()).startsWith("large unavailable for ")
          .contains("; its circuit breaker is open (escalation.fail-fast-when-open) after ")
          .contains("UNAVAILABLE: large model down");
    });
    // A request the model would answer gets the small model's answer at once: its one call refused.
    send("fine", "unsure and fine");
    assertThat(collect(1)).singleElement().satisfies(r -> {
      assertThat(r.getServedBy()).isEqualTo(ServedBy.SMALL_DEGRADED);
      assertThat(r.getText()).isEqualTo("enif dna erusnu");
    });
    assertThat(outcomes.readValue().getDegradedReason()).matches("^large unavailable for \\d+ ms; its circuit breaker"
        + " is open \\(escalation.fail-fast-when-open\\) after 1 try: CallNotPermittedException: CircuitBreaker"
        + " 'large' is OPEN and does not permit further calls \\(its last counted failure: StatusRuntimeException:"
        + " UNAVAILABLE: large model down\\)$");
  }

  @Test
  void withoutFailFastAnEscalationWaitsOutTheOpenBreakerAndIsAnsweredByTheModel() throws Exception {
    restartWith(new EscalationSettings(4, Duration.ofSeconds(2), 0, Duration.ofMillis(1), 50, Duration.ofMillis(500), 0,
        Duration.ofSeconds(60)).withFailFastWhenOpen(false), 1);
    escalations.breaker().transitionToOpenState();
    send("fine", "unsure and fine");
    assertThat(collect(1)).singleElement().satisfies(r -> {
      assertThat(r.getServedBy()).isEqualTo(ServedBy.LARGE);
      assertThat(r.getText()).isEqualTo("UNSURE AND FINE");
    });
    assertThat(outcomes.readValue().getDegraded()).isFalse();
  }

  @Test
  void anEscalationWaitsForALargeModelThatComesBackInsteadOfDegrading() throws Exception {
    // A wait long enough that a loaded machine cannot run it out before the fourth call (the
    // shared client's 400 ms is for the tests that must degrade).
    restartWith(new EscalationSettings(4, Duration.ofSeconds(2), 1, Duration.ofMillis(1), 50, Duration.ofSeconds(5), 0,
        Duration.ofSeconds(8)), 3);
    send("a", "unsure and flaky");
    List<CascadeResponse> out = collect(1);
    assertThat(out).singleElement().satisfies(r -> {
      assertThat(r.getServedBy()).isEqualTo(ServedBy.LARGE);
      assertThat(r.getText()).isEqualTo("UNSURE AND FLAKY");
    });
    assertThat(flakyCalls.get()).as("failed, parked, tried again").isGreaterThan(FLAKY_FAILURES);
    assertThat(outcomes.readValue().getDegraded()).isFalse();
  }

  @Test
  void anEscalationParkedBeforeARestartGoesOnCountingMaxWaitFromItsFirstFailedCall() throws Exception {
    // An 8 s wait for the model, which is down: the first failed call parks the escalation, and the
    // wait so far goes into the store with it.
    EscalationSettings eightSeconds = new EscalationSettings(4, Duration.ofSeconds(2), 0, Duration.ofMillis(1), 50,
        Duration.ofSeconds(30), 0, Duration.ofSeconds(8)).withFailFastWhenOpen(false);
    restartWith(eightSeconds, 1);
    send("a", "unsure but down");
    Escalation handedOver = escalated.readValue();
    long deadline = System.currentTimeMillis() + 10_000;
    Escalation stored = null;
    while ((stored == null || stored.getTierWait() == null) && System.currentTimeMillis() < deadline) {
      Thread.sleep(5);
      driver.advanceWallClockTime(Duration.ofMillis(5));
      stored = driver.<String, Escalation>getKeyValueStore(CascadeTopology.ESCALATION_STORE).get("a");
    }
    assertThat(stored.getTierWait()).as("the parked escalation's wait, in the store").isNotNull().satisfies(w -> {
      assertThat(w.getTier()).isEqualTo(1);
      assertThat(w.getTries()).isPositive();
      assertThat(w.getSinceMs()).isLessThanOrEqualTo(System.currentTimeMillis());
      assertThat(w.getLastError()).contains("UNAVAILABLE");
    });
    assertThat(responses.isEmpty()).as("still waiting").isTrue();

    // A router restarted on a store whose escalation had waited 7.9 s, 40 failed calls: the next
    // failure ends the wait at the original first failure + 8 s, not 8 s after the restart.
    restartWith(eightSeconds, 1);
    TestInputTopic<String, Escalation> escalationsIn = driver.createInputTopic(config.topics().escalations(),
        new StringSerializer(), CascadeSerdes.escalations().serializer());
    long firstFailure = System.currentTimeMillis() - 7_900;
    escalationsIn.pipeInput("a", Escalation.newBuilder(handedOver).setTierWait(TierWait.newBuilder().setTier(1)
        .setSinceMs(firstFailure).setTries(40).setFirstError("UNAVAILABLE: down before the restart")
        .setLastError("UNAVAILABLE: still down before the restart").build()).build());
    assertThat(collect(1)).singleElement().satisfies(r -> assertThat(r.getServedBy()).isEqualTo(ServedBy.SMALL_DEGRADED));
    RoutingOutcome o = outcomes.readValue();
    assertThat(o.getDegradedReason()).as("counted from the first failure before the restart")
        .matches("^large unavailable for \\d+ ms; (past|another try would pass) escalation\\.max-wait-ms \\(8000\\)"
            + " after 41 tries: first UNAVAILABLE: down before the restart; last .*UNAVAILABLE.*");
    long unavailableFor = Long.parseLong(o.getDegradedReason().replaceFirst("^large unavailable for (\\d+) ms.*", "$1"));
    assertThat(unavailableFor).as("the driver's clock lags the wall clock a little").isGreaterThanOrEqualTo(7_800);
  }

  @Test
  void anEscalationStopsWaitingAtTheRequestsDeadline() throws Exception {
    // The same long wait as above (8 s), but the caller gives up 1.5 s after sending: the escalation
    // degrades at the deadline, saying so, instead of waiting out escalation.max-wait-ms.
    long sent = System.currentTimeMillis();
    List<CascadeResponse> out = sendWithADeadline(Duration.ofSeconds(2), 1, "unsure but down", 1_500);
    assertThat(out).singleElement().satisfies(r -> assertThat(r.getServedBy()).isEqualTo(ServedBy.SMALL_DEGRADED));
    RoutingOutcome o = outcomes.readValue();
    // The request is created a moment after `sent`, so its deadline is at most 1,500 ms after creation.
    java.util.regex.Matcher m = java.util.regex.Pattern
        .compile("^large unavailable for \\d+ ms; (?:past|another try would pass) the request's deadline_ms"
            + " \\((\\d+) ms after it was created\\)").matcher(o.getDegradedReason());
    assertThat(m.find()).as(o.getDegradedReason()).isTrue();
    assertThat(Long.parseLong(m.group(1))).isBetween(1_400L, 1_500L);
    assertThat(o.getDegradedReason()).contains("UNAVAILABLE");
    assertThat(System.currentTimeMillis() - sent).as("degraded at the deadline, not after the 8 s wait")
        .isLessThan(7_000);
  }

  @Test
  void aCallToASlowLargeModelEndsAtTheRequestsDeadline() throws Exception {
    // A per-call deadline (10 s) longer than the slow model's 6 s: only the request's deadline, 1.5 s
    // after sending, can end the call before the model answers.
    long sent = System.currentTimeMillis();
    List<CascadeResponse> out = sendWithADeadline(Duration.ofSeconds(10), 0, "unsure and slow", 1_500);
    long took = System.currentTimeMillis() - sent;
    assertThat(out).singleElement().satisfies(r -> {
      assertThat(r.getServedBy()).isEqualTo(ServedBy.SMALL_DEGRADED);
      assertThat(r.getText()).isEqualTo("wols dna erusnu");
    });
    RoutingOutcome o = outcomes.readValue();
    assertThat(o.getDegradedReason()).startsWith("the request's deadline_ms (")
        .contains("came before large answered: RequestDeadlineReached: CANCELLED: request a's deadline_ms");
    assertThat(slowCalls.get()).as("the slow model was called").isEqualTo(1);
    assertThat(escalations.breaker().getMetrics().getNumberOfFailedCalls())
        .as("the caller's deadline is no failure of the model's").isZero();
    assertThat(took).as("answered at the deadline, not when the slow model would have answered").isLessThan(5_000);
  }

  /**
   * Sends a request whose deadline passes between the small model and the escalator: it is 60 s
   * from now by the small model's clock (the real one), but the driver's wall clock, which the
   * escalator reads, is first moved 90 s ahead.
   */
  private void sendDueBetweenTheStages(String id, String prompt) {
    driver.advanceWallClockTime(Duration.ofSeconds(90));
    send(id, prompt, null, System.currentTimeMillis() + 60_000);
  }

  @Test
  void anEscalationWhoseDeadlineHasPassedIsNotCalled() throws Exception {
    // The caller gave up after the small model answered: the escalation never reaches the model.
    sendDueBetweenTheStages("a", "unsure and slow");
    List<CascadeResponse> out = collect(1);
    assertThat(out).singleElement().satisfies(r -> assertThat(r.getServedBy()).isEqualTo(ServedBy.SMALL_DEGRADED));
    RoutingOutcome o = outcomes.readValue();
    assertThat(o.getDegraded()).isTrue();
    assertThat(o.getDegradedReason()).startsWith("the request's deadline_ms passed").contains("not called");
    assertThat(slowCalls.get()).as("no call made for an answer nobody waits for").isZero();
  }

  @Test
  void aRequestTakenAfterItsDeadlineIsAnsweredOnceWithoutAnyModel() throws Exception {
    send("late", "hello", "olleh", System.currentTimeMillis() - 1_000);
    send("due", "world", null, System.currentTimeMillis() + 60_000);
    driver.advanceWallClockTime(Duration.ofMillis(25)); // past the 20 ms batch wait

    List<CascadeResponse> out = collect(2);
    assertThat(out).extracting(CascadeResponse::getRequestId).containsExactlyInAnyOrder("late", "due");
    CascadeResponse late = out.stream().filter(r -> r.getRequestId().equals("late")).findFirst().orElseThrow();
    assertThat(late.getDeadlineExceeded()).isTrue();
    assertThat(late.getText()).isEmpty();
    assertThat(late.getDecision()).as("no decision made").isNull();
    assertThat(small.batchSizes).as("the small model ran for the request still waited for only").containsExactly(1);
    Map<String, RoutingOutcome> byId = new java.util.HashMap<>();
    outcomes.readValuesToList().forEach(o -> assertThat(byId.put(o.getRequestId(), o)).as("one outcome each").isNull());
    assertThat(byId.get("late").getDeadlineExceeded()).isTrue();
    assertThat(byId.get("late").getDegradedReason()).startsWith("deadline_exceeded: the request's deadline_ms passed");
    assertThat(byId.get("due").getDeadlineExceeded()).isFalse();
    assertThat(byId.get("due").getServedBy()).isEqualTo(ServedBy.SMALL);
    assertThat(escalated.isEmpty()).isTrue();
    assertThat(deadLetters.isEmpty()).isTrue();
    KeyValueStore<String, CascadeRequest> batchStore = driver.getKeyValueStore(CascadeTopology.BATCH_STORE);
    assertThat(batchStore.approximateNumEntries()).as("each left the store with its answer").isZero();
  }

  @Test
  void aRequestWithoutASmallAnswerWhoseDeadlinePassesBeforeItsEscalationIsDeadlineExceededNotADeadLetter()
      throws Exception {
    // The small model fails on it ("explode"), so it is escalated without a small answer; by the
    // escalator's clock its caller has gone: nothing to degrade to, and nothing failed.
    sendDueBetweenTheStages("x", "explode now");
    List<CascadeResponse> out = collect(1);
    assertThat(out).singleElement().satisfies(r -> {
      assertThat(r.getDeadlineExceeded()).isTrue();
      assertThat(r.getText()).isEmpty();
    });
    RoutingOutcome o = outcomes.readValue();
    assertThat(o.getDeadlineExceeded()).isTrue();
    assertThat(o.getSmallFailure()).startsWith("small model failed");
    assertThat(o.getDegradedReason()).startsWith("deadline_exceeded: small model failed")
        .contains("; then the request's deadline_ms passed").endsWith("not called");
    assertThat(outcomes.isEmpty()).isTrue();
    assertThat(deadLetters.isEmpty()).isTrue();
  }

  @Test
  void aMiddleTierPrefixIsNotCalledAgainForItsWholeAnswerOnceTheDeadlineHasPassed() throws Exception {
    // medium stops early and passes the request on; large is slow and cut at the request's deadline.
    // The fallback to medium's whole answer would come after the caller stopped waiting: it is not
    // sent, and the request is degraded to the small model's answer.
    String name = InProcessServerBuilder.generateName();
    java.util.concurrent.atomic.AtomicInteger stopped = new java.util.concurrent.atomic.AtomicInteger();
    java.util.concurrent.atomic.AtomicInteger whole = new java.util.concurrent.atomic.AtomicInteger();
    Server mediumServer = InProcessServerBuilder.forName(name).addService(new LargeModelGrpc.LargeModelImplBase() {
      @Override
      public void generate(LargeGenerateRequest request, StreamObserver<LargeGenerateResponse> out) {
        boolean stop = request.hasEarlyStop();
        (stop ? stopped : whole).incrementAndGet();
        out.onNext(LargeGenerateResponse.newBuilder().setText(stop ? "MEDIUM PREFIX" : "MEDIUM WHOLE")
            .addTokens(5).addTokenLogprobs(-3f).setStoppedEarly(stop).setModel("medium").build());
        out.onCompleted();
      }
    }).build().start();
    ManagedChannel mediumChannel = InProcessChannelBuilder.forName(name).build();
    EscalationSettings settings = new EscalationSettings(4, Duration.ofSeconds(10), 0, Duration.ofMillis(1), 50,
        Duration.ofSeconds(5), 0, Duration.ofSeconds(8));
    EscalationClient large = new EscalationClient(channel, false, settings);
    try {
      driver.close();
      escalations.close();
      startTieredDriver(new EscalationClient(mediumChannel, false, settings), large);
      long sent = System.currentTimeMillis();
      send("a", "unsure and slow", null, sent + 1_500);
      List<CascadeResponse> out = collect(1);
      assertThat(out).singleElement().satisfies(r -> {
        assertThat(r.getServedBy()).isEqualTo(ServedBy.SMALL_DEGRADED);
        assertThat(r.getServedTier()).isZero();
        assertThat(r.getText()).isEqualTo("wols dna erusnu");
      });
      RoutingOutcome o = outcomes.readValue();
      assertThat(o.getTierAnswers()).singleElement().satisfies(t -> assertThat(t.getStoppedEarly()).isTrue());
      assertThat(o.getDegradedReason()).contains("deadline_ms");
      assertThat(stopped.get()).as("medium asked once, to stop early").isEqualTo(1);
      assertThat(slowCalls.get()).as("large called").isEqualTo(1);
      assertThat(whole.get()).as("no call for medium's whole answer after the deadline").isZero();
      assertThat(System.currentTimeMillis() - sent).isLessThan(5_000);
    } finally {
      large.close();
      mediumChannel.shutdownNow();
      mediumServer.shutdownNow();
    }
  }

  @Test
  void aMiddleTierHoldingATargetRatePassesOnThatShareOfTheRequestsReachingIt() throws Exception {
    // Medium's one token scores (Chow-Sum) 0.0 to 9.9 by the number in the prompt, spread evenly; at
    // its configured threshold 1.0 it would pass on 90% of them. Its policy holds 30%.
    String name = InProcessServerBuilder.generateName();
    java.util.Set<String> askedToStop = java.util.concurrent.ConcurrentHashMap.newKeySet();
    Server mediumServer = scoredMedium(name, true, askedToStop);
    ManagedChannel mediumChannel = InProcessChannelBuilder.forName(name).build();
    EscalationClient large = new EscalationClient(channel, false, tierSettings(60_000));
    try {
      driver.close();
      escalations.close();
      startTieredDriver(new EscalationClient(mediumChannel, false, tierSettings(60_000)), large,
          new dev.cascade.router.policy.TierPolicy("chow-sum", 0.0, 1.0, 0.3));
      int n = 700;
      for (int i = 0; i < n; i++) {
        send("r" + i, "unsure " + i);
      }
      assertThat(collect(n)).hasSize(n);
      List<RoutingOutcome> all = outcomes.readValuesToList();
      assertThat(all).hasSize(n);
      int warm = dev.cascade.router.policy.TargetRateController.DEFAULT_MIN_OBSERVATIONS;
      int passedOn = 0;
      int decided = 0;
      int stopped = 0;
      int stopAbove = 0;
      for (RoutingOutcome o : all) {
        TierAnswer medium = o.getTierAnswers().get(0);
        assertThat(medium.getModel()).isEqualTo("medium");
        assertThat(medium.getDeferred()).as("passed on exactly when its score is above the threshold it was given,"
            + " or it stopped early").isEqualTo(medium.getScore() > medium.getThreshold() || medium.getStoppedEarly());
        assertThat(o.getServedTier()).isEqualTo(medium.getDeferred() ? 2 : 1);
        if (medium.getStoppedEarly()) {
          stopped++;
          assertThat(medium.getStopThreshold()).isNotNull();
          assertThat(medium.getScore()).isGreaterThan(medium.getStopThreshold());
        }
        if (medium.getStopThreshold() != null) {
          assertThat(medium.getThreshold()).as("no early stop during the warm-up").isNotEqualTo(1.0);
          stopAbove += medium.getStopThreshold() > medium.getThreshold() ? 1 : 0;
        }
        if (medium.getThreshold() != 1.0) {
          decided++;
          passedOn += medium.getDeferred() ? 1 : 0;
        }
      }
      // Answers stop early only above the stop threshold: 10 points of the window above the
      // decision threshold (20% of these evenly spread scores at a target of 30%).
      assertThat(askedToStop.size()).isGreaterThanOrEqualTo(n - warm - 70);
      assertThat(stopped / (double) decided).isBetween(0.15, 0.25);
      assertThat(stopAbove).as("stop thresholds above the decision threshold").isGreaterThan(askedToStop.size() * 9 / 10);
      assertThat(decided).as("the configured threshold for the first scores only").isGreaterThanOrEqualTo(n - warm - 5);
      assertThat(passedOn / (double) decided).isBetween(0.25, 0.35);
    } finally {
      large.close();
      mediumChannel.shutdownNow();
      mediumServer.shutdownNow();
    }
  }

  @Test
  void labelSamplingLetsADrawnShareOfAMiddleTiersEarlyDeferralsDecodeWholeAndWeighsThemBack() throws Exception {
    // Medium's one token scores 0.0 to 9.9 by the number in the prompt; it stops early, as a real
    // server does, once its score passes the threshold the call gives (5.0). Half the calls that
    // could stop are let decode whole instead; a fifth of what medium's rule would serve is explored.
    String name = InProcessServerBuilder.generateName();
    java.util.Set<String> askedToStop = java.util.concurrent.ConcurrentHashMap.newKeySet();
    Server mediumServer = scoredMedium(name, true, askedToStop);
    ManagedChannel mediumChannel = InProcessChannelBuilder.forName(name).build();
    EscalationClient large = new EscalationClient(channel, false, tierSettings(60_000));
    try {
      driver.close();
      escalations.close();
      dev.cascade.router.policy.TierPolicy exploring = new dev.cascade.router.policy.TierPolicy("chow-sum", 0.0, 5.0,
          0.0, 0.2);
      startTieredDriver(new EscalationClient(mediumChannel, false, tierSettings(60_000)), large, exploring, 0.5);
      int n = 700;
      for (int i = 0; i < n; i++) {
        send("r" + i, "unsure " + i, i % 2 == 0 ? "MEDIUM " + i : "UNSURE " + i);
      }
      assertThat(collect(n)).hasSize(n);
      List<RoutingOutcome> all = outcomes.readValuesToList();
      assertThat(all).hasSize(n);
      int wouldStop = 0;
      int sampled = 0;
      int stopped = 0;
      dev.cascade.router.learning.TierOutcomeReport.Collector collector =
          new dev.cascade.router.learning.TierOutcomeReport.Collector(1);
      for (RoutingOutcome o : all) {
        collector.accept(o);
        TierAnswer medium = o.getTierAnswers().get(0);
        boolean drawn = dev.cascade.router.policy.EarlyDeferral.labelDraw(o.getRequestId(), 1) < 0.5;
        assertThat(askedToStop.contains(o.getRequestId())).as("a sampled call asks no early stop").isEqualTo(!drawn);
        boolean above = medium.getScore() > 5.0;
        assertThat(medium.getDeferred()).isEqualTo(above || medium.getExplored());
        assertThat(medium.getStoppedEarly()).isEqualTo(above && !drawn);
        assertThat(medium.getLabelPropensity()).isEqualTo(above && drawn ? 0.5 : null);
        assertThat(medium.getStopThreshold()).isEqualTo(drawn ? null : 5.0);
        wouldStop += above ? 1 : 0;
        sampled += above && drawn ? 1 : 0;
        stopped += medium.getStoppedEarly() ? 1 : 0;
      }
      assertThat(sampled / (double) wouldStop).isBetween(0.4, 0.6);
      assertThat(stopped).isEqualTo(wouldStop - sampled);
      dev.cascade.router.learning.TierOutcomeReport report =
          dev.cascade.router.learning.TierOutcomeReport.compute(collector, 200, 1);
      assertThat(report.labelSampled()).isEqualTo(sampled);
      assertThat(report.skipped()).containsEntry(dev.cascade.router.learning.TierOutcomeReport.STOPPED_EARLY,
          (long) stopped);
      assertThat(report.stoppedEarlyWarning()).as("the sampled ones stand for them").isEmpty();
      // Every request reaching medium is stood for: the sampled by 1/0.5, the explored by 1/0.2.
      assertThat(report.totalWeight()).isBetween(n * 0.85, n * 1.15);
      assertThat(report.asRunShare()).isCloseTo(wouldStop / (double) n, within(0.1));
    } finally {
      large.close();
      mediumChannel.shutdownNow();
      mediumServer.shutdownNow();
    }
  }

  @Test
  void aMiddleTierExploresASliceOfWhatItWouldServeAndEvalOutcomesWeightsThemBack() throws Exception {
    // Medium's one token scores (Chow-Sum) 0.0 to 9.9 by the number in the prompt, spread evenly: at
    // its threshold 5.0 it passes on about half; it explores a fifth of the others. The reference is
    // medium's answer for even numbers, the large model's (the prompt uppercased) for odd ones.
    String name = InProcessServerBuilder.generateName();
    Server mediumServer = scoredMedium(name, false, java.util.concurrent.ConcurrentHashMap.newKeySet());
    ManagedChannel mediumChannel = InProcessChannelBuilder.forName(name).build();
    EscalationClient large = new EscalationClient(channel, false, tierSettings(60_000));
    try {
      driver.close();
      escalations.close();
      dev.cascade.router.policy.TierPolicy exploring = new dev.cascade.router.policy.TierPolicy("chow-sum", 0.0, 5.0,
          0.0, 0.2);
      startTieredDriver(new EscalationClient(mediumChannel, false, tierSettings(60_000)), large, exploring);
      int n = 700;
      for (int i = 0; i < n; i++) {
        send("r" + i, "unsure " + i, i % 2 == 0 ? "MEDIUM " + i : "UNSURE " + i);
      }
      assertThat(collect(n)).hasSize(n);
      List<RoutingOutcome> all = outcomes.readValuesToList();
      assertThat(all).hasSize(n);
      int servable = 0;
      int explored = 0;
      double weights = 0;
      int passedOn = 0;
      dev.cascade.router.learning.TierOutcomeReport.Collector collector =
          new dev.cascade.router.learning.TierOutcomeReport.Collector(1);
      for (RoutingOutcome o : all) {
        collector.accept(o);
        TierAnswer medium = o.getTierAnswers().get(0);
        boolean ruleServes = !(medium.getScore() > 5.0);
        assertThat(medium.getExplored()).isEqualTo(ruleServes && exploring.explores(o.getRequestId(), 1));
        assertThat(medium.getDeferred()).isEqualTo(!ruleServes || medium.getExplored());
        assertThat(medium.getPropensity()).isEqualTo(ruleServes ? 0.2 : 1.0);
        // The policy its rule came from (no change during the run: the outcome's), none for the last tier.
        assertThat(medium.getPolicyVersion()).isNotNull().isEqualTo(o.getPolicyVersion());
        if (medium.getDeferred()) {
          assertThat(o.getTierAnswers().get(1).getPolicyVersion()).isNull();
        }
        assertThat(o.getServedTier()).isEqualTo(medium.getDeferred() ? 2 : 1);
        servable += ruleServes ? 1 : 0;
        explored += medium.getExplored() ? 1 : 0;
        if (medium.getDeferred()) {
          passedOn++;
          weights += 1 / medium.getPropensity();
        }
      }
      assertThat(servable).isBetween(330, 370);
      assertThat(explored / (double) servable).isBetween(0.13, 0.27);
      dev.cascade.router.learning.TierOutcomeReport report =
          dev.cascade.router.learning.TierOutcomeReport.compute(collector, 200, 1);
      assertThat(report.used()).isEqualTo(passedOn);
      assertThat(report.explored()).isEqualTo(explored);
      assertThat(report.totalWeight()).isCloseTo(weights, within(1e-9));
      assertThat(report.skipped()).containsOnlyKeys(dev.cascade.router.learning.TierOutcomeReport.SERVED);
      // Half the references are medium's answer, half large's, whatever the score: both near 50%.
      assertThat(report.tierAccuracy()).isBetween(0.35, 0.65);
      assertThat(report.nextAccuracy()).isBetween(0.35, 0.65);
      assertThat(report.tierAccuracy() + report.nextAccuracy()).isCloseTo(1.0, within(1e-9));
      assertThat(report.inForce()).isEqualTo("chow-sum");
    } finally {
      large.close();
      mediumChannel.shutdownNow();
      mediumServer.shutdownNow();
    }
  }

  /**
   * A started in-process {@code medium} server answering "MEDIUM k" for a prompt with the number k,
   * one token whose Chow-Sum score is 0.0 to 9.9, spread evenly over k; the ids of the calls that
   * asked for an early stop go into {@code askedToStop}. When it {@code honorsEarlyStop}, it stops
   * as a real server does, once the running score passes the threshold the call gave; else it
   * always decodes to the end.
   */
  private static Server scoredMedium(String name, boolean honorsEarlyStop, java.util.Set<String> askedToStop)
      throws java.io.IOException {
    return InProcessServerBuilder.forName(name).addService(new LargeModelGrpc.LargeModelImplBase() {
      @Override
      public void generate(LargeGenerateRequest request, StreamObserver<LargeGenerateResponse> out) {
        int k = Integer.parseInt(request.getPrompt().replaceAll("\\D", ""));
        float logprob = -(k * 37 % 100) / 10f;
        boolean stops = false;
        if (request.hasEarlyStop()) {
          askedToStop.add(request.getRequestId());
          stops = honorsEarlyStop && -logprob > request.getEarlyStop().getThreshold();
        }
        out.onNext(LargeGenerateResponse.newBuilder().setText("MEDIUM " + k).addTokens(5)
            .addTokenLogprobs(logprob).setModel("medium").setStoppedEarly(stops).build());
        out.onCompleted();
      }
    }).build().start();
  }

  /**
   * A cascade of three whose {@code medium} tier is {@code mediumSettings}' client of a channel to
   * {@code mediumServer} (null: a name no server has, so every call fails UNAVAILABLE, as a refused
   * connection does), and whose {@code large} tier is the uppercasing model; returns the medium client.
   */
  private EscalationClient startWithMedium(Server mediumServer, String mediumName, EscalationSettings mediumSettings,
      EscalationClient large) {
    driver.close();
    escalations.close();
    ManagedChannel mediumChannel = InProcessChannelBuilder.forName(mediumServer == null
        ? InProcessServerBuilder.generateName() : mediumName).build();
    EscalationClient medium = new EscalationClient(mediumChannel, true, mediumSettings);
    startTieredDriver(medium, large);
    return medium;
  }

  /** Settings of a tier that is not retried within a call and waits {@code maxWaitMs} for a model to come back. */
  private static EscalationSettings tierSettings(long maxWaitMs) {
    return new EscalationSettings(4, Duration.ofSeconds(2), 0, Duration.ofMillis(1), 50, Duration.ofSeconds(30), 0,
        Duration.ofMillis(maxWaitMs));
  }

  @Test
  void aMiddleTierWhoseBreakerIsOpenIsSkippedAndTheNextTierServes() throws Exception {
    EscalationClient large = new EscalationClient(channel, false, tierSettings(60_000));
    try {
      EscalationClient medium = startWithMedium(null, null, tierSettings(60_000), large);
      medium.breaker().transitionToOpenState();
      send("a", "unsure past medium");
      List<CascadeResponse> answered = collect(1);
      assertThat(answered).singleElement().satisfies(r -> {
        assertThat(r.getServedBy()).isEqualTo(ServedBy.LARGE);
        assertThat(r.getServedTier()).isEqualTo(2);
        assertThat(r.getServedModel()).isEqualTo("large");
        assertThat(r.getText()).isEqualTo("UNSURE PAST MEDIUM");
      });
      RoutingOutcome o = outcomes.readValue();
      assertThat(answered.get(0).getSkippedTiers()).as("the response says medium was skipped, as the outcome does")
          .isEqualTo(o.getSkippedTiers()).hasSize(1);
      assertThat(o.getDegraded()).isFalse();
      assertThat(o.getServedTier()).isEqualTo(2);
      assertThat(o.getSkippedTiers()).singleElement().satisfies(t -> {
        assertThat(t.getTier()).isEqualTo(1);
        assertThat(t.getModel()).isEqualTo("medium");
        assertThat(t.getCause()).isEqualTo(RoutingRecords.SKIPPED_BREAKER_OPEN);
        assertThat(t.getReason()).startsWith("medium unavailable for ")
            .contains("its circuit breaker is open (escalation.fail-fast-when-open)");
      });
      // Only large answered: the cost is the small model's and large's, nothing for the skipped tier.
      assertThat(o.getTierAnswers()).singleElement().satisfies(t -> assertThat(t.getTier()).isEqualTo(2));
      assertThat(o.getCostUnits()).isEqualTo(
          "unsure past medium".length() + o.getSmallTokens().size() + o.getTierAnswers().get(0).getCostUnits());
      assertThat(medium.breakerState()).isEqualTo(io.github.resilience4j.circuitbreaker.CircuitBreaker.State.OPEN);
      KeyValueStore<String, Escalation> pending = driver.getKeyValueStore(CascadeTopology.ESCALATION_STORE);
      assertThat(pending.approximateNumEntries()).isZero();
    } finally {
      large.close();
    }
  }

  @Test
  void aDeadMiddleTierIsSkippedOnceTheWaitForItEndsEvenWithItsBreakerClosed() throws Exception {
    EscalationClient large = new EscalationClient(channel, false, tierSettings(60_000));
    try {
      EscalationClient medium = startWithMedium(null, null, tierSettings(300), large);
      send("a", "unsure past dead medium");
      assertThat(collect(1)).singleElement().satisfies(r -> {
        assertThat(r.getServedBy()).isEqualTo(ServedBy.LARGE);
        assertThat(r.getServedTier()).isEqualTo(2);
      });
      RoutingOutcome o = outcomes.readValue();
      assertThat(o.getSkippedTiers()).singleElement().satisfies(t -> {
        assertThat(t.getCause()).isEqualTo(RoutingRecords.SKIPPED_MAX_WAIT);
        assertThat(t.getReason()).contains("escalation.max-wait-ms (300)").contains("UNAVAILABLE");
      });
      assertThat(medium.breakerState()).as("too few calls to open it")
          .isEqualTo(io.github.resilience4j.circuitbreaker.CircuitBreaker.State.CLOSED);
    } finally {
      large.close();
    }
  }

  @Test
  void withSkippingOffADeadMiddleTierDegradesTheRequestAsBefore() throws Exception {
    EscalationClient large = new EscalationClient(channel, false, tierSettings(60_000));
    try {
      EscalationClient medium = startWithMedium(null, null, tierSettings(60_000).withSkipUnavailableTiers(false),
          large);
      medium.breaker().transitionToOpenState();
      send("a", "unsure past medium");
      assertThat(collect(1)).singleElement().satisfies(r -> {
        assertThat(r.getServedBy()).isEqualTo(ServedBy.SMALL_DEGRADED);
        assertThat(r.getServedTier()).isZero();
        assertThat(r.getText()).isEqualTo("muidem tsap erusnu");
      });
      RoutingOutcome o = outcomes.readValue();
      assertThat(o.getSkippedTiers()).isEmpty();
      assertThat(o.getTierAnswers()).isEmpty();
      assertThat(o.getDegradedReason()).startsWith("medium unavailable for ");
    } finally {
      large.close();
    }
  }

  @Test
  void aBusyMiddleTierIsNotSkipped() throws Exception {
    // RESOURCE_EXHAUSTED: the tier is up and says it is busy; its overflow is not sent to the dearer tier.
    String name = InProcessServerBuilder.generateName();
    Server busy = InProcessServerBuilder.forName(name).addService(new LargeModelGrpc.LargeModelImplBase() {
      @Override
      public void generate(LargeGenerateRequest request, StreamObserver<LargeGenerateResponse> out) {
        out.onError(Status.RESOURCE_EXHAUSTED.withDescription("medium busy").asRuntimeException());
      }
    }).build().start();
    EscalationClient large = new EscalationClient(channel, false, tierSettings(60_000));
    try {
      startWithMedium(busy, name, tierSettings(300), large);
      send("a", "unsure past medium");
      assertThat(collect(1)).singleElement().satisfies(r -> assertThat(r.getServedBy())
          .isEqualTo(ServedBy.SMALL_DEGRADED));
      RoutingOutcome o = outcomes.readValue();
      assertThat(o.getSkippedTiers()).isEmpty();
      assertThat(o.getDegradedReason()).startsWith("medium unavailable for ").contains("RESOURCE_EXHAUSTED");
    } finally {
      large.close();
      busy.shutdownNow();
    }
  }

  @Test
  void whenTheTierSkippedToIsDownTooTheRequestIsDegradedSayingWhichTierItSkipped() throws Exception {
    // The last tier is never skipped: large fails ("down") past its 300 ms wait, and the request gets
    // the small model's answer.
    EscalationClient large = new EscalationClient(channel, false, tierSettings(300));
    try {
      EscalationClient medium = startWithMedium(null, null, tierSettings(60_000), large);
      medium.breaker().transitionToOpenState();
      send("a", "unsure but down");
      assertThat(collect(1)).singleElement().satisfies(r -> {
        assertThat(r.getServedBy()).isEqualTo(ServedBy.SMALL_DEGRADED);
        assertThat(r.getServedTier()).isZero();
        assertThat(r.getText()).isEqualTo("nwod tub erusnu");
      });
      RoutingOutcome o = outcomes.readValue();
      assertThat(o.getSkippedTiers()).extracting(t -> t.getModel()).containsExactly("medium");
      assertThat(o.getTierAnswers()).isEmpty();
      assertThat(o.getDegradedReason()).startsWith("large unavailable for ").contains("UNAVAILABLE: large model down")
          .endsWith("; skipped before: medium (breaker_open)");
    } finally {
      large.close();
    }
  }

  @Test
  void aParkedEscalationIsCalledAgainAsSoonAsTheLargeModelAnswersAnotherCall() throws Exception {
    // No retries inside the client and a long wait: a failed call is parked, by the driver's clock.
    restartWith(new EscalationSettings(4, Duration.ofSeconds(2), 0, Duration.ofMillis(1), 50, Duration.ofSeconds(5), 0,
        Duration.ofSeconds(60)), 1);
    gateShut = true;
    send("a", "unsure gated");
    // Fail it four times: parked after that for 400 to 800 ms of the driver's clock.
    long until = System.currentTimeMillis() + 10_000;
    while (gatedCalls.get() < 4 && System.currentTimeMillis() < until) {
      Thread.sleep(5);
      driver.advanceWallClockTime(Duration.ofMillis(50));
    }
    assertThat(gatedCalls.get()).isEqualTo(4);
    Thread.sleep(200);
    driver.advanceWallClockTime(Duration.ofMillis(5)); // the fourth failure drained: "a" parked again
    gateShut = false;
    send("b", "unsure other");
    // "b" is answered; that answer, not the end of "a"'s backoff (400 ms away at least), sends "a" again.
    List<CascadeResponse> out = new ArrayList<>(responses.readValuesToList());
    for (int step = 0; step < 60 && out.size() < 2; step++) {
      Thread.sleep(20);
      driver.advanceWallClockTime(Duration.ofMillis(5));
      out.addAll(responses.readValuesToList());
    }
    assertThat(out).as("both answered within 300 ms of the driver's clock").hasSize(2)
        .allSatisfy(r -> assertThat(r.getServedBy()).isEqualTo(ServedBy.LARGE));
    assertThat(gatedCalls.get()).as("\"a\" called once more, after \"b\" was answered").isEqualTo(5);
  }

  private volatile boolean gateShut;
  private final java.util.concurrent.atomic.AtomicInteger gatedCalls = new java.util.concurrent.atomic.AtomicInteger();

  private final java.util.concurrent.atomic.AtomicInteger slowCalls = new java.util.concurrent.atomic.AtomicInteger();
  private static final int FLAKY_FAILURES = 3;
  private final java.util.concurrent.atomic.AtomicInteger flakyCalls = new java.util.concurrent.atomic.AtomicInteger();

  /** Upper-cases the prompt; "down" always fails UNAVAILABLE, "flaky" its first {@link #FLAKY_FAILURES} calls. */
  private final class UppercaseLargeModel extends LargeModelGrpc.LargeModelImplBase {
    @Override
    public void generate(LargeGenerateRequest request, StreamObserver<LargeGenerateResponse> out) {
      if (request.getPrompt().contains("flaky") && flakyCalls.incrementAndGet() <= FLAKY_FAILURES) {
        out.onError(Status.UNAVAILABLE.withDescription("large model restarting").asRuntimeException());
        return;
      }
      if (request.getPrompt().contains("gated") && gatedCalls.incrementAndGet() > 0 && gateShut) {
        out.onError(Status.UNAVAILABLE.withDescription("large model gated").asRuntimeException());
        return;
      }
      if (request.getPrompt().contains("slow")) {
        slowCalls.incrementAndGet();
        try {
          Thread.sleep(6_000);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
      if (request.getPrompt().contains("down")) {
        out.onError(Status.UNAVAILABLE.withDescription("large model down").asRuntimeException());
        return;
      }
      out.onNext(LargeGenerateResponse.newBuilder().setText(request.getPrompt().toUpperCase())
          .addTokens(5).addTokenLogprobs(-0.1f).setModel("upper").build());
      out.onCompleted();
    }
  }
}
