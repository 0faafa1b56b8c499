package dev.cascade.router.topology;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.learning.LearnedRule;
import dev.cascade.router.learning.LearnedRules;
import dev.cascade.router.learning.RuleCatalog;
import dev.cascade.router.learning.RuleResolver;
import dev.cascade.router.policy.DeferralPolicy;
import dev.cascade.router.rules.ChowSumRule;
import dev.cascade.router.rules.DeferralRules;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;
import org.junit.jupiter.api.Test;

/**
 * The policy in force as a task sees it: a policy naming a learned rule's version that has not
 * reached this router's catalog yet waits behind the policy before it (so its threshold never
 * scores with the fallback rule), and comes into force when the version arrives, or after the
 * longest wait with its fallback rule.
 */
class PolicyViewTest {

  private static final LearnedRule SHIPPED = LearnedRules.bundledRules().get(0);
  private static final String NAME = SHIPPED.info().name();

  private final RuleCatalog catalog = new RuleCatalog(SHIPPED.info().modelFingerprint());
  private final RuleResolver resolver = new RuleResolver(DeferralRules.builtIn(), catalog);
  private final AtomicLong now = new AtomicLong(1_000);
  private final Table table = new Table();
  private final DeferralPolicy configured = new DeferralPolicy(ChowSumRule.NAME, 0.0, 6.0, 0.0, 0.0, 0L, "config", 0L,
      "");
  private final PolicyView view = new PolicyView.Source(resolver, configured, now::get).view(table);

  private static DeferralPolicy learned(long policyVersion, long ruleVersion, double threshold) {
    return new DeferralPolicy(NAME, 0.0, threshold, 0.0, 0.0, policyVersion, "learner", 0L, "")
        .withRuleVersion(ruleVersion);
  }

  private void publishRule(long version) {
    catalog.add(SHIPPED.withInfo(SHIPPED.info().withVersion(version)));
  }

  @Test
  void aPolicyNamingARuleVersionOnItsWayWaitsBehindThePolicyBeforeItUntilTheVersionArrives() {
    publishRule(1);
    table.policy = PolicyRecords.toAvro(learned(5, 1, 0.4));
    assertThat(view.current().version()).isEqualTo(5);
    assertThat(resolver.ruleOf(view.current()).problem()).isNull();

    table.policy = PolicyRecords.toAvro(learned(6, 2, 0.7));
    DeferralPolicy held = view.current();
    assertThat(held.version()).as("v2 of the rule is not here yet: policy 5 stays").isEqualTo(5);
    assertThat(held.threshold()).isEqualTo(0.4);
    now.addAndGet(PolicyView.PENDING_RULE_WAIT_MS - 1);
    assertThat(view.current().version()).isEqualTo(5);

    publishRule(2);
    DeferralPolicy arrived = view.current();
    assertThat(arrived.version()).isEqualTo(6);
    RuleResolver.Resolved rule = resolver.ruleOf(arrived);
    assertThat(rule.problem()).isNull();
    assertThat(rule.version()).isEqualTo(2);
  }

  @Test
  void aPolicyInForceWhoseMiddleTierPassesEverythingOnIsLoggedAsSuch() {
    java.io.ByteArrayOutputStream log = new java.io.ByteArrayOutputStream();
    java.io.PrintStream stderr = System.err;
    // slf4j-simple writes to whatever System.err is at the time of each line.
    System.setErr(new java.io.PrintStream(log, true, java.nio.charset.StandardCharsets.UTF_8));
    try {
      table.policy = PolicyRecords.toAvro(new DeferralPolicy(ChowSumRule.NAME, 0.0, 6.0, 0.0, 0.0, 7L, "op", 0L, "")
          .withTierPolicies(java.util.List.of(new dev.cascade.router.policy.TierPolicy(ChowSumRule.NAME, 0.0, -1.0))));
      assertThat(view.current().version()).isEqualTo(7);
      table.policy = PolicyRecords.toAvro(new DeferralPolicy(ChowSumRule.NAME, 0.0, 6.0, 0.0, 0.0, 8L, "op", 0L, "")
          .withTierPolicies(java.util.List.of(new dev.cascade.router.policy.TierPolicy(ChowSumRule.NAME, 0.0, 1.0))));
      assertThat(view.current().version()).isEqualTo(8);
    } finally {
      System.err.flush();
      System.setErr(stderr);
    }
    String lines = log.toString(java.nio.charset.StandardCharsets.UTF_8);
    assertThat(lines).contains("policy version 7: middle tier 1's rule chow-sum has threshold -1.0, below 0");
    assertThat(lines).doesNotContain("policy version 8: middle tier");
  }

  @Test
  void aRuleVersionThatNeverArrivesLetsThePolicyApplyWithItsFallbackAfterTheLongestWait() {
    publishRule(1);
    table.policy = PolicyRecords.toAvro(learned(5, 1, 0.4));
    view.current();
    table.policy = PolicyRecords.toAvro(learned(6, 9, 0.7));
    assertThat(view.current().version()).isEqualTo(5);

    now.addAndGet(PolicyView.PENDING_RULE_WAIT_MS);
    DeferralPolicy applied = view.current();
    assertThat(applied.version()).isEqualTo(6);
    assertThat(resolver.ruleOf(applied).problem()).isEqualTo(RuleResolver.Problem.PENDING_VERSION);
  }

  @Test
  void theFirstPolicyOnTheTopicWaitsBehindTheConfiguredDefaultAndOtherProblemsDoNotWait() {
    table.policy = null;
    assertThat(view.current()).isSameAs(configured);
    table.policy = PolicyRecords.toAvro(learned(1, 3, 0.7));
    assertThat(view.current()).as("no version of the rule here yet").isSameAs(configured);
    publishRule(3);
    assertThat(view.current().version()).isEqualTo(1);

    publishRule(4);
    publishRule(5);
    catalog.remove(NAME, 4);
    table.policy = PolicyRecords.toAvro(learned(2, 4, 0.7));
    DeferralPolicy missing = view.current();
    assertThat(missing.version()).as("version 4 is older than the newest: missing, not on its way").isEqualTo(2);
    assertThat(resolver.ruleOf(missing).problem()).isEqualTo(RuleResolver.Problem.MISSING_VERSION);

    table.policy = PolicyRecords.toAvro(new DeferralPolicy(ChowSumRule.NAME, 0.0, 3.0, 0.0, 0.0, 3L, "op", 0L, ""));
    assertThat(view.current().version()).isEqualTo(3);
  }

  /** The global policy table, as the view reads it: one key. */
  private static final class Table implements ReadOnlyKeyValueStore<String, dev.cascade.schemas.avro.DeferralPolicy> {
    dev.cascade.schemas.avro.DeferralPolicy policy;

    @Override
    public dev.cascade.schemas.avro.DeferralPolicy get(String key) {
      return CascadeTopology.POLICY_KEY.equals(key) ? policy : null;
    }

    @Override
    public KeyValueIterator<String, dev.cascade.schemas.avro.DeferralPolicy> range(String from, String to) {
      throw new UnsupportedOperationException();
    }

    @Override
    public KeyValueIterator<String, dev.cascade.schemas.avro.DeferralPolicy> all() {
      throw new UnsupportedOperationException();
    }

    @Override
    public long approximateNumEntries() {
      return policy == null ? 0 : 1;
    }
  }
}
