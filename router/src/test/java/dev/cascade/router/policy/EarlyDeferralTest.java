package dev.cascade.router.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cascade.router.features.FeatureExtractor;
import dev.cascade.router.features.UncertaintyFeatures;
import dev.cascade.router.rules.ChowAverageRule;
import dev.cascade.router.rules.ChowQuantileRule;
import dev.cascade.router.rules.ChowSumRule;
import dev.cascade.router.rules.DeferralRule;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** When the small model may stop decoding: exactly where the decision can no longer change, and only then. */
class EarlyDeferralTest {

  private static DeferralPolicy policy(String rule, double alpha, double threshold, double exploration,
      double targetRate, Double margin) {
    return new DeferralPolicy(rule, alpha, threshold, exploration, targetRate, 1L, "test", 0L, "", null, List.of(),
        ChowSumRule.NAME, margin);
  }

  /** The 1-based token after which a fresh check from {@code stop} first says stop; 0 for never. */
  private static int stopsAt(EarlyDeferral.Condition stop, float[] logprobs, float[] entropies) {
    EarlyDeferral.Check check = stop.newCheck();
    for (int t = 0; t < logprobs.length; t++) {
      if (check.afterToken(logprobs[t], entropies[t])) {
        return t + 1;
      }
    }
    return 0;
  }

  private static int stopsAt(EarlyDeferral.Condition stop, float... logprobs) {
    float[] entropies = new float[logprobs.length];
    Arrays.fill(entropies, 0.5f);
    return stopsAt(stop, logprobs, entropies);
  }

  /**
   * What the check replaced: after every {@code every}-th token, the rule's score of the whole
   * prefix recomputed from scratch ({@code rule.score(FeatureExtractor.extract(prefix))}, NaN when
   * it throws) compared with the bound. The 1-based token where that first stops; 0 for never.
   */
  private static int recomputedStop(DeferralRule rule, double bound, int every, float[] logprobs, float[] entropies) {
    for (int k = every; k <= logprobs.length; k += every) {
      if (EarlyDeferral.partialScore(rule, Arrays.copyOf(logprobs, k), Arrays.copyOf(entropies, k)) > bound) {
        return k;
      }
    }
    return 0;
  }

  @Test
  void chowSumStopsOnlyOnceTheRunningScoreIsStrictlyAboveTheThreshold() {
    EarlyDeferral.Condition stop = EarlyDeferral.condition(new ChowSumRule(),
        policy(ChowSumRule.NAME, 0, 1.5, 0, 0, null), true).orElseThrow();
    // A score equal to the threshold (1.5 after three tokens) is accepted (defer only when greater),
    // so it must not stop there; the fourth token takes it over.
    assertThat(stopsAt(stop, -0.5f, -0.5f, -0.5f)).isZero();
    assertThat(stopsAt(stop, -0.5f, -0.5f, -0.5f, -0.001f, -0.5f)).isEqualTo(4);
    assertThat(EarlyDeferral.isExact(new ChowSumRule())).isTrue();
  }

  @Test
  void wouldStopReplaysTheCheckOverTheTokensThatLeftTheRowBelowItsLimit() {
    EarlyDeferral.Condition stop = EarlyDeferral.condition(new ChowSumRule(),
        policy(ChowSumRule.NAME, 0, 1.5, 0, 0, null), true).orElseThrow();
    float[] logprobs = {-0.5f, -0.5f, -0.5f, -0.001f, -0.5f};
    float[] entropies = new float[5];
    // Passes the threshold at the fourth token: stopped there when the limit leaves room after it.
    assertThat(EarlyDeferral.wouldStop(stop, logprobs, entropies, 48)).isTrue();
    assertThat(EarlyDeferral.wouldStop(stop, logprobs, entropies, 5)).isTrue();
    // The fourth token reaches a limit of 4 and ends the row anyway: the decoder never asks.
    assertThat(EarlyDeferral.wouldStop(stop, logprobs, entropies, 4)).isFalse();
    assertThat(EarlyDeferral.wouldStop(stop, Arrays.copyOf(logprobs, 3), new float[3], 48)).isFalse();
    EarlyDeferral.Condition broken = () -> (logprob, entropy) -> {
      throw new IllegalStateException("broken");
    };
    assertThat(EarlyDeferral.wouldStop(broken, logprobs, entropies, 48)).isFalse();
  }

