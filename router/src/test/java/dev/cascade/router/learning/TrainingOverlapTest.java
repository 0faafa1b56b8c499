package dev.cascade.router.learning;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class TrainingOverlapTest {

  private static RuleInfo trainedOn(String... prompts) {
    long[] hashes = java.util.Arrays.stream(prompts).mapToLong(PromptHash::of).toArray();
    return new RuleInfo("posthoc-quantile", 4, "learner", List.of("lp_sum"), "somewhere", Map.of(), 0L,
        "", "", null, null, hashes);
  }

  @Test
  void countsTheEvaluatedItemsWhosePromptTheRuleWasTrainedOn() {
    TrainingOverlap overlap = TrainingOverlap.of(trainedOn("a cat", "a dog", "house"),
        List.of("a cat", "mouse", "house", "house")).orElseThrow();

    assertThat(overlap.overlapping()).isEqualTo(3);
    assertThat(overlap.items()).isEqualTo(4);
    assertThat(overlap.fraction()).isEqualTo(0.75);
    assertThat(overlap.any()).isTrue();
    assertThat(overlap.message()).contains("posthoc-quantile v4", "3 of the 4 items", "75.0%");
    assertThat(overlap.toJson().get("overlapping").asInt()).isEqualTo(3);
    assertThat(overlap.toJson().get("rule").asText()).isEqualTo("posthoc-quantile");
  }

  @Test
  void noOverlapAndNothingRecordedAreDifferentAnswers() {
    assertThat(TrainingOverlap.of(trainedOn("a cat"), List.of("a dog")).orElseThrow().any()).isFalse();
    assertThat(TrainingOverlap.of(trainedOn(), List.of("a dog"))).isEmpty();
  }

  @Test
  void theShippedRulesWereTrainedOnTheValidationSplitAndNoneOfTheTestSplit() throws IOException {
    List<String> validation = prompts("validation");
    List<String> test = prompts("test");
    for (LearnedRule rule : LearnedRules.bundledRules()) {
      TrainingOverlap onValidation = TrainingOverlap.of(rule.info(), validation).orElseThrow();
      TrainingOverlap onTest = TrainingOverlap.of(rule.info(), test).orElseThrow();

      assertThat(onValidation.overlapping()).as(rule.name()).isEqualTo(3500).isEqualTo(validation.size());
      assertThat(onTest.overlapping()).as(rule.name()).isZero();
    }
  }

  private static List<String> prompts(String split) throws IOException {
    return PromptItem.readJsonl(Path.of("../models/data/" + split + ".jsonl")).stream().map(PromptItem::prompt).toList();
  }
}
