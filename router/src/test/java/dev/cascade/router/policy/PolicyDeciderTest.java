package dev.cascade.router.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

class PolicyDeciderTest {

  private static final DeferralPolicy NO_EXPLORATION = policy(1.0, 0.0);

  @Test
  void defersStrictlyAboveTheThreshold() {
    assertThat(PolicyDecider.decide("r1", 1.5, NO_EXPLORATION)).isEqualTo(Decision.DEFER);
    assertThat(PolicyDecider.decide("r1", 1.0, NO_EXPLORATION)).isEqualTo(Decision.ACCEPT);
    assertThat(PolicyDecider.decide("r1", -7.0, NO_EXPLORATION)).isEqualTo(Decision.ACCEPT);
  }

  @Test
  void aGenerationThatStoppedEarlyIsDeferredWhateverItsScore() {
    assertThat(PolicyDecider.decide("r1", 0.5, 1.0, 0.0, true)).isEqualTo(Decision.DEFER);
    assertThat(PolicyDecider.decide("r1", 0.5, 1.0, 1.0, true)).as("deferred, not explored").isEqualTo(Decision.DEFER);
    assertThat(PolicyDecider.decide("r1", 0.5, 1.0, 0.0, false)).isEqualTo(Decision.ACCEPT);
  }

  @Test
  void aDeferredRequestIsNeverCountedAsExplored() {
    for (int i = 0; i < 1000; i++) {
      assertThat(PolicyDecider.decide("req-" + i, 2.0, policy(1.0, 1.0))).isEqualTo(Decision.DEFER);
    }
  }

  @Test
  void rateOneExploresEveryAcceptedRequestAndRateZeroNone() {
    for (int i = 0; i < 1000; i++) {
      assertThat(PolicyDecider.decide("req-" + i, 0.0, policy(1.0, 1.0))).isEqualTo(Decision.EXPLORE);
      assertThat(PolicyDecider.decide("req-" + i, 0.0, policy(1.0, 0.0))).isEqualTo(Decision.ACCEPT);
    }
  }

  @Test
  void explorationIsDecidedByTheRequestIdAlone() {
    DeferralPolicy policy = policy(1.0, 0.5);
    for (int i = 0; i < 200; i++) {
      String id = "req-" + i;
      Decision first = PolicyDecider.decide(id, 0.3, policy);
      assertThat(PolicyDecider.decide(new String(id.toCharArray()), 0.3, policy)).isEqualTo(first);
      assertThat(PolicyDecider.decide(id, -2.0, policy)).isEqualTo(first);
    }
  }

  @Test
  void theDrawIsPinnedSoReplaysAcrossVersionsAgree() {
    // Changing the hash would make a replay after an upgrade explore different requests.
    assertThat(PolicyDecider.explorationDraw("req-0")).isEqualTo(PINNED_REQ_0);
    assertThat(PolicyDecider.explorationDraw("")).isEqualTo(PINNED_EMPTY);
  }

  @Test
  void theExploredFractionMatchesTheRateOnSequentialIds() {
    int n = 100_000;
    int explored = 0;
    for (int i = 0; i < n; i++) {
      if (PolicyDecider.decide("req-" + i, 0.0, policy(1.0, 0.05)) == Decision.EXPLORE) {
        explored++;
      }
    }

    // Binomial(100000, 0.05) has sd ≈ 0.0007; 0.003 is over four of them.
    assertThat((double) explored / n).isCloseTo(0.05, within(0.003));
  }

  @Test
  void requestsExploredAtALowerRateAreExploredAtEveryHigherOne() {
    for (int i = 0; i < 10_000; i++) {
      String id = "x" + i;
      if (PolicyDecider.decide(id, 0.0, policy(1.0, 0.1)) == Decision.EXPLORE) {
        assertThat(PolicyDecider.decide(id, 0.0, policy(1.0, 0.2))).isEqualTo(Decision.EXPLORE);
      }
    }
  }

  @Test
  void drawsLieInTheUnitInterval() {
    for (int i = 0; i < 10_000; i++) {
      assertThat(PolicyDecider.explorationDraw("id/" + i)).isGreaterThanOrEqualTo(0.0).isLessThan(1.0);
    }
  }

  @Test
  void anExplicitThresholdOverridesThePolicys() {
    assertThat(PolicyDecider.decide("r", 0.5, 0.4, 0.0)).isEqualTo(Decision.DEFER);
    assertThat(PolicyDecider.decide("r", -1e300, Double.NEGATIVE_INFINITY, 0.0))
        .isEqualTo(Decision.DEFER);
  }

  @Test
  void aNaNScoreIsRejectedNamingTheRequest() {
    assertThatThrownBy(() -> PolicyDecider.decide("req-9", Double.NaN, NO_EXPLORATION))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("'req-9'");
  }

  @Test
  void onlyDeferAndExploreEscalate() {
    assertThat(Decision.ACCEPT.escalates()).isFalse();
    assertThat(Decision.DEFER.escalates()).isTrue();
    assertThat(Decision.EXPLORE.escalates()).isTrue();
  }

  private static final double PINNED_REQ_0 = 0.06461446389127734;
  private static final double PINNED_EMPTY = 0.93676944839044;

  private static DeferralPolicy policy(double threshold, double explorationRate) {
    return new DeferralPolicy(
        "chow-sum", 0.0, threshold, explorationRate, 0.0, 1, "test", 1, "test");
  }
}
