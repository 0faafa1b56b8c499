package dev.cascade.models;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class RunningLogprobScoreTest {

  /** The 1-based token after which {@code stop} ends a row with these log-probs; 0 if it never does. */
  private static int stopsAfter(TextGenerator.EarlyStop stop, float... logprobs) {
    TextGenerator.EarlyStop.Check check = stop.newCheck();
    for (int i = 0; i < logprobs.length; i++) {
      if (check.afterToken(logprobs[i], 0f)) {
        return i + 1;
      }
    }
    return 0;
  }

  @Test
  void theSumStopsAfterTheTokenWhereMinusItPassesTheThresholdStrictly() {
    // -Σ log p after each token: 0.5, 1.0, 1.0, 3.0
    float[] lp = {-0.5f, -0.5f, 0f, -2f};
    assertThat(stopsAfter(RunningLogprobScore.sum(0.4), lp)).isEqualTo(1);
    assertThat(stopsAfter(RunningLogprobScore.sum(0.5), lp)).isEqualTo(2);
    assertThat(stopsAfter(RunningLogprobScore.sum(1.0), lp)).isEqualTo(4);
    assertThat(stopsAfter(RunningLogprobScore.sum(3.0), lp)).isZero();
    // Each row has its own running value.
    RunningLogprobScore shared = RunningLogprobScore.sum(0.9);
    assertThat(stopsAfter(shared, lp)).isEqualTo(2);
    assertThat(stopsAfter(shared, lp)).isEqualTo(2);
  }

  @Test
  void theMinimumStopsAtTheFirstTokenBelowMinusTheThreshold() {
    float[] lp = {-0.2f, -0.1f, -1.5f, -0.3f};
    assertThat(stopsAfter(RunningLogprobScore.minimum(0.15), lp)).isEqualTo(1);
    assertThat(stopsAfter(RunningLogprobScore.minimum(1.0), lp)).isEqualTo(3);
    assertThat(stopsAfter(RunningLogprobScore.minimum(1.5), lp)).isZero();
  }

  @Test
  void logProbsAreReadAsTheRoutersFeaturesReadThem() {
    assertThat(RunningLogprobScore.read(Float.NEGATIVE_INFINITY)).isEqualTo(Math.log(Float.MIN_VALUE));
    assertThat(RunningLogprobScore.read(5e-5f)).isZero();
    assertThat(RunningLogprobScore.read(0.01f)).isNaN();
    assertThat(RunningLogprobScore.read(Float.NaN)).isNaN();
    assertThat(RunningLogprobScore.read(-0.25f)).isEqualTo(-0.25);
    // −∞ counts as the floor: a finite score that passes any threshold below it.
    assertThat(stopsAfter(RunningLogprobScore.sum(100), -1f, Float.NEGATIVE_INFINITY)).isEqualTo(2);
  }

  @Test
  void aValueThatIsNotALogProbStopsNothingFromThereOn() {
    assertThat(stopsAfter(RunningLogprobScore.sum(1.0), -0.5f, Float.NaN, -5f)).isZero();
    assertThat(stopsAfter(RunningLogprobScore.sum(1.0), -0.5f, 0.3f, -5f)).isZero();
    assertThatThrownBy(() -> RunningLogprobScore.sum(Double.NaN)).isInstanceOf(IllegalArgumentException.class);
  }
}
