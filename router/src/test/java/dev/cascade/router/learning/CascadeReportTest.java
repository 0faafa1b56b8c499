package dev.cascade.router.learning;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class CascadeReportTest {

  private static final List<String> RULES = List.of("random", "chow-sum", "chow-average",
      "chow-quantile-0", "chow-quantile-0.1", "chow-quantile-0.5", "posthoc-quantile", "oracle");
  private static final List<String> METRICS = List.of("auc_df", "gain_over_random_pct",
      "oracle_share_pct", "apgr", "cpt50", "cpt80", "cpt95", "accuracy_at_20pct");

  @Test
  void jsonHasEveryRuleAndMetricTheIssueNames() {
    List<DeferralExample> examples = SyntheticExamples.labelled(400, 21, 0,
        e -> e.features().logprobQuantile(0.2) < -1.5);
    List<String> kinds = new ArrayList<>();
    for (int i = 0; i < examples.size(); i++) {
      kinds.add(i % 3 == 0 ? "phrase" : "word");
    }
    LearnedRule rule = RuleTrainer.train(FeatureSet.QUANTILE, examples, "synthetic", 1,
        new RuleTrainer.Options(2, 1L, List.of(LearnerSpec.logisticRegression(3, 0.1))),
        RuleTrainer.Progress.NONE).rule();

    CascadeReport report = CascadeReport.compute(examples, kinds, List.of(rule), 50, 1L);
    JsonNode json = report.toJson();

    assertThat(json.get("n").asInt()).isEqualTo(400);
    assertThat(json.has("small_accuracy")).isTrue();
    assertThat(json.has("large_accuracy")).isTrue();
    assertThat(iterable(json.get("rules").fieldNames())).containsExactlyElementsOf(RULES);
    for (String name : RULES) {
      JsonNode metrics = json.get("rules").get(name);
      for (String metric : METRICS) {
        assertThat(metrics.get(metric).isNumber()).as(name + "." + metric).isTrue();
      }
      assertThat(metrics.has("vs_best_chow")).as(name).isEqualTo(name.startsWith("posthoc"));
    }
    JsonNode versus = json.get("rules").get("posthoc-quantile").get("vs_best_chow");
    assertThat(versus.get("ci_low").asDouble()).isLessThanOrEqualTo(versus.get("ci_high").asDouble());
    assertThat(versus.get("delta").asDouble()).isEqualTo(
        json.get("rules").get("posthoc-quantile").get("auc_df").asDouble()
            - json.get("rules").get(versus.get("best_chow").asText()).get("auc_df").asDouble(),
        within(1e-12));
    assertThat(json.get("rules").get("random").get("gain_over_random_pct").asDouble()).isZero();
    assertThat(json.get("rules").get("oracle").get("oracle_share_pct").asDouble()).isCloseTo(100.0, within(1e-9));
    assertThat(iterable(json.get("by_kind").fieldNames())).containsExactly("phrase", "word");
    assertThat(json.get("by_kind").get("phrase").get("n").asInt()
        + json.get("by_kind").get("word").get("n").asInt()).isEqualTo(400);
    assertThat(report.toTable()).contains("posthoc-quantile", "oracle", "phrase: n = 134");
  }

  @Test
  void apgrAndCptAreNotDefinedWhenBothModelsScoreTheSame() {
    // Before, eval printed APGR and CPT as 0.000 here: as if no rule recovered any of a gap there is not.
    java.util.SplittableRandom random = new java.util.SplittableRandom(3);
    List<DeferralExample> examples = new ArrayList<>();
    List<String> kinds = new ArrayList<>();
    for (int i = 0; i < 200; i++) {
      // words: each model right on half, on different items; phrases: only the large model right.
      boolean word = i < 100;
      examples.add(new DeferralExample(SyntheticExamples.randomFeatures(random), null, word && i % 2 == 0,
          word ? i % 2 == 1 : true));
      kinds.add(word ? "word" : "phrase");
    }
    CascadeReport report = CascadeReport.compute(examples, kinds, List.of(), 20, 1L);
    JsonNode word = report.toJson().get("by_kind").get("word");
    assertThat(word.get("small_accuracy").asDouble()).isEqualTo(word.get("large_accuracy").asDouble());
    for (String name : List.of("random", "chow-sum", "oracle")) {
      JsonNode metrics = word.get("rules").get(name);
      for (String metric : List.of("apgr", "cpt50", "cpt80", "cpt95")) {
        assertThat(metrics.get(metric).isNull()).as(name + "." + metric).isTrue();
      }
      assertThat(metrics.get("auc_df").isNumber()).isTrue();
    }
    JsonNode phrase = report.toJson().get("by_kind").get("phrase").get("rules").get("oracle");
    assertThat(phrase.get("apgr").isNumber()).isTrue();
    assertThat(phrase.get("cpt95").isNumber()).isTrue();
    String table = report.toTable();
    String wordTable = table.substring(table.indexOf("word: n = 100"));
    assertThat(wordTable).contains("APGR and CPT are not defined here");
    assertThat(wordTable.lines().filter(l -> l.startsWith("oracle")).findFirst().orElseThrow())
        .doesNotContain("0.000").contains(" -      -      -      - ");
    assertThat(table.substring(0, table.indexOf("word: n = 100"))).doesNotContain("not defined");
  }

  private static List<String> iterable(java.util.Iterator<String> names) {
    List<String> list = new ArrayList<>();
    names.forEachRemaining(list::add);
    return list;
  }
}
