package dev.cascade.router.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.models.Generation;
import dev.cascade.models.ModelInfo;
import dev.cascade.models.TextGenerator;
import dev.cascade.router.demo.DemoWorkload;
import dev.cascade.router.demo.Example;
import dev.cascade.schemas.avro.Decision;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.avro.ServedBy;
import dev.cascade.schemas.avro.StageLatencies;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * The demo's baselines: small-only judges the small model's whole answers, not the prefixes early
 * deferral left; large-only judges the last tier's own answers, not a middle tier's that served.
 */
class SmallOnlyBaselineTest {

  /** Answers "whole:" + the prompt; records what it was asked. */
  private static final class Whole implements TextGenerator {
    final List<String> asked = new ArrayList<>();

    @Override
    public List<Generation> generate(List<String> prompts, int maxNewTokens) {
      return generate(prompts, maxNewTokens, Cancellation.NONE);
    }

    @Override
    public List<Generation> generate(List<String> prompts, int maxNewTokens, Cancellation cancellation) {
      asked.addAll(prompts);
      return prompts.stream().map(p -> new Generation("whole:" + p, new int[0], new float[0], new float[0], null))
          .toList();
    }

    @Override
    public Optional<String> checkPrompt(String prompt) {
      return Optional.empty();
    }

    @Override
    public ModelInfo info() {
      return new ModelInfo("whole", "none", 0, 64, 48, false);
    }

    @Override
    public void close() {}
  }

  private static RoutingOutcome outcome(String id, String smallText, String stop) {
    return RoutingOutcome.newBuilder().setRequestId(id).setPrompt("p").setSmallText(smallText).setFeatures(Map.of())
        .setRule("chow-sum").setScore(1).setThreshold(0).setPolicyVersion(1).setDecision(Decision.DEFER)
        .setServedBy(ServedBy.LARGE).setLatencies(StageLatencies.newBuilder().build()).setCreatedAtMs(0)
        .setCompletedAtMs(1).setSmallStop(stop).build();
  }

  @Test
  void onlyAnswersStoppedEarlyAreGeneratedAgain() {
    List<Example> examples = List.of(new Example("p0", "r0", "word"), new Example("p1", "r1", "word"),
        new Example("p2", "r2", "word"));
    DemoWorkload.Result result = new DemoWorkload.Result(Map.of(), Map.of(), List.of(), Map.of(
        "demo-0", outcome("demo-0", "kept", "eos"), "demo-1", outcome("demo-1", "pre", "early-defer")));
    Whole small = new Whole();

    List<String> texts = DemoCommand.smallOnlyBaseline(small, examples, result, 48, "demo-");

    assertThat(texts).containsExactly("kept", "whole:p1", null);
    assertThat(small.asked).containsExactly("p1");
  }

  private static dev.cascade.schemas.avro.TierAnswer tier(int index, String model, String text, boolean stoppedEarly) {
    return dev.cascade.schemas.avro.TierAnswer.newBuilder().setTier(index).setModel(model).setText(text)
        .setTokens(List.of(7, 8, 9)).setRule("chow-sum").setScore(0.0).setThreshold(0.0).setDeferred(false)
        .setCostUnits(1).setLatencyMs(1).setStoppedEarly(stoppedEarly).build();
  }

  @Test
  void theLargeOnlyBaselineIsTheLastTiersOwnAnswerNeverAMiddleTiers() {
    List<Example> examples = List.of(new Example("p0", "r0", "word"), new Example("p1", "r1", "word"),
        new Example("p2", "r2", "word"), new Example("p3", "r3", "word"));
    RoutingOutcome servedByMedium = RoutingOutcome.newBuilder(outcome("demo-0", "s", "eos")).setLargeText("medium says")
        .setTierAnswers(List.of(tier(1, "medium", "medium says", false))).build();
    RoutingOutcome servedByLarge = RoutingOutcome.newBuilder(outcome("demo-1", "s", "eos")).setLargeText("large says")
        .setTierAnswers(List.of(tier(1, "medium", "med", true), tier(2, "large", "large says", false))).build();
    RoutingOutcome acceptedBySmall = outcome("demo-2", "s", "eos");
    DemoWorkload.Result result = new DemoWorkload.Result(Map.of(), Map.of(), List.of(), Map.of(
        "demo-0", servedByMedium, "demo-1", servedByLarge, "demo-2", acceptedBySmall));
    Whole large = new Whole();
    List<String> texts = new ArrayList<>();
    int[] tokens = new int[examples.size()];

    DemoCommand.largeOnlyBaseline(large, examples, result, 48, texts, tokens, "demo-", false, 2);

    assertThat(texts).containsExactly("whole:p0", "large says", "whole:p2", "whole:p3");
    assertThat(tokens[1]).isEqualTo(3);
    assertThat(large.asked).containsExactly("p0", "p2", "p3");
  }
}
