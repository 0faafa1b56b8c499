package dev.cascade.router.rules;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.cascade.router.features.FeatureExtractor;
import dev.cascade.router.features.UncertaintyFeatures;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

class ChowRulesTest {

  /** A 100-token answer, every token at probability ≈ 0.95. */
  private static final UncertaintyFeatures LONG_CONFIDENT = generation(100, -0.05f);

  /** A 3-token answer, every token at probability ≈ 0.37. */
  private static final UncertaintyFeatures SHORT_UNSURE = generation(3, -1.0f);

  @Test
  void chowSumIsLengthBiasedAgainstALongConfidentAnswer() {
    DeferralRule sum = new ChowSumRule();

    assertThat(sum.score(LONG_CONFIDENT)).isCloseTo(5.0, within(1e-4));
    assertThat(sum.score(SHORT_UNSURE)).isCloseTo(3.0, within(1e-6));
    assertThat(sum.score(LONG_CONFIDENT)).isGreaterThan(sum.score(SHORT_UNSURE));
  }

  @Test
  void chowQuantileIsNotLengthBiased() {
    for (double alpha : new double[] {0.0, 0.1, 0.5, 0.25}) {
      DeferralRule quantile = new ChowQuantileRule(alpha);

      assertThat(quantile.score(SHORT_UNSURE))
          .as("alpha %s", alpha)
          .isGreaterThan(quantile.score(LONG_CONFIDENT));
      assertThat(quantile.score(generation(1000, -0.05f)))
          .as("alpha %s: a longer answer at the same confidence scores the same", alpha)
          .isCloseTo(quantile.score(LONG_CONFIDENT), within(1e-9));
    }
  }

  @Test
  void chowAverageHidesOneVeryUnsureTokenThatQuantileZeroCatches() {
    float[] logprobs = new float[100];
    Arrays.fill(logprobs, -0.01f);
    logprobs[57] = -5f; // one token at probability ≈ 0.007
    UncertaintyFeatures oneBadToken = FeatureExtractor.extract(logprobs, new float[100]);

    DeferralRule average = new ChowAverageRule();
    DeferralRule leastConfident = new ChowQuantileRule(0.0);

    assertThat(average.score(oneBadToken)).isLessThan(average.score(SHORT_UNSURE));
    assertThat(leastConfident.score(oneBadToken)).isGreaterThan(leastConfident.score(SHORT_UNSURE));
    assertThat(leastConfident.score(oneBadToken)).isCloseTo(5.0, within(1e-6));
  }

  @Test
  void scoresAreTheNegatedStatistic() {
    UncertaintyFeatures f =
        FeatureExtractor.extract(new float[] {-0.1f, -2f, -0.5f, -1f, -0.3f}, new float[5]);

    assertThat(new ChowSumRule().score(f)).isEqualTo(-f.logprobSum());
    assertThat(new ChowAverageRule().score(f)).isEqualTo(-f.logprobMean());
    assertThat(new ChowQuantileRule(0).score(f)).isCloseTo(2.0, within(1e-6));
    assertThat(new ChowQuantileRule(1).score(f)).isCloseTo(0.1, within(1e-6));
    assertThat(new ChowQuantileRule(0.5).score(f)).isCloseTo(0.5, within(1e-6));
  }

  @Test
  void anEmptyGenerationScoresZeroUnderEveryChowRule() {
    UncertaintyFeatures empty = FeatureExtractor.extract(new float[0], new float[0]);

    assertThat(new ChowSumRule().score(empty)).isZero();
    assertThat(new ChowAverageRule().score(empty)).isZero();
    assertThat(new ChowQuantileRule(0.3).score(empty)).isZero();
  }

  @Test
  void namesMatchTheEvaluationSpelling() {
    assertThat(new ChowSumRule().name()).isEqualTo("chow-sum");
    assertThat(new ChowAverageRule().name()).isEqualTo("chow-average");
    assertThat(new ChowQuantileRule(0).name()).isEqualTo("chow-quantile-0");
    assertThat(new ChowQuantileRule(-0.0).name()).isEqualTo("chow-quantile-0");
    assertThat(new ChowQuantileRule(0.1).name()).isEqualTo("chow-quantile-0.1");
    assertThat(new ChowQuantileRule(0.5).name()).isEqualTo("chow-quantile-0.5");
    assertThat(new ChowQuantileRule(1).name()).isEqualTo("chow-quantile-1");
    assertThat(new ChowQuantileRule(-0.0)).isEqualTo(new ChowQuantileRule(0.0));
  }

  @Test
  void quantileRuleRejectsAlphaOutsideZeroToOne() {
    assertThatThrownBy(() -> new ChowQuantileRule(1.01))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("alpha");
    assertThatThrownBy(() -> new ChowQuantileRule(Double.NaN)).hasMessageContaining("alpha");
  }

  private static UncertaintyFeatures generation(int length, float logprob) {
    float[] logprobs = new float[length];
    Arrays.fill(logprobs, logprob);
    return FeatureExtractor.extract(logprobs, new float[length]);
  }
}
