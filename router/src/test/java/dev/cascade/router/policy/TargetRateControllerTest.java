package dev.cascade.router.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class TargetRateControllerTest {

  private static final DeferralPolicy TARGET_30 = policy("chow-sum", 5.0, 0.3);

  @Test
  void usesTheConfiguredThresholdUntilWarm() {
    TargetRateController controller = new TargetRateController(1000, 10, 200);
    SplittableRandom random = new SplittableRandom(1);
    for (int i = 0; i < 199; i++) {
      controller.observe(TARGET_30, random.nextDouble());
    }

    assertThat(controller.threshold(TARGET_30)).isEqualTo(5.0);
    controller.observe(TARGET_30, random.nextDouble());
    assertThat(controller.threshold(TARGET_30)).isLessThan(1.0);
  }

  @Test
  void aFixedThresholdPolicyIsNeverOverridden() {
    TargetRateController controller = new TargetRateController(1000, 10, 10);
    DeferralPolicy fixed = policy("chow-sum", 5.0, 0.0);
    feedUniform(controller, fixed, 0, 1, 1000, 2);

    assertThat(controller.threshold(fixed)).isEqualTo(5.0);
  }

  @Test
  void holdsTheTargetRateOnStationaryTraffic() {
    TargetRateController controller = new TargetRateController();
    feedUniform(controller, TARGET_30, 0, 1, 20_000, 3);

    double threshold = controller.threshold(TARGET_30);

    assertThat(threshold).isCloseTo(0.7, within(0.02));
    SplittableRandom fresh = new SplittableRandom(4);
    int escalated = 0;
    for (int i = 0; i < 10_000; i++) {
      if (PolicyDecider.decide("r" + i, fresh.nextDouble(), threshold, 0.0) == Decision.DEFER) {
        escalated++;
      }
    }
    assertThat(escalated / 10_000.0).isCloseTo(0.3, within(0.03));
  }

  @Test
  void followsAShiftInTrafficWithinOneWindow() {
    TargetRateController controller = new TargetRateController(10_000, 10, 500);
    feedUniform(controller, TARGET_30, 0, 1, 10_000, 5);
    assertThat(controller.threshold(TARGET_30)).isCloseTo(0.7, within(0.02));

    feedUniform(controller, TARGET_30, 10, 11, 5_000, 6);
    double halfway = controller.threshold(TARGET_30);
    feedUniform(controller, TARGET_30, 10, 11, 5_000, 7);

    assertThat(halfway).isBetween(1.0, 10.7);
    assertThat(controller.threshold(TARGET_30)).isCloseTo(10.7, within(0.02));
  }

  @Test
  void theWindowSlidesByWholeBuckets() {
    TargetRateController controller = new TargetRateController(1000, 4, 10);
    feedUniform(controller, TARGET_30, 0, 1, 1000, 8);
    assertThat(controller.observations()).isEqualTo(1000);

    controller.observe(TARGET_30, 0.5);

    assertThat(controller.observations()).isEqualTo(751);
    feedUniform(controller, TARGET_30, 0, 1, 5000, 9);
    assertThat(controller.observations()).isBetween(750L, 1000L);
  }

  @Test
  void aTargetOfOneEscalatesEverything() {
    TargetRateController controller = new TargetRateController(100, 10, 10);
    DeferralPolicy all = policy("chow-sum", 5.0, 1.0);
    feedUniform(controller, all, 0, 1, 100, 10);

    assertThat(controller.threshold(all)).isEqualTo(Double.NEGATIVE_INFINITY);
  }

  @Test
  void anotherRuleStartsAFreshWindow() {
    TargetRateController controller = new TargetRateController(1000, 10, 100);
    feedUniform(controller, TARGET_30, 0, 1, 500, 11);
    DeferralPolicy otherRule = policy("chow-average", 0.25, 0.3);
    DeferralPolicy otherAlpha =
        new DeferralPolicy("chow-sum", 0.5, 5.0, 0.0, 0.3, 1, "test", 1, "test");

    assertThat(controller.threshold(otherRule)).isEqualTo(0.25);
    assertThat(controller.threshold(otherAlpha)).isEqualTo(5.0);

    controller.observe(otherRule, 3.0);

    assertThat(controller.observations()).isEqualTo(1);
    assertThat(controller.threshold(otherRule)).isEqualTo(0.25);
    assertThat(controller.threshold(TARGET_30)).isEqualTo(5.0);
  }

  @Test
  void aNewThresholdOrVersionOfTheSameRuleKeepsTheWindow() {
    TargetRateController controller = new TargetRateController(1000, 10, 100);
    feedUniform(controller, TARGET_30, 0, 1, 500, 12);
    DeferralPolicy retuned = new DeferralPolicy("chow-sum", 0.0, 9.0, 0.1, 0.5, 2, "op", 2, "more");

    controller.observe(retuned, 0.5);

    assertThat(controller.observations()).isEqualTo(501);
    assertThat(controller.threshold(retuned)).isCloseTo(0.5, within(0.05));
  }

  @Test
  void resetForgetsEverything() {
    TargetRateController controller = new TargetRateController(1000, 10, 100);
    feedUniform(controller, TARGET_30, 0, 1, 500, 13);

    controller.reset();

    assertThat(controller.observations()).isZero();
    assertThat(controller.threshold(TARGET_30)).isEqualTo(5.0);
  }

  @Test
  void concurrentObserversLoseNoScore() throws Exception {
    TargetRateController controller = new TargetRateController(100_000, 10, 100);
    int threads = 8;
    int each = 5_000;
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    CountDownLatch start = new CountDownLatch(1);
    List<Future<?>> futures = new ArrayList<>();
    try {
      for (int t = 0; t < threads; t++) {
        int seed = t;
        futures.add(
            pool.submit(
                () -> {
                  SplittableRandom random = new SplittableRandom(seed);
                  start.await();
                  for (int i = 0; i < each; i++) {
                    controller.observe(TARGET_30, random.nextDouble());
                    if (i % 100 == 0) {
                      controller.threshold(TARGET_30);
                    }
                  }
                  return null;
                }));
      }
      start.countDown();
      for (Future<?> future : futures) {
        future.get(30, TimeUnit.SECONDS);
      }
    } finally {
      pool.shutdownNow();
    }

    assertThat(controller.observations()).isEqualTo((long) threads * each);
    assertThat(controller.threshold(TARGET_30)).isCloseTo(0.7, within(0.02));
  }

  @Test
  void rejectsBadSettingsAndScoresNamingThem() {
    assertThatThrownBy(() -> new TargetRateController(1000, 1, 10)).hasMessageContaining("buckets");
    assertThatThrownBy(() -> new TargetRateController(1001, 10, 10)).hasMessageContaining("window");
    assertThatThrownBy(() -> new TargetRateController(1000, 10, 0))
        .hasMessageContaining("minObservations");
    assertThatThrownBy(() -> new TargetRateController(1000, 10, 1001))
        .hasMessageContaining("minObservations");
    assertThatThrownBy(() -> new TargetRateController().observe(TARGET_30, Double.NaN))
        .hasMessageContaining("score");
  }

  private static void feedUniform(
      TargetRateController controller, DeferralPolicy policy, double low, double high, int n, long seed) {
    SplittableRandom random = new SplittableRandom(seed);
    for (int i = 0; i < n; i++) {
      controller.observe(policy, random.nextDouble(low, high));
    }
  }

  private static DeferralPolicy policy(String rule, double threshold, double target) {
    return new DeferralPolicy(rule, 0.0, threshold, 0.0, target, 1, "test", 1, "test");
  }
}
