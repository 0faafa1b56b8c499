package dev.cascade.router.escalation;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.proto.v1.LargeModelGrpc;
import dev.cascade.proto.v1.LargeModelInfo;
import dev.cascade.proto.v1.LargeModelInfoRequest;
import dev.cascade.router.CascadeRouter;
import dev.cascade.router.config.CascadeConfig;
import io.grpc.Server;
import io.grpc.ServerBuilder;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.OptionalLong;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;

/**
 * What serve logs of its tiers once their servers say what they serve (LargeModel/Info), and how
 * it asks a tier that is down until it does: real gRPC servers on loopback.
 */
class TierChecksTest {

  /** A generous bound on waits for the background asking (the machine is shared and slow). */
  private static final long BOUND_NANOS = 60_000_000_000L;

  private final List<String> lines = new java.util.concurrent.CopyOnWriteArrayList<>();

  private static LargeModelTransport.ServerInfo info(String model, long parameters, String tokenizer) {
    return new LargeModelTransport.ServerInfo(OptionalInt.of(64), Optional.of(tokenizer), OptionalInt.of(512),
        Optional.of(model), OptionalLong.of(parameters));
  }

  private static EscalationTiers three() {
    return CascadeRouter.connectTiers(CascadeConfig.load(null, Map.of(), Map.of(
        "tiers", "medium=127.0.0.1:1,large=127.0.0.1:2", "cost.tiers.per-token", "4.5,12.8",
        "policy.tier-rules", "chow-sum:9")), "");
  }

  private static EscalationTiers two(int mediumPort, int largePort) {
    return CascadeRouter.connectTiers(CascadeConfig.load(null, Map.of(), Map.of(
        "tiers", "medium=127.0.0.1:" + mediumPort + ",large=127.0.0.1:" + largePort,
        "cost.tiers.per-token", "4.5,12.8", "policy.tier-rules", "chow-sum:9", "escalation.deadline-ms", "2000")), "");
  }

  private TierChecks checks(EscalationTiers tiers, boolean namesConfigured) {
    return new TierChecks(tiers, "small", 1_000, Optional.of("aaa"), namesConfigured,
        (level, line) -> lines.add(level + " " + line));
  }

  @Test
  void tiersInTheWrongOrderAreOneWarningNamingEachModelAndItsSizeOnceBothHaveSaidIt() {
    try (EscalationTiers tiers = three()) {
      TierChecks checks = checks(tiers, true);
      // The servers swapped: "medium" is served by the large model, and answers first.
      checks.answered(1, info("medium", 9_000, "aaa"));
      assertThat(lines).noneMatch(l -> l.startsWith("WARN"));
      // large answers later (it was down at start): now the order is known, and wrong.
      checks.answered(2, info("large", 4_000, "aaa"));
      assertThat(lines).filteredOn(l -> l.startsWith("WARN")).singleElement().asString()
          .contains("do not grow along tiers")
          .contains("small (tier 0, 1,000 parameters) then medium (tier 1, 9,000 parameters, cost 4.5 per token)"
              + " then large (tier 2, 4,000 parameters, cost 12.8 per token)");
      assertThat(lines).anyMatch(l -> l.startsWith("INFO tier large (") && l.contains("serves model large, 4,000"
          + " parameters, tokenizer sha256 aaa"));
    }
  }

  @Test
  void aTierServingAnotherModelOrTokenizerIsAWarningSayingWhatItDisables() {
    try (EscalationTiers tiers = three()) {
      TierChecks checks = checks(tiers, true);
      checks.answered(1, info("other-7b", 5_000, "bbb"));
      assertThat(lines).anyMatch(l -> l.startsWith("WARN tier medium (") && l.contains("serves model other-7b"));
      assertThat(lines).anyMatch(l -> l.startsWith("WARN tier medium (") && l.contains("another tokenizer")
          && l.contains("no speculative draft") && l.contains("do not check prompts against its prompt limit"));
      checks.answered(2, info("large", 9_000, "aaa"));
      assertThat(lines).filteredOn(l -> l.startsWith("WARN")).hasSize(2);
    }
  }

