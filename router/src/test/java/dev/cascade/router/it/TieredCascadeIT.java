package dev.cascade.router.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cascade.models.Generation;
import dev.cascade.models.TextGenerator;
import dev.cascade.models.TextGenerators;
import dev.cascade.models.server.LargeModelServer;
import dev.cascade.models.server.ServerLimits;
import dev.cascade.proto.v1.CascadeGrpc;
import dev.cascade.proto.v1.GenerateRequest;
import dev.cascade.proto.v1.GenerateResponse;
import dev.cascade.router.CascadeRouter;
import dev.cascade.router.api.FrontDoor;
import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.demo.DemoWorkload;
import dev.cascade.router.demo.Example;
import dev.cascade.router.demo.Examples;
import dev.cascade.router.demo.ThresholdCalibration;
import dev.cascade.router.embedded.EmbeddedKafka;
import dev.cascade.router.policy.DeferralPolicy;
import dev.cascade.router.policy.TierPolicy;
import dev.cascade.router.routing.CostModel;
import dev.cascade.router.routing.RequestValidator;
import dev.cascade.router.routing.RoutingRecords;
import dev.cascade.router.rules.DeferralRules;
import dev.cascade.router.topology.CascadeTopology;
import dev.cascade.router.topology.PolicyRecords;
import dev.cascade.schemas.avro.CascadeResponse;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.avro.ServedBy;
import dev.cascade.schemas.avro.TierAnswer;
import dev.cascade.schemas.serde.CascadeSerdes;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A cascade of three models over a real broker and real gRPC: the small model in the router, the
 * medium and the large one each behind its own large-model server. Every answer is checked
 * against the models called directly; with the middle tier down, what the caller is told of its
 * skip is checked through the front door's gRPC and HTTP doors.
 */
class TieredCascadeIT {

  private static final Duration IDLE = Duration.ofSeconds(90);
  private static final ObjectMapper JSON = new ObjectMapper();
  private static EmbeddedKafka kafka;
  private static TextGenerator small;
  private static TextGenerator medium;
  private static TextGenerator large;
  private static LargeModelServer mediumServer;
  private static LargeModelServer largeServer;
  private static CascadeConfig config;
  private static TierPolicy middleRule;
  private static List<Example> test;

  @BeforeAll
  static void start() throws Exception {
    kafka = EmbeddedKafka.start();
    small = TextGenerators.load("small", "OnnxRuntime");
    medium = TextGenerators.load("medium", "OnnxRuntime");
    large = TextGenerators.load("large", "OnnxRuntime");
    mediumServer = server(medium);
    largeServer = server(large);
    List<Example> validation = Examples.bundled("validation").subList(0, 300);
    double smallThreshold = ThresholdCalibration.calibrate(small, validation, DeferralRules.of("chow-sum", 0.0), 0.5,
        48, 64, n -> { });
    double mediumThreshold = ThresholdCalibration.calibrate(medium, validation, DeferralRules.of("chow-sum", 0.0), 0.5,
        48, 64, n -> { });
    middleRule = new TierPolicy("chow-sum", 0.0, mediumThreshold);
    config = CascadeConfig.load(null, Map.of(), Map.of(
        "bootstrap.servers", kafka.bootstrapServers(),
        "policy.rule", "chow-sum", "policy.threshold", Double.toString(smallThreshold),
        "policy.exploration-rate", "0",
        "tiers", "medium=127.0.0.1:" + mediumServer.port() + ",large=127.0.0.1:" + largeServer.port(),
        "policy.tier-rules", middleRule.spec(),
        "cost.tiers.per-token", "4.5,12.8",
        "topic.partitions", "2",
        // on a loaded 2-core CI machine a large-model call can take seconds: a deadline passed would
        // degrade the request to the medium model's answer, which the routing checks do not expect
        "escalation.deadline-ms", "60000"));
    test = Examples.bundled("test");
  }

  private static LargeModelServer server(TextGenerator model) throws Exception {
    return server(model, 0);
  }

