package dev.cascade.router.it;

import static org.assertj.core.api.Assertions.assertThat;

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
import dev.cascade.router.learner.ContinuousLearner;
import dev.cascade.router.learning.RuleCatalog;
import dev.cascade.schemas.avro.Decision;
import dev.cascade.schemas.avro.RoutingOutcome;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * The online learning loop on a real broker, with a real router and a real learner (each its own
 * Kafka Streams application): outcomes → learn → rules topic → the router switches rule version →
 * its decisions change.
 */
class LearningLoopIT {

  private static final Duration IDLE = Duration.ofSeconds(60);

  @org.junit.jupiter.api.io.TempDir
  java.nio.file.Path dir;

  @Test
  void aRuleLearnedFromOutcomesIsPublishedAndTheRouterSwitchesToIt() throws Exception {
    // A prior of 100 labelled validation prompts (learn.prior), answered by the learner at start;
    // their generations cached here, not in the user's cache.
    java.nio.file.Path prior = dir.resolve("prior.jsonl");
    java.nio.file.Files.write(prior, java.nio.file.Files.readAllLines(
        java.nio.file.Path.of("..", "models", "data", "validation.jsonl")).subList(0, 100));
    String cacheBefore = System.getProperty("cascade.cache");
    System.setProperty("cascade.cache", dir.resolve("cache").toString());
    try {
      run(prior);
    } finally {
      if (cacheBefore == null) {
        System.clearProperty("cascade.cache");
      } else {
        System.setProperty("cascade.cache", cacheBefore);
      }
    }
  }

