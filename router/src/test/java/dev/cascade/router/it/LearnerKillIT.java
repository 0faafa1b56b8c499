package dev.cascade.router.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.embedded.EmbeddedKafka;
import dev.cascade.schemas.avro.RuleModel;
import dev.cascade.schemas.serde.CascadeSerdes;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The learner killed with {@code kill -9} in the middle of a training round, as a separate OS
 * process, and restarted: it resumes from its changelogged state and publishes each rule version
 * once, as a {@code read_committed} reader of the rules and policy topics sees them.
 */
class LearnerKillIT {

  private static final String RULES = "cascade.rules";
  private static final String POLICY = "cascade.policy";

  @TempDir
  Path stateDir;

  /**
   * A learner process ({@code cascade learn}) with its output lines collected: a round every 300
   * labels from 300 on, {@code more} settings ({@code KEY=VALUE}) besides.
   */
  static JvmProcess learner(String bootstrap, Path stateDir, String... more) throws Exception {
    List<String> args = new ArrayList<>(List.of("learn"));
    List<String> settings = new ArrayList<>(List.of("bootstrap.servers=" + bootstrap, "state.dir=" + stateDir,
        "topic.partitions=2", "metrics.enabled=false", "policy.rule=chow-sum", "policy.threshold=12",
        "learn.min-labels=300", "learn.retrain-every-labels=300", "learn.min-holdout=80", "learn.holdout-fraction=0.3",
        "learn.feedback-window-ms=0", "learn.learners=all", "learn.folds=5"));
    settings.addAll(List.of(more));
    for (String kv : settings) {
      args.add("--set");
      args.add(kv);
    }
    return JvmProcess.cascade(args);
  }

  @Test
  void aLearnerKilledMidRoundResumesAndPublishesEachVersionOnce() throws Exception {
    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
      String bootstrap = kafka.bootstrapServers();
      JvmProcess first = learner(bootstrap, stateDir.resolve("first"));
      assertThat(first.await("learner=cascade-learner", Duration.ofSeconds(90))).as(first.output()).isTrue();
      SyntheticOutcomes.write(bootstrap, "cascade.outcomes", "a-", 450, 21);
      assertThat(first.await("training posthoc-quantile v1", Duration.ofSeconds(90))).as(first.output()).isTrue();
      first.kill9();
      // The round (26 model fits) takes seconds; the kill came within milliseconds of its start.
      assertThat(first.count("PUBLISHED")).as("killed mid-round, before publishing").isZero();

      // A fresh state directory: everything the learner knew must come back from its changelogs.
      JvmProcess second = learner(bootstrap, stateDir.resolve("second"));
      try {
        assertThat(second.await("PUBLISHED posthoc-quantile v1", Duration.ofSeconds(120))).as(second.output())
            .isTrue();
        // More labels: the next round resumes the example numbering where the first learner left it.
        SyntheticOutcomes.write(bootstrap, "cascade.outcomes", "b-", 400, 22);
        assertThat(second.await("training posthoc-quantile v2", Duration.ofSeconds(120))).as(second.output()).isTrue();
        assertThat(second.await("posthoc-quantile v2 ", Duration.ofSeconds(120))).isTrue();
      } finally {
        second.close();
      }
      String training = second.output().lines().filter(l -> l.contains("training posthoc-quantile v2")).findFirst()
          .orElseThrow();
      // Only 400 outcomes came after the restart: more examples than that means the 450 from
      // before the kill came back from the changelog (however many of the 400 had arrived).
      java.util.regex.Matcher m = java.util.regex.Pattern.compile("on ([0-9]+) labelled examples").matcher(training);
      assertThat(m.find()).as(training).isTrue();
      assertThat(Integer.parseInt(m.group(1))).as("the second round keeps the examples from before the kill")
          .isGreaterThan(450);

      Map<String, Integer> ruleRecords = count(bootstrap, RULES);
      assertThat(ruleRecords).containsEntry("posthoc-quantile@1", 1);
      assertThat(ruleRecords.values()).allMatch(c -> c == 1);
      List<Long> policyVersions = new ArrayList<>();
      read(bootstrap, POLICY, r -> policyVersions.add(CascadeSerdes.policies().decode(r.value()).getVersion()));
      assertThat(policyVersions).doesNotHaveDuplicates().isSorted().hasSize(ruleRecords.size());
    }
  }

  private static Map<String, Integer> count(String bootstrap, String topic) throws Exception {
    Map<String, Integer> counts = new HashMap<>();
    read(bootstrap, topic, r -> {
      RuleModel rule = CascadeSerdes.ruleModels().decode(r.value());
      assertThat(r.key()).isEqualTo(rule.getName() + "@" + rule.getVersion());
      counts.merge(r.key(), 1, Integer::sum);
    });
    return counts;
  }

  /** Every committed record of the single-partition {@code topic}, in order ({@code read_committed}). */
  static void read(String bootstrap, String topic,
      java.util.function.Consumer<ConsumerRecord<String, byte[]>> each) {
    try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(Map.of(
        ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap, ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed",
        ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false), new StringDeserializer(), new ByteArrayDeserializer())) {
      TopicPartition p = new TopicPartition(topic, 0);
      consumer.assign(List.of(p));
      consumer.seekToBeginning(List.of(p));
      long end = consumer.endOffsets(List.of(p)).get(p);
      while (consumer.position(p) < end) {
        consumer.poll(Duration.ofMillis(500)).forEach(each);
      }
    }
  }
}
