package dev.cascade.router.learning;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.cli.CascadeCommand;
import dev.cascade.router.embedded.EmbeddedKafka;
import dev.cascade.router.features.UncertaintyFeatures;
import dev.cascade.schemas.avro.Decision;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.avro.ServedBy;
import dev.cascade.schemas.avro.StageLatencies;
import dev.cascade.schemas.serde.CascadeSerdes;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code cascade train-rule --outcomes}: labels from references and from the large model as teacher. */
class TrainRuleFromOutcomesIT {

  @TempDir
  Path dir;

  @Test
  void trainsARuleFromTheTopicSnapshot() throws Exception {
    String topic = "outcomes-for-training";
    Path out = dir.resolve("rule.rule");
    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
      try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()))) {
        admin.createTopics(List.of(new NewTopic(topic, 2, (short) 1))).all().get();
      }
      SplittableRandom random = new SplittableRandom(3);
      try (KafkaProducer<String, RoutingOutcome> producer = new KafkaProducer<>(Map.of(
          ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(), ProducerConfig.ACKS_CONFIG, "all"),
          new StringSerializer(), CascadeSerdes.outcomes().serializer())) {
        for (int i = 0; i < 600; i++) {
          UncertaintyFeatures features = SyntheticExamples.randomFeatures(random);
          boolean helps = features.logprobQuantile(0.5) < -1.0;
          RoutingOutcome.Builder outcome = RoutingOutcome.newBuilder()
              .setRequestId("r" + i).setPrompt("p" + i).setSmallText(helps ? "wrong" : "right")
              .setFeatures(new HashMap<>(features.asMap()))
              .setRule("chow-sum").setScore(0).setThreshold(0).setPolicyVersion(1)
              .setLatencies(StageLatencies.newBuilder().build()).setCreatedAtMs(0).setCompletedAtMs(0);
          if (i % 3 == 0) { // accepted, no reference: teaches nothing
            outcome.setDecision(Decision.ACCEPT).setServedBy(ServedBy.SMALL);
          } else if (i % 3 == 1) { // escalated, no reference: the large answer is the teacher
            outcome.setDecision(Decision.DEFER).setServedBy(ServedBy.LARGE).setLargeText("right")
                .setAgree(!helps);
          } else { // with a reference
            outcome.setDecision(Decision.EXPLORE).setServedBy(ServedBy.LARGE).setLargeText("right")
                .setReference("right").setSmallCorrect(!helps).setLargeCorrect(true);
          }
          producer.send(new ProducerRecord<>(topic, "r" + i, outcome.build()));
        }
      }
      StringWriter stdout = new StringWriter();
      CommandLine cli = CascadeCommand.commandLine();
      cli.setOut(new PrintWriter(stdout));

      int code = cli.execute("train-rule", "--outcomes", topic, "--bootstrap-servers", kafka.bootstrapServers(),
          "--out", out.toString(), "--learners", "logistic", "--folds", "3", "--version", "9");

      assertThat(code).isZero();
      assertThat(stdout.toString()).contains("posthoc-quantile v9", "400 examples");
    }
    LearnedRule rule = RuleArtifacts.read(out);
    assertThat(rule.info().trainingDataRange()).startsWith("topic outcomes-for-training:");
    assertThat(rule.info().validationMetrics().get("cv_oracle_share_pct")).isGreaterThan(80.0);
  }
}