  @Test
  void aSingleLargeTargetsDefaultNameIsNotComparedWithTheServedModel() {
    try (EscalationTiers one = CascadeRouter.connectTiers(CascadeConfig.load(null, Map.of(), Map.of()), "127.0.0.1:1")) {
      checks(one, false).answered(1, info("llama-70b", 9_000, "aaa"));
      assertThat(lines).noneMatch(l -> l.startsWith("WARN"));
    }
  }

  @Test
  void aTierDownAtStartIsCheckedInTheBackgroundOnceItsServerComesUpWithoutAnyRequest() throws Exception {
    Server medium = ServerBuilder.forPort(0).addService(new Serving("medium", 9_000)).build().start();
    int latePort;
    try (ServerSocket reserved = new ServerSocket(0)) {
      latePort = reserved.getLocalPort();
    }
    Server late = null;
    try (EscalationTiers tiers = two(medium.getPort(), latePort);
        TierChecks checks = new TierChecks(tiers, "small", 1_000, Optional.of("aaa"), true, List.of(),
            (level, line) -> lines.add(level + " " + line), Duration.ofMillis(50), Duration.ofMillis(400))) {
      PrometheusRegistry registry = new PrometheusRegistry();
      checks.register(registry);
      assertThat(checked(registry)).containsExactlyInAnyOrder(Map.entry("medium", 0.0), Map.entry("large", 0.0));
      checks.watch(); // returns at once: nothing waits for the tier that is down
      await(() -> checks.checked(1) && lines.stream().anyMatch(l -> l.contains("tier large (")
          && l.contains("has not said what it serves")));
      assertThat(checks.checked(2)).isFalse();
      assertThat(checked(registry)).containsExactlyInAnyOrder(Map.entry("medium", 1.0), Map.entry("large", 0.0));
      assertThat(lines).noneMatch(l -> l.contains("do not grow along tiers"));
      // The large tier's server starts now, after the checks began; no request is sent to it: the
      // background asking finds it.
      late = ServerBuilder.forPort(latePort).addService(new Serving("large", 4_000)).build().start();
      await(() -> checks.checked(2));
      assertThat(checked(registry)).containsExactlyInAnyOrder(Map.entry("medium", 1.0), Map.entry("large", 1.0));
      assertThat(lines).anyMatch(l -> l.startsWith("INFO tier large (cascade://127.0.0.1:" + latePort + ")")
          && l.contains("serves model large, 4,000 parameters, tokenizer sha256 aaa"));
      assertThat(lines).filteredOn(l -> l.contains("do not grow along tiers")).singleElement().asString()
          .startsWith("WARN").contains("medium (tier 1, 9,000 parameters, cost 4.5 per token) then large (tier 2,"
              + " 4,000 parameters, cost 12.8 per token)");
      // One line said the tier was waited for, however often it was asked; none for the tier that was up.
      assertThat(lines).filteredOn(l -> l.contains("has not said what it serves")).singleElement().asString()
          .startsWith("WARN tier large (").contains("asking it again in the background");
    } finally {
      medium.shutdownNow();
      if (late != null) {
        late.shutdownNow();
      }
    }
  }

  @Test
  void aTierThatStaysDownIsOneWarningAndCloseStopsTheAsking() throws Exception {
    Serving down = new Serving("large", 9_000);
    down.up.set(false);
    Server server = ServerBuilder.forPort(0).addService(down).build().start();
    try (EscalationTiers one = CascadeRouter.connectTiers(CascadeConfig.load(null, Map.of(), Map.of()),
        "127.0.0.1:" + server.getPort())) {
      TierChecks checks = new TierChecks(one, "small", 1_000, Optional.of("aaa"), false, List.of(),
          (level, line) -> lines.add(level + " " + line), Duration.ofMillis(10), Duration.ofMillis(20));
      checks.watch();
      await(() -> down.asked.get() >= 10);
      assertThat(lines).singleElement().asString().startsWith("WARN tier large (cascade://127.0.0.1:")
          .contains("has not said what it serves (LargeModel/Info: StatusRuntimeException: ");
      checks.close();
      await(checks::stopped);
      assertThat(checks.checked(1)).isFalse();
    } finally {
      server.shutdownNow();
    }
  }

