package dev.cascade.router.policy;

import static org.assertj.core.api.Assertions.assertThat;

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

  private static boolean stops(EarlyDeferral.Condition stop, float... logprobs) {
    float[] entropies = new float[logprobs.length];
    Arrays.fill(entropies, 0.5f);
    return stop.shouldStop(logprobs, entropies);
  }

  @Test
  void chowSumStopsOnlyOnceTheRunningScoreIsStrictlyAboveTheThreshold() {
    EarlyDeferral.Condition stop = EarlyDeferral.condition(new ChowSumRule(),
        policy(ChowSumRule.NAME, 0, 1.5, 0, 0, null), true).orElseThrow();
    assertThat(stops(stop, -0.5f, -0.5f)).isFalse();
    // A score equal to the threshold is accepted (defer only when greater), so it must not stop.
    assertThat(stops(stop, -0.5f, -0.5f, -0.5f)).isFalse();
    assertThat(stops(stop, -0.5f, -0.5f, -0.5f, -0.001f)).isTrue();
    assertThat(EarlyDeferral.isExact(new ChowSumRule())).isTrue();
  }

  @Test
  void chowQuantileAtZeroIsExactAndOtherLevelsAreNot() {
    EarlyDeferral.Condition stop = EarlyDeferral.condition(new ChowQuantileRule(0.0),
        policy(ChowQuantileRule.NAME, 0, 2.0, 0, 0, null), true).orElseThrow();
    assertThat(stops(stop, -0.1f, -2.0f, -0.1f)).isFalse();
    assertThat(stops(stop, -0.1f, -2.5f)).isTrue();
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
  void aRuleThatIsNotExactStopsOnlyWithAMarginAndOnlyAboveThresholdPlusMargin() {
    assertThat(EarlyDeferral.condition(new ChowAverageRule(), policy(ChowAverageRule.NAME, 0, 1.0, 0, 0, null), true))
        .isEmpty();
    EarlyDeferral.Condition stop = EarlyDeferral.condition(new ChowAverageRule(),
        policy(ChowAverageRule.NAME, 0, 1.0, 0, 0, 0.5), true).orElseThrow();
    assertThat(stops(stop, -1.2f, -1.4f)).isFalse(); // mean 1.3: above the threshold, not above threshold + margin
    assertThat(stops(stop, -1.2f, -1.9f)).isTrue(); // mean 1.55
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
    assertThat(stops(stop, -3f, Float.NaN)).isFalse();
    assertThat(stops(stop, -3f, 0.5f)).isFalse();
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
      for (int k = 1; k <= n; k++) {
        float[] prefix = Arrays.copyOf(logprobs, k);
        float[] prefixEntropies = Arrays.copyOf(entropies, k);
        if (stop.shouldStop(prefix, prefixEntropies)) {
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
}
