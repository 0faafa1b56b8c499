package dev.cascade.router;

import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.config.ConfigException;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** {@link CascadeRouter#checkConfiguredPolicy}: each rule the configured policy names, refused under its own key. */
class ConfiguredPolicyCheckTest {

  private static void check(Map<String, String> env, Map<String, String> flags) {
    CascadeRouter.checkConfiguredPolicy(CascadeConfig.load(null, env, flags));
  }

  @Test
  void theDefaultsAndKnownRulesPass() {
    assertThatCode(() -> check(Map.of(), Map.of("policy.rule", "posthoc-quantile", "policy.fallback-rule", "chow-average",
        "policy.shadow-rules", "chow-sum,chow-quantile-0.1"))).doesNotThrowAnyException();
  }

  @Test
  void anUnknownRuleNamesItsKeyAndSource() {
    assertThatThrownBy(() -> check(Map.of(), Map.of("policy.rule", "nope")))
        .isInstanceOf(ConfigException.class)
        .hasMessageStartingWith("policy.rule: unknown deferral rule 'nope'")
        .hasMessageEndingWith("(from the command line)");
    assertThatThrownBy(() -> check(Map.of("CASCADE_POLICY_SHADOW_RULES", "chow-sum,bogus"), Map.of()))
        .isInstanceOf(ConfigException.class)
        .hasMessageStartingWith("policy.shadow-rules: unknown deferral rule 'bogus'")
        .hasMessageEndingWith("(from environment variable CASCADE_POLICY_SHADOW_RULES)");
    assertThatThrownBy(() -> check(Map.of(), Map.of("policy.fallback-rule", "nope")))
        .hasMessageStartingWith("policy.fallback-rule: unknown deferral rule 'nope'");
  }

  @Test
  void aLearnedFallbackRuleIsRefusedUnderTheFallbackKey() {
    assertThatThrownBy(() -> check(Map.of(), Map.of("policy.fallback-rule", "posthoc-quantile")))
        .isInstanceOf(ConfigException.class)
        .hasMessageStartingWith("policy.fallback-rule: fallback rule 'posthoc-quantile' must be a closed-form rule")
        .hasMessageEndingWith("(from the command line)");
  }

  @Test
  void aVersionTheRulesTopicMayStillBringPasses() {
    assertThatCode(() -> check(Map.of(), Map.of("policy.rule", "posthoc-quantile@99", "policy.shadow-rules",
        "posthoc-quantile@98"))).doesNotThrowAnyException();
  }
}