  @Test
  void theLabelDrawIsUniformFixedAndIndependentOfTheExplorationDraw() {
    int n = 20_000;
    int below = 0;
    int both = 0;
    for (int i = 0; i < n; i++) {
      String id = "req-" + i;
      double d = EarlyDeferral.labelDraw(id);
      assertThat(d).isGreaterThanOrEqualTo(0.0).isLessThan(1.0).isEqualTo(EarlyDeferral.labelDraw(id));
      below += d < 0.1 ? 1 : 0;
      both += d < 0.1 && PolicyDecider.explorationDraw(id) < 0.1 ? 1 : 0;
    }
    // 10% ± 5 standard deviations (0.2 points), and about 1% drawn by both.
    assertThat(below).isBetween(1_790, 2_210);
    assertThat(both).isBetween(130, 270);
  }

  @Test
  void chowQuantileAtZeroIsExactAndOtherLevelsAreNot() {
    EarlyDeferral.Condition stop = EarlyDeferral.condition(new ChowQuantileRule(0.0),
        policy(ChowQuantileRule.NAME, 0, 2.0, 0, 0, null), true).orElseThrow();
    assertThat(stopsAt(stop, -0.1f, -2.0f, -0.1f)).isZero();
    assertThat(stopsAt(stop, -0.1f, -2.5f, -0.1f)).isEqualTo(2);
    assertThat(EarlyDeferral.isExact(new ChowQuantileRule(0.1))).isFalse();
    assertThat(EarlyDeferral.condition(new ChowQuantileRule(0.1), policy(ChowQuantileRule.NAME, 0.1, 2.0, 0, 0, null),
        true)).isEmpty();
  }

  @Test
  void nothingStopsUnderATargetRateOrWhenTheRouterTurnsItOff() {
    assertThat(EarlyDeferral.condition(new ChowSumRule(), policy(ChowSumRule.NAME, 0, 1.0, 0, 0.3, null), true))
        .isEmpty();
    assertThat(EarlyDeferral.condition(new ChowSumRule(), policy(ChowSumRule.NAME, 0, 1.0, 0, 0, null), false))
        .isEmpty();
    assertThat(EarlyDeferral.condition(new ChowAverageRule(), policy(ChowAverageRule.NAME, 0, 1.0, 0, 0, 0.5), false))
        .isEmpty();
  }

  @Test
  void underATargetRateAnExactRuleStopsOnlyAboveTheStopThresholdItIsGiven() {
    DeferralPolicy target = policy(ChowSumRule.NAME, 0, 1.0, 0, 0.3, null);
    assertThat(EarlyDeferral.condition(new ChowSumRule(), target, true, 4, Double.POSITIVE_INFINITY))
        .as("the controller's warm-up").isEmpty();
    EarlyDeferral.Condition stop = EarlyDeferral.condition(new ChowSumRule(), target, true, 4, 2.5).orElseThrow();
    // −Σ log p: 1.2 and 2.4, above the configured 1.0 but not the stop threshold 2.5; then 3.6.
    EarlyDeferral.Check check = stop.newCheck();
    assertThat(check.afterToken(-1.2f, 0f)).isFalse();
    assertThat(check.afterToken(-1.2f, 0f)).isFalse();
    assertThat(check.afterToken(-1.2f, 0f)).isTrue();
    assertThat(EarlyDeferral.condition(new ChowAverageRule(), policy(ChowAverageRule.NAME, 0, 1.0, 0, 0.3, 0.5), true,
        4, 2.5)).as("a margin rule under a target").isEmpty();
    assertThat(EarlyDeferral.condition(new ChowSumRule(), target, false, 4, 2.5)).as("turned off").isEmpty();
  }

