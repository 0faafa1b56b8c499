package dev.cascade.router;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.policy.DeferralPolicy;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** What serve says at start when the policy topic's policy, not the configured one, is in force. */
class ConfiguredPolicyNotInForceTest {

  private static final DeferralPolicy ON_TOPIC = new DeferralPolicy("chow-sum", 0.0, 12.0, 0.0, 0.0, 3,
      "admin@127.0.0.1", 1_000L, "", null, List.of(), "chow-sum", null, List.of());

  @Test
  void policyKeysGivenWhileTheTopicHoldsAPolicyAreNamed() {
    CascadeConfig config = CascadeConfig.load(null, Map.of("CASCADE_POLICY_RULE", "chow-quantile-0.5"),
        Map.of("policy.threshold", "2.5", "grpc.port", "0"));
    assertThat(CascadeRouter.configuredPolicyNotInForce(config, ON_TOPIC)).hasValue("the policy topic holds policy"
        + " version 3 (chow-sum, threshold 12.0, set by admin@127.0.0.1), which is in force: policy.rule (from"
        + " environment variable CASCADE_POLICY_RULE), policy.threshold (from the command line) in the configuration"
        + " apply only while the topic holds no policy; change the live policy with ./cascade policy set");
  }

  @Test
  void nothingIsSaidWithoutPolicyKeysOrWhileTheConfiguredDefaultIsInForce() {
    CascadeConfig given = CascadeConfig.load(null, Map.of(), Map.of("policy.threshold", "2.5"));
    assertThat(CascadeRouter.configuredPolicyNotInForce(CascadeConfig.load(null, Map.of(), Map.of("grpc.port", "0")),
        ON_TOPIC)).isEmpty();
    assertThat(CascadeRouter.configuredPolicyNotInForce(given, CascadeRouter.configuredPolicy(given))).isEmpty();
    // a command's own defaults are not the user's
    assertThat(CascadeRouter.configuredPolicyNotInForce(CascadeConfig.load(Map.of("policy.rule", "chow-sum"), null,
        Map.of(), Map.of()), ON_TOPIC)).isEmpty();
  }
}
