package dev.cascade.router.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cascade.models.Generation;
import dev.cascade.router.evaluation.TierCascades.Tier;
import dev.cascade.router.learning.PromptItem;
import dev.cascade.router.rules.DeferralRules;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@code eval --tiers --early-defer-costs}: what a tier that stops early pays for the requests it defers. */
class TierStopCostsTest {

  // Token log-probs -0.1, -2.0, -0.1, -3.0: Chow-Sum's running score 0.1, 2.1, 2.2, 5.2 (final 5.2);
  // Chow-Quantile-0's running maximum 0.1, 2.0, 2.0, 3.0 (final 3.0). Three prompt tokens, 2 a token.
  private static final Generation UNSURE = new Generation("x", new int[] {5, 6, 7, 8},
      new float[] {-0.1f, -2.0f, -0.1f, -3.0f}, new float[] {0.5f, 0.5f, 0.5f, 0.5f}, null);
  // Every token sure: Chow-Sum 0.03.
  private static final Generation SURE = new Generation("y", new int[] {5, 6, 7},
      new float[] {-0.01f, -0.01f, -0.01f}, new float[] {0.1f, 0.1f, 0.1f}, null);

  private static Tier tier(String rule, double perToken) {
    TiersEvaluation.Answers answers = new TiersEvaluation.Answers(List.of(UNSURE, SURE), new double[] {14, 12},
        new int[] {3, 3});
    List<PromptItem> items = List.of(new PromptItem("a", "x", "word"), new PromptItem("b", "y", "word"));
    return TiersEvaluation.tier("t", items, answers, DeferralRules.builtIn().create(rule), perToken);
  }

  @Test
  void aDeferredRequestCostsItsPromptAndTheTokensUpToWhereTheRunningScorePassedTheThreshold() {
    Tier sum = tier("chow-sum", 2);
    // At 2.0 the sum passes after the second token (2.1): 2 x (3 + 2). The sure answer is kept, whole.
    assertThat(sum.stops().deferredAt(2.0)).containsExactly(10, 12);
    // At 5.0 only after the fourth (5.2): the whole answer. At 6 nothing is deferred.
    assertThat(sum.stops().deferredAt(5.0)).containsExactly(14, 12);
    assertThat(sum.stops().deferredAt(6.0)).containsExactly(14, 12);
    // Deferring everything stops each after its first token.
    assertThat(sum.stops().deferredAt(Double.NEGATIVE_INFINITY)).containsExactly(8, 8);
    // Chow-Quantile at 0: the running maximum passes 1.5 at the second token (2.0), 2.5 only at the fourth.
    Tier max = tier("chow-quantile-0", 2);
    assertThat(max.stops().deferredAt(1.5)).containsExactly(10, 12);
    assertThat(max.stops().deferredAt(2.5)).containsExactly(14, 12);
  }

  @Test
  void aRuleThatIsNotExactAndATierCostedWithoutStopsDecodeToTheEnd() {
    assertThat(tier("chow-average", 2).stops()).isNull();
    assertThat(tier("chow-quantile-0.5", 2).stops()).isNull();
    assertThat(tier("chow-sum", Double.NaN).stops()).isNull();
  }

  @Test
  void theOptionNamesWhichTiersStopEarly() {
    assertThat(TiersEvaluation.StopCosts.of("none").applies(0, 3)).isFalse();
    assertThat(TiersEvaluation.StopCosts.of("first").applies(0, 3)).isTrue();
    assertThat(TiersEvaluation.StopCosts.of("first").applies(1, 3)).isFalse();
    assertThat(TiersEvaluation.StopCosts.of("all").applies(1, 3)).isTrue();
    assertThat(TiersEvaluation.StopCosts.of("all").applies(2, 3)).as("the last tier never defers").isFalse();
    assertThatThrownBy(() -> TiersEvaluation.StopCosts.of("every")).hasMessageContaining("none, first or all");
  }
}