  private static LargeModelServer server(TextGenerator model, int port) throws Exception {
    return new LargeModelServer(NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(),
        port)), model, new ServerLimits(8, 512)).start();
  }

  @AfterAll
  static void stop() throws Exception {
    for (LargeModelServer s : new LargeModelServer[] {mediumServer, largeServer}) {
      if (s != null) {
        s.stop();
      }
    }
    for (TextGenerator g : new TextGenerator[] {small, medium, large}) {
      if (g != null) {
        g.close();
      }
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
  void eachRequestClimbsUntilATierAcceptsItAndTheRecordsSayWhichServedAndWhatEachCost() throws Exception {
    List<Example> examples = test.subList(0, 160);
    DemoWorkload.Result result;
    CascadeConfig c = config.withOwnTopics("cascade-three", "three");
    try (CascadeRouter router = CascadeRouter.start(c, small, "")) {
      assertThat(router.tiers().count()).isEqualTo(2);
      result = send(c, "t", examples);
    }
    assertThat(result.responses()).hasSize(examples.size());
    assertThat(result.responses()).extracting(CascadeResponse::getRequestId).doesNotHaveDuplicates();
    int[] served = new int[3];
    int stoppedEarly = 0;
    List<String> prompts = new ArrayList<>();
    for (CascadeResponse r : result.responses()) {
      prompts.add(examples.get(Integer.parseInt(r.getRequestId().substring(2))).prompt());
    }
    List<Generation> mediumDirect = medium.generate(prompts, 48);
    List<Generation> largeDirect = large.generate(prompts, 48);
    for (int i = 0; i < result.responses().size(); i++) {
      CascadeResponse r = result.responses().get(i);
      RoutingOutcome o = result.outcomes().get(r.getRequestId());
      String prompt = prompts.get(i);
      served[r.getServedTier()]++;
      assertThat(o.getServedTier()).isEqualTo(r.getServedTier());
      List<TierAnswer> tiers = o.getTierAnswers();
      assertThat(tiers).hasSize(r.getServedTier());
      double expectedCost = 1.0 * (CostModel.promptTokens(prompt) + o.getSmallTokens().size());
      switch (r.getServedTier()) {
        case 0 -> {
          assertThat(r.getServedBy()).isEqualTo(ServedBy.SMALL);
          assertThat(r.getText()).isEqualTo(o.getSmallText());
          assertThat(r.getServedModel()).isNull();
        }
        case 1 -> {
          TierAnswer m = tiers.get(0);
          assertThat(r.getServedBy()).isEqualTo(ServedBy.LARGE);
          assertThat(r.getServedModel()).isEqualTo("medium");
          assertThat(r.getText()).isEqualTo(m.getText()).isEqualTo(mediumDirect.get(i).text());
          assertThat(m.getDeferred()).isFalse();
          assertThat(m.getStoppedEarly()).isFalse();
          assertThat(m.getScore()).isLessThanOrEqualTo(middleRule.threshold())
              .isCloseTo(middleRule.score(mediumDirect.get(i).tokenLogprobs()), within(1e-4));
          assertThat(o.getLargeText()).isEqualTo(m.getText());
        }
        case 2 -> {
          TierAnswer m = tiers.get(0);
          TierAnswer l = tiers.get(1);
          assertThat(r.getServedModel()).isEqualTo("large");
          assertThat(m.getModel()).isEqualTo("medium");
          assertThat(m.getDeferred()).isTrue();
          assertThat(m.getScore()).isGreaterThan(middleRule.threshold());
          // Early deferral of the middle tier (escalation.early-defer, on by default): it stopped
          // after the first token where its answer's score passed the threshold.
          float[] lp = mediumDirect.get(i).tokenLogprobs();
          int stop = 1;
          while (stop < lp.length && !middleRule.defers(middleRule.score(java.util.Arrays.copyOf(lp, stop)))) {
            stop++;
          }
          // Asked after every token but one that reaches the token limit (48 here), which ends the row anyway.
          assertThat(m.getStoppedEarly()).as(prompt).isEqualTo(stop < 48);
          assertThat(m.getTokens()).as(prompt).isEqualTo(ints(mediumDirect.get(i).tokens()).subList(0, stop));
          stoppedEarly += m.getStoppedEarly() ? 1 : 0;
          assertThat(l.getTier()).isEqualTo(2);
          assertThat(l.getRule()).isNull();
          assertThat(r.getText()).isEqualTo(l.getText()).isEqualTo(largeDirect.get(i).text());
          assertThat(o.getLargeText()).isEqualTo(l.getText());
        }
        default -> throw new AssertionError("served by tier " + r.getServedTier());
      }
      if (r.getServedTier() > 0) {
        assertThat(r.getDeferralScore()).isGreaterThan(r.getThreshold());
      }
      for (TierAnswer t : tiers) {
        double perToken = t.getTier() == 1 ? 4.5 : 12.8;
        assertThat(t.getCostUnits()).isCloseTo(perToken * (CostModel.promptTokens(prompt) + t.getTokens().size()),
            within(1e-6));
        expectedCost += t.getCostUnits();
      }
      assertThat(o.getCostUnits()).isCloseTo(expectedCost, within(1e-6));
    }
    assertThat(served).as("requests served by small, medium, large").doesNotContain(0);
    assertThat(stoppedEarly).as("middle-tier answers stopped early").isPositive();
  }

  private static List<Integer> ints(int[] values) {
    return java.util.Arrays.stream(values).boxed().toList();
  }

  @Test
  void tiersListedInTheWrongOrderAreAWarningOnceTheLateTierSaysWhatItServes() throws Exception {
    // The probe's deployment: "medium" points at the large model's server, and "large" at a
    // medium-model server that is down at start and comes up later.
    int latePort = EmbeddedKafka.freePort();
    CascadeConfig swapped = config.with(CascadeConfig.TIERS,
        "medium=127.0.0.1:" + largeServer.port() + ",large=127.0.0.1:" + latePort);
    List<String> lines = new java.util.concurrent.CopyOnWriteArrayList<>();
    LargeModelServer late = null;
    try (dev.cascade.router.escalation.EscalationTiers tiers = CascadeRouter.connectTiers(swapped, "");
        dev.cascade.router.escalation.TierChecks checks = new dev.cascade.router.escalation.TierChecks(tiers,
            small.info().name(), small.info().parameters(), small.tokenizerSha256(), true,
            (level, line) -> lines.add(level + " " + line))) {
      checks.watch();
      long until = System.nanoTime() + 60_000_000_000L;
      // The INFO line on what the tier serves comes a moment before the WARN on its name: wait for both.
      while (lines.stream().noneMatch(l -> l.startsWith("WARN tier medium (")) && System.nanoTime() < until) {
        Thread.sleep(50);
      }
      assertThat(lines).anyMatch(l -> l.startsWith("INFO tier medium (") && l.contains("serves model large, "
          + String.format(java.util.Locale.ROOT, "%,d parameters", large.info().parameters())));
      assertThat(lines).anyMatch(l -> l.startsWith("WARN tier medium (") && l.contains("serves model large"));
      assertThat(lines).noneMatch(l -> l.contains("do not grow along tiers"));
      late = server(medium, latePort);
      // No request is sent: the checks ask the late tier again in the background (at most every 30 s).
      until = System.nanoTime() + 90_000_000_000L;
      while (lines.stream().noneMatch(l -> l.contains("do not grow along tiers")) && System.nanoTime() < until) {
        Thread.sleep(200);
      }
      assertThat(lines).filteredOn(l -> l.contains("do not grow along tiers")).singleElement().asString()
          .startsWith("WARN").contains("medium (tier 1, " + String.format(java.util.Locale.ROOT, "%,d",
              large.info().parameters()) + " parameters, cost 4.5 per token) then large (tier 2, "
              + String.format(java.util.Locale.ROOT, "%,d", medium.info().parameters()) + " parameters");
      assertThat(lines).noneMatch(l -> l.contains("another tokenizer"));
    } finally {
      if (late != null) {
        late.stop();
      }
    }
  }

  /** The bound of a wait the open breaker ended (escalation.fail-fast-when-open), the other being max-wait. */
  private static final String FAIL_FAST = "its circuit breaker is open (escalation.fail-fast-when-open)";

  @Test
  void withTheLastTierDownARequestIsDegradedToTheLatestWholeAnswer() throws Exception {
    int deadPort = EmbeddedKafka.freePort();
    // The middle tier decodes to the end here: an answer it stopped early is a prefix, never served.
    CascadeConfig down = config.withOwnTopics("cascade-lastdown", "lastdown")
        .with(CascadeConfig.TIERS, "medium=127.0.0.1:" + mediumServer.port() + ",large=127.0.0.1:" + deadPort)
        .with(CascadeConfig.ESCALATION_BACKOFF_MS, "5").with(CascadeConfig.ESCALATION_MAX_WAIT_MS, "800")
        .with(CascadeConfig.ESCALATION_EARLY_DEFER, "false");
    List<Example> examples = test.subList(200, 280);
    DemoWorkload.Result result;
    try (CascadeRouter router = CascadeRouter.start(down, small, "")) {
      result = send(down, "d", examples);
    }
    assertThat(result.responses()).hasSize(examples.size());
    int degradedToMedium = 0;
    for (CascadeResponse r : result.responses()) {
      RoutingOutcome o = result.outcomes().get(r.getRequestId());
      assertThat(r.getServedTier()).isLessThan(2);
      if (o.getTierAnswers().size() == 1 && o.getTierAnswers().get(0).getDeferred()) {
        degradedToMedium++;
        assertThat(r.getServedBy()).isEqualTo(ServedBy.SMALL_DEGRADED);
        assertThat(r.getServedTier()).isEqualTo(1);
        assertThat(r.getText()).isEqualTo(o.getTierAnswers().get(0).getText());
        assertThat(o.getDegradedReason()).startsWith("large unavailable for ").containsAnyOf(
            "escalation.max-wait-ms (800)", FAIL_FAST);
      }
    }
    assertThat(degradedToMedium).isPositive();

    // With early deferral the answer the middle tier passed on is a prefix: once the tier above
    // has failed for good, the middle tier is asked once more, without stopping, and its whole
    // answer is served degraded.
    CascadeConfig early = down.withOwnTopics("cascade-lastdown-early", "lastdown-early")
        .with(CascadeConfig.ESCALATION_EARLY_DEFER, "true");
    double fallbackCalls;
    try (CascadeRouter router = CascadeRouter.start(early, small, "")) {
      result = send(early, "e", examples);
      fallbackCalls = router.metrics().registry().orElseThrow().scrape().stream()
          .filter(m -> m.getMetadata().getPrometheusName().equals("cascade_tier_fallbacks"))
          .flatMap(m -> ((io.prometheus.metrics.model.snapshots.CounterSnapshot) m).getDataPoints().stream())
          .mapToDouble(io.prometheus.metrics.model.snapshots.CounterSnapshot.CounterDataPointSnapshot::getValue)
          .sum();
    }
    assertThat(result.responses()).hasSize(examples.size());
    int fallbacks = 0;
    for (CascadeResponse r : result.responses()) {
      RoutingOutcome o = result.outcomes().get(r.getRequestId());
      List<TierAnswer> answers = o.getTierAnswers();
      if (!answers.isEmpty() && answers.get(0).getStoppedEarly()) {
        fallbacks++;
        String prompt = examples.get(Integer.parseInt(r.getRequestId().substring(2))).prompt();
        assertThat(answers).hasSize(2);
        TierAnswer whole = answers.get(1);
        assertThat(whole.getTier()).isEqualTo(1);
        assertThat(whole.getStoppedEarly()).isFalse();
        assertThat(whole.getDeferred()).isFalse();
        assertThat(whole.getText()).isEqualTo(medium.generate(List.of(prompt), 48).get(0).text());
        assertThat(r.getServedBy()).isEqualTo(ServedBy.SMALL_DEGRADED);
        assertThat(r.getServedTier()).isEqualTo(1);
        assertThat(r.getServedModel()).isEqualTo("medium");
        assertThat(r.getText()).isEqualTo(whole.getText());
        assertThat(o.getLargeText()).isEqualTo(whole.getText());
        assertThat(o.getDegradedReason()).containsAnyOf("escalation.max-wait-ms (800)", FAIL_FAST);
      }
    }
    assertThat(fallbacks).isPositive();
    assertThat(fallbackCalls).isEqualTo(fallbacks);
  }

  @Test
  void withTheMiddleTierDownARequestSkipsItAndTheCallerIsToldWhichAndWhyThroughEitherDoor() throws Exception {
    int deadPort = EmbeddedKafka.freePort();
    CascadeConfig down = config.withOwnTopics("cascade-middledown", "middledown")
        .with(CascadeConfig.TIERS, "medium=127.0.0.1:" + deadPort + ",large=127.0.0.1:" + largeServer.port())
        .with(CascadeConfig.ESCALATION_BACKOFF_MS, "5").with(CascadeConfig.ESCALATION_MAX_WAIT_MS, "800");
    InetSocketAddress loopback = new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);
    try (CascadeRouter router = CascadeRouter.start(down, small, "");
        FrontDoor doors = FrontDoor.start(down, new RequestValidator(small), router.rules(), loopback)) {
      ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", doors.port()).usePlaintext().build();
      try {
        // Sent together through the gRPC door: the first escalations wait out medium's failures
        // (max_wait) or find its breaker opened by them (breaker_open); each goes on to large.
        CascadeGrpc.CascadeFutureStub stub = CascadeGrpc.newFutureStub(channel).withDeadlineAfter(120, TimeUnit.SECONDS);
        List<java.util.concurrent.Future<GenerateResponse>> calls = new ArrayList<>();
        for (Example e : test.subList(400, 416)) {
          calls.add(stub.generate(GenerateRequest.newBuilder().setPrompt(e.prompt()).build()));
        }
        int skipped = 0;
        for (var call : calls) {
          GenerateResponse r = call.get(120, TimeUnit.SECONDS);
          assertThat(r.getServedTier()).as("medium never answers").isIn(0, 2);
          if (r.getServedTier() == 0) {
            assertThat(r.getSkippedTiersList()).isEmpty();
            continue;
          }
          skipped++;
          assertThat(r.getServedBy()).isEqualTo(dev.cascade.proto.v1.ServedBy.LARGE);
          assertThat(r.getServedModel()).isEqualTo("large");
          assertThat(r.getSkippedTiersList()).singleElement().satisfies(t -> {
            assertThat(t.getTier()).isEqualTo(1);
            assertThat(t.getModel()).isEqualTo("medium");
            assertThat(t.getCause()).isIn(RoutingRecords.SKIPPED_MAX_WAIT, RoutingRecords.SKIPPED_BREAKER_OPEN);
            assertThat(t.getReason()).startsWith("medium unavailable for ");
          });
        }
        assertThat(skipped).as("requests that skipped medium for large").isPositive();
      } finally {
        channel.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
      }

      // Through the HTTP door, in the response's cascade object, until one request has escalated.
      HttpClient http = HttpClient.newHttpClient();
      JsonNode escalated = null;
      for (Example e : test.subList(416, 448)) {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(
            URI.create("http://127.0.0.1:" + doors.httpPort() + "/v1/completions"))
            .header("content-type", "application/json").timeout(Duration.ofSeconds(120))
            .POST(HttpRequest.BodyPublishers.ofString(JSON.createObjectNode().put("model", "cascade")
                .put("prompt", e.prompt()).toString())).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        JsonNode cascade = JSON.readTree(r.body()).path("cascade");
        if (cascade.path("served_tier").asInt() == 2) {
          escalated = cascade;
          break;
        }
        assertThat(cascade.path("skipped_tiers").isArray()).as(r.body()).isTrue();
        assertThat(cascade.path("skipped_tiers").isEmpty()).as(r.body()).isTrue();
      }
      assertThat(escalated).as("an HTTP request served by large").isNotNull();
      JsonNode t = escalated.path("skipped_tiers");
      assertThat(t.size()).as(escalated.toString()).isEqualTo(1);
      assertThat(t.get(0).path("tier").asInt()).isEqualTo(1);
      assertThat(t.get(0).path("model").asText()).isEqualTo("medium");
      assertThat(t.get(0).path("cause").asText()).isIn(RoutingRecords.SKIPPED_MAX_WAIT,
          RoutingRecords.SKIPPED_BREAKER_OPEN);
      assertThat(t.get(0).path("reason").asText()).startsWith("medium unavailable for ");
    }
  }

  /**
   * Writes the configured policy with {@code tiers} as its middle tiers' rules, as {@code version},
   * to {@code live}'s policy topic, and sends one request at a time (ids {@code prefix}0, 1, …)
   * until one is answered under it.
   */
  private static void publishAndAwait(CascadeConfig live, List<TierPolicy> tiers, long version, String prefix)
      throws Exception {
    DeferralPolicy p = CascadeRouter.configuredPolicy(live).withTierPolicies(tiers);
    DeferralPolicy versioned = new DeferralPolicy(p.rule(), p.alpha(), p.threshold(), p.explorationRate(),
        p.targetEscalationRate(), version, "test", 1L, "middle tiers' rules", p.ruleVersion(), p.shadowRules(),
        p.fallbackRule(), p.earlyDeferMargin(), p.tierPolicies());
    try (KafkaProducer<String, dev.cascade.schemas.avro.DeferralPolicy> producer = new KafkaProducer<>(
        Map.of("bootstrap.servers", kafka.bootstrapServers()), new StringSerializer(),
        CascadeSerdes.policies().serializer())) {
      producer.send(new ProducerRecord<>(live.topics().policy(), CascadeTopology.POLICY_KEY,
          PolicyRecords.toAvro(versioned))).get();
    }
    DemoWorkload.Result result = null;
    for (int attempt = 0; attempt < 100; attempt++) {
      result = send(live, prefix + attempt, test.subList(0, 1));
      if (result.responses().get(0).getPolicyVersion() == version) {
        break;
      }
      Thread.sleep(100);
    }
    assertThat(result.responses().get(0).getPolicyVersion()).isEqualTo(version);
  }

  @Test
  void aNewMiddleTierRuleOnThePolicyTopicChangesWhereRequestsStop() throws Exception {
    CascadeConfig live = config.withOwnTopics("cascade-live", "live");
    try (CascadeRouter router = CascadeRouter.start(live, small, "")) {
      publishAndAwait(live, List.of(new TierPolicy("chow-sum", 0.0, 1e9)), 7, "p");
      DemoWorkload.Result result = send(live, "after", test.subList(300, 380));
      assertThat(result.responses()).hasSize(80);
      assertThat(result.responses()).extracting(CascadeResponse::getServedTier).contains(1).doesNotContain(2);
      for (CascadeResponse r : result.responses()) {
        RoutingOutcome o = result.outcomes().get(r.getRequestId());
        if (r.getServedTier() == 1) {
          assertThat(o.getTierAnswers().get(0).getThreshold()).isEqualTo(1e9);
        }
      }
    }
  }

  @Test
  void aTargetRateForTheMiddleTierOnThePolicyTopicSetsItsShareLive() throws Exception {
    // Target 1 passes on every request reaching medium from its first score (no warm-up is needed
    // to pass on everything); 0 goes back to the fixed threshold.
    CascadeConfig live = config.withOwnTopics("cascade-tier-rate", "tier-rate");
    try (CascadeRouter router = CascadeRouter.start(live, small, "")) {
      publishAndAwait(live, List.of(middleRule.withTargetEscalationRate(1.0)), 9, "q");
      DemoWorkload.Result result = send(live, "all", test.subList(400, 480));
      assertThat(result.responses()).hasSize(80);
      int reachedMedium = 0;
      for (CascadeResponse r : result.responses()) {
        RoutingOutcome o = result.outcomes().get(r.getRequestId());
        if (o.getTierAnswers().isEmpty()) {
          assertThat(r.getServedTier()).isZero();
          continue;
        }
        reachedMedium++;
        TierAnswer medium = o.getTierAnswers().get(0);
        assertThat(medium.getModel()).isEqualTo("medium");
        assertThat(medium.getDeferred()).as("passed on, whatever its score").isTrue();
        assertThat(medium.getThreshold()).isEqualTo(Double.NEGATIVE_INFINITY);
        assertThat(medium.getStoppedEarly()).as("a target of 1 passes everything on: nothing to stop for").isFalse();
        assertThat(r.getServedTier()).isEqualTo(2);
        assertThat(r.getText()).isEqualTo(o.getTierAnswers().get(1).getText());
      }
      assertThat(reachedMedium).as("the small model defers some of them").isGreaterThan(10);
    }
  }
}