  @Test
  void aRuleThatIsNotExactStopsOnlyWithAMarginAndOnlyAboveThresholdPlusMargin() {
    assertThat(EarlyDeferral.condition(new ChowAverageRule(), policy(ChowAverageRule.NAME, 0, 1.0, 0, 0, null), true))
        .isEmpty();
    EarlyDeferral.Condition stop = EarlyDeferral.condition(new ChowAverageRule(),
        policy(ChowAverageRule.NAME, 0, 1.0, 0, 0, 0.5), true).orElseThrow();
    // Asked every fourth token by default: mean 1.3 above the threshold, not above threshold + margin;
    // then 1.55 after four tokens.
    assertThat(stopsAt(stop, -1.2f, -1.4f, -1.2f, -1.4f)).isZero();
    assertThat(stopsAt(stop, -1.2f, -1.9f, -1.2f, -1.9f, -0.1f)).isEqualTo(4);
    EarlyDeferral.Condition everyToken = EarlyDeferral.condition(new ChowAverageRule(),
        policy(ChowAverageRule.NAME, 0, 1.0, 0, 0, 0.5), true, 1).orElseThrow();
    assertThat(stopsAt(everyToken, -1.2f, -1.9f, -0.1f)).isEqualTo(2);
  }

  /**
   * The score the outcome records as {@code small_stop_threshold} is the one the condition stops
   * above: the threshold for an exact rule, the controller's stop threshold under a target, the
   * threshold plus the margin for another rule; none where no condition is made.
   */
  @Test
  void theStopThresholdIsTheBoundTheConditionStopsAbove() {
    DeferralPolicy fixed = policy(ChowSumRule.NAME, 0, 1.0, 0, 0, null);
    assertThat(EarlyDeferral.stopThreshold(new ChowSumRule(), fixed, true, Double.POSITIVE_INFINITY))
        .hasValue(1.0);
    assertThat(EarlyDeferral.stopThreshold(new ChowSumRule(), fixed, false, Double.POSITIVE_INFINITY)).isEmpty();
    DeferralPolicy target = policy(ChowSumRule.NAME, 0, 1.0, 0, 0.3, null);
    assertThat(EarlyDeferral.stopThreshold(new ChowSumRule(), target, true, 2.5)).hasValue(2.5);
    assertThat(EarlyDeferral.stopThreshold(new ChowSumRule(), target, true, Double.POSITIVE_INFINITY)).isEmpty();
    assertThat(EarlyDeferral.stopThreshold(new ChowSumRule(), target, true, Double.NaN)).isEmpty();
    assertThat(EarlyDeferral.stopThreshold(new ChowAverageRule(), policy(ChowAverageRule.NAME, 0, 1.0, 0, 0, 0.5), true,
        Double.POSITIVE_INFINITY)).hasValue(1.5);
    assertThat(EarlyDeferral.stopThreshold(new ChowAverageRule(), policy(ChowAverageRule.NAME, 0, 1.0, 0, 0, null),
        true, Double.POSITIVE_INFINITY)).isEmpty();
    // The condition stops exactly above it: −Σ log p 2.4 is not above 2.5, 3.6 is.
    EarlyDeferral.Condition stop = EarlyDeferral.condition(new ChowSumRule(), target, true, 4,
        EarlyDeferral.stopThreshold(new ChowSumRule(), target, true, 2.5).getAsDouble()).orElseThrow();
    assertThat(stopsAt(stop, -1.2f, -1.2f, -1.2f)).isEqualTo(3);
  }

  @Test
  void aRuleThatNeedsTheEmbeddingNeverStops() {
    DeferralRule embedded = new DeferralRule() {
      @Override
      public String name() {
        return "needs-embedding";
      }

      @Override
      public double score(UncertaintyFeatures features) {
        return 10.0;
      }

      @Override
      public boolean usesEmbedding() {
        return true;
      }
    };
    assertThat(EarlyDeferral.condition(embedded, policy("needs-embedding", 0, 0.0, 0, 0, 0.0), true)).isEmpty();
  }

  @Test
  void logprobsTheRouterWouldRejectStopNothing() {
    EarlyDeferral.Condition stop = EarlyDeferral.condition(new ChowSumRule(),
        policy(ChowSumRule.NAME, 0, 0.5, 0, 0, null), true).orElseThrow();
    assertThat(stopsAt(stop, -0.1f, Float.NaN, -3f, -3f)).isZero();
    assertThat(stopsAt(stop, -0.1f, 0.5f, -3f)).isZero();
    // Entropies are checked too: the router could not score this generation either.
    assertThat(stopsAt(stop, new float[] {-0.1f, -3f, -3f}, new float[] {0.5f, Float.NaN, 0.5f})).isZero();
    assertThat(stopsAt(stop, new float[] {-0.1f, -3f, -3f}, new float[] {-1f, 0.5f, 0.5f})).isZero();
    // Float rounding within the tolerance is read as 0, as FeatureExtractor reads it, and stops nothing by itself.
    assertThat(stopsAt(stop, new float[] {5e-5f, -3f}, new float[] {-5e-5f, 0.5f})).isEqualTo(2);
  }

