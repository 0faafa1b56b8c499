package dev.cascade.router.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.CascadeRouter;
import dev.cascade.router.api.PolicyTopic;
import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.embedded.EmbeddedKafka;
import dev.cascade.router.policy.DeferralPolicy;
import dev.cascade.router.topics.TopicProvisioner;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@code demo --serve} writes the policy its router decides by to the policy topic, so that {@code
 * eval --outcomes}, {@code learn} and {@code policy} pointed at its broker read that policy rather
 * than their own configured defaults (which name another rule and threshold).
 */
class DemoPolicyIT {

  @Test
  void theDemosPolicyIsOnThePolicyTopicForTheCommandsThatReadIt() throws Exception {
    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
      CascadeConfig demo = CascadeConfig.load(null, Map.of(), Map.of("bootstrap.servers", kafka.bootstrapServers(),
          "policy.rule", "posthoc-quantile", "policy.threshold", "0.5352", "policy.exploration-rate", "0.2"));
      TopicProvisioner.ensure(CascadeRouter.clientProperties(demo),
          TopicProvisioner.specs(demo.topics(), 1, (short) 1));

      DemoCommand.publishPolicy(demo);

      // What eval or learn started with only the broker's address reads: not its own default.
      CascadeConfig other = CascadeConfig.load(null, Map.of(), Map.of("bootstrap.servers", kafka.bootstrapServers()));
      DeferralPolicy fallback = CascadeRouter.configuredPolicy(other);
      try (PolicyTopic topic = PolicyTopic.start(CascadeRouter.clientProperties(other), other.topics().policy(),
          fallback)) {
        DeferralPolicy read = topic.current();
        assertThat(read.rule()).isEqualTo("posthoc-quantile").isNotEqualTo(fallback.rule());
        assertThat(read.threshold()).isEqualTo(0.5352);
        assertThat(read.explorationRate()).isEqualTo(0.2);
        assertThat(read.version()).isZero();
        assertThat(read.updatedBy()).isEqualTo("demo");
      }
    }
  }
}
