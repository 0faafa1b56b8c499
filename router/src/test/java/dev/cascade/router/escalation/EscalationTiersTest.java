package dev.cascade.router.escalation;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cascade.router.CascadeRouter;
import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.config.ConfigException;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The tiers key, and how tiers, their costs and the middle tiers' rules must match up. */
class EscalationTiersTest {

  @Test
  void parsesNamesAndTargetsInOrder() {
    assertThat(EscalationTiers.parse("medium=localhost:50052, large=kserve://triton:8001/big"))
        .containsExactly(new EscalationTiers.Target("medium", "localhost:50052"),
            new EscalationTiers.Target("large", "kserve://triton:8001/big"));
    assertThat(EscalationTiers.parse(" ")).isEmpty();
  }

  @Test
  void refusesMalformedEntriesRepeatedNamesAndBadTargets() {
    assertThatThrownBy(() -> EscalationTiers.parse("localhost:50052")).hasMessageContaining("NAME=TARGET");
    assertThatThrownBy(() -> EscalationTiers.parse("a=h:1,a=h:2")).hasMessageContaining("'a' is given twice");
    assertThatThrownBy(() -> EscalationTiers.parse("a=ftp://h:1")).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> CascadeConfig.load(null, Map.of(), Map.of("tiers", "medium")))
        .isInstanceOf(ConfigException.class).hasMessageContaining("tiers");
  }

  @Test
  void everyMiddleTierNeedsARuleAndEveryTierACost() {
    CascadeConfig three = CascadeConfig.load(null, Map.of(), Map.of("tiers", "medium=127.0.0.1:1,large=127.0.0.1:2",
        "cost.tiers.per-token", "4.5,12.8"));
    assertThatThrownBy(() -> CascadeRouter.connectTiers(three, ""))
        .isInstanceOf(ConfigException.class).hasMessageContaining("policy.tier-rules")
        .hasMessageContaining("1 middle tiers");
    CascadeConfig noCosts = CascadeConfig.load(null, Map.of(), Map.of("tiers", "medium=127.0.0.1:1,large=127.0.0.1:2",
        "policy.tier-rules", "chow-sum:9"));
    assertThatThrownBy(() -> CascadeRouter.connectTiers(noCosts, ""))
        .isInstanceOf(ConfigException.class).hasMessageContaining("cost.tiers.per-token");
    CascadeConfig twoModelsWithARule = CascadeConfig.load(null, Map.of(), Map.of("policy.tier-rules", "chow-sum:9"));
    assertThatThrownBy(() -> CascadeRouter.connectTiers(twoModelsWithARule, "127.0.0.1:2"))
        .hasMessageContaining("policy.tier-rules");
    assertThatThrownBy(() -> CascadeConfig.load(null, Map.of(), Map.of("policy.tier-rules", "posthoc-embed:0.3")))
        .isInstanceOf(ConfigException.class).hasMessageContaining("policy.tier-rules").hasMessageContaining("entry 1");
  }

  @Test
  void aLevelOutOfRangeIsAnAlphaProblemAndANegativeChowThresholdIsWarnedAtStart() throws Exception {
    assertThatThrownBy(() -> CascadeConfig.load(null, Map.of(), Map.of("policy.tier-rules", "chow-quantile-1.5:2")))
        .isInstanceOf(ConfigException.class).hasMessageContaining("policy.tier-rules")
        .hasMessageContaining("entry 1: alpha: must be in [0, 1], was 1.5").hasMessageNotContaining("must be one of");
    CascadeConfig deferAll = CascadeConfig.load(null, Map.of(), Map.of("tiers", "medium=127.0.0.1:1,large=127.0.0.1:2",
        "cost.tiers.per-token", "4.5,12.8", "policy.tier-rules", "chow-sum:-5"));
    java.io.PrintStream stderr = System.err;
    java.io.ByteArrayOutputStream log = new java.io.ByteArrayOutputStream();
    // slf4j-simple writes to whatever System.err is at the time of each line.
    System.setErr(new java.io.PrintStream(log, true, java.nio.charset.StandardCharsets.UTF_8));
    try (EscalationTiers tiers = CascadeRouter.connectTiers(deferAll, "")) {
      assertThat(tiers.count()).isEqualTo(2);
    } finally {
      System.setErr(stderr);
    }
    assertThat(log.toString(java.nio.charset.StandardCharsets.UTF_8)).contains("WARN")
        .contains("policy.tier-rules: middle tier 1 (medium)'s rule chow-sum has threshold -5.0")
        .contains("every answer");
  }

  @Test
  void costsFallingAlongTheTiersAreRefusedNamingTheKeyAndTheTiers() {
    // The probe's mistake: large listed before medium, with costs to match the wrong order.
    CascadeConfig swapped = CascadeConfig.load(null, Map.of(), Map.of("tiers", "large=127.0.0.1:1,medium=127.0.0.1:2",
        "cost.tiers.per-token", "12.8,4.5", "policy.tier-rules", "chow-sum:9"));
    assertThatThrownBy(() -> CascadeRouter.connectTiers(swapped, ""))
        .isInstanceOf(ConfigException.class).hasMessageContaining("cost.tiers.per-token")
        .hasMessageContaining("12.8 for large then 4.5 for medium");
    CascadeConfig equal = CascadeConfig.load(null, Map.of(), Map.of("tiers", "medium=127.0.0.1:1,large=127.0.0.1:2",
        "cost.tiers.per-token", "5,5", "policy.tier-rules", "chow-sum:9"));
    try (EscalationTiers tiers = CascadeRouter.connectTiers(equal, "")) {
      assertThat(tiers.count()).isEqualTo(2);
    }
  }

  @Test
  void aConsistentCascadeConnectsEveryTierWithItsCost() {
    CascadeConfig three = CascadeConfig.load(null, Map.of(), Map.of("tiers", "medium=127.0.0.1:1,large=127.0.0.1:2",
        "cost.tiers.per-token", "4.5,12.8", "policy.tier-rules", "chow-sum:9"));
    try (EscalationTiers tiers = CascadeRouter.connectTiers(three, "ignored:1")) {
      assertThat(tiers.count()).isEqualTo(2);
      assertThat(tiers.tier(1).name()).isEqualTo("medium");
      assertThat(tiers.tier(2).costPerToken()).isEqualTo(12.8);
      assertThat(tiers.isLast(2)).isTrue();
      assertThat(tiers.tier(1).client()).isNotSameAs(tiers.tier(2).client());
    }
    CascadeConfig two = CascadeConfig.load(null, Map.of(), Map.of("cost.large.per-token", "20"));
    try (EscalationTiers tiers = CascadeRouter.connectTiers(two, "127.0.0.1:2")) {
      assertThat(tiers.count()).isEqualTo(1);
      assertThat(tiers.tier(1).costPerToken()).isEqualTo(20.0);
    }
  }
}