  private void run(java.nio.file.Path prior) throws Exception {
    try (EmbeddedKafka kafka = EmbeddedKafka.start();
        TextGenerator small = TextGenerators.load("small", "OnnxRuntime");
        TextGenerator large = TextGenerators.load("large", "OnnxRuntime")) {
      LargeModelServer largeServer = new LargeModelServer(
          NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)), large,
          new ServerLimits(4, 512)).start();
      CascadeConfig config = CascadeConfig.load(null, Map.of(), Map.ofEntries(
          Map.entry("bootstrap.servers", kafka.bootstrapServers()), Map.entry("topic.partitions", "2"),
          Map.entry("policy.rule", "chow-sum"), Map.entry("policy.threshold", "12"),
          Map.entry("policy.shadow-rules", "chow-sum"), Map.entry("policy.exploration-rate", "0.05"),
          Map.entry("learn.min-labels", "300"), Map.entry("learn.retrain-every-labels", "300"),
          Map.entry("learn.min-holdout", "80"), Map.entry("learn.holdout-fraction", "0.3"),
          Map.entry("learn.feedback-window-ms", "0"), Map.entry("learn.bootstrap-resamples", "300"),
          Map.entry("learn.prior", prior.toString())));
      List<Example> test = Examples.bundled("test");
      PrometheusRegistry learnerMetrics = new PrometheusRegistry();
      try (CascadeRouter router = CascadeRouter.start(config, small, "127.0.0.1:" + largeServer.port());
          ContinuousLearner learner = ContinuousLearner.start(config, learnerMetrics)) {
        DemoWorkload.Result before = send(config, "before", test.subList(0, 40));
        assertThat(before.outcomes().values()).allSatisfy(o -> {
          assertThat(o.getRule()).isEqualTo("chow-sum");
          assertThat(o.getRuleVersion()).isNull();
          assertThat(o.getShadowScores()).containsKey("chow-sum");
          assertThat(o.getPropensity()).isIn(1.0, 0.05);
        });

        // Labelled outcomes whose benefit a learned rule can see and Chow-Sum cannot well:
        // deferring helps where the median token log-prob is low, whatever the length.
        SyntheticOutcomes.write(config.get(CascadeConfig.BOOTSTRAP_SERVERS), config.topics().outcomes(), "synthetic-",
            600, 11);
        RuleCatalog catalog = router.rules().catalog();
        long deadline = System.nanoTime() + Duration.ofSeconds(120).toNanos();
        while (catalog.latest("posthoc-quantile").map(RuleCatalog.Entry::version).orElse(0L) < 1
            && System.nanoTime() < deadline) {
          Thread.sleep(200);
        }
        RuleCatalog.Entry published = catalog.latest("posthoc-quantile").orElseThrow();
        assertThat(published.version()).as("a rule version published by the learner").isEqualTo(1);
        assertThat(published.applicable()).isTrue();
        assertThat(published.rule().info().validationMetrics()).containsKeys("holdout_delta_ci_low", "labels_reference");
        assertThat(published.rule().info().validationMetrics().get("holdout_delta_ci_low")).isGreaterThan(0.0);
        assertThat(published.rule().info().calibrationScores()).isNotEmpty();
        // Trained on the prior too, which is never held out: the held-out slice is traffic alone.
        assertThat(published.rule().info().validationMetrics()).containsEntry("prior_examples", 100.0)
            .containsEntry("labels_prior", 100.0);
        assertThat(published.rule().info().trainingPrompts()).contains(
            dev.cascade.router.learning.PromptHash.of(Examples.bundled("validation").get(0).prompt()));
        assertThat(gauge(learnerMetrics, "cascade_learner_prior_examples")).isEqualTo(100.0);
        // 0.5^(examples kept / 1,000): the 600 synthetic outcomes and the 40 first requests at least.
        assertThat(gauge(learnerMetrics, "cascade_learner_prior_weight")).isGreaterThan(0.0)
            .isLessThanOrEqualTo(Math.pow(0.5, 0.64));

        DemoWorkload.Result after = sendUntilRuleVersion(config, test.subList(40, 120), 1L);
        List<RoutingOutcome> switched = after.outcomes().values().stream()
            .filter(o -> Long.valueOf(1L).equals(o.getRuleVersion())).toList();
        assertThat(switched).isNotEmpty().allSatisfy(o -> {
          assertThat(o.getRule()).isEqualTo("posthoc-quantile");
          assertThat(o.getPolicyVersion()).isGreaterThanOrEqualTo(1);
          assertThat(o.getScore()).isBetween(0.0, 1.0);
          assertThat(o.getRuleFallbackReason()).isNull();
        });
        // The decisions are the new rule's, not Chow-Sum's at the old threshold.
        long differ = switched.stream()
            .filter(o -> (o.getDecision() == Decision.DEFER) != (o.getShadowScores().get("chow-sum") > 12.0))
            .count();
        assertThat(differ).as("requests decided differently than Chow-Sum at threshold 12 would").isPositive();
        assertThat(after.answeredAtNanos()).hasSize(80);

        // Once the traffic stops and no round is due by count, the learner waits for
        // learn.retrain-every-ms without punctuating, so it commits no transaction.
        long quietBy = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        double commitsBefore;
        double commitsAfter;
        do {
          commitsBefore = commits(learnerMetrics);
          Thread.sleep(2_000);
          commitsAfter = commits(learnerMetrics);
        } while (commitsAfter != commitsBefore && System.nanoTime() < quietBy);
        assertThat(commitsAfter).as("the learner's commits over 2 s with no traffic").isEqualTo(commitsBefore);
        assertThat(commitsBefore).as("its commits while it learned").isPositive();
      } finally {
        largeServer.stop();
      }
    }
  }

  private static double gauge(PrometheusRegistry registry, String name) {
    return registry.scrape().stream().filter(s -> s.getMetadata().getPrometheusName().equals(name))
        .flatMap(s -> s.getDataPoints().stream())
        .mapToDouble(d -> ((io.prometheus.metrics.model.snapshots.GaugeSnapshot.GaugeDataPointSnapshot) d).getValue())
        .findFirst().orElseThrow();
  }

  /** The learner's {@code kafka_streams_commits_total}, as its metrics endpoint exposes it. */
  private static double commits(PrometheusRegistry registry) {
    return registry.scrape().stream().filter(s -> s.getMetadata().getPrometheusName().equals("kafka_streams_commits"))
        .flatMap(s -> s.getDataPoints().stream())
        .mapToDouble(d -> ((io.prometheus.metrics.model.snapshots.CounterSnapshot.CounterDataPointSnapshot) d).getValue())
        .sum();
  }

  /** Sends the examples, and again under other ids, until some outcome was decided by the rule version. */
  private static DemoWorkload.Result sendUntilRuleVersion(CascadeConfig config, List<Example> examples, long version)
      throws Exception {
    DemoWorkload.Result result = null;
    for (int attempt = 0; attempt < 10; attempt++) {
      result = send(config, "after" + attempt, examples);
      Optional<RoutingOutcome> any = result.outcomes().values().stream()
          .filter(o -> Long.valueOf(version).equals(o.getRuleVersion())).findAny();
      if (any.isPresent()) {
        return result;
      }
      Thread.sleep(500);
    }
    return result;
  }

  private static DemoWorkload.Result send(CascadeConfig c, String prefix, List<Example> examples) throws Exception {
    return DemoWorkload.run(CascadeRouter.clientProperties(c), c.topics().requests(), c.topics().responses(),
        c.topics().outcomes(), prefix, examples, IDLE, n -> { });
  }
}
