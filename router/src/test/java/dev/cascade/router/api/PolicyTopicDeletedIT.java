package dev.cascade.router.api;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.proto.v1.GetPolicyRequest;
import dev.cascade.proto.v1.Policy;
import dev.cascade.proto.v1.UpdatePolicyRequest;
import dev.cascade.router.embedded.EmbeddedKafka;
import dev.cascade.router.learning.LearnedRules;
import dev.cascade.router.learning.RuleCatalog;
import dev.cascade.router.learning.RuleResolver;
import dev.cascade.router.policy.DeferralPolicy;
import dev.cascade.router.routing.RequestValidator;
import io.grpc.ManagedChannel;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.junit.jupiter.api.Test;

/**
 * The policy topic deleted under a running front door (its gRPC server over the real policy topic
 * on a real broker): the door goes on answering with the last policy it read, its reader logs the
 * condition once instead of the Kafka consumer's warning per fetch (about a thousand a second
 * before), {@code cascade_policy_topic_missing} says so, and once the topic is created again the
 * reader says so once and follows it. A consumer that goes on fetching the deleted partition (as
 * Kafka Streams' global consumer does) has its warning written once, then at most once a minute.
 */
class PolicyTopicDeletedIT {

  private static final String TOPIC = "deleted.policy";
  private static final String TOKEN = "policy-topic-deleted-token-0123456789";
  private static final String FETCHER = "deleted-policy-fetcher";

  private static NewTopic policyTopic() {
    return new NewTopic(TOPIC, 1, (short) 1).configs(Map.of("cleanup.policy", "compact"));
  }