  @Test
  void sizesGivenInLargeParametersAreCheckedAtOnceAndYieldToWhatTheServerSays() {
    try (EscalationTiers tiers = three();
        TierChecks checks = new TierChecks(tiers, "small", 5_000, Optional.of("aaa"), true, List.of(0L, 4_000L),
            (level, line) -> lines.add(level + " " + line))) {
      // Before any server answers (both are down here): the small model and large's given size.
      checks.watch();
      assertThat(lines).filteredOn(l -> l.contains("do not grow along tiers")).singleElement().asString()
          .startsWith("WARN").contains("small (tier 0, 5,000 parameters) then large (tier 2, 4,000 parameters, cost"
              + " 12.8 per token)").contains("large.parameters");
      // large is a kserve:// or openai:// server, which cannot say: its given size stands.
      checks.answered(2, LargeModelTransport.ServerInfo.UNKNOWN);
      assertThat(lines).anyMatch(l -> l.startsWith("INFO tier large (") && l.contains("does not say which model it"
          + " serves (LargeModel/Info); 4,000 parameters (large.parameters)"));
    }
    lines.clear();
    try (EscalationTiers tiers = three();
        TierChecks checks = new TierChecks(tiers, "small", 1_000, Optional.of("aaa"), true, List.of(2_000L, 0L),
            (level, line) -> lines.add(level + " " + line))) {
      checks.answered(1, info("medium", 3_000, "aaa"));
      assertThat(lines).anyMatch(l -> l.startsWith("WARN tier medium (") && l.contains("has 2,000 parameters in"
          + " large.parameters, but its server says 3,000 parameters: the server's count is used"));
      checks.answered(2, LargeModelTransport.ServerInfo.UNKNOWN);
      assertThat(lines).anyMatch(l -> l.startsWith("INFO tier large (") && l.contains("parameters unknown: left out"
          + " of the check of sizes along the tiers (give its parameters in large.parameters)"));
      assertThat(lines).noneMatch(l -> l.contains("do not grow along tiers"));
    }
  }

  @Test
  void givenParametersThatFallAreAProblemNamingBothTiersZerosAndEqualsAside() {
    assertThat(TierChecks.parameterOrderProblem(List.of("a", "b", "c"), List.of(7L, 0L, 7L))).isEmpty();
    assertThat(TierChecks.parameterOrderProblem(List.of("a", "b", "c"), List.of(7_000L, 0L, 70L))).get().asString()
        .startsWith("7,000 parameters for a then 70 parameters for c: a cascade lists its models smallest first");
  }

  /** Polls {@code condition} until it holds, for at most {@link #BOUND_NANOS}. */
  private static void await(BooleanSupplier condition) throws InterruptedException {
    long until = System.nanoTime() + BOUND_NANOS;
    while (!condition.getAsBoolean() && System.nanoTime() < until) {
      Thread.sleep(20);
    }
    assertThat(condition.getAsBoolean()).as("within " + BOUND_NANOS / 1_000_000_000 + " s").isTrue();
  }

  /** {@code cascade_tier_checked} as {@code registry} serves it, by tier. */
  private static List<Map.Entry<String, Double>> checked(PrometheusRegistry registry) {
    GaugeSnapshot gauge = (GaugeSnapshot) registry.scrape().stream()
        .filter(m -> m.getMetadata().getName().equals("cascade_tier_checked")).findFirst().orElseThrow();
    return gauge.getDataPoints().stream().map(p -> Map.entry(p.getLabels().get("tier"), p.getValue())).toList();
  }

  /**
   * A LargeModel server saying it serves {@code model} of {@code parameters} with tokenizer aaa;
   * while {@code up} is false its Info fails UNAVAILABLE. Counts the askings.
   */
  private static final class Serving extends LargeModelGrpc.LargeModelImplBase {
    final AtomicBoolean up = new AtomicBoolean(true);
    final AtomicInteger asked = new AtomicInteger();
    private final String model;
    private final long parameters;

    Serving(String model, long parameters) {
      this.model = model;
      this.parameters = parameters;
    }

    @Override
    public void info(LargeModelInfoRequest request, StreamObserver<LargeModelInfo> out) {
      asked.incrementAndGet();
      if (!up.get()) {
        out.onError(Status.UNAVAILABLE.withDescription("warming up").asRuntimeException());
        return;
      }
      out.onNext(LargeModelInfo.newBuilder().setModel(model).setParameters(parameters).setTokenizerSha256("aaa")
          .setMaxNewTokens(64).build());
      out.onCompleted();
    }
  }
}
