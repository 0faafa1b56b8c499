package dev.cascade.router.evaluation;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.Random;
import org.junit.jupiter.api.Test;

class PregenSkipTest {

  /** Four items: the skip can take item 0 for free (the post rule defers it first), item 3 only at a loss. */
  private static final PregenSkip FOUR = new PregenSkip(
      new boolean[] {false, true, false, true},
      new boolean[] {true, true, true, false},
      new double[] {0.9, 0.1, 0.5, 0.3},
      new double[] {0.9, 0.1, 0.2, 0.8},
      new int[] {10, 2, 4, 4});

  @Test
  void skippingWhatThePostRuleDefersAnywayCostsNothingAndSavesItsDecoding() {
    boolean[] skipped = FOUR.skipped(0.85);
    assertThat(skipped).containsExactly(true, false, false, false);
    assertThat(PregenSkip.share(skipped)).isEqualTo(0.25);
    assertThat(FOUR.savedShare(skipped)).isEqualTo(0.5);
    boolean[] none = new boolean[4];
    assertThat(FOUR.accuracyAt(0.5, none)).isEqualTo(1.0);
    assertThat(FOUR.accuracyAt(0.5, skipped)).isEqualTo(1.0);
    assertThat(FOUR.accuracyAt(0.0, none)).isEqualTo(0.5);
    assertThat(FOUR.maxLoss(skipped, new double[] {0.25, 0.5, 0.75})).isEqualTo(0.0);
  }

  @Test
  void atTheSameEscalationRateASkippedRequestCostsItsSmallAnswerLessAndEveryOneThePromptPass() {
    boolean[] skipped = FOUR.skipped(0.85);
    boolean[] none = new boolean[4];
    assertThat(FOUR.deferredAt(0.5, none)).containsExactly(true, false, true, false);
    assertThat(FOUR.deferredAt(0.5, skipped)).containsExactly(true, false, true, false);
    assertThat(FOUR.deferredAt(0.0, skipped)).isNull();
    double[] small = {10, 2, 4, 4};
    double[] next = {100, 100, 100, 100};
    double[] noPass = new double[4];
    assertThat(FOUR.costAt(0.5, none, small, noPass, next)).isEqualTo((20 + 200) / 4.0);
    // Item 0 skipped: its small answer (10) not paid; with a prompt pass of 1 on every request, 4 more.
    assertThat(FOUR.costAt(0.5, skipped, small, noPass, next)).isEqualTo((10 + 200) / 4.0);
    assertThat(FOUR.costAt(0.5, skipped, small, new double[] {1, 1, 1, 1}, next)).isEqualTo((14 + 200) / 4.0);
    assertThat(FOUR.costAt(0.0, skipped, small, noPass, next)).isNaN();
  }

  @Test
  void skippingARequestTheSmallModelGetsRightLosesItAndBelowTheSkippedShareThereIsNoPoint() {
    boolean[] skipped = FOUR.skipped(0.7);
    assertThat(skipped).containsExactly(true, false, false, true);
    // Escalating 2: items 0 and 3 (large wrong on 3) instead of 0 and 2; item 2 stays with the wrong small answer.
    assertThat(FOUR.accuracyAt(0.5, skipped)).isEqualTo(0.5);
    assertThat(FOUR.maxLoss(skipped, new double[] {0.5})).isEqualTo(0.5);
    assertThat(FOUR.accuracyAt(0.25, skipped)).isNaN();
    assertThat(FOUR.maxLoss(skipped, new double[] {0.25, 0.5})).isInfinite();
  }

  @Test
  void theChosenThresholdSkipsTheHopelessRequestsAndNoMore() {
    PregenSkip data = population(new Random(3), 2000, true);
    double threshold = data.chooseThreshold(shares(), 0.005, PregenSkip.MIDDLE_RATES);
    boolean[] skipped = data.skipped(threshold);
    assertThat(PregenSkip.share(skipped)).isCloseTo(0.10, within(0.006));
    assertThat(data.maxLoss(skipped, PregenSkip.MIDDLE_RATES)).isLessThanOrEqualTo(0.005);
    // The hopeless requests are long: their share of decoding is larger than their share of requests.
    assertThat(data.savedShare(skipped)).isGreaterThan(0.2);
  }

