// Replays a labelled JSONL file through a simulated policy, writes the routing outcomes a router
// would have written to an embedded broker, and runs `cascade eval --outcomes` on them, beside the
// numbers the full data give (every item labelled, unweighted) and the naive estimate (the escalated
// items only, unweighted). The policy: Chow-Sum in force, its threshold deferring FRACTION of the
// file, EXPLORATION of the rest escalated at random (the router's own draw, PolicyDecider); every
// item carries a reference; the shipped rules are shadows (posthoc-quantile@0, posthoc-embed@0).
//
//   ./mvnw -B -q -pl router -am package -DskipTests
//   java -cp router/target/cascade.jar router/scripts/ReplayOutcomes.java SMALL LARGE CACHE_DIR \
//       models/data/test.jsonl FRACTION EXPLORATION
import dev.cascade.router.cli.CascadeCommand;
import dev.cascade.router.embedded.EmbeddedKafka;
import dev.cascade.router.evaluation.CascadeEvaluation;
import dev.cascade.router.learning.AnsweredItem;
import dev.cascade.router.learning.CascadeAnswers;
import dev.cascade.router.learning.DeferralExample;
import dev.cascade.router.learning.LearnedRule;
import dev.cascade.router.learning.LearnedRules;
import dev.cascade.router.learning.PromptItem;
import dev.cascade.router.policy.PolicyDecider;
import dev.cascade.router.policy.ThresholdCalibrator;
import dev.cascade.router.rules.DeferralRules;
import dev.cascade.schemas.avro.Decision;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.avro.ServedBy;
import dev.cascade.schemas.avro.StageLatencies;
import dev.cascade.schemas.serde.CascadeSerdes;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

public class ReplayOutcomes {
  public static void main(String[] args) throws Exception {
    if (args.length != 6) {
      System.err.println("usage: java -cp router/target/cascade.jar router/scripts/ReplayOutcomes.java SMALL LARGE"
          + " CACHE_DIR DATA.jsonl FRACTION EXPLORATION");
      System.exit(2);
    }
    CascadeAnswers.Settings settings = new CascadeAnswers.Settings(args[0], args[1], "auto", 0, 256, Path.of(args[2]));
    List<PromptItem> items = PromptItem.readJsonl(Path.of(args[3]));
    double fraction = Double.parseDouble(args[4]);
    double exploration = Double.parseDouble(args[5]);
    List<AnsweredItem> answered = CascadeAnswers.answer(items, settings, CascadeAnswers.Progress.NONE);
    List<DeferralExample> examples = answered.stream().map(AnsweredItem::example).toList();
    int n = examples.size();

    var chowSum = DeferralRules.builtIn().create("chow-sum");
    Map<String, double[]> scores = new LinkedHashMap<>();
    scores.put("chow-sum", examples.stream().mapToDouble(e -> chowSum.score(e.features())).toArray());
    for (LearnedRule rule : LearnedRules.bundledRules()) {
      scores.put(rule.name() + "@0", rule.scores(examples.stream().map(DeferralExample::features).toList(),
          examples.stream().map(DeferralExample::embedding).toList()));
    }
    double threshold = ThresholdCalibrator.threshold(scores.get("chow-sum"), fraction);

    boolean[] small = new boolean[n];
    boolean[] large = new boolean[n];
    List<Integer> escalated = new ArrayList<>();
    List<RoutingOutcome> outcomes = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      AnsweredItem a = answered.get(i);
      small[i] = a.smallCorrect();
      large[i] = a.largeCorrect();
      String id = "replay-" + i;
      double score = scores.get("chow-sum")[i];
      Decision decision = Decision.valueOf(PolicyDecider.decide(id, score, threshold, exploration).name());
      boolean escalates = decision != Decision.ACCEPT;
      Map<String, Double> shadows = new HashMap<>();
      for (LearnedRule rule : LearnedRules.bundledRules()) {
        shadows.put(rule.name() + "@0", scores.get(rule.name() + "@0")[i]);
      }
      List<Float> embedding = new ArrayList<>();
      for (float v : a.small().embedding()) {
        embedding.add(v);
      }
      RoutingOutcome.Builder outcome = RoutingOutcome.newBuilder()
          .setRequestId(id).setPrompt(a.item().prompt()).setSmallText(a.small().text())
          .setSmallEmbedding(embedding).setFeatures(new HashMap<>(a.features().asMap()))
          .setRule("chow-sum").setScore(score).setThreshold(threshold).setPolicyVersion(1)
          .setDecision(decision).setServedBy(escalates ? ServedBy.LARGE : ServedBy.SMALL)
          .setReference(a.item().reference()).setSmallCorrect(a.smallCorrect())
          .setPropensity(decision == Decision.DEFER ? 1.0 : exploration).setShadowScores(shadows)
          .setLatencies(StageLatencies.newBuilder().build()).setCreatedAtMs(0).setCompletedAtMs(0);
      if (escalates) {
        escalated.add(i);
        outcome.setLargeText(a.large().text()).setLargeCorrect(a.largeCorrect())
            .setAgree(a.large().text().equals(a.small().text()));
      }
      outcomes.add(outcome.build());
    }

    CascadeEvaluation full = new CascadeEvaluation(small, large);
    int m = escalated.size();
    boolean[] s = new boolean[m];
    boolean[] l = new boolean[m];
    for (int j = 0; j < m; j++) {
      s[j] = small[escalated.get(j)];
      l[j] = large[escalated.get(j)];
    }
    CascadeEvaluation naive = new CascadeEvaluation(s, l);
    System.out.printf(Locale.ROOT, "%s: %d items, threshold %.4f (%.0f%% deferred), exploration %.2f: %d escalated%n",
        args[3], n, threshold, 100 * fraction, exploration, m);
    System.out.println("rule                  full data  escalated only (unweighted)");
    System.out.printf(Locale.ROOT, "%-20s %10.4f %10.4f%n", "random", full.randomAucDf(), naive.randomAucDf());
    for (Map.Entry<String, double[]> rule : scores.entrySet()) {
      double[] sub = escalated.stream().mapToDouble(i -> rule.getValue()[i]).toArray();
      System.out.printf(Locale.ROOT, "%-20s %10.4f %10.4f%n", rule.getKey(), full.aucDf(rule.getValue()),
          naive.aucDf(sub));
    }
    System.out.printf(Locale.ROOT, "%-20s %10.4f %10.4f%n%n", "oracle", full.oracleAucDf(), naive.oracleAucDf());
    System.out.flush();

    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
      String topic = "replayed-outcomes";
      try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()))) {
        admin.createTopics(List.of(new NewTopic(topic, 4, (short) 1))).all().get();
      }
      try (KafkaProducer<String, RoutingOutcome> producer = new KafkaProducer<>(Map.of(
          ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(), ProducerConfig.ACKS_CONFIG, "all"),
          new StringSerializer(), CascadeSerdes.outcomes().serializer())) {
        for (RoutingOutcome outcome : outcomes) {
          producer.send(new ProducerRecord<>(topic, outcome.getRequestId(), outcome));
        }
      }
      int code = CascadeCommand.commandLine().execute("eval", "--outcomes", topic,
          "--bootstrap-servers", kafka.bootstrapServers());
      System.exit(code);
    }
  }
}
