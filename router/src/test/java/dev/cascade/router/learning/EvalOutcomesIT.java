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
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.serde.CascadeSerdes;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
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
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** {@code cascade eval --outcomes}: per-rule weighted AUC-DF from outcomes on a real broker. */
class EvalOutcomesIT {

  @Test
  void evaluatesTheRulesInForceAndInTheShadowsFromTheTopic() throws Exception {
    String topic = "outcomes-for-eval";
    SplittableRandom random = new SplittableRandom(17);
    DeferralRule chowSum = DeferralRules.builtIn().create("chow-sum");
    // What the report must reproduce: the used outcomes, their weights and two rules' scores.
    List<Boolean> small = new ArrayList<>();
    List<Boolean> large = new ArrayList<>();
    List<Double> weights = new ArrayList<>();
    List<Double> chowSums = new ArrayList<>();
    List<Double> shadowScores = new ArrayList<>();
    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
      try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()))) {
        admin.createTopics(List.of(new NewTopic(topic, 2, (short) 1))).all().get();
      }
      Map<String, Object> producerConfig = Map.of(
          ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(), ProducerConfig.ACKS_CONFIG, "all");
      try (KafkaProducer<String, RoutingOutcome> producer = new KafkaProducer<>(producerConfig,
          new StringSerializer(), CascadeSerdes.outcomes().serializer());
          KafkaProducer<String, byte[]> raw = new KafkaProducer<>(producerConfig, new StringSerializer(),
              new ByteArraySerializer())) {
        for (int i = 0; i < 48; i++) {
          UncertaintyFeatures features = SyntheticExamples.randomFeatures(random);
          RoutingOutcome outcome;
          if (i % 4 == 0) { // accepted, no reference
            outcome = SyntheticOutcomes.accepted("r" + i, features).setPropensity(0.8).build();
          } else {
            boolean s = random.nextInt(3) == 0;
            boolean l = random.nextInt(4) != 0;
            double propensity = i % 4 == 1 ? 1.0 : 0.2; // deferred, or explored at a rate of 20%
            // The shadow scores each request with the oracle's score plus a little noise.
            double shadow = (l ? 1 : 0) - (s ? 1 : 0) + 0.01 * random.nextDouble();
            outcome = SyntheticOutcomes.checked("r" + i, features, s, l, propensity,
                Map.of("posthoc-quantile@5", shadow)).setRule("chow-sum").setScore(chowSum.score(features)).build();
            small.add(s);
            large.add(l);
            weights.add(1 / propensity);
            chowSums.add(chowSum.score(features));
            shadowScores.add(shadow);
          }
          producer.send(new ProducerRecord<>(topic, "r" + i, outcome));
        }
        raw.send(new ProducerRecord<>(topic, "junk", new byte[] {1, 2, 3}));
      }
      StringWriter stdout = new StringWriter();
      StringWriter stderr = new StringWriter();
      CommandLine cli = CascadeCommand.commandLine();
      cli.setOut(new PrintWriter(stdout));
      cli.setErr(new PrintWriter(stderr));

      int code = cli.execute("eval", "--outcomes", topic, "--bootstrap-servers", kafka.bootstrapServers(),
          "--json", "--resamples", "200");

      assertThat(code).as(stderr.toString()).isZero();
      assertThat(stderr.toString()).contains("49 outcomes read, 36 used");
      JsonNode json = new ObjectMapper().readTree(stdout.toString());
      assertThat(json.get("outcomes").get("read").asInt()).isEqualTo(49);
      assertThat(json.get("outcomes").get("used").asInt()).isEqualTo(36);
      assertThat(json.get("outcomes").get("explored").asInt()).isEqualTo(24);
      assertThat(json.get("outcomes").get("skipped").get("no reference").asInt()).isEqualTo(12);
      assertThat(json.get("outcomes").get("skipped").get("undecodable").asInt()).isEqualTo(1);
      assertThat(json.get("weighted_n").asDouble()).isCloseTo(12 + 24 * 5, within(1e-9));
      assertThat(json.get("warnings")).isEmpty();

      int n = small.size();
      boolean[] s = new boolean[n];
      boolean[] l = new boolean[n];
      for (int i = 0; i < n; i++) {
        s[i] = small.get(i);
        l[i] = large.get(i);
      }
      double[] w = weights.stream().mapToDouble(Double::doubleValue).toArray();
      CascadeEvaluation evaluation = new CascadeEvaluation(s, l);
      JsonNode rules = json.get("rules");
      double chowSumAuc = evaluation.aucDf(chowSums.stream().mapToDouble(Double::doubleValue).toArray(), w);
      double shadowAuc = evaluation.aucDf(shadowScores.stream().mapToDouble(Double::doubleValue).toArray(), w);
      assertThat(rules.get("chow-sum").get("auc_df").asDouble()).isCloseTo(chowSumAuc, within(1e-12));
      assertThat(rules.get("in-force:chow-sum").get("auc_df").asDouble()).isCloseTo(chowSumAuc, within(1e-12));
      assertThat(rules.get("in-force:chow-sum").get("vs_chow_sum").get("delta").asDouble()).isZero();
      JsonNode shadow = rules.get("shadow:posthoc-quantile@5");
      assertThat(shadow.get("n").asInt()).isEqualTo(36);
      assertThat(shadow.get("auc_df").asDouble()).isCloseTo(shadowAuc, within(1e-12));
      assertThat(shadow.get("oracle_share_pct").asDouble()).isCloseTo(100.0, within(1e-9));
      assertThat(shadow.get("vs_chow_sum").get("delta").asDouble()).isCloseTo(shadowAuc - chowSumAuc, within(1e-12));
      assertThat(rules.get("random").get("auc_df").asDouble())
          .isCloseTo(evaluation.aucDf(new double[n], w), within(1e-12));
      for (String rule : List.of("chow-average", "chow-quantile-0", "chow-quantile-0.1", "chow-quantile-0.5",
          "oracle")) {
        assertThat(rules.get(rule).get("vs_chow_sum").has("ci_low")).as(rule).isTrue();
      }
    }
  }
}