  @Test
  void aThresholdPerKindSkipsEachKindsHopelessRequestsWhereOneThresholdCannot() {
    // Two kinds, alternating. The hopeless requests of kind 0 score 0.6, of kind 1 score 1.0; the
    // others of kind 0 score under 0.5 and of kind 1 between 0.5 and 0.9, so no one threshold takes
    // kind 0's hopeless requests without kind 1's ordinary ones.
    Random random = new Random(11);
    int n = 2000;
    boolean[] small = new boolean[n];
    boolean[] large = new boolean[n];
    double[] post = new double[n];
    double[] prompt = new double[n];
    int[] steps = new int[n];
    int[] kind = new int[n];
    boolean[] hopeless = new boolean[n];
    for (int i = 0; i < n; i++) {
      kind[i] = i % 2;
      hopeless[i] = i % 10 < 2;
      small[i] = !hopeless[i] && random.nextDouble() < 0.6;
      large[i] = hopeless[i] || random.nextDouble() < 0.8;
      post[i] = hopeless[i] ? 0.95 + 0.05 * random.nextDouble()
          : large[i] && !small[i] ? 0.5 + 0.4 * random.nextDouble() : 0.4 * random.nextDouble();
      prompt[i] = kind[i] == 0 ? (hopeless[i] ? 0.6 : 0.5 * random.nextDouble())
          : (hopeless[i] ? 1.0 : 0.5 + 0.4 * random.nextDouble());
      steps[i] = hopeless[i] ? 30 : 6;
    }
    PregenSkip data = new PregenSkip(small, large, post, prompt, steps);

    boolean[] one = data.skipped(data.chooseThreshold(shares(), 0.005, PregenSkip.MIDDLE_RATES));
    double[] thresholds = data.chooseThresholds(kind, 2, shares(), 0.005, PregenSkip.MIDDLE_RATES);
    boolean[] perKind = data.skipped(thresholds, kind);
    for (int i = 0; i < n; i++) {
      if (hopeless[i]) {
        assertThat(perKind[i]).as("hopeless item %d, per kind", i).isTrue();
      }
      if (kind[i] == 0) {
        // Kind 0: per kind, exactly its hopeless requests; one threshold takes none of them.
        assertThat(perKind[i]).as("item %d, per kind", i).isEqualTo(hopeless[i]);
        assertThat(one[i]).as("item %d, one threshold", i).isFalse();
      }
    }
    assertThat(thresholds[0]).isLessThan(0.6).isGreaterThanOrEqualTo(0.45);
    assertThat(data.maxLoss(perKind, PregenSkip.MIDDLE_RATES)).isLessThanOrEqualTo(0.005);
    assertThat(PregenSkip.share(perKind)).isGreaterThan(PregenSkip.share(one));
    // A bound nothing meets: every threshold +inf.
    PregenSkip bad = population(new Random(5), 2000, false);
    assertThat(bad.chooseThresholds(kind, 2, shares(), 0.005, PregenSkip.MIDDLE_RATES))
        .containsExactly(Double.POSITIVE_INFINITY, Double.POSITIVE_INFINITY);
    assertThatThrownBy(() -> data.skipped(thresholds, new int[3])).hasMessageContaining("3 kinds for 2000 items");
  }

  @Test
  void aPromptRuleThatFlagsTheWrongRequestsSkipsNothing() {
    PregenSkip data = population(new Random(5), 2000, false);
    assertThat(data.chooseThreshold(shares(), 0.005, PregenSkip.MIDDLE_RATES)).isEqualTo(Double.POSITIVE_INFINITY);
    assertThat(data.skipped(Double.POSITIVE_INFINITY)).doesNotContain(true);
  }

  @Test
  void theDeferredOrBenefitLabelAddsWhatThePostRuleDefersAnywayAtTheLowestMiddleRate() {
    // Ten items: post scores 9, 8, ..., 0; item 9 (lowest post score) is the only benefit.
    boolean[] small = new boolean[10];
    boolean[] large = new boolean[10];
    double[] post = new double[10];
    for (int i = 0; i < 10; i++) {
      small[i] = i != 9;
      large[i] = true;
      post[i] = 9 - i;
    }
    PregenSkip data = new PregenSkip(small, large, post, new double[10], new int[10]);
    assertThat(data.deferredAt(0.2)).containsExactly(true, true, false, false, false, false, false, false, false, false);
    assertThat(data.label(PregenSkip.Label.BENEFIT))
        .containsExactly(false, false, false, false, false, false, false, false, false, true);
    assertThat(data.label(PregenSkip.Label.DEFERRED_OR_BENEFIT))
        .containsExactly(true, true, false, false, false, false, false, false, false, true);
    // Skipping what that label flags costs nothing where it is defined (3 skipped: from 3 escalated of 10):
    // the post rule defers items 0 and 1 first anyway, and item 9 gains.
    boolean[] flagged = data.label(PregenSkip.Label.DEFERRED_OR_BENEFIT);
    assertThat(data.maxLoss(flagged, new double[] {0.3, 0.4, 0.5})).isCloseTo(-0.1, within(1e-12));
    assertThat(PregenSkip.Label.of("deferred-or-benefit")).isEqualTo(PregenSkip.Label.DEFERRED_OR_BENEFIT);
    assertThatThrownBy(() -> PregenSkip.Label.of("benefits")).hasMessageContaining("benefit, deferred-or-benefit");
  }

  @Test
  void everyArrayNeedsOneEntryPerItem() {
    assertThatThrownBy(() -> new PregenSkip(new boolean[2], new boolean[2], new double[2], new double[1], new int[2]))
        .hasMessageContaining("one entry per item");
  }

  private static double[] shares() {
    return java.util.stream.IntStream.rangeClosed(1, 40).mapToDouble(i -> i * 0.005).toArray();
  }

  /**
   * 10% hopeless requests (small wrong, large right, 30 decoding steps, the post rule's highest
   * scores); the rest: the post rule's score is informative, 6 steps each. With {@code good}, the
   * prompt rule scores the hopeless ones 1 and the rest below 0.5; otherwise it scores 1 the
   * requests the small model gets right and the large one wrong.
   */
  private static PregenSkip population(Random random, int n, boolean good) {
    boolean[] small = new boolean[n];
    boolean[] large = new boolean[n];
    double[] post = new double[n];
    double[] prompt = new double[n];
    int[] steps = new int[n];
    for (int i = 0; i < n; i++) {
      boolean hopeless = i % 10 == 0;
      small[i] = !hopeless && random.nextDouble() < 0.6;
      large[i] = hopeless || random.nextDouble() < 0.8;
      boolean benefit = large[i] && !small[i];
      post[i] = hopeless ? 0.95 + 0.05 * random.nextDouble() : benefit ? 0.5 + 0.4 * random.nextDouble()
          : 0.4 * random.nextDouble();
      prompt[i] = good ? (hopeless ? 1 : 0.5 * random.nextDouble()) : (small[i] && !large[i] ? 1 : 0.5 * random.nextDouble());
      steps[i] = hopeless ? 30 : 6;
    }
    return new PregenSkip(small, large, post, prompt, steps);
  }
}
