package dev.cascade.router.policy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.models.RunningLogprobScore;
import dev.cascade.models.TextGenerator;
import dev.cascade.router.features.FeatureExtractor;
import dev.cascade.router.rules.ChowQuantileRule;
import dev.cascade.router.rules.ChowSumRule;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * A middle tier's server stops by {@link RunningLogprobScore} (models module); the router scores
 * the answer with {@link FeatureExtractor} and stops its own small model by {@link EarlyDeferral}.
 * The science packages may not import the models module, so the reading of a log-prob is written
 * twice: this holds the two to the same values and the same stop points.
 */
class RunningLogprobScoreAgreementTest {

  private static final float[] SPECIAL = {Float.NEGATIVE_INFINITY, -Float.MAX_VALUE, -1e-30f, -0f, 0f, 1e-5f, 1e-4f,
      1.0001e-4f, 0.5f, Float.NaN, Float.POSITIVE_INFINITY, -3.25f};

  @Test
  void aLogProbIsReadTheSameWayOnBothSides() {
    Random random = new Random(7);
    for (int i = 0; i < 10_000 + SPECIAL.length; i++) {
      float v = i < SPECIAL.length ? SPECIAL[i] : (float) (-random.nextDouble() * 20 + (random.nextInt(50) == 0 ? 1 : 0));
      assertThat(Double.valueOf(RunningLogprobScore.read(v))).as("%s", v).isEqualTo(Double.valueOf(FeatureExtractor.logprobValue(v)));
    }
    assertThat(RunningLogprobScore.LOG_PROB_FLOOR).isEqualTo(FeatureExtractor.LOG_PROB_FLOOR);
    assertThat(RunningLogprobScore.ROUNDING_TOLERANCE).isEqualTo(FeatureExtractor.ROUNDING_TOLERANCE);
  }

  @Test
  void theServersStopIsTheRoutersStopAndTheRouterDefersThePrefix() {
    Random random = new Random(11);
    for (int trial = 0; trial < 2_000; trial++) {
      float[] lp = new float[1 + random.nextInt(30)];
      for (int i = 0; i < lp.length; i++) {
        lp[i] = random.nextInt(40) == 0 ? Float.NEGATIVE_INFINITY : (float) (-random.nextDouble() * random.nextDouble() * 4);
      }
      boolean minimum = random.nextBoolean();
      double threshold = random.nextDouble() * (minimum ? 4 : 20);
      dev.cascade.router.rules.DeferralRule rule = minimum ? new ChowQuantileRule(0.0) : new ChowSumRule();
      TextGenerator.EarlyStop.Check server = (minimum ? RunningLogprobScore.minimum(threshold)
          : RunningLogprobScore.sum(threshold)).newCheck();
      EarlyDeferral.Check router = EarlyDeferral.exact(rule, threshold).newCheck();
      for (int i = 0; i < lp.length; i++) {
        boolean stops = server.afterToken(lp[i], 0f);
        assertThat(stops).isEqualTo(router.afterToken(lp[i], 0f));
        // Where the server stops, the router's score of the prefix is above the threshold: it defers.
        float[] prefix = java.util.Arrays.copyOf(lp, i + 1);
        assertThat(rule.score(FeatureExtractor.extract(prefix, new float[i + 1])) > threshold).isEqualTo(
            stops || (i > 0 && rule.score(FeatureExtractor.extract(java.util.Arrays.copyOf(lp, i), new float[i])) > threshold));
        if (stops) {
          break;
        }
      }
    }
  }
}