  /**
   * The exactness claim itself, on random generations, thresholds, exploration rates and request
   * ids: wherever an exact rule's condition stops a prefix, the decision on the whole generation
   * is DEFER, and the decision on the prefix (what the router decides from the stopped generation)
   * is the same, with the same propensity.
   */
  @Test
  void wheneverAnExactRuleStopsThePrefixAndTheWholeGenerationAreBothDeferred() {
    Random random = new Random(20261130);
    int stoppedPrefixes = 0;
    int notStopped = 0;
    for (int trial = 0; trial < 3_000; trial++) {
      int n = 1 + random.nextInt(48);
      float[] logprobs = new float[n];
      float[] entropies = new float[n];
      for (int t = 0; t < n; t++) {
        // Mostly confident tokens, some unsure ones, a few underflowed and a few float-rounding positives.
        double u = random.nextDouble();
        logprobs[t] = u < 0.02 ? Float.NEGATIVE_INFINITY : u < 0.05 ? 5e-5f
            : (float) -(random.nextDouble() < 0.2 ? 3 * random.nextDouble() : 0.05 * random.nextDouble());
        entropies[t] = (float) (2 * random.nextDouble());
      }
      DeferralRule rule = random.nextBoolean() ? new ChowSumRule() : new ChowQuantileRule(0.0);
      double wholeScore = rule.score(FeatureExtractor.extract(logprobs, entropies));
      // Thresholds around the whole score, sometimes exactly at it or at a prefix's score.
      double threshold = switch (random.nextInt(3)) {
        case 0 -> wholeScore;
        case 1 -> {
          int k = 1 + random.nextInt(n);
          yield rule.score(FeatureExtractor.extract(Arrays.copyOf(logprobs, k), Arrays.copyOf(entropies, k)));
        }
        default -> wholeScore * 2 * random.nextDouble();
      };
      double exploration = random.nextInt(4) * 0.25;
      String id = "request-" + trial;
      DeferralPolicy policy = policy(rule instanceof ChowSumRule ? ChowSumRule.NAME : ChowQuantileRule.NAME, 0,
          threshold, exploration, 0, null);
      EarlyDeferral.Condition stop = EarlyDeferral.condition(rule, policy, true).orElseThrow();
      Decision whole = PolicyDecider.decide(id, wholeScore, policy);
      boolean everStopped = false;
      EarlyDeferral.Check check = stop.newCheck();
      for (int k = 1; k <= n; k++) {
        float[] prefix = Arrays.copyOf(logprobs, k);
        float[] prefixEntropies = Arrays.copyOf(entropies, k);
        if (check.afterToken(logprobs[k - 1], entropies[k - 1])) {
          double prefixScore = rule.score(FeatureExtractor.extract(prefix, prefixEntropies));
          assertThat(whole).as("trial %d stopped at %d of %d", trial, k, n).isEqualTo(Decision.DEFER);
          assertThat(PolicyDecider.decide(id, prefixScore, policy)).isEqualTo(Decision.DEFER);
          everStopped = true;
          stoppedPrefixes++;
          break;
        }
      }
      if (!everStopped) {
        notStopped++;
        // And the other way: a generation that is deferred is stopped by its last token at the latest.
        assertThat(whole).as("trial %d", trial).isNotEqualTo(Decision.DEFER);
      }
    }
    assertThat(stoppedPrefixes).isGreaterThan(300);
    assertThat(notStopped).isGreaterThan(300);
  }

