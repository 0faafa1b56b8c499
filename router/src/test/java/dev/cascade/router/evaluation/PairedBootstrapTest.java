package dev.cascade.router.evaluation;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class PairedBootstrapTest {

  private static final int N = 400;
  private static final boolean[] SMALL = new boolean[N];
  private static final boolean[] LARGE = new boolean[N];
  private static final double[] NOISY_ORACLE = new double[N];
  private static final double[] NOISE = new double[N];

  static {
    SplittableRandom random = new SplittableRandom(42);
    for (int i = 0; i < N; i++) {
      SMALL[i] = random.nextDouble() < 0.45;
      LARGE[i] = random.nextDouble() < 0.7;
      double gain = (LARGE[i] ? 1 : 0) - (SMALL[i] ? 1 : 0);
      NOISY_ORACLE[i] = gain + random.nextGaussian() * 0.8;
      NOISE[i] = random.nextDouble();
    }
  }

  private static final CascadeEvaluation EVAL = new CascadeEvaluation(SMALL, LARGE);

  @Test
  void deltaIsTheFullSampleDifferenceAndTheIntervalContainsIt() {
    BootstrapComparison result = EVAL.pairedBootstrap(NOISY_ORACLE, NOISE, 1000, 7);

    assertThat(result.delta())
        .isCloseTo(EVAL.aucDf(NOISY_ORACLE) - EVAL.aucDf(NOISE), within(1e-12));
    assertThat(result.ciLow()).isLessThan(result.delta());
    assertThat(result.ciHigh()).isGreaterThan(result.delta());
  }

  @Test
  void aClearlyBetterRuleHasAnIntervalAboveZeroAndTheReverseBelow() {
    BootstrapComparison better = EVAL.pairedBootstrap(NOISY_ORACLE, NOISE, 1000, 7);
    BootstrapComparison worse = EVAL.pairedBootstrap(NOISE, NOISY_ORACLE, 1000, 7);

    assertThat(better.aboveZero()).isTrue();
    assertThat(worse.ciHigh()).isLessThan(0.0);
    assertThat(worse.aboveZero()).isFalse();
    // Same draws, swapped rules: the interval mirrors.
    assertThat(worse.ciLow()).isCloseTo(-better.ciHigh(), within(1e-12));
  }

  @Test
  void aRuleAgainstItselfHasADegenerateIntervalAtZero() {
    BootstrapComparison same = EVAL.pairedBootstrap(NOISE, NOISE.clone(), 200, 1);

    assertThat(same).isEqualTo(new BootstrapComparison(0.0, 0.0, 0.0));
  }

  @Test
  void theSameSeedGivesTheSameIntervalAndAnotherSeedAnother() {
    BootstrapComparison first = EVAL.pairedBootstrap(NOISY_ORACLE, NOISE, 300, 11);

    assertThat(EVAL.pairedBootstrap(NOISY_ORACLE, NOISE, 300, 11)).isEqualTo(first);
    assertThat(EVAL.pairedBootstrap(NOISY_ORACLE, NOISE, 300, 12)).isNotEqualTo(first);
  }

  @Test
  void aWeightedItemCountsAsThatManyCopiesOfIt() {
    SplittableRandom random = new SplittableRandom(3);
    int n = 30;
    boolean[] small = new boolean[n];
    boolean[] large = new boolean[n];
    double[] scores = new double[n];
    int[] weights = new int[n];
    for (int i = 0; i < n; i++) {
      small[i] = random.nextBoolean();
      large[i] = random.nextBoolean();
      scores[i] = random.nextInt(6);
    }
    for (int i = 0; i < n; i++) {
      weights[random.nextInt(n)]++;
    }
    int total = 0;
    for (int w : weights) {
      total += w;
    }
    boolean[] copiesSmall = new boolean[total];
    boolean[] copiesLarge = new boolean[total];
    double[] copiesScores = new double[total];
    int at = 0;
    for (int i = 0; i < n; i++) {
      for (int c = 0; c < weights[i]; c++) {
        copiesSmall[at] = small[i];
        copiesLarge[at] = large[i];
        copiesScores[at] = scores[i];
        at++;
      }
    }
    CascadeEvaluation eval = new CascadeEvaluation(small, large);

    double weighted =
        eval.weightedAucDf(CascadeEvaluation.Ordering.of(scores, n), weights, null);

    assertThat(weighted)
        .isCloseTo(
            new CascadeEvaluation(copiesSmall, copiesLarge).aucDf(copiesScores), within(1e-12));
  }

  @Test
  void rejectsTooFewResamplesAndMismatchedScores() {
    assertThatThrownBy(() -> EVAL.pairedBootstrap(NOISE, NOISE, 0, 1))
        .hasMessageContaining("resamples");
    assertThatThrownBy(() -> EVAL.pairedBootstrap(NOISE, new double[3], 10, 1))
        .hasMessageContaining("one value per item");
  }
}
