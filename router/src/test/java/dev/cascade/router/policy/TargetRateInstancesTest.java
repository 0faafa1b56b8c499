package dev.cascade.router.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Each router instance holds the target rate with its own controller, on the requests its
 * partitions bring (spread by request id). The rate over all instances holds when instances are
 * added or removed: a new instance starts cold (the policy's threshold until it has seen {@code
 * minObservations} scores), a removed one's traffic moves to the others.
 */
class TargetRateInstancesTest {

  private static final DeferralPolicy TARGET = new DeferralPolicy("chow-sum", 0.0, 0.5, 0.05, 0.3, 1, "test", 0, "");

  @Test
  void theRateOverAllInstancesHoldsAsInstancesComeAndGo() {
    for (long seed = 1; seed <= 5; seed++) {
      SplittableRandom random = new SplittableRandom(seed);
      List<TargetRateController> instances = new ArrayList<>(List.of(new TargetRateController(),
          new TargetRateController()));
      int escalated = 0;
      int counted = 0;
      for (int i = 0; i < 12_000; i++) {
        if (i == 4_000) {
          instances.add(new TargetRateController()); // scale out: a cold third instance
        }
        if (i == 8_000) {
          instances.remove(0); // scale in: its partitions move to the others
        }
        TargetRateController owner = instances.get(Math.floorMod(("r" + i).hashCode(), instances.size()));
        double score = random.nextGaussian();
        double threshold = owner.threshold(TARGET, "chow-sum");
        Decision d = PolicyDecider.decide("r" + i, score, threshold, TARGET.explorationRate());
        owner.observe(TARGET, "chow-sum", score, d.escalates());
        // Measured over the 1,000 requests that begin 1,000 after each change (and after warm-up).
        if (i >= 1_000 && i % 4_000 >= 1_000 && i % 4_000 < 2_000) {
          escalated += d.escalates() ? 1 : 0;
          counted++;
        }
      }
      assertThat(escalated / (double) counted).as("seed " + seed).isCloseTo(0.3, within(0.02));
    }
  }
}
