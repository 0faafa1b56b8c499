package dev.cascade.router.topology;

import dev.cascade.router.policy.DeferralPolicy;
import dev.cascade.router.rules.DeferralRules;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;
import org.apache.kafka.streams.state.ValueAndTimestamp;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The policy in force, read from the global policy table (the compacted policy topic). When the
 * table is empty, or its latest record is not a usable policy (a bad field, an unknown rule), the
 * configured default applies. Each task has its own view; what they log (a new policy in force, an
 * unusable record) is logged once per instance, not once per task.
 */
final class PolicyView {

  /** What the views of one instance share: the rules, the configured default, what was logged. */
  static final class Source {
    private final DeferralRules rules;
    private final DeferralPolicy fallback;
    private final Set<dev.cascade.schemas.avro.DeferralPolicy> announced = ConcurrentHashMap.newKeySet();

    Source(DeferralRules rules, DeferralPolicy fallback) {
      this.rules = rules;
      this.fallback = fallback;
    }

    PolicyView view(ReadOnlyKeyValueStore<String, ValueAndTimestamp<dev.cascade.schemas.avro.DeferralPolicy>> table) {
      return new PolicyView(table, fallback, rules, announced);
    }
  }

  private static final Logger LOG = LoggerFactory.getLogger(PolicyView.class);

  private final ReadOnlyKeyValueStore<String, ValueAndTimestamp<dev.cascade.schemas.avro.DeferralPolicy>> table;
  private final DeferralPolicy fallback;
  private final DeferralRules rules;
  private final Set<dev.cascade.schemas.avro.DeferralPolicy> announced;
  private dev.cascade.schemas.avro.DeferralPolicy lastSeen;
  private DeferralPolicy lastPolicy;

  private PolicyView(ReadOnlyKeyValueStore<String, ValueAndTimestamp<dev.cascade.schemas.avro.DeferralPolicy>> table,
      DeferralPolicy fallback, DeferralRules rules, Set<dev.cascade.schemas.avro.DeferralPolicy> announced) {
    this.table = table;
    this.fallback = fallback;
    this.rules = rules;
    this.announced = announced;
  }

  DeferralPolicy current() {
    ValueAndTimestamp<dev.cascade.schemas.avro.DeferralPolicy> stored = table.get(CascadeTopology.POLICY_KEY);
    dev.cascade.schemas.avro.DeferralPolicy record = stored == null ? null : stored.value();
    if (record == null) {
      return fallback;
    }
    if (record.equals(lastSeen)) {
      return lastPolicy;
    }
    lastSeen = record;
    try {
      DeferralPolicy policy = PolicyRecords.fromAvro(record);
      rules.create(policy.rule(), policy.alpha());
      lastPolicy = policy;
      if (announced.add(record)) {
        LOG.info("policy version {} in force: rule {} alpha {} threshold {} exploration {} target rate {}",
          policy.version(), policy.rule(), policy.alpha(), policy.threshold(), policy.explorationRate(),
            policy.targetEscalationRate());
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
