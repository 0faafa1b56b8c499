package dev.cascade.router.topology;

import dev.cascade.router.policy.DeferralPolicy;
import dev.cascade.router.learning.RuleResolver;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The policy in force, read from the global policy table (the compacted policy topic). When the
 * table is empty, or its latest record is not a usable policy (a bad field), the configured
 * default applies. A policy whose rule cannot be applied yet still applies: its fallback rule
 * scores until the rule can ({@link RuleResolver#ruleOf}). Each task has its own view; what they log (a new policy in force, an
 * unusable record) is logged once per instance, not once per task.
 */
final class PolicyView {

  /** What the views of one instance share: the rules, the configured default, what was logged. */
  static final class Source {
    private final RuleResolver rules;
    private final DeferralPolicy fallback;
    private final Set<dev.cascade.schemas.avro.DeferralPolicy> announced = ConcurrentHashMap.newKeySet();

    Source(RuleResolver rules, DeferralPolicy fallback) {
      this.rules = rules;
      this.fallback = fallback;
    }

    /** The configured default policy. */
    DeferralPolicy configured() {
      return fallback;
    }

    PolicyView view(ReadOnlyKeyValueStore<String, dev.cascade.schemas.avro.DeferralPolicy> table) {
      return new PolicyView(table, fallback, rules, announced);
    }
  }

  private static final Logger LOG = LoggerFactory.getLogger(PolicyView.class);

  private final ReadOnlyKeyValueStore<String, dev.cascade.schemas.avro.DeferralPolicy> table;
  private final DeferralPolicy fallback;
  private final RuleResolver rules;
  private final Set<dev.cascade.schemas.avro.DeferralPolicy> announced;
  private dev.cascade.schemas.avro.DeferralPolicy lastSeen;
  private DeferralPolicy lastPolicy;

  private PolicyView(ReadOnlyKeyValueStore<String, dev.cascade.schemas.avro.DeferralPolicy> table,
      DeferralPolicy fallback, RuleResolver rules, Set<dev.cascade.schemas.avro.DeferralPolicy> announced) {
    this.table = table;
    this.fallback = fallback;
    this.rules = rules;
    this.announced = announced;
  }

  DeferralPolicy current() {
    dev.cascade.schemas.avro.DeferralPolicy record = table.get(CascadeTopology.POLICY_KEY);
    if (record == null) {
      return fallback;
    }
    if (record.equals(lastSeen)) {
      return lastPolicy;
    }
    lastSeen = record;
    try {
      DeferralPolicy policy = PolicyRecords.fromAvro(record);
      lastPolicy = policy;
      if (announced.add(record)) {
        LOG.info("policy version {} in force: rule {} alpha {} threshold {} exploration {} target rate {} shadows {}",
          policy.version(), policy.ruleSpec(), policy.alpha(), policy.threshold(), policy.explorationRate(),
            policy.targetEscalationRate(), policy.shadowRules());
        try {
          rules.check(policy);
        } catch (IllegalArgumentException e) {
          // Not fatal: the rule may be on its way (a rule and the policy naming it are written
          // together), and until it can be applied the fallback rule scores, counted per request.
          LOG.warn("policy version {}: {}; the fallback rule {} scores until it can be applied", policy.version(),
              e.getMessage(), policy.fallbackRule());
        }
      }
    } catch (IllegalArgumentException e) {
      if (announced.add(record)) {
        LOG.error("policy record version {} on the policy topic is unusable ({}); using the configured default",
            record.getVersion(), e.getMessage());
      }
      lastPolicy = fallback;
    }
    return lastPolicy;
  }
}
