package dev.cascade.router.topology;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.models.Generation;
import dev.cascade.models.TextGenerator;
import dev.cascade.models.TextGenerators;
import dev.cascade.models.server.LargeModelServer;
import dev.cascade.models.server.ServerLimits;
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
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.avro.ServedBy;
import dev.cascade.schemas.serde.CascadeSerdes;
import io.grpc.ServerBuilder;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Speculative escalation through the real topology: the real small model in the router, the real
 * large model behind its server on loopback (Netty). Every request is escalated; the escalator
 * sends the small model's tokens as the draft, and the large model keeps the part it agrees with.
 */
class SpeculativeEscalationTest {

  private static final List<String> PROMPTS = List.of("cascade", "defrayal", "having become hyaline", "photograph",
      "the quick brown fox", "unbelievable", "router", "speculation", "a cat", "thoroughly");

  private static TextGenerator small;
  private static TextGenerator large;
  private static LargeModelServer server;

  @BeforeAll
  static void start() throws Exception {
    small = TextGenerators.load("small", "OnnxRuntime");
    large = TextGenerators.load("large", "OnnxRuntime");
    server = new LargeModelServer(ServerBuilder.forPort(0), large, new ServerLimits(4, 16)).start();
  }

  @AfterAll
  static void stop() throws Exception {
    server.stop();
    large.close();
    small.close();
  }

  @Test
  void escalationsCarryTheSmallModelsTokensAndTheLargeModelKeepsWhatItAgreesWith() throws Exception {
    List<RoutingOutcome> outcomes = route(small.tokenizerSha256().orElseThrow());
    assertThat(outcomes).hasSize(PROMPTS.size());
    long kept = 0;
    for (RoutingOutcome o : outcomes) {
      assertThat(o.getServedBy()).isEqualTo(ServedBy.LARGE);
      Generation alone = large.generate(List.of(o.getPrompt()), 48).get(0);
      assertThat(o.getLargeText()).as(o.getPrompt()).isEqualTo(alone.text());
      assertThat(o.getLargeTokens()).as(o.getPrompt()).isEqualTo(ints(alone.tokens()));
      assertThat(o.getLargeDraftTokens()).as(o.getPrompt()).isEqualTo(o.getSmallTokens().size());
      // At least the agreeing prefix; more where the draft agrees again after a wrong token.
      assertThat(o.getLargeDraftAccepted()).as(o.getPrompt())
          .isBetween(commonPrefix(o.getSmallTokens(), o.getLargeTokens()),
              Math.min(o.getSmallTokens().size(), o.getLargeTokens().size()));
      kept += o.getLargeDraftAccepted();
    }
    assertThat(kept).as("some small answers agree with the large model's for a while").isPositive();
  }

  @Test
  void withSpeculationOffNoDraftIsSent() throws Exception {
    List<RoutingOutcome> outcomes = route("");
    assertThat(outcomes).hasSize(PROMPTS.size());
    for (RoutingOutcome o : outcomes) {
      assertThat(o.getLargeText()).isEqualTo(large.generate(List.of(o.getPrompt()), 48).get(0).text());
      assertThat(o.getLargeDraftTokens()).isZero();
      assertThat(o.getLargeDraftAccepted()).isZero();
    }
  }

  /** Routes every prompt with a policy that escalates everything; the client sends drafts of {@code draftTokenizer}. */
  private static List<RoutingOutcome> route(String draftTokenizer) throws Exception {
    CascadeConfig config = CascadeConfig.defaults();
    EscalationSettings settings = new EscalationSettings(4, Duration.ofSeconds(60), 0, Duration.ofMillis(1), 50,
        Duration.ofSeconds(5)).withDraftTokenizer(draftTokenizer);
    // Chow-Quantile-0 scores are at least 0: a threshold of -1 defers every request.
    DeferralPolicy policy = new DeferralPolicy("chow-quantile", 0.0, -1.0, 0.0, 0.0, 0, "test", 0, "test");
    RoutingRecords records = new RoutingRecords(new CostModel(1, 10), String::length);
    try (EscalationClient client = EscalationClient.connect("127.0.0.1:" + server.port(), settings)) {
      CascadeTopology.Parts parts = new CascadeTopology.Parts(config.topics(),
          () -> new SmallModelRouter(small, DeferralRules.builtIn(), new TargetRateController(), records, 48,
              Clock.systemUTC()),
          new RequestValidator(small), dev.cascade.router.learning.RuleResolver.of(DeferralRules.builtIn()), policy,
          PROMPTS.size(), Duration.ofMillis(20), client, records, 4, 48, Runnable::run, Duration.ofSeconds(30));
      Properties props = new Properties();
      props.put(StreamsConfig.APPLICATION_ID_CONFIG, "speculative-test");
      props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
      try (TopologyTestDriver driver = new TopologyTestDriver(CascadeTopology.build(parts), props)) {
        TestInputTopic<byte[], byte[]> requests = driver.createInputTopic(config.topics().requests(),
            new ByteArraySerializer(), new ByteArraySerializer());
        TestOutputTopic<String, RoutingOutcome> outcomes = driver.createOutputTopic(config.topics().outcomes(),
            new StringDeserializer(), CascadeSerdes.outcomes().deserializer());
        for (int i = 0; i < PROMPTS.size(); i++) {
          CascadeRequest r = CascadeRequest.newBuilder().setRequestId("r" + i).setPrompt(PROMPTS.get(i))
              .setMaxNewTokens(0).setMetadata(Map.of()).setCreatedAtMs(System.currentTimeMillis()).build();
          requests.pipeInput(r.getRequestId().getBytes(), CascadeSerdes.requests().serializer().serialize("t", r));
        }
        List<RoutingOutcome> out = new ArrayList<>(outcomes.readValuesToList());
        long deadline = System.currentTimeMillis() + 60_000;
        while (out.size() < PROMPTS.size() && System.currentTimeMillis() < deadline) {
          Thread.sleep(5);
          driver.advanceWallClockTime(Duration.ofMillis(5));
          out.addAll(outcomes.readValuesToList());
        }
        return out;
      }
    }
  }

  private static List<Integer> ints(int[] values) {
    return java.util.Arrays.stream(values).boxed().toList();
  }

  private static int commonPrefix(List<Integer> a, List<Integer> b) {
    int n = 0;
    while (n < a.size() && n < b.size() && a.get(n).equals(b.get(n))) {
      n++;
    }
    return n;
  }
}
