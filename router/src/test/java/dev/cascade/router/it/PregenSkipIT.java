package dev.cascade.router.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.models.PromptScore;
import dev.cascade.models.TextGenerator;
import dev.cascade.models.TextGenerators;
import dev.cascade.models.server.LargeModelServer;
import dev.cascade.models.server.ServerLimits;
import dev.cascade.router.CascadeRouter;
import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.demo.DemoWorkload;
import dev.cascade.router.demo.Example;
import dev.cascade.router.demo.Examples;
import dev.cascade.router.embedded.EmbeddedKafka;
import dev.cascade.router.features.FeatureExtractor;
import dev.cascade.router.learning.DeferralExample;
import dev.cascade.router.learning.LearnedRule;
import dev.cascade.router.learning.LearnerSpec;
import dev.cascade.router.learning.ModelFingerprint;
import dev.cascade.router.learning.PromptFeatures;
import dev.cascade.router.learning.RuleArtifacts;
import dev.cascade.router.learning.RuleTrainer;
import dev.cascade.router.routing.SmallStop;
import dev.cascade.schemas.avro.CascadeResponse;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.avro.ServedBy;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The pre-generation skip end to end: a real embedded broker, the real bundled small and large
 * models (the large one behind a real gRPC server on loopback), a prompt rule trained with Tribuo
 * on the small model's prompt pass and published to the rules topic, and a configured policy that
 * names it. Requests the rule flags are answered by the large model without the small one decoding
 * them, and their outcomes say so; the others go through the small model as before.
 */
class PregenSkipIT {

  private static final Duration IDLE = Duration.ofSeconds(60);
  private static final int ITEMS = 60;
  private static EmbeddedKafka kafka;
  private static TextGenerator small;
  private static TextGenerator large;
  private static LargeModelServer largeServer;
  private static CascadeConfig config;
  private static CascadeRouter router;
  private static List<Example> examples;
  private static double[] scores;
  private static double threshold;

