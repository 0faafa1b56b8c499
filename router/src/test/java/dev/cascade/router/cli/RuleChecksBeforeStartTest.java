package dev.cascade.router.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * A deferral rule the router would refuse at its start is refused before any model loads or broker
 * starts: exit code 2, one line naming policy.rule and the rule.
 */
class RuleChecksBeforeStartTest {

  @Test
  void benchRouterRefusesAnUnknownRuleBeforeTheBareModelRuns() {
    // Before, the bare model ran and the broker started first; the error came minutes later.
    String err = assertTimeoutPreemptively(Duration.ofSeconds(60), () -> DemoOptionsTest.refused("bench", "router",
        "--rule", "bogus", "--requests", "100", "--rounds", "1", "--warm-up", "0"));
    assertThat(err).contains("policy.rule").contains("unknown deferral rule 'bogus'");
    assertThat(err.strip().lines()).hasSize(1);
  }

  @Test
  void demoRefusesAnUnknownRuleBeforeTheModelsLoad() {
    String err = assertTimeoutPreemptively(Duration.ofSeconds(60), () -> DemoOptionsTest.refused("demo",
        "--rule", "bogus", "--requests", "5"));
    assertThat(err).contains("policy.rule").contains("'bogus'");
    String shadow = assertTimeoutPreemptively(Duration.ofSeconds(60), () -> DemoOptionsTest.refused("demo",
        "--requests", "5", "--set", "policy.shadow-rules=nosuch"));
    assertThat(shadow).contains("nosuch");
  }

  @Test
  void theLearningDemoRefusesAnUnknownFallbackRuleBeforeItStarts() {
    String err = assertTimeoutPreemptively(Duration.ofSeconds(60), () -> DemoOptionsTest.refused("demo", "--learn",
        "--requests", "5", "--set", "policy.fallback-rule=bogus"));
    assertThat(err).contains("bogus");
  }
}