  @Test
  void aDeletedPolicyTopicIsLoggedOnceWhileTheDoorServesTheLastPolicyAndFollowedAgainOnceBack() throws Exception {
    ByteArrayOutputStream log = new ByteArrayOutputStream();
    PrintStream stderr = System.err;
    PrometheusRegistry registry = new PrometheusRegistry();
    try (EmbeddedKafka kafka = EmbeddedKafka.start();
        Admin admin = Admin.create(Map.of("bootstrap.servers", kafka.bootstrapServers()));
        KafkaConsumer<byte[], byte[]> fetcher = new KafkaConsumer<>(Map.of("bootstrap.servers",
            kafka.bootstrapServers(), "client.id", FETCHER), new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
      admin.createTopics(List.of(policyTopic())).all().get(60, TimeUnit.SECONDS);
      PolicyTopic policies = PolicyTopic.start(Map.of("bootstrap.servers", kafka.bootstrapServers()), TOPIC,
          new DeferralPolicy("chow-sum", 0.0, 2.0, 0.0, 0.0, 4, "config", 0, "configured default"), registry);
      RuleCatalog catalog = RuleCatalog.withBundled(FakeKafkaServer.bundledModelFingerprint());
      String name = InProcessServerBuilder.generateName();
      CascadeServer server = new CascadeServer(InProcessServerBuilder.forName(name), new FakeChannel(), policies,
          new InMemoryRuleStore(catalog), new RequestValidator(FakeKafkaServer.model(p -> Optional.empty())),
          new RuleResolver(LearnedRules.bundled(), catalog), TOKEN, Duration.ofSeconds(5)).start();
      ManagedChannel channel = InProcessChannelBuilder.forName(name).build();
      try {
        Policy first = update(channel, 3.0, "first");
        Policy last = update(channel, 4.5, "the last before the topic goes");
        assertThat(last.getVersion()).isGreaterThan(first.getVersion());
        assertThat(scrape(registry)).contains("cascade_policy_topic_missing 0.0");

        // A consumer that goes on fetching the deleted partition, as Kafka Streams' global consumer
        // of the policy topic does in serve (it has no way to stop).
        fetcher.assign(List.of(new TopicPartition(TOPIC, 0)));
        fetcher.poll(Duration.ofMillis(500));

        // slf4j-simple writes to whatever System.err is at the time of each line.
        System.setErr(new PrintStream(log, true, StandardCharsets.UTF_8));
        long deletedAt = System.nanoTime();
        admin.deleteTopics(List.of(TOPIC)).all().get(60, TimeUnit.SECONDS);
        waitFor(() -> fetch(fetcher) && policies.missing(), Duration.ofSeconds(60));
        assertThat(scrape(registry)).contains("cascade_policy_topic_missing 1.0");
        // Three looks for the topic (1 + 2 + 4 s apart): the consumer fetching it all along, as
        // before, would have logged thousands of warnings by then.
        waitFor(() -> fetch(fetcher) && policies.looks() >= 3, Duration.ofSeconds(60));
        // The fetching consumer's warning, written once (then once a minute with a count), against one
        // per fetch before: 2 a second in serve, 237 lines in 120 s.
        long minutes = TimeUnit.NANOSECONDS.toMinutes(System.nanoTime() - deletedAt);
        List<String> fetchWarnings = logged(log).lines()
            .filter(l -> l.contains("clientId=" + FETCHER) && l.contains("Received unknown topic or partition error"))
            .toList();
        assertThat(fetchWarnings).as("the first is written").isNotEmpty();
        assertThat(fetchWarnings).as("then at most one a minute").hasSizeLessThanOrEqualTo(1 + (int) minutes);
        Policy served = FakeKafkaServer.admin(channel, null, 10).getPolicy(GetPolicyRequest.getDefaultInstance());
        assertThat(served.getVersion()).isEqualTo(last.getVersion());
        assertThat(served.getThreshold()).isEqualTo(4.5);
        String during = logged(log);
        assertThat(during.lines().filter(l -> l.contains("the policy topic '" + TOPIC + "' is missing"))).hasSize(1);
        assertThat(during).contains("GetPolicy and WatchPolicy keep policy version " + last.getVersion());
        // What the Kafka consumer logged before its reader noticed (one poll's fetches), bounded.
        assertThat(during.lines().filter(l -> l.contains(TOPIC)).count()).isLessThan(500);
        assertThat(during).doesNotContain("still missing"); // within the minute

        // A write meanwhile is refused, naming the cause, and nothing is sent: it cannot land
        // once the topic is back (the producer's retries did, a minute later, before).
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> update(channel, 9.0, "while it is gone"))
            .isInstanceOfSatisfying(io.grpc.StatusRuntimeException.class, e -> {
              assertThat(e.getStatus().getCode()).isEqualTo(io.grpc.Status.Code.UNAVAILABLE);
              assertThat(e.getStatus().getDescription()).contains("the policy topic '" + TOPIC + "' is missing")
                  .contains("not written");
            });

        admin.createTopics(List.of(policyTopic())).all().get(60, TimeUnit.SECONDS);
        waitFor(() -> !policies.missing(), Duration.ofSeconds(60));
        TopicPartition recreated = new TopicPartition(TOPIC, 0);
        assertThat(fetcher.endOffsets(List.of(recreated)).get(recreated)).as("the refused write").isZero();
        assertThat(scrape(registry)).contains("cascade_policy_topic_missing 0.0");
        assertThat(logged(log).lines().filter(l -> l.contains("the policy topic '" + TOPIC + "' is back"))).hasSize(1);
        // The empty topic changes nothing; the next version is written to it and read back from it.
        assertThat(FakeKafkaServer.admin(channel, null, 10).getPolicy(GetPolicyRequest.getDefaultInstance())
            .getVersion()).isEqualTo(last.getVersion());
        Policy next = update(channel, 5.0, "after the topic came back");
        assertThat(next.getVersion()).isGreaterThan(last.getVersion());
        assertThat(policies.current().version()).isEqualTo(next.getVersion());
        assertThat(policies.current().threshold()).isEqualTo(5.0);
      } finally {
        System.setErr(stderr);
        channel.shutdownNow();
        server.stop(Duration.ZERO);
        policies.close();
      }
    }
  }

  private static Policy update(ManagedChannel channel, double threshold, String reason) {
    return FakeKafkaServer.admin(channel, TOKEN, 60).updatePolicy(UpdatePolicyRequest.newBuilder()
        .setPolicy(Policy.newBuilder().setRule("chow-sum").setThreshold(threshold).setReason(reason)).build());
  }

  /** One poll of {@code fetcher}: true, so that it goes on fetching while a condition is awaited. */
  private static boolean fetch(KafkaConsumer<byte[], byte[]> fetcher) {
    fetcher.poll(Duration.ofMillis(100));
    return true;
  }

  private static String logged(ByteArrayOutputStream log) {
    System.err.flush();
    return log.toString(StandardCharsets.UTF_8);
  }

  private static String scrape(PrometheusRegistry registry) throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    new PrometheusTextFormatWriter(false).write(out, registry.scrape());
    return out.toString(StandardCharsets.UTF_8);
  }

  private static void waitFor(BooleanSupplier condition, Duration atMost) throws InterruptedException {
    long deadline = System.nanoTime() + atMost.toNanos();
    while (!condition.getAsBoolean()) {
      assertThat(System.nanoTime()).as("waited %s", atMost).isLessThan(deadline);
      Thread.sleep(50);
    }
  }
}