  /** A log-prob from anywhere a generator or a caller could put one, the awkward values often. */
  private static float awkwardLogprob(Random random) {
    return switch (random.nextInt(20)) {
      case 0 -> -0.0f;
      case 1 -> 0.0f;
      case 2 -> Float.MIN_VALUE; // float rounding above 0: read as 0
      case 3 -> -Float.MIN_VALUE;
      case 4 -> -Float.MIN_NORMAL;
      case 5 -> (float) (1e-4 * random.nextDouble()); // within the rounding tolerance
      case 6 -> Float.NEGATIVE_INFINITY; // floored to ln(Float.MIN_VALUE)
      case 7 -> -1e-7f * random.nextInt(4);
      case 8 -> -0.25f; // exact in binary: running sums tie with thresholds
      case 9 -> -(float) (20 * random.nextDouble());
      case 10 -> random.nextInt(30) == 0 ? Float.NaN : random.nextInt(30) == 0 ? 0.5f : -0.5f;
      default -> (float) -(random.nextDouble() < 0.2 ? 3 * random.nextDouble() : 0.05 * random.nextDouble());
    };
  }

  private static float awkwardEntropy(Random random) {
    return switch (random.nextInt(60)) {
      case 0 -> Float.NaN;
      case 1 -> -1f;
      case 2 -> Float.POSITIVE_INFINITY;
      case 3 -> -5e-5f; // float rounding below 0: read as 0
      case 4 -> -0.0f;
      default -> (float) (2 * random.nextDouble());
    };
  }

  /**
   * The running score against what it replaced: for Chow-Sum and Chow-Quantile(0), over random
   * generations full of ties, signed zeros, subnormals, underflowed and rejected values, and
   * thresholds set exactly on a prefix's recomputed score (so a running value one unit in the last
   * place off would stop one token early or late), the check stops after exactly the token where
   * recomputing the rule's score of the prefix from scratch after each token first exceeds it.
   */
  @Test
  void theRunningScoreStopsExactlyWhereRecomputingTheWholePrefixWould() {
    Random random = new Random(20261201);
    int stopped = 0;
    int tiesAtTheStop = 0;
    for (int trial = 0; trial < 20_000; trial++) {
      int n = 1 + random.nextInt(64);
      float[] logprobs = new float[n];
      float[] entropies = new float[n];
      for (int t = 0; t < n; t++) {
        logprobs[t] = awkwardLogprob(random);
        entropies[t] = awkwardEntropy(random);
      }
      DeferralRule rule = random.nextBoolean() ? new ChowSumRule() : new ChowQuantileRule(0.0);
      int k = 1 + random.nextInt(n);
      double prefixScore = EarlyDeferral.partialScore(rule, Arrays.copyOf(logprobs, k), Arrays.copyOf(entropies, k));
      double threshold = switch (random.nextInt(5)) {
        case 0 -> 0.0;
        case 1 -> -0.0;
        case 2 -> Double.isNaN(prefixScore) ? 1.0 : Math.nextDown(prefixScore);
        case 3 -> 30 * random.nextDouble();
        default -> Double.isNaN(prefixScore) ? 1.0 : prefixScore;
      };
      EarlyDeferral.Condition stop = EarlyDeferral.condition(rule,
          policy(rule instanceof ChowSumRule ? ChowSumRule.NAME : ChowQuantileRule.NAME, 0, threshold, 0, 0, null),
          true).orElseThrow();
      int expected = recomputedStop(rule, threshold, 1, logprobs, entropies);
      assertThat(stopsAt(stop, logprobs, entropies))
          .as("trial %d: %s at %s over %s / %s", trial, rule.name(), threshold, Arrays.toString(logprobs),
              Arrays.toString(entropies))
          .isEqualTo(expected);
      if (expected > 0) {
        stopped++;
        tiesAtTheStop += expected > 1 && EarlyDeferral.partialScore(rule, Arrays.copyOf(logprobs, expected - 1),
            Arrays.copyOf(entropies, expected - 1)) == threshold ? 1 : 0;
      }
    }
    // Both outcomes are common, and the threshold often sits exactly on the score just before a stop.
    assertThat(stopped).isBetween(3_000, 17_000);
    assertThat(tiesAtTheStop).isGreaterThan(500);
  }

