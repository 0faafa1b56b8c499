package dev.cascade.router.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cascade.router.learning.CascadeReport;
import dev.cascade.router.learning.DeferralExample;
import dev.cascade.router.learning.LearnedRule;
import dev.cascade.router.learning.LearnedRules;
import dev.cascade.router.learning.SyntheticExamples;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** {@code eval --data --json} says what it evaluated: the data file and each learned rule's provenance. */
class EvalDataJsonTest {

  @Test
  void theJsonNamesTheDataFileAndTheLearnedRulesProvenance() {
    // Before, only the --outcomes JSON had "source", and neither said which rule versions were evaluated.
    SplittableRandom random = new SplittableRandom(7);
    List<DeferralExample> examples = new ArrayList<>();
    for (int i = 0; i < 60; i++) {
      examples.add(new DeferralExample(SyntheticExamples.randomFeatures(random), null, i % 3 == 0, i % 2 == 0));
    }
    LearnedRule quantile = LearnedRules.bundledRules().stream().filter(r -> r.name().equals("posthoc-quantile"))
        .findFirst().orElseThrow();
    CascadeReport report = CascadeReport.compute(examples, null, List.of(quantile), 20, 1L);

    JsonNode json = EvalCommand.dataJson(report, Path.of("data", "test.jsonl"), List.of(quantile), List.of(), null);

    assertThat(json.get("source").asText()).isEqualTo(Path.of("data", "test.jsonl").toString());
    assertThat(json.get("learned_rules")).hasSize(1);
    JsonNode rule = json.get("learned_rules").get(0);
    assertThat(rule.get("name").asText()).isEqualTo("posthoc-quantile");
    assertThat(rule.get("version").asLong()).isEqualTo(quantile.info().version());
    assertThat(rule.get("learner").asText()).isEqualTo(quantile.info().learner());
    assertThat(rule.get("trained_on").asText()).isEqualTo(quantile.info().trainingDataRange());
    assertThat(json.get("warnings").isArray()).isTrue();
    assertThat(json.has("early_defer")).isFalse();
    assertThat(json.get("rules").has("posthoc-quantile")).isTrue();
  }
}
