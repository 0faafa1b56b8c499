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

  @Test
  void evaluatesAMiddleTiersRuleFromTheTopicWeightingItsExploredRequests() throws Exception {
    String topic = "outcomes-for-tier-eval";
    SplittableRandom random = new SplittableRandom(23);
    DeferralRule chowSum = DeferralRules.builtIn().create("chow-sum");
    List<Boolean> medium = new ArrayList<>();
    List<Boolean> large = new ArrayList<>();
    List<Double> weights = new ArrayList<>();
    List<Double> scores = new ArrayList<>();
    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
      try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()))) {
        admin.createTopics(List.of(new NewTopic(topic, 2, (short) 1))).all().get();
      }
      Map<String, Object> producerConfig = Map.of(
          ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(), ProducerConfig.ACKS_CONFIG, "all");
      try (KafkaProducer<String, RoutingOutcome> producer = new KafkaProducer<>(producerConfig,
          new StringSerializer(), CascadeSerdes.outcomes().serializer())) {
        for (int i = 0; i < 80; i++) {
          // i % 8: 0-2 passed on by the rule, 3-4 explored at 0.25, 5-6 served by medium, 7 stopped early.
          int kind = i % 8;
          float[] logprobs = {(float) -random.nextDouble() * 2, (float) -random.nextDouble() * 2};
          boolean m = random.nextInt(2) == 0;
          boolean l = random.nextInt(4) != 0;
          boolean passedOn = kind <= 4 || kind == 7;
          double propensity = kind <= 2 || kind == 7 ? 1.0 : 0.25;
          dev.cascade.schemas.avro.TierAnswer middle = dev.cascade.schemas.avro.TierAnswer.newBuilder()
              .setTier(1).setModel("medium").setText(m ? "ref" : "no").setTokens(List.of(1, 2))
              .setTokenLogprobs(List.of(logprobs[0], logprobs[1])).setRule("chow-sum")
              .setScore(chowSum.score(dev.cascade.router.features.FeatureExtractor.extract(logprobs, new float[2])))
              .setThreshold(1.0).setDeferred(passedOn).setExplored(kind == 3 || kind == 4)
              .setStoppedEarly(kind == 7).setPropensity(propensity).build();
          List<dev.cascade.schemas.avro.TierAnswer> answers = new ArrayList<>(List.of(middle));
          if (passedOn) {
            answers.add(dev.cascade.schemas.avro.TierAnswer.newBuilder().setTier(2).setModel("large")
                .setText(l ? "ref" : "nope").build());
          }
          RoutingOutcome outcome = SyntheticOutcomes.checked("t" + i, SyntheticExamples.randomFeatures(random), false,
              l, 1.0, Map.of()).setReference("ref").setTierAnswers(answers).build();
          if (kind <= 4) {
            medium.add(m);
            large.add(l);
            weights.add(1 / propensity);
            scores.add(middle.getScore());
          }
          producer.send(new ProducerRecord<>(topic, "t" + i, outcome));
        }
        // A request the small model served: tier 1 never reached.
        producer.send(new ProducerRecord<>(topic, "s", SyntheticOutcomes.accepted("s",
            SyntheticExamples.randomFeatures(random)).build()));
      }
      StringWriter stdout = new StringWriter();
      StringWriter stderr = new StringWriter();
      CommandLine cli = CascadeCommand.commandLine();
      cli.setOut(new PrintWriter(stdout));
      cli.setErr(new PrintWriter(stderr));

      int code = cli.execute("eval", "--outcomes", topic, "--tier", "1", "--bootstrap-servers",
          kafka.bootstrapServers(), "--json", "--resamples", "200", "--by-policy-version");

      assertThat(code).as(stderr.toString()).isZero();
      assertThat(stderr.toString()).contains("81 outcomes read, 50 used for tier 1")
          .contains("10 outcomes where tier 1 stopped early");
      JsonNode json = new ObjectMapper().readTree(stdout.toString());
      assertThat(json.get("tier").asInt()).isEqualTo(1);
      assertThat(json.get("outcomes").get("used").asInt()).isEqualTo(50);
      assertThat(json.get("outcomes").get("explored").asInt()).isEqualTo(20);
      assertThat(json.get("outcomes").get("skipped").get(TierOutcomeReport.SERVED).asInt()).isEqualTo(20);
      assertThat(json.get("outcomes").get("skipped").get(TierOutcomeReport.STOPPED_EARLY).asInt()).isEqualTo(10);
      assertThat(json.get("outcomes").get("skipped").get(TierOutcomeReport.NOT_REACHED).asInt()).isEqualTo(1);
      assertThat(json.get("weighted_n").asDouble()).isCloseTo(30 + 20 * 4, within(1e-9));
      assertThat(json.get("warnings").get(0).get("type").asText()).isEqualTo("stopped_early");
      // --by-policy-version with --tier: tier 1's decisions (all under v1), its stopped answers included.
      assertThat(json.get("policy_versions")).hasSize(1);
      assertThat(json.get("policy_versions").get(0).get("policy_version").asLong()).isEqualTo(1);
      assertThat(json.get("policy_versions").get(0).get("judged").asInt()).isEqualTo(80);
      assertThat(json.get("policy_versions").get(0).get("passed_on").asDouble()).isEqualTo(0.75);
      int n = medium.size();
      boolean[] mm = new boolean[n];
      boolean[] ll = new boolean[n];
      for (int i = 0; i < n; i++) {
        mm[i] = medium.get(i);
        ll[i] = large.get(i);
      }
      double[] w = weights.stream().mapToDouble(Double::doubleValue).toArray();
      double expected = new CascadeEvaluation(mm, ll).aucDf(scores.stream().mapToDouble(Double::doubleValue).toArray(), w);
      assertThat(json.get("rules").get("chow-sum").get("auc_df").asDouble()).isCloseTo(expected, within(1e-12));
      assertThat(json.get("rules").get("in-force:chow-sum").get("auc_df").asDouble()).isCloseTo(expected, within(1e-6));
      assertThat(json.get("by_share_passed_on")).hasSize(11);
      double right = 0;
      for (int i = 0; i < n; i++) {
        right += mm[i] ? w[i] : 0;
      }
      assertThat(json.get("tier_accuracy").asDouble()).isCloseTo(right / 110, within(1e-12));

      CommandLine refused = CascadeCommand.commandLine();
      StringWriter refusedErr = new StringWriter();
      refused.setErr(new PrintWriter(refusedErr));
      assertThat(refused.execute("eval", "--outcomes", topic, "--tier", "0", "--bootstrap-servers",
          kafka.bootstrapServers())).isEqualTo(2);
      assertThat(refusedErr.toString()).contains("--tier: must be a middle tier's number");
      StringWriter noneErr = new StringWriter();
      CommandLine none = CascadeCommand.commandLine();
      none.setErr(new PrintWriter(noneErr));
      assertThat(none.execute("eval", "--outcomes", topic, "--tier", "3", "--bootstrap-servers",
          kafka.bootstrapServers())).isEqualTo(2);
      assertThat(noneErr.toString()).contains("no usable outcome for tier 3").contains("81 tier not reached");
    }
  }

  /** Creates {@code topic} (2 partitions) and the policy topic on {@code kafka}. */
  private static void createTopics(EmbeddedKafka kafka, String topic) throws Exception {
    try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()))) {
      admin.createTopics(List.of(new NewTopic(topic, 2, (short) 1), new NewTopic("cascade.policy", 1, (short) 1)))
          .all().get();
    }
  }

  private static Map<String, Object> producerConfig(EmbeddedKafka kafka) {
    return Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(), ProducerConfig.ACKS_CONFIG, "all");
  }

  /** Writes {@code outcomes} to {@code topic}, keyed by request id. */
  private static void send(EmbeddedKafka kafka, String topic, List<RoutingOutcome> outcomes) {
    try (KafkaProducer<String, RoutingOutcome> producer = new KafkaProducer<>(producerConfig(kafka),
        new StringSerializer(), CascadeSerdes.outcomes().serializer())) {
      outcomes.forEach(o -> producer.send(new ProducerRecord<>(topic, o.getRequestId(), o)));
    }
  }

  /** Makes {@code policy} the policy in force on the policy topic. */
  private static void publish(EmbeddedKafka kafka, dev.cascade.router.policy.DeferralPolicy policy) throws Exception {
    try (KafkaProducer<String, dev.cascade.schemas.avro.DeferralPolicy> producer = new KafkaProducer<>(
        producerConfig(kafka), new StringSerializer(), CascadeSerdes.policies().serializer())) {
      producer.send(new ProducerRecord<>("cascade.policy", dev.cascade.router.topology.CascadeTopology.POLICY_KEY,
          dev.cascade.router.topology.PolicyRecords.toAvro(policy))).get();
    }
  }

  /** {@code cascade eval ARGS --bootstrap-servers ...}: its exit code, standard output and error. */
  private record Run(int code, String out, String err) {
    JsonNode tuning() throws Exception {
      return new ObjectMapper().readTree(out).get("tuning");
    }
  }

  private static Run eval(EmbeddedKafka kafka, String... args) {
    StringWriter stdout = new StringWriter();
    StringWriter stderr = new StringWriter();
    CommandLine cli = CascadeCommand.commandLine();
    cli.setOut(new PrintWriter(stdout));
    cli.setErr(new PrintWriter(stderr));
    List<String> all = new ArrayList<>(List.of("eval"));
    all.addAll(List.of(args));
    all.addAll(List.of("--bootstrap-servers", kafka.bootstrapServers(), "--resamples", "100"));
    int code = cli.execute(all.toArray(String[]::new));
    return new Run(code, stdout.toString(), stderr.toString());
  }

  private static dev.cascade.router.policy.DeferralPolicy policy(String rule, double threshold, double exploration,
      long version, List<dev.cascade.router.policy.TierPolicy> tiers) {
    return new dev.cascade.router.policy.DeferralPolicy(rule, 0.0, threshold, exploration, 0.0, version, "admin", 0,
        "", null, List.of(), "chow-sum", null, tiers);
  }

  @Test
  void saysWhatTheTierTunerWouldDecideForTheTierInThePolicyInForce() throws Exception {
    String topic = "outcomes-for-tuning";
    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
      createTopics(kafka, topic);
      dev.cascade.router.policy.TierPolicy medium = new dev.cascade.router.policy.TierPolicy("chow-sum", 0.0, 4.0,
          0.0, 0.2);
      send(kafka, topic, SyntheticTierOutcomes.population(8_000, 13, "u-").stream()
          .map(r -> SyntheticTierOutcomes.outcome(r, medium, 4.0)).toList());
      publish(kafka, policy("chow-sum", 12.0, 0.0, 5, List.of(medium)));

      Run run = eval(kafka, "--outcomes", topic, "--tier", "1", "--answer-value", "100", "--json");

      assertThat(run.code()).as(run.err()).isZero();
      JsonNode tuning = run.tuning();
      assertThat(tuning.get("policy_version").asLong()).isEqualTo(5);
      assertThat(tuning.get("tier_rule").asText()).isEqualTo("chow-sum:4.0 exploration 0.2");
      assertThat(tuning.get("result").asText()).as(tuning.toString()).isEqualTo("retuned");
      double best = -3 * Math.log(0.75 - SyntheticTierOutcomes.LARGE_COST / 100);
      assertThat(tuning.get("threshold").asDouble()).isCloseTo(best, within(0.4));
      assertThat(tuning.get("current_threshold").asDouble()).isEqualTo(4.0);
      assertThat(tuning.get("rule").asText()).isEqualTo("chow-sum");
      assertThat(tuning.get("current_rule").asText()).isEqualTo("chow-sum");
      assertThat(tuning.get("held").asInt()).isEqualTo(tuning.get("fitted").asInt()).isPositive();
      assertThat(tuning.get("gain_low").asDouble()).isPositive();
      assertThat(run.err()).doesNotContain("not read");
    }
  }

  /**
   * Without --tier, --answer-value chooses the small model's threshold the same way, the large
   * model in the next tier's place: small right with probability exp(−score / 3), large with 0.75
   * at a cost of 10, so passing on pays above −3 ln(0.75 − 10 / V).
   */
  @Test
  void saysWhichThresholdOfTheSmallModelIsWorthMost() throws Exception {
    String topic = "outcomes-for-small-tuning";
    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
      createTopics(kafka, topic);
      dev.cascade.router.policy.DeferralPolicy operator = policy("chow-sum", 4.0, 0.2, 6, List.of());
      List<RoutingOutcome> outcomes = new ArrayList<>();
      for (SyntheticTierOutcomes.Request r : SyntheticTierOutcomes.population(8_000, 17, "s-")) {
        outcomes.add(SyntheticTierOutcomes.smallOutcome(r, operator));
      }
      send(kafka, topic, outcomes);
      publish(kafka, operator);

      Run run = eval(kafka, "--outcomes", topic, "--answer-value", "100", "--json");

      assertThat(run.code()).as(run.err()).isZero();
      JsonNode tuning = run.tuning();
      assertThat(tuning.get("policy_version").asLong()).isEqualTo(6);
      assertThat(tuning.get("rule").asText()).isEqualTo("chow-sum");
      assertThat(tuning.get("result").asText()).as(tuning.toString()).isEqualTo("retuned");
      double best = -3 * Math.log(0.75 - SyntheticTierOutcomes.LARGE_COST / 100);
      assertThat(tuning.get("threshold").asDouble()).isCloseTo(best, within(0.4));
      assertThat(tuning.get("current_threshold").asDouble()).isEqualTo(4.0);
      assertThat(tuning.get("held").asInt()).isEqualTo(tuning.get("fitted").asInt()).isPositive();
      assertThat(tuning.get("gain_low").asDouble()).isPositive();

      // Without exploration the large model's answer is never seen where the rule accepts: skipped, saying why.
      publish(kafka, policy("chow-sum", 4.0, 0.0, 7, List.of()));
      assertThat(eval(kafka, "--outcomes", topic, "--answer-value", "100").out()).contains("the small model's"
          + " threshold at 100.0 cost units a right answer (policy v7, chow-sum): SKIPPED: the small model does not"
          + " explore");

      // A policy whose rule decided none of the outcomes: skipped, naming the rules that did.
      publish(kafka, policy("chow-average", 0.5, 0.2, 8, List.of()));
      JsonNode skipped = eval(kafka, "--outcomes", topic, "--answer-value", "100", "--json").tuning();
      assertThat(skipped.get("result").asText()).isEqualTo("skipped");
      assertThat(skipped.get("reason").asText()).startsWith("no usable outcome was decided by chow-average")
          .contains("they were decided by {chow-sum=");
    }
  }

  /**
   * {@code --by-policy-version}: each policy version's requests, judged by their reference, or by the
   * feedback on the feedback topic where they have none; the rest counted as unjudged.
   */
  @Test
  void saysWhatEachPolicyVersionsRequestsGotJudgedByReferenceOrFeedback() throws Exception {
    String topic = "outcomes-by-version";
    SplittableRandom random = new SplittableRandom(29);
    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
      createTopics(kafka, topic);
      try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()))) {
        admin.createTopics(List.of(new NewTopic("cascade.feedback", 2, (short) 1))).all().get();
      }
      List<RoutingOutcome> outcomes = List.of(
          // v3: served right by the small model, passed on and served right by large (both by reference), and
          // served by the small model with no reference, which the feedback says was wrong.
          SyntheticOutcomes.accepted("a", SyntheticExamples.randomFeatures(random)).setSmallText("ref")
              .setReference("ref").setPolicyVersion(3).setCostUnits(1).build(),
          SyntheticOutcomes.checked("b", SyntheticExamples.randomFeatures(random), false, true, 1.0, Map.of())
              .setLargeText("ref").setReference("ref").setPolicyVersion(3).setCostUnits(11).build(),
          SyntheticOutcomes.accepted("c", SyntheticExamples.randomFeatures(random)).setPolicyVersion(3)
              .setCostUnits(1).build(),
          // v4: a corrected text that is the small model's answer, and one nobody judged.
          SyntheticOutcomes.accepted("d", SyntheticExamples.randomFeatures(random)).setSmallText("fixed")
              .setPolicyVersion(4).setCostUnits(1).build(),
          SyntheticOutcomes.accepted("e", SyntheticExamples.randomFeatures(random)).setPolicyVersion(4)
              .setCostUnits(1).build());
      send(kafka, topic, outcomes);
      try (KafkaProducer<String, dev.cascade.schemas.avro.Feedback> producer = new KafkaProducer<>(producerConfig(kafka),
          new StringSerializer(), CascadeSerdes.feedback().serializer())) {
        producer.send(new ProducerRecord<>("cascade.feedback", "c", dev.cascade.schemas.avro.Feedback.newBuilder()
            .setRequestId("c").setCorrect(false).setSource("user").setCreatedAtMs(0).build())).get();
        producer.send(new ProducerRecord<>("cascade.feedback", "d", dev.cascade.schemas.avro.Feedback.newBuilder()
            .setRequestId("d").setCorrectedText("fixed").setSource("labeller").setCreatedAtMs(0).build())).get();
      }

      Run run = eval(kafka, "--outcomes", topic, "--by-policy-version", "--answer-value", "100", "--json");

      assertThat(run.code()).as(run.err()).isZero();
      JsonNode versions = new ObjectMapper().readTree(run.out()).get("policy_versions");
      assertThat(versions).hasSize(2);
      JsonNode v3 = versions.get(0);
      assertThat(v3.get("policy_version").asLong()).isEqualTo(3);
      assertThat(v3.get("judged").asInt()).isEqualTo(3);
      assertThat(v3.get("unjudged").asInt()).isZero();
      assertThat(v3.get("passed_on").asDouble()).isCloseTo(1 / 3.0, within(1e-9));
      assertThat(v3.get("served_right").asDouble()).isCloseTo(2 / 3.0, within(1e-9));
      assertThat(v3.get("cost_per_request").asDouble()).isCloseTo(13 / 3.0, within(1e-9));
      assertThat(v3.get("value_per_request").asDouble()).isCloseTo(100 * 2 / 3.0 - 13 / 3.0, within(1e-9));
      assertThat(v3.get("value_standard_error").asDouble()).isPositive();
      JsonNode v4 = versions.get(1);
      assertThat(v4.get("judged").asInt()).isEqualTo(1);
      assertThat(v4.get("unjudged").asInt()).isEqualTo(1);
      assertThat(v4.get("served_right").asDouble()).isEqualTo(1.0);
      assertThat(v4.get("value_standard_error").isNull()).as("one judged request has no spread").isTrue();

      Run text = eval(kafka, "--outcomes", topic, "--by-policy-version");
      assertThat(text.out()).contains("by policy version (the small model's decisions")
          .containsPattern("v3 +3 +0 +33\\.3% +66\\.7% +4\\.3")
          .contains("a difference between two is the policy's and the traffic's");
      // No outcome reached tier 1, so its rules cannot be evaluated: the versions are said all the same.
      Run tier = eval(kafka, "--outcomes", topic, "--tier", "1", "--by-policy-version", "--json");
      assertThat(tier.code()).as(tier.err()).isZero();
      assertThat(tier.err()).contains("the rules are not evaluated: ");
      JsonNode tierJson = new ObjectMapper().readTree(tier.out());
      assertThat(tierJson.get("rules_not_evaluated").asText()).isNotEmpty();
      assertThat(tierJson.get("policy_versions")).isEmpty();
      Run plain = eval(kafka, "--outcomes", topic, "--tier", "1");
      assertThat(plain.code()).as("without --by-policy-version it is an error, as before").isEqualTo(2);
    }
  }
}