  @BeforeAll
  static void start() throws Exception {
    kafka = EmbeddedKafka.start();
    small = TextGenerators.load("small", "OnnxRuntime");
    large = TextGenerators.load("large", "OnnxRuntime");
    largeServer = new LargeModelServer(
        NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)), large,
        new ServerLimits(2, 512)).start();

    // A prompt rule for the bundled small model: trained on 300 validation prompts to flag the long
    // ones (what it learns does not matter here, only that the router applies it), threshold at the
    // midpoint that flags about a third of the test prompts sent.
    LearnedRule rule = trainPromptRule();
    examples = Examples.bundled("test").subList(0, ITEMS);
    List<String> prompts = examples.stream().map(Example::prompt).toList();
    scores = PromptFeatures.scores(rule, prompts, small.scorePrompts(prompts));
    double[] sorted = scores.clone();
    Arrays.sort(sorted);
    int kept = (int) Math.round(ITEMS * 2.0 / 3);
    threshold = (sorted[kept - 1] + sorted[kept]) / 2;

    config = CascadeConfig.load(null, Map.of(), Map.of(
        "bootstrap.servers", kafka.bootstrapServers(),
        "policy.rule", "chow-sum", "policy.threshold", "1000",
        "policy.pregen-skip-rule", "pregen-skip", "policy.pregen-skip-threshold", Double.toString(threshold),
        "topic.partitions", "2"));
    router = CascadeRouter.start(config, small, "127.0.0.1:" + largeServer.port());
    Map<String, Object> props = new HashMap<>(CascadeRouter.clientProperties(config));
    try (KafkaProducer<String, byte[]> producer =
        new KafkaProducer<>(props, new StringSerializer(), new ByteArraySerializer())) {
      producer.send(new ProducerRecord<>(config.topics().rules(), "pregen-skip@1", RuleArtifacts.encode(rule))).get();
    }
    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while (router.rules().catalog().get("pregen-skip", 1).isEmpty() && System.nanoTime() < deadline) {
      Thread.sleep(50);
    }
    assertThat(router.rules().catalog().get("pregen-skip", 1)).as("the skip rule read from the rules topic")
        .isPresent();
  }

  private static LearnedRule trainPromptRule() {
    List<String> training = Examples.bundled("validation").subList(0, 300).stream().map(Example::prompt).toList();
    List<PromptScore> passes = small.scorePrompts(training);
    List<DeferralExample> labelled = new ArrayList<>();
    for (int i = 0; i < training.size(); i++) {
      labelled.add(new DeferralExample(FeatureExtractor.extract(new float[0], new float[0]),
          PromptFeatures.of(training.get(i), passes.get(i)), false, training.get(i).length() > 12));
    }
    int width = labelled.get(0).embeddingLength() - PromptFeatures.names(0).size();
    LearnedRule trained = RuleTrainer.train("pregen-skip", PromptFeatures.modelNames(width), labelled, "it", 1,
        new RuleTrainer.Options(2, 11, List.of(LearnerSpec.logisticRegression(10, 0.1))), RuleTrainer.Progress.NONE)
        .rule();
    return trained.withInfo(trained.info().withModel(ModelFingerprint.of("small"), PromptFeatures.LAYOUT));
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

  @Test
  void requestsTheRuleFlagsAreServedByTheLargeModelWithoutSmallDecodingAndMarked() throws Exception {
    double reusedBefore = reusedPrefills();
    DemoWorkload.Result result = DemoWorkload.run(CascadeRouter.clientProperties(config), config.topics().requests(),
        config.topics().responses(), config.topics().outcomes(), "s", examples, IDLE, n -> { });
    // Every prompt the skip scored and did not skip decoded from the pass's prefill, not its own.
    double reused = reusedPrefills() - reusedBefore;

    assertThat(result.responses()).hasSize(ITEMS);
    assertThat(result.outcomes()).hasSize(ITEMS);
    int skipped = 0;
    for (CascadeResponse r : result.responses()) {
      int i = Integer.parseInt(r.getRequestId().substring(2));
      RoutingOutcome o = result.outcomes().get(r.getRequestId());
      String prompt = examples.get(i).prompt();
      assertThat(o.getPrompt()).isEqualTo(prompt);
      assertThat(o.getPregenSkipRule()).isEqualTo("pregen-skip@1");
      assertThat(o.getPregenSkipThreshold()).isEqualTo(threshold);
      assertThat(o.getPregenSkipScore()).isCloseTo(scores[i], org.assertj.core.api.Assertions.within(1e-4));
      if (scores[i] > threshold) {
        skipped++;
        String direct = large.generate(List.of(prompt), 48).get(0).text();
        assertThat(r.getServedBy()).as(prompt).isEqualTo(ServedBy.LARGE);
        assertThat(r.getText()).isEqualTo(o.getLargeText()).isEqualTo(direct);
        assertThat(o.getSmallStop()).isEqualTo(SmallStop.PREGEN_SKIP);
        assertThat(o.getSmallStopStep()).isZero();
        assertThat(o.getSmallText()).isEmpty();
        assertThat(o.getSmallTokens()).isEmpty();
        assertThat(o.getSmallCorrect()).as("no small answer, no label").isNull();
        assertThat(o.getSmallFailure()).isNull();
        assertThat(o.getDegraded()).isFalse();
      } else {
        // Decoded by the small model; with threshold 1000 Chow-Sum accepts everything it decodes.
        assertThat(r.getServedBy()).as(prompt).isEqualTo(ServedBy.SMALL);
        assertThat(o.getSmallStop()).isIn(SmallStop.EOS, SmallStop.TOKEN_LIMIT);
        assertThat(o.getSmallText()).isEqualTo(small.generate(List.of(prompt), 48).get(0).text());
      }
    }
    assertThat(skipped).isEqualTo((int) Arrays.stream(scores).filter(s -> s > threshold).count()).isPositive();
    assertThat(reused).as("cascade_small_prefills_reused_total").isEqualTo(ITEMS - skipped);
  }

  /** The router's {@code cascade_small_prefills_reused_total}, from its metrics endpoint. */
  private static double reusedPrefills() throws Exception {
    String url = router.metrics().endpoint().orElseThrow().url("127.0.0.1");
    java.net.http.HttpResponse<String> r = java.net.http.HttpClient.newHttpClient().send(
        java.net.http.HttpRequest.newBuilder(java.net.URI.create(url)).build(),
        java.net.http.HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).isEqualTo(200);
    return dev.cascade.router.metrics.Scrape.parse(r.body()).value("cascade_small_prefills_reused_total");
  }
}
