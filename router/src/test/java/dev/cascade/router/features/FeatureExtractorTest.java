package dev.cascade.router.features;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.Arrays;
import org.junit.jupiter.api.Test;

class FeatureExtractorTest {

  private static final float[] FIVE_LOGPROBS = {-0.1f, -2f, -0.5f, -1f, -0.3f};
  private static final float[] FIVE_ENTROPIES = {0.2f, 3f, 1f, 2f, 0.5f};

  @Test
  void quantilesAreType7LinearInterpolationBetweenOrderStatistics() {
    // Sorted: -2, -1, -0.5, -0.3, -0.1; h = 4p.
    double[] q = FeatureExtractor.extract(FIVE_LOGPROBS, FIVE_ENTROPIES).logprobQuantiles();

    assertThat(q[0]).isCloseTo(-2.0, within(1e-6)); // h = 0: the least confident token
    assertThat(q[1]).isCloseTo(-1.6, within(1e-6)); // h = 0.4: -2 + 0.4 * (-1 - -2)
    assertThat(q[3]).isCloseTo(-0.9, within(1e-6)); // h = 1.2: -1 + 0.2 * 0.5
    assertThat(q[5]).isCloseTo(-0.5, within(1e-6)); // h = 2: the median
    assertThat(q[9]).isCloseTo(-0.18, within(1e-6)); // h = 3.6: -0.3 + 0.6 * 0.2
    assertThat(q[10]).isCloseTo(-0.1, within(1e-6)); // h = 4: the most confident token
  }

  @Test
  void quantilesMatchNumpyDefaultOnFourValues() {
    // numpy.quantile([-4, -3, -2, -1], [0.1, 0.5, 0.9]) == [-3.7, -2.5, -1.3]
    float[] logprobs = {-1f, -4f, -2f, -3f};
    double[] q = FeatureExtractor.extract(logprobs, new float[4]).logprobQuantiles();

    assertThat(q[1]).isCloseTo(-3.7, within(1e-9));
    assertThat(q[5]).isCloseTo(-2.5, within(1e-9));
    assertThat(q[9]).isCloseTo(-1.3, within(1e-9));
  }

  @Test
  void sumMeanLengthAndEntropyQuantiles() {
    UncertaintyFeatures f = FeatureExtractor.extract(FIVE_LOGPROBS, FIVE_ENTROPIES);

    assertThat(f.logprobSum()).isCloseTo(-3.9, within(1e-6));
    assertThat(f.logprobMean()).isCloseTo(-0.78, within(1e-6));
    assertThat(f.length()).isEqualTo(5);
    // Entropies sorted: 0.2, 0.5, 1, 2, 3.
    double[] e = f.entropyQuantiles();
    assertThat(e[0]).isCloseTo(0.2, within(1e-6));
    assertThat(e[5]).isCloseTo(1.0, within(1e-6));
    assertThat(e[10]).isCloseTo(3.0, within(1e-6));
    assertThat(e[1]).isCloseTo(0.2 + 0.4 * 0.3, within(1e-6));
  }

  @Test
  void quantilesAreNonDecreasingAndIgnoreTokenOrder() {
    float[] reversed = new float[FIVE_LOGPROBS.length];
    for (int i = 0; i < reversed.length; i++) {
      reversed[i] = FIVE_LOGPROBS[FIVE_LOGPROBS.length - 1 - i];
    }
    UncertaintyFeatures f = FeatureExtractor.extract(FIVE_LOGPROBS, FIVE_ENTROPIES);

    assertThat(FeatureExtractor.extract(reversed, FIVE_ENTROPIES).logprobQuantiles())
        .containsExactly(f.logprobQuantiles());
    assertThat(f.logprobQuantiles()).isSorted();
    assertThat(f.entropyQuantiles()).isSorted();
  }

  @Test
  void doesNotReorderTheCallersArrays() {
    float[] logprobs = FIVE_LOGPROBS.clone();
    float[] entropies = FIVE_ENTROPIES.clone();

    FeatureExtractor.extract(logprobs, entropies);

    assertThat(logprobs).containsExactly(FIVE_LOGPROBS);
    assertThat(entropies).containsExactly(FIVE_ENTROPIES);
  }

  @Test
  void oneTokenHasEveryQuantileEqualToIt() {
    UncertaintyFeatures f = FeatureExtractor.extract(new float[] {-0.7f}, new float[] {1.5f});

    assertThat(f.logprobQuantiles()).containsOnly((double) -0.7f);
    assertThat(f.entropyQuantiles()).containsOnly(1.5);
    assertThat(f.logprobMean()).isEqualTo(f.logprobSum());
  }

  @Test
  void anEmptyGenerationHasEveryFeatureZero() {
    UncertaintyFeatures f = FeatureExtractor.extract(new float[0], new float[0]);

    assertThat(f.length()).isZero();
    assertThat(f.toVector()).hasSize(25).containsOnly(0.0);
  }

  @Test
  void rejectsArraysOfDifferentLengthsNamingBoth() {
    assertThatThrownBy(() -> FeatureExtractor.extract(new float[3], new float[2]))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("tokenLogprobs has 3")
        .hasMessageContaining("entropies has 2");
  }

  @Test
  void rejectsNaNAndPositiveLogprobsNamingTheIndex() {
    assertThatThrownBy(() -> FeatureExtractor.extract(new float[] {-1f, Float.NaN}, new float[2]))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("tokenLogprobs[1]")
        .hasMessageContaining("NaN");
    assertThatThrownBy(() -> FeatureExtractor.extract(new float[] {0.5f}, new float[1]))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("tokenLogprobs[0] = 0.5");
  }

  @Test
  void readsRoundingAboveZeroAsZeroAndFloorsMinusInfinity() {
    UncertaintyFeatures f =
        FeatureExtractor.extract(new float[] {1e-6f, Float.NEGATIVE_INFINITY}, new float[2]);

    assertThat(f.logprobQuantiles()[10]).isEqualTo(0.0);
    assertThat(f.logprobQuantiles()[0]).isEqualTo(FeatureExtractor.LOG_PROB_FLOOR);
    assertThat(f.logprobSum()).isEqualTo(FeatureExtractor.LOG_PROB_FLOOR);
    assertThat(Arrays.stream(f.toVector()).allMatch(Double::isFinite)).isTrue();
  }

  @Test
  void keepsFiniteLogprobsBelowTheFloor() {
    UncertaintyFeatures f = FeatureExtractor.extract(new float[] {-500f}, new float[1]);

    assertThat(f.logprobSum()).isEqualTo(-500.0);
  }

  @Test
  void rejectsNegativeOrInfiniteEntropiesNamingTheIndex() {
    assertThatThrownBy(() -> FeatureExtractor.extract(new float[2], new float[] {0f, -0.5f}))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("entropies[1] = -0.5");
    assertThatThrownBy(
            () -> FeatureExtractor.extract(new float[1], new float[] {Float.POSITIVE_INFINITY}))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("entropies[0]");
    assertThat(FeatureExtractor.extract(new float[1], new float[] {-1e-6f}).entropyQuantiles())
        .containsOnly(0.0);
  }
}