  @Test
  void eachCheckKeepsItsOwnRequestsScore() {
    EarlyDeferral.Condition stop = EarlyDeferral.condition(new ChowSumRule(),
        policy(ChowSumRule.NAME, 0, 1.0, 0, 0, null), true).orElseThrow();
    EarlyDeferral.Check unsure = stop.newCheck();
    EarlyDeferral.Check sure = stop.newCheck();
    // Interleaved, as rows of one batch are told their tokens step by step.
    assertThat(unsure.afterToken(-0.6f, 0.5f)).isFalse();
    assertThat(sure.afterToken(-0.1f, 0.5f)).isFalse();
    assertThat(sure.afterToken(-0.1f, 0.5f)).isFalse();
    assertThat(unsure.afterToken(-0.6f, 0.5f)).isTrue();
    assertThat(sure.afterToken(-0.1f, 0.5f)).isFalse();
  }

  /**
   * With a margin the rule scores the prefix only after every {@code every}-th token: a rule that
   * records what it is asked sees prefixes of exactly every, 2·every, … tokens, and the check stops
   * at the first of those whose recomputed score exceeds the bound (not at a token in between where
   * it already did).
   */
  @Test
  void aRuleWithAMarginIsAskedOnlyEveryKthTokenAndStopsAtTheFirstOfThoseAboveTheBound() {
    List<Integer> asked = new java.util.ArrayList<>();
    DeferralRule recording = new DeferralRule() {
      @Override
      public String name() {
        return "recording";
      }

      @Override
      public double score(UncertaintyFeatures features) {
        asked.add(features.length());
        return -features.logprobMean();
      }
    };
    DeferralPolicy policy = policy("recording", 0, 1.0, 0, 0, 0.5);
    float[] logprobs = {-0.1f, -0.1f, -3f, -3f, -3f, -0.1f, -0.1f, -0.1f, -0.1f, -0.1f, -0.1f, -0.1f};
    float[] entropies = new float[logprobs.length];
    // Mean −log p after each token: 0.1, 0.1, 1.07, 1.55, 1.84, 1.55, 1.34, 1.19, ...; the bound is 1.5.
    assertThat(stopsAt(EarlyDeferral.condition(recording, policy, true, 1).orElseThrow(), logprobs, entropies))
        .isEqualTo(4);
    assertThat(asked).containsExactly(1, 2, 3, 4);
    asked.clear();
    assertThat(stopsAt(EarlyDeferral.condition(recording, policy, true, 3).orElseThrow(), logprobs, entropies))
        .isEqualTo(6);
    assertThat(asked).containsExactly(3, 6);
    asked.clear();
    // Asked after the 8th token alone (mean 1.19), so never stopped, though it was above the bound before.
    assertThat(stopsAt(EarlyDeferral.condition(recording, policy, true, 8).orElseThrow(), logprobs, entropies))
        .isZero();
    assertThat(asked).containsExactly(8);
    assertThatThrownBy(() -> EarlyDeferral.condition(recording, policy, true, 0))
        .isInstanceOf(IllegalArgumentException.class);
  }

  /** The every-k check against the recomputation it thins out, on random generations and intervals. */
  @Test
  void withAMarginTheCheckStopsWhereRecomputingAtEveryKthTokenWould() {
    Random random = new Random(7);
    int stopped = 0;
    for (int trial = 0; trial < 3_000; trial++) {
      int n = 1 + random.nextInt(40);
      float[] logprobs = new float[n];
      float[] entropies = new float[n];
      for (int t = 0; t < n; t++) {
        logprobs[t] = awkwardLogprob(random);
        entropies[t] = awkwardEntropy(random);
      }
      int every = 1 + random.nextInt(9);
      double threshold = 2 * random.nextDouble();
      double margin = 0.5 * random.nextDouble();
      DeferralRule rule = random.nextBoolean() ? new ChowAverageRule() : new ChowQuantileRule(0.5);
      EarlyDeferral.Condition stop = EarlyDeferral.condition(rule,
          policy(rule.name(), 0, threshold, 0, 0, margin), true, every).orElseThrow();
      int expected = recomputedStop(rule, threshold + margin, every, logprobs, entropies);
      assertThat(stopsAt(stop, logprobs, entropies)).as("trial %d", trial).isEqualTo(expected);
      stopped += expected > 0 ? 1 : 0;
    }
    assertThat(stopped).isBetween(300, 2_700);
  }
}
