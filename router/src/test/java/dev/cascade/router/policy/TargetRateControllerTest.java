package dev.cascade.router.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class TargetRateControllerTest {

  private static final String KEY = "chow-sum@0.0#v1";
  private static final DeferralPolicy TARGET_30 = policy(5.0, 0.3, 0.0);

  /** Scores drawn from one distribution. */
  private interface Scores {
    double next(SplittableRandom random);
  }

  /** An abrupt change of the score distribution. */
  private record Shift(String name, Scores before, Scores after) {}

  private static final List<Shift> SHIFTS = List.of(
      new Shift("normal, mean up 1.5 sd", normal(0, 1), normal(1.5, 1)),
      new Shift("normal, mean down 1.5 sd", normal(0, 1), normal(-1.5, 1)),
      new Shift("normal, mean up 2 sd", normal(0, 1), normal(2, 1)),
      new Shift("normal, mean down 1 sd", normal(0, 1), normal(-1, 1)),
      new Shift("normal, mean up 1 sd, spread x3", normal(0, 1), normal(1, 3)),
      new Shift("normal, mean down 1 sd, spread /3", normal(0, 1), normal(-1, 1.0 / 3)),
      new Shift("normal, spread x3", normal(0, 1), normal(0, 3)),
      new Shift("uniform, up 1.7 sd", uniform(0, 1), uniform(0.5, 1.5)),
      new Shift("uniform, down 1.7 sd", uniform(0, 1), uniform(-0.5, 0.5)));

  @Test
  void usesTheConfiguredThresholdUntilWarm() {
    TargetRateController controller = new TargetRateController(1000, 200);
    SplittableRandom random = new SplittableRandom(1);
    for (int i = 0; i < 199; i++) {
      controller.observe(TARGET_30, KEY, random.nextDouble(), false);
    }

    assertThat(controller.threshold(TARGET_30, KEY)).isEqualTo(5.0);
    controller.observe(TARGET_30, KEY, random.nextDouble(), false);
    assertThat(controller.threshold(TARGET_30, KEY)).isCloseTo(0.7, within(0.1));
    assertThat(controller.scoresSeen()).isEqualTo(200);
  }

  /**
   * Two controllers see the same 20,000 scores (exponential, target 0.3, then a shift of the mean
   * up by half): one whole, the other as early deferral leaves them, each score above the stop
   * threshold in force when its "batch" of 16 began cut to a prefix just past it. Hardly any
   * stopped request would have been accepted on its whole score by the threshold at its decision,
   * and the realised rate is the target's either way.
   */
  @Test
  void scoresCutShortAboveTheStopThresholdLeaveTheDecisionsAndTheRateAsWithWholeScores() {
    TargetRateController whole = new TargetRateController();
    TargetRateController cut = new TargetRateController();
    assertThat(cut.stopMargin()).isEqualTo(TargetRateController.DEFAULT_STOP_MARGIN);
    TargetRateController.Target target = TargetRateController.Target.of(TARGET_30);
    SplittableRandom random = new SplittableRandom(11);
    int n = 20_000;
    int warm = 1_000;
    int stopped = 0;
    int forced = 0;
    int[] escalated = new int[2];
    double stop = Double.POSITIVE_INFINITY;
    for (int i = 0; i < n; i++) {
      if (i % 16 == 0) {
        stop = cut.stopThresholdFor(target, KEY);
        if (i < TargetRateController.DEFAULT_MIN_OBSERVATIONS) {
          assertThat(stop).as("none stops during the warm-up").isEqualTo(Double.POSITIVE_INFINITY);
        } else {
          assertThat(stop).isGreaterThan(cut.thresholdFor(target, KEY));
        }
      }
      double score = -(i < n / 2 ? 1.0 : 1.5) * Math.log(1 - random.nextDouble());
      boolean stops = score > stop;
      double seen = stops ? stop + 0.01 * (score - stop) : score;
      boolean byWhole = score > whole.thresholdFor(target, KEY);
      boolean byItsScore = score > cut.thresholdFor(target, KEY);
      // A stopped request is deferred whatever the threshold says now.
      boolean byCut = stops || byItsScore;
      whole.observeFor(target, KEY, score, byWhole);
      cut.observeFor(target, KEY, seen, byCut);
      if (i >= warm) {
        forced += stops && !byItsScore ? 1 : 0;
        stopped += stops ? 1 : 0;
        escalated[0] += byWhole ? 1 : 0;
        escalated[1] += byCut ? 1 : 0;
      }
    }
    int decided = n - warm;
    assertThat(forced).as("stopped requests whose whole score is not above the threshold at their decision")
        .isLessThan(decided / 1000);
    assertThat(escalated[0] / (double) decided).isCloseTo(0.3, within(0.01));
    assertThat(escalated[1] / (double) decided).isCloseTo(0.3, within(0.01));
    // About 22.5% above the stop threshold on exponential scores: 7.5 of the 10 points kept whole.
    assertThat(stopped / (double) decided).isBetween(0.19, 0.25);
  }

  @Test
  void theStopThresholdIsTheConfiguredOneUnderAFixedThresholdAndNoneWhenTheMarginTakesTheWholeTarget() {
    TargetRateController controller = new TargetRateController(100, 10, 0.3);
    // (A margin of 0.3: the stop threshold reads the window 0.3 below the decision threshold.)
    SplittableRandom random = new SplittableRandom(3);
    for (int i = 0; i < 100; i++) {
      controller.observe(TARGET_30, KEY, random.nextDouble(), false);
    }
    assertThat(controller.stopThresholdFor(TargetRateController.Target.of(policy(0.8, 0.0, 0.0)), KEY))
        .isEqualTo(0.8);
    // Uniform scores: 0.5 above 0.5, 0.8 above 0.2, so 0.5 + (0.5 - 0.2).
    assertThat(controller.stopThresholdFor(TargetRateController.Target.of(policy(0.8, 0.5, 0.0)), KEY))
        .isCloseTo(0.8, within(0.1));
    assertThat(controller.stopThresholdFor(TargetRateController.Target.of(policy(0.8, 0.75, 0.0)), KEY))
        .as("the margin reaches the bottom of the window").isEqualTo(Double.POSITIVE_INFINITY);
    assertThat(controller.stopThresholdFor(TargetRateController.Target.of(TARGET_30), "another#v2"))
        .as("another rule's window").isEqualTo(Double.POSITIVE_INFINITY);
    assertThatThrownBy(() -> new TargetRateController(100, 10, 1.5)).hasMessageContaining("stopMargin");
    TargetRateController noMargin = new TargetRateController(100, 10, 0.0);
    for (int i = 0; i < 100; i++) {
      noMargin.observe(TARGET_30, KEY, i / 100.0, i % 10 < 3);
    }
    assertThat(noMargin.stopThresholdFor(TargetRateController.Target.of(TARGET_30), KEY))
        .as("no margin: the decision threshold itself").isEqualTo(noMargin.threshold(TARGET_30, KEY));
  }

  @Test
  void aFixedThresholdPolicyIsNeverOverriddenButItsScoresFillTheWindow() {
    TargetRateController controller = new TargetRateController(1000, 10);
    DeferralPolicy fixed = policy(5.0, 0.0, 0.05);
    run(controller, fixed, uniform(0, 1), 0, 1000, new SplittableRandom(2));

    assertThat(controller.threshold(fixed, KEY)).isEqualTo(5.0);
    assertThat(controller.observations()).isEqualTo(1000);
    assertThat(controller.threshold(TARGET_30, KEY)).isCloseTo(0.7, within(0.05));
  }

  @Test
  void aTargetOfOneEscalatesEverythingAndExplorationAboveTheTargetDefersNothing() {
    TargetRateController controller = new TargetRateController();
    DeferralPolicy all = policy(5.0, 1.0, 0.0);
    DeferralPolicy exploreOnly = policy(5.0, 0.1, 0.1);

    assertThat(controller.threshold(all, KEY)).isEqualTo(Double.NEGATIVE_INFINITY);
    assertThat(controller.threshold(exploreOnly, KEY)).isEqualTo(Double.POSITIVE_INFINITY);
    run(controller, TARGET_30, uniform(0, 1), 0, 1000, new SplittableRandom(3));
    assertThat(controller.threshold(all, KEY)).isEqualTo(Double.NEGATIVE_INFINITY);
    assertThat(controller.threshold(exploreOnly, KEY)).isEqualTo(Double.POSITIVE_INFINITY);
  }

  @Test
  void holdsTheTargetRateOnStationaryTraffic() {
    for (double exploration : new double[] {0.0, 0.05}) {
      TargetRateController controller = new TargetRateController();
      DeferralPolicy target = policy(5.0, 0.3, exploration);
      SplittableRandom random = new SplittableRandom(4);
      run(controller, target, uniform(0, 1), 0, 2_000, random);

      Run measured = run(controller, target, uniform(0, 1), 2_000, 10_000, random);

      assertThat(measured.rate(0, 10_000)).as("exploration %s", exploration).isCloseTo(0.3, within(0.005));
      // The score quantile that, with this exploration, escalates 30%.
      double quantile = 1 - (0.3 - exploration) / (1 - exploration);
      assertThat(controller.threshold(target, KEY)).isCloseTo(quantile, within(0.1));
    }
  }

  @Test
  void neitherDriftsNorOscillatesOnStationaryTraffic() {
    List<String> failures = new ArrayList<>();
    for (double exploration : new double[] {0.0, 0.05}) {
      // The fraction of scores to put above the threshold so that, with exploration, 30% escalate.
      double aim = (0.3 - exploration) / (1 - exploration);
      for (int seed = 1; seed <= 5; seed++) {
        TargetRateController controller = new TargetRateController();
        DeferralPolicy target = policy(5.0, 0.3, exploration);
        SplittableRandom random = new SplittableRandom(seed);
        run(controller, target, uniform(0, 1), 0, 1_000, random);
        Run measured = run(controller, target, uniform(0, 1), 1_000, 20_000, random);
        String run = String.format(Locale.ROOT, "exploration %s seed %d", exploration, seed);
        for (int w = 0; w < 20; w++) {
          double rate = measured.rate(w * 1000, (w + 1) * 1000);
          if (Math.abs(rate - 0.3) > 0.02) {
            failures.add(String.format(Locale.ROOT, "%s: rate %.3f in window %d", run, rate, w));
          }
        }
        // Uniform scores: the fraction above the threshold is 1 − threshold. The feedback moves it
        // with every decision (standard deviation about 0.034 by design), around the aim, no further.
        double[] above = new double[measured.thresholds.length];
        for (int i = 0; i < above.length; i++) {
          above[i] = 1 - measured.thresholds[i];
        }
        double mean = Arrays.stream(above).average().orElseThrow();
        double sd = Math.sqrt(Arrays.stream(above).map(a -> (a - mean) * (a - mean)).average().orElseThrow());
        Arrays.sort(above);
        double p1 = above[above.length / 100];
        double p99 = above[above.length * 99 / 100];
        if (Math.abs(mean - aim) > 0.01 || sd > 0.045 || p1 < aim - 0.12 || p99 > aim + 0.12) {
          failures.add(String.format(Locale.ROOT, "%s: fraction above the threshold mean %.3f sd %.3f, 1st-99th percentile"
              + " [%.3f, %.3f], aim %.3f", run, mean, sd, p1, p99, aim));
        }
        if (controller.shiftsDetected() != 0) {
          failures.add(run + ": a shift detected in stationary traffic");
        }
      }
    }
    assertThat(failures).isEmpty();
  }

  @Test
  void holdsTheTargetRateAfterAnAbruptShiftInEitherDirection() {
    List<String> results = new ArrayList<>();
    List<String> failures = new ArrayList<>();
    for (Shift shift : SHIFTS) {
      for (double exploration : new double[] {0.0, 0.05}) {
        for (int seed = 1; seed <= 5; seed++) {
          TargetRateController controller = new TargetRateController();
          DeferralPolicy target = policy(5.0, 0.3, exploration);
          SplittableRandom random = new SplittableRandom(seed);
          int at = 3_000;
          run(controller, target, shift.before(), 0, at, random);

          Run after = run(controller, target, shift.after(), at, 2_000, random);

          double rate = after.rate(1_000, 2_000);
          String line = String.format(Locale.ROOT, "%s, exploration %s, seed %d: %.3f over [shift+1000, shift+2000)",
              shift.name(), exploration, seed, rate);
          results.add(line);
          if (Math.abs(rate - 0.3) > 0.02) {
            failures.add(line);
          }
        }
      }
    }
    assertThat(failures).as(String.join("\n", results)).isEmpty();
  }

  @Test
  void aDetectedShiftCutsTheWindowBackToTheScoresAfterIt() {
    TargetRateController controller = new TargetRateController();
    SplittableRandom random = new SplittableRandom(6);
    run(controller, TARGET_30, normal(0, 1), 0, 3_000, random);
    assertThat(controller.observations()).isEqualTo(1000);

    run(controller, TARGET_30, normal(10, 1), 3_000, 100, random);

    // The change is dated to the start of the alarming test's run: about the shift, give or take a few.
    assertThat(controller.shiftsDetected()).isEqualTo(1);
    assertThat(controller.observations()).isBetween(90L, 110L);
    assertThat(controller.threshold(TARGET_30, KEY)).isBetween(9.0, 11.5);
  }

  @Test
  void holdsTheTargetRateThroughTies() {
    // 60% of the scores are exactly 0: a target of 0.3 puts the threshold among the other scores,
    // 0.5 inside the block of zeros (only alternating across it reaches the target).
    Scores tied = r -> r.nextDouble() < 0.6 ? 0.0 : r.nextDouble();
    for (double target : new double[] {0.3, 0.5}) {
      TargetRateController controller = new TargetRateController();
      DeferralPolicy policy = policy(5.0, target, 0.0);
      SplittableRandom random = new SplittableRandom(7);
      run(controller, policy, tied, 0, 1_000, random);

      Run measured = run(controller, policy, tied, 1_000, 5_000, random);

      assertThat(measured.rate(0, 5_000)).as("target %s", target).isCloseTo(target, within(0.01));
    }
    // Every score equal: only alternating between the value and −∞ reaches the target.
    TargetRateController controller = new TargetRateController();
    SplittableRandom random = new SplittableRandom(8);
    run(controller, TARGET_30, r -> 1.0, 0, 1_000, random);
    assertThat(run(controller, TARGET_30, r -> 1.0, 1_000, 5_000, random).rate(0, 5_000))
        .isCloseTo(0.3, within(0.01));
  }

  @Test
  void anotherRuleKeyStartsAFreshWindow() {
    TargetRateController controller = new TargetRateController(1000, 100);
    run(controller, TARGET_30, uniform(0, 1), 0, 500, new SplittableRandom(11));
    DeferralPolicy otherRule = policy("chow-average", 0.25, 0.3, 0.0);
    String newVersion = "chow-sum@0.0#v2";

    assertThat(controller.threshold(otherRule, "chow-average@0.0#v1")).isEqualTo(0.25);
    assertThat(controller.threshold(TARGET_30, newVersion)).isEqualTo(5.0);

    controller.observe(TARGET_30, newVersion, 3.0, false);

    assertThat(controller.observations()).isEqualTo(1);
    assertThat(controller.scoresSeen()).isEqualTo(1);
    assertThat(controller.threshold(TARGET_30, newVersion)).isEqualTo(5.0);
    assertThat(controller.threshold(TARGET_30, KEY)).isEqualTo(5.0);
    run(controller, TARGET_30, uniform(10, 11), newVersion, 1, 99, new SplittableRandom(12));
    assertThat(controller.threshold(TARGET_30, newVersion)).isCloseTo(10.7, within(0.1));
  }

  @Test
  void aNewPolicyVersionWithTheSameRuleKeyKeepsTheWindow() {
    TargetRateController controller = new TargetRateController(1000, 100);
    run(controller, TARGET_30, uniform(0, 1), 0, 500, new SplittableRandom(13));
    DeferralPolicy retuned = policy("chow-sum", 9.0, 0.5, 0.0);

    controller.observe(retuned, KEY, 0.5, false);

    assertThat(controller.observations()).isEqualTo(501);
    assertThat(controller.threshold(retuned, KEY)).isCloseTo(0.5, within(0.05));
  }

  @Test
  void resetForgetsEverything() {
    TargetRateController controller = new TargetRateController(1000, 100);
    run(controller, TARGET_30, uniform(0, 1), 0, 500, new SplittableRandom(14));

    controller.reset();

    assertThat(controller.observations()).isZero();
    assertThat(controller.scoresSeen()).isZero();
    assertThat(controller.threshold(TARGET_30, KEY)).isEqualTo(5.0);
  }

  @Test
  void isDeterministic() {
    Run first = run(new TargetRateController(), TARGET_30, normal(0, 1), 0, 5_000, new SplittableRandom(15));
    Run second = run(new TargetRateController(), TARGET_30, normal(0, 1), 0, 5_000, new SplittableRandom(15));

    assertThat(second.thresholds).isEqualTo(first.thresholds);
  }

  @Test
  void concurrentCallersLoseNoScoreAndHoldTheRateTogether() throws Exception {
    TargetRateController controller = new TargetRateController();
    int threads = 8;
    int each = 5_000;
    AtomicLong escalated = new AtomicLong();
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    CountDownLatch start = new CountDownLatch(1);
    List<Future<?>> futures = new ArrayList<>();
    try {
      for (int t = 0; t < threads; t++) {
        int thread = t;
        futures.add(pool.submit(() -> {
          SplittableRandom random = new SplittableRandom(thread);
          start.await();
          for (int i = 0; i < each; i++) {
            double score = random.nextDouble();
            double threshold = controller.threshold(TARGET_30, KEY);
            boolean up = PolicyDecider.decide("t" + thread + "-" + i, score, threshold, 0.0).escalates();
            controller.observe(TARGET_30, KEY, score, up);
            if (up) {
              escalated.incrementAndGet();
            }
          }
          return null;
        }));
      }
      start.countDown();
      for (Future<?> future : futures) {
        future.get(60, TimeUnit.SECONDS);
      }
    } finally {
      pool.shutdownNow();
    }

    assertThat(controller.scoresSeen()).isEqualTo((long) threads * each);
    // The first 200 decisions (warm-up) used the configured threshold, 5.0: none escalated.
    assertThat(escalated.get() / (double) (threads * each - 200)).isCloseTo(0.3, within(0.01));
    assertThat(controller.threshold(TARGET_30, KEY)).isCloseTo(0.7, within(0.1));
  }

  @Test
  void rejectsBadSettingsAndScoresNamingThem() {
    assertThatThrownBy(() -> new TargetRateController(9, 1)).hasMessageContaining("window");
    assertThatThrownBy(() -> new TargetRateController(1000, 0)).hasMessageContaining("minObservations");
    assertThatThrownBy(() -> new TargetRateController(1000, 1001)).hasMessageContaining("minObservations");
    assertThatThrownBy(() -> new TargetRateController().observe(TARGET_30, KEY, Double.NaN, false))
        .hasMessageContaining("score");
    assertThatThrownBy(() -> new TargetRateController().observe(TARGET_30, KEY, Double.POSITIVE_INFINITY, true))
        .hasMessageContaining("score");
    assertThatThrownBy(() -> new TargetRateController().threshold(TARGET_30, null)).hasMessageContaining("ruleKey");
    assertThatThrownBy(() -> new TargetRateController().observe(null, KEY, 0.5, false)).hasMessageContaining("policy");
  }

  @Test
  void holdsTheTargetOverSkippedAndScoredRequestsTogether() {
    for (double skipped : new double[] {0.1, 0.25}) {
      TargetRateController controller = new TargetRateController();
      SplittableRandom random = new SplittableRandom(7);
      withSkips(controller, skipped, 0.0, 2_000, random); // warm, nothing skipped
      withSkips(controller, skipped, skipped, 1_000, random); // the skip rule comes in: followed

      int[] measured = withSkips(controller, skipped, skipped, 10_000, random);

      double total = (measured[0] + measured[2]) / 10_000.0;
      assertThat(total).as("skipped %s: realised rate over all requests", skipped).isCloseTo(0.3, within(0.01));
      assertThat(measured[2] / (double) measured[1]).as("skipped %s: rate among scored requests", skipped)
          .isCloseTo((0.3 - skipped) / (1 - skipped), within(0.02));
      assertThat(controller.skippedShare()).isCloseTo(skipped, within(0.08));
    }
    // Skipping more than the target: no scored request is deferred (the skip alone overshoots).
    TargetRateController controller = new TargetRateController();
    SplittableRandom random = new SplittableRandom(8);
    withSkips(controller, 0.4, 0.0, 2_000, random);
    withSkips(controller, 0.4, 0.4, 1_000, random);
    int[] measured = withSkips(controller, 0.4, 0.4, 5_000, random);
    assertThat(measured[2] / (double) measured[1]).isLessThan(0.01);
  }

  /**
   * {@code n} requests on {@link #TARGET_30} with uniform scores, each skipped with probability
   * {@code share} (reported with {@link TargetRateController#observeSkipped}) or else decided as
   * the router does; returns {skipped, scored, scored and escalated}.
   */
  private static int[] withSkips(TargetRateController controller, double label, double share, int n,
      SplittableRandom random) {
    int[] counts = new int[3];
    for (int i = 0; i < n; i++) {
      if (random.nextDouble() < share) {
        controller.observeSkipped(TARGET_30, KEY);
        counts[0]++;
        continue;
      }
      double score = random.nextDouble();
      double threshold = controller.threshold(TARGET_30, KEY);
      Decision decision = PolicyDecider.decide("s" + label + "-" + i, score, threshold, 0.0);
      controller.observe(TARGET_30, KEY, score, decision.escalates());
      counts[1]++;
      counts[2] += decision.escalates() ? 1 : 0;
    }
    return counts;
  }

  /** What a run of closed-loop decisions did: escalated or not, and the threshold applied, per request. */
  private static final class Run {
    final boolean[] escalated;
    final double[] thresholds;

    Run(int n) {
      escalated = new boolean[n];
      thresholds = new double[n];
    }

    double rate(int from, int to) {
      int count = 0;
      for (int i = from; i < to; i++) {
        count += escalated[i] ? 1 : 0;
      }
      return count / (double) (to - from);
    }
  }

  private static Run run(TargetRateController controller, DeferralPolicy policy, Scores scores, int firstId, int n,
      SplittableRandom random) {
    return run(controller, policy, scores, KEY, firstId, n, random);
  }

  /**
   * {@code n} requests, ids {@code "r" + firstId} on, as the router decides them: threshold, then
   * {@link PolicyDecider#decide}, then observe.
   */
  private static Run run(TargetRateController controller, DeferralPolicy policy, Scores scores, String ruleKey,
      int firstId, int n, SplittableRandom random) {
    Run run = new Run(n);
    for (int i = 0; i < n; i++) {
      double score = scores.next(random);
      double threshold = controller.threshold(policy, ruleKey);
      Decision decision = PolicyDecider.decide("r" + (firstId + i), score, threshold, policy.explorationRate());
      controller.observe(policy, ruleKey, score, decision.escalates());
      run.escalated[i] = decision.escalates();
      run.thresholds[i] = threshold;
    }
    return run;
  }

  private static Scores normal(double mean, double sd) {
    return random -> mean + sd * random.nextGaussian();
  }

  private static Scores uniform(double low, double high) {
    return random -> random.nextDouble(low, high);
  }

  /** A policy on chow-sum at α = 0. */
  private static DeferralPolicy policy(double threshold, double target, double exploration) {
    return policy("chow-sum", threshold, target, exploration);
  }

  /** The one place that builds policies, so that fields the record gains touch only this line. */
  private static DeferralPolicy policy(String rule, double threshold, double target, double exploration) {
    return new DeferralPolicy(rule, 0.0, threshold, exploration, target, 1, "test", 1, "test");
  }
}
