package dev.cascade.router.features;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class UncertaintyFeaturesTest {

  private static final UncertaintyFeatures SAMPLE =
      FeatureExtractor.extract(
          new float[] {-0.1f, -2f, -0.5f, -1f, -0.3f, -0.05f, -3f},
          new float[] {0.2f, 3f, 1f, 2f, 0.5f, 0.1f, 2.5f});

  @Test
  void namesAreTheTwentyFiveFeaturesInVectorOrder() {
    List<String> names = UncertaintyFeatures.names();

    assertThat(names).hasSize(25).doesNotHaveDuplicates();
    assertThat(names.subList(0, 11))
        .containsExactly(
            "lp_q0", "lp_q10", "lp_q20", "lp_q30", "lp_q40", "lp_q50", "lp_q60", "lp_q70",
            "lp_q80", "lp_q90", "lp_q100");
    assertThat(names.subList(11, 14)).containsExactly("lp_sum", "lp_mean", "length");
    assertThat(names.get(14)).isEqualTo("ent_q0");
    assertThat(names.get(24)).isEqualTo("ent_q100");
  }

  @Test
  void vectorAndMapAgreeWithTheNames() {
    double[] vector = SAMPLE.toVector();
    Map<String, Double> map = SAMPLE.asMap();

    assertThat(map.keySet()).containsExactlyElementsOf(UncertaintyFeatures.names());
    for (int i = 0; i < vector.length; i++) {
      assertThat(map.get(UncertaintyFeatures.names().get(i))).isEqualTo(vector[i]);
    }
    assertThat(map.get("lp_q0")).isEqualTo(SAMPLE.logprobQuantiles()[0]);
    assertThat(map.get("lp_sum")).isEqualTo(SAMPLE.logprobSum());
    assertThat(map.get("length")).isEqualTo(7.0);
    assertThat(map.get("ent_q100")).isCloseTo(3.0, within(1e-6));
  }

  @Test
  void fromMapInvertsAsMapAndIgnoresExtraKeys() {
    Map<String, Double> map = new HashMap<>(SAMPLE.asMap());
    map.put("embedding_0", 0.25);

    UncertaintyFeatures back = UncertaintyFeatures.fromMap(map);

    assertThat(back).isEqualTo(SAMPLE).hasSameHashCodeAs(SAMPLE);
    assertThat(back.toVector()).containsExactly(SAMPLE.toVector());
  }

  @Test
  void fromMapNamesAMissingFeature() {
    Map<String, Double> map = new HashMap<>(SAMPLE.asMap());
    map.remove("lp_q30");

    assertThatThrownBy(() -> UncertaintyFeatures.fromMap(map))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("'lp_q30'");
  }

  @Test
  void fromMapRejectsAFractionalLength() {
    Map<String, Double> map = new HashMap<>(SAMPLE.asMap());
    map.put("length", 2.5);

    assertThatThrownBy(() -> UncertaintyFeatures.fromMap(map))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("'length'");
  }

  @Test
  void arraysAreCopiedInAndOut() {
    double[] quantiles = new double[11];
    UncertaintyFeatures f = new UncertaintyFeatures(quantiles, 0, 0, 0, new double[11]);
    quantiles[0] = -5;
    f.logprobQuantiles()[1] = -5;

    assertThat(f.logprobQuantiles()).containsOnly(0.0);
  }

  @Test
  void constructorNamesTheBadField() {
    assertThatThrownBy(() -> new UncertaintyFeatures(new double[10], 0, 0, 0, new double[11]))
        .hasMessageContaining("logprobQuantiles");
    double[] withNaN = new double[11];
    withNaN[3] = Double.NaN;
    assertThatThrownBy(() -> new UncertaintyFeatures(new double[11], 0, 0, 0, withNaN))
        .hasMessageContaining("entropyQuantiles[3]");
    assertThatThrownBy(() -> new UncertaintyFeatures(new double[11], 0, 0, -1, new double[11]))
        .hasMessageContaining("length");
    assertThatThrownBy(
            () -> new UncertaintyFeatures(new double[11], Double.NEGATIVE_INFINITY, 0, 0, new double[11]))
        .hasMessageContaining("logprobSum");
  }

  @Test
  void quantileOnTheGridIsTheStoredValue() {
    double[] stored = SAMPLE.logprobQuantiles();

    for (int i = 0; i <= 10; i++) {
      assertThat(SAMPLE.logprobQuantile(i / 10.0)).isEqualTo(stored[i]);
    }
    assertThat(SAMPLE.logprobQuantile(0.3)).isEqualTo(stored[3]); // 0.3 * 10 is 3.0000000000000004
  }

  @Test
  void quantileOffTheGridInterpolatesBetweenGridQuantiles() {
    double[] stored = SAMPLE.logprobQuantiles();

    assertThat(SAMPLE.logprobQuantile(0.25)).isCloseTo((stored[2] + stored[3]) / 2, within(1e-12));
    assertThat(SAMPLE.logprobQuantile(0.01))
        .isCloseTo(stored[0] + 0.1 * (stored[1] - stored[0]), within(1e-12));
  }

  @Test
  void quantileOffTheGridIsExactType7WhenLengthMinusOneDividesTen() {
    // 11 tokens: type-7 breakpoints fall on the grid, so interpolation is exact everywhere.
    float[] logprobs = {-0.1f, -0.2f, -0.4f, -0.8f, -1.6f, -3.2f, -0.05f, -0.02f, -2f, -5f, -0.3f};
    UncertaintyFeatures f = FeatureExtractor.extract(logprobs, new float[11]);
    double[] sorted = new double[11];
    for (int i = 0; i < 11; i++) {
      sorted[i] = logprobs[i];
    }
    java.util.Arrays.sort(sorted);

    // alpha = 0.25: h = 10 * 0.25 = 2.5.
    assertThat(f.logprobQuantile(0.25)).isCloseTo((sorted[2] + sorted[3]) / 2, within(1e-9));
    // alpha = 0.97: h = 9.7.
    assertThat(f.logprobQuantile(0.97))
        .isCloseTo(sorted[9] + 0.7 * (sorted[10] - sorted[9]), within(1e-9));
  }

  @Test
  void quantileRejectsALevelOutsideZeroToOne() {
    assertThatThrownBy(() -> SAMPLE.logprobQuantile(1.5)).hasMessageContaining("alpha");
    assertThatThrownBy(() -> SAMPLE.logprobQuantile(Double.NaN)).hasMessageContaining("alpha");
  }
}
