package dev.cascade.router.learning;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * How often the cross-fitted check retunes a threshold where no other threshold is worth more, over
 * 400 independent windows of 2,000 outcomes each, with the learner's defaults (4 folds, at least 500
 * outcomes, 200 to check on). The one-sided 95% bound would retune at most 5% of them if the
 * held-out comparisons were independent; they are not (each fold's choice is fitted on the other
 * folds' outcomes), which these rates measure:
 *
 * <ul>
 *   <li>a threshold at its strict best (medium right with probability exp(−score / 3), large 0.75
 *       at 10 a call, 100 a right answer): below 5%, since a choice elsewhere is worse;
 *   <li>a flat tier, where every threshold is worth the same (medium right with probability 0.65
 *       whatever its score): above 5%, about twice it, but a move there costs nothing.
 * </ul>
 */
class TierTuningFalseRetuneTest {

  private static final int WINDOWS = 400;
  private static final int OUTCOMES = 2_000;
  private static final double VALUE = 100;
  private static final double LARGE_COST = 10;
  /** Where passing on starts to pay in the strict case: exp(−s / 3) = 0.75 − 10 / 100. */
  private static final double BEST = -3 * Math.log(0.75 - LARGE_COST / VALUE);

  /**
   * The share of windows retuned: each window's outcomes as the routers log them under the rule in
   * force at {@link #BEST}, every passed-on request seen, and of those it serves only the explored
   * ones ({@code exploration}), weighed 1 / exploration.
   */
  private static double retunedShare(boolean flat, double exploration) {
    int retuned = 0;
    for (int w = 0; w < WINDOWS; w++) {
      SplittableRandom random = new SplittableRandom(7919L * w + (flat ? 1 : 0) + (long) (exploration * 100));
      List<TierTuning.Item> items = new ArrayList<>();
      for (int i = 0; items.size() < OUTCOMES; i++) {
        double score = -3 * Math.log(1 - random.nextDouble());
        boolean medium = random.nextDouble() < (flat ? 0.65 : Math.exp(-score / 3));
        boolean large = random.nextDouble() < 0.75;
        double weight = 1;
        if (score <= BEST) {
          if (random.nextDouble() >= exploration) {
            continue; // served, never passed on: the next tier's answer is not seen
          }
          weight = 1 / exploration;
        }
        items.add(new TierTuning.Item("w" + w + "-" + i, score, medium, large, LARGE_COST, weight));
      }
      if (TierTuning.decide(items, VALUE, BEST, 0.25, 500, 200).result() == TierTuning.Result.RETUNED) {
        retuned++;
      }
    }
    double share = (double) retuned / WINDOWS;
    System.out.printf(Locale.ROOT, "false retunes: %s, exploration %.1f: %d of %d windows (%.1f%%)%n",
        flat ? "flat" : "strict best", exploration, retuned, WINDOWS, 100 * share);
    return share;
  }

  @Test
  void noiseRarelyMovesAThresholdAlreadyAtItsStrictBest() {
    assertThat(retunedShare(false, 1.0)).isLessThanOrEqualTo(0.05);
    assertThat(retunedShare(false, 0.2)).isLessThanOrEqualTo(0.05);
  }

  @Test
  void whereEveryThresholdIsWorthTheSameTheBoundIsOptimisticButBounded() {
    // Measured at 7-11% (not the nominal 5%): the folds' shared fitting outcomes. A guard against a
    // check that no longer holds anything out, which retunes far more often.
    assertThat(retunedShare(true, 1.0)).isBetween(0.0, 0.15);
    assertThat(retunedShare(true, 0.2)).isBetween(0.0, 0.15);
  }
}
