package dev.cascade.router.learning;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cascade.router.cli.CascadeCommand;
import dev.cascade.router.embedded.EmbeddedKafka;
import dev.cascade.router.evaluation.CascadeEvaluation;
import dev.cascade.router.features.UncertaintyFeatures;
import dev.cascade.router.rules.DeferralRule;
import dev.cascade.router.rules.DeferralRules;
import dev.cascade.schemas.avro.Decision;
import dev.cascade.schemas.avro.Feedback;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.avro.ServedBy;
import dev.cascade.schemas.serde.CascadeSerdes;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.ArrayList;
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

/**
 * {@code eval --outcomes} and {@code train-rule --outcomes} on outcomes without a reference whose
 * labels come from feedback on the feedback topic, as the HTTP door writes it: joined by request id
 * and labelled as the learner labels them.
 */
class OutcomesWithFeedbackIT {

  private static final String OUTCOMES = "outcomes-with-feedback";
  private static final String FEEDBACK = "feedback-for-outcomes";

  @TempDir
  Path dir;

  @Test
  void evalAndTrainRuleLabelOutcomesByTheFeedbackOnTheFeedbackTopic() throws Exception {
    SplittableRandom random = new SplittableRandom(29);
    DeferralRule chowSum = DeferralRules.builtIn().create("chow-sum");
    // What eval must reproduce: the outcomes feedback decides both answers of, and their weights.
    List<Boolean> small = new ArrayList<>();
    List<Boolean> large = new ArrayList<>();
    List<Double> weights = new ArrayList<>();
    List<Double> chowSums = new ArrayList<>();
    int smallRightAccepted = 0;
    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
      try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()))) {
        admin.createTopics(List.of(new NewTopic(OUTCOMES, 2, (short) 1), new NewTopic(FEEDBACK, 3, (short) 1)))
            .all().get();
      }
      Map<String, Object> producerConfig = Map.of(
          ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(), ProducerConfig.ACKS_CONFIG, "all");
      try (KafkaProducer<String, RoutingOutcome> outcomes = new KafkaProducer<>(producerConfig,
          new StringSerializer(), CascadeSerdes.outcomes().serializer());
          KafkaProducer<String, Feedback> feedback = new KafkaProducer<>(producerConfig, new StringSerializer(),
              CascadeSerdes.feedback().serializer())) {
        for (int i = 0; i < 300; i++) {
          String id = "r" + i;
          UncertaintyFeatures features = SyntheticExamples.randomFeatures(random);
          boolean smallRight = features.logprobQuantile(0.5) > -1.0 || random.nextInt(5) == 0;
          String smallText = smallRight ? "right" : "wrong";
          RoutingOutcome.Builder outcome = SyntheticOutcomes.accepted(id, features).setSmallText(smallText)
              .setScore(chowSum.score(features));
          Feedback.Builder verdict = Feedback.newBuilder().setRequestId(id).setSource("user").setCreatedAtMs(i);
          if (i % 3 == 0) { // accepted: a verdict on the small answer decides it alone
            verdict.setCorrect(smallRight);
            smallRightAccepted += smallRight ? 1 : 0;
          } else {
            // Deferred (a verdict on the large answer served), or explored at 20% (a corrected answer).
            boolean deferred = i % 3 == 1;
            boolean largeRight = deferred || random.nextInt(4) != 0;
            outcome.setDecision(deferred ? Decision.DEFER
                    : Decision.EXPLORE)
                .setServedBy(ServedBy.LARGE).setLargeText(largeRight ? "right" : "bad")
                .setAgree(smallRight && largeRight).setPropensity(deferred ? 1.0 : 0.2);
            if (deferred) {
              verdict.setCorrect(true);
            } else {
              verdict.setCorrectedText("right");
            }
            small.add(smallRight);
            large.add(largeRight);
            weights.add(deferred ? 1.0 : 5.0);
            chowSums.add(chowSum.score(features));
          }
          outcomes.send(new ProducerRecord<>(OUTCOMES, id, outcome.build()));
          feedback.send(new ProducerRecord<>(FEEDBACK, id, verdict.build()));
        }
        // A later verdict on an id is ignored (the first joins, as at the learner), and a record keyed
        // otherwise than by its request id is not joined.
        feedback.send(new ProducerRecord<>(FEEDBACK, "r1", Feedback.newBuilder().setRequestId("r1").setSource("user")
            .setCreatedAtMs(1000).setCorrect(false).build()));
        feedback.send(new ProducerRecord<>(FEEDBACK, "elsewhere", Feedback.newBuilder().setRequestId("r2")
            .setSource("user").setCreatedAtMs(1001).setCorrectedText("wrong").build()));
      }
      int compared = small.size();

      StringWriter stdout = new StringWriter();
      StringWriter stderr = new StringWriter();
      int code = run(stdout, stderr, "eval", "--outcomes", OUTCOMES, "--bootstrap-servers", kafka.bootstrapServers(),
          "--set", "topic.feedback=" + FEEDBACK, "--json", "--resamples", "200");

      assertThat(code).as(stderr.toString()).isZero();
      assertThat(stderr.toString()).contains("feedback topic " + FEEDBACK + ": 302 records on 300 request ids",
          "1 later ones on the same id ignored", "1 keyed otherwise than by their request id",
          "300 outcomes read, " + compared + " used");
      JsonNode json = new ObjectMapper().readTree(stdout.toString());
      assertThat(json.get("outcomes").get("used").asInt()).isEqualTo(compared);
      assertThat(json.get("outcomes").get("labels").get("feedback").asInt()).isEqualTo(compared);
      assertThat(json.get("outcomes").get("skipped").get("no reference").asInt()).isEqualTo(100);
      assertThat(json.get("weighted_n").asDouble())
          .isCloseTo(weights.stream().mapToDouble(Double::doubleValue).sum(), within(1e-9));
      boolean[] s = new boolean[compared];
      boolean[] l = new boolean[compared];
      for (int i = 0; i < compared; i++) {
        s[i] = small.get(i);
        l[i] = large.get(i);
      }
      double[] w = weights.stream().mapToDouble(Double::doubleValue).toArray();
      double chowSumAuc = new CascadeEvaluation(s, l)
          .aucDf(chowSums.stream().mapToDouble(Double::doubleValue).toArray(), w);
      assertThat(json.get("rules").get("chow-sum").get("auc_df").asDouble()).isCloseTo(chowSumAuc, within(1e-12));

      stdout = new StringWriter();
      stderr = new StringWriter();
      Path out = dir.resolve("rule.rule");
      code = run(stdout, stderr, "train-rule", "--outcomes", OUTCOMES, "--bootstrap-servers",
          kafka.bootstrapServers(), "--set", "topic.feedback=" + FEEDBACK, "--out", out.toString(),
          "--learners", "logistic", "--folds", "3", "--version", "4");

      assertThat(code).as(stderr.toString()).isZero();
      // Every escalated outcome by its feedback (none by the large model as teacher); of the accepted
      // ones those the feedback says the small model got right (a wrong one has no large answer).
      int examples = compared + smallRightAccepted;
      assertThat(stderr.toString()).contains("300 outcomes read, " + examples + " training examples ("
          + examples + " feedback)", (100 - smallRightAccepted) + " " + LabelledOutcomes.WRONG_NO_LARGE);
      assertThat(stdout.toString()).contains("posthoc-quantile v4", examples + " examples");
      assertThat(RuleArtifacts.read(out).info().trainingDataRange()).startsWith("topic " + OUTCOMES + ":");
    }
  }

  private static int run(StringWriter stdout, StringWriter stderr, String... args) {
    CommandLine cli = CascadeCommand.commandLine();
    cli.setOut(new PrintWriter(stdout));
    cli.setErr(new PrintWriter(stderr));
    return cli.execute(args);
  }
}
