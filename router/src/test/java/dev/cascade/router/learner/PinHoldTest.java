package dev.cascade.router.learner;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.policy.DeferralPolicy;
import org.junit.jupiter.api.Test;

/** Which policies in force hold against the learner's ({@code learn.respect-pins}). */
class PinHoldTest {

  private static final String LEARNS = "posthoc-quantile";

  private static DeferralPolicy policy(String by, String rule, double alpha, Long version) {
    return new DeferralPolicy(rule, alpha, 0.5, 0.05, 0.3, 7, by, 1L, "test", version, java.util.List.of(),
        "chow-sum", null);
  }

  @Test
  void anOperatorsVersionPinHolds() {
    assertThat(PinHold.reason(policy("admin@127.0.0.1", LEARNS, 0, 3L), LEARNS))
        .isEqualTo("policy v7 (updated_by admin@127.0.0.1) pins posthoc-quantile@3");
    // The shipped version 0 is a version too: a rollback to it holds.
    assertThat(PinHold.reason(policy("admin@10.0.0.2", LEARNS, 0, 0L), LEARNS)).contains("pins posthoc-quantile@0");
    // A pin in the configuration (policy.rule=NAME@VERSION while the topic holds no policy) holds.
    assertThat(PinHold.reason(policy("config", LEARNS, 0, 2L), LEARNS)).contains("pins posthoc-quantile@2");
  }

  @Test
  void theLearnersOwnPublicationIsReplacedAsBefore() {
    assertThat(PinHold.reason(policy(PinHold.LEARNER, LEARNS, 0, 4L), LEARNS)).isNull();
  }

  @Test
  void aPolicyNamingAnotherLearnedRuleHoldsWhoeverWroteIt() {
    assertThat(PinHold.reason(policy("admin@127.0.0.1", "posthoc-embed", 0, null), LEARNS))
        .isEqualTo("policy v7 (updated_by admin@127.0.0.1) names the learned rule posthoc-embed, not learn.rule"
            + " posthoc-quantile");
    // Another learner's publication (learn.rule=posthoc-embed): the two do not overwrite each other.
    assertThat(PinHold.reason(policy(PinHold.LEARNER, "posthoc-embed", 0, 2L), LEARNS))
        .contains("pins posthoc-embed@2");
  }

  @Test
  void closedFormRulesAndTheNewestOfTheLearnersRuleAreNotPins() {
    assertThat(PinHold.reason(policy("admin@127.0.0.1", "chow-sum", 0, null), LEARNS)).isNull();
    assertThat(PinHold.reason(policy("admin@127.0.0.1", "chow-quantile", 0.1, null), LEARNS)).isNull();
    assertThat(PinHold.reason(policy("config", "chow-quantile-0.1", 0, null), LEARNS)).isNull();
    // A revert the learner wrote names the fallback rule.
    assertThat(PinHold.reason(policy(PinHold.LEARNER, "chow-sum", 0, null), LEARNS)).isNull();
    // NAME alone is the newest version, which the learner's publication is.
    assertThat(PinHold.reason(policy("admin@127.0.0.1", LEARNS, 0, null), LEARNS)).isNull();
  }
}
