package dev.cascade.router.topology;

import dev.cascade.router.policy.DeferralPolicy;
import dev.cascade.router.learning.RuleResolver;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The policy in force, read from the global policy table (the compacted policy topic). When the
 * table is empty, or its latest record is not a usable policy (a bad field), the configured
 * default applies.
 *
 * <p>A policy that names a learned rule's version newer than any this router has, or of a rule it has
 * no version of (the learner
 * writes the rule and the policy naming it in one transaction, but on two topics, so the policy
 * may be read first) does not come into force until that version is in the rule catalog: the
 * policy before it stays in force, so the new policy's threshold never scores with another rule,
 * for at most {@link #PENDING_RULE_WAIT_MS} (before the first policy on the topic, the configured
 * default is the policy in force). Past that, or for any other rule that cannot be applied, the new policy applies and its fallback rule scores until
 * the rule can ({@link RuleResolver#ruleOf}), counted per request. Each task has its own view;
 * what they log (a new policy in force, a policy waiting for its rule, an unusable record) is
 * logged once per instance, not once per task.
 */
final class PolicyView {

  /** Longest a policy waits for the rule version it names before it applies with its fallback rule. */
  static final long PENDING_RULE_WAIT_MS = 30_000;

  /** What the views of one instance share: the rules, the configured default, what was logged. */
  static final class Source {
    private final RuleResolver rules;
    private final DeferralPolicy fallback;
    private final java.util.function.LongSupplier clock;
    private final dev.cascade.router.routing.RoutingObserver observer;
    private final Set<Object> announced = ConcurrentHashMap.newKeySet();

    Source(RuleResolver rules, DeferralPolicy fallback, dev.cascade.router.routing.RoutingObserver observer) {
      this(rules, fallback, System::currentTimeMillis, observer);
    }

    Source(RuleResolver rules, DeferralPolicy fallback, java.util.function.LongSupplier clock) {
      this(rules, fallback, clock, dev.cascade.router.routing.RoutingObserver.NONE);
    }

    private Source(RuleResolver rules, DeferralPolicy fallback, java.util.function.LongSupplier clock,
        dev.cascade.router.routing.RoutingObserver observer) {
      this.rules = rules;
      this.fallback = fallback;
      this.clock = clock;
      this.observer = observer;
    }

    /**
     * Tells the observer about the policy a record read from the policy topic holds (null: a
     * tombstone; the configured default for that or an unusable record), as soon as it is read, a
     * restart's restore included: its version, threshold and rule version (the pinned one, or the
     * newest the catalog has now), so the metrics show it before any decision.
     */
    void read(dev.cascade.schemas.avro.DeferralPolicy record) {
      DeferralPolicy policy;
      try {
        policy = record == null ? fallback : PolicyRecords.fromAvro(record);
      } catch (IllegalArgumentException e) {
        policy = fallback;
      }
      Long ruleVersion = policy.ruleVersion();
      if (ruleVersion == null) {
        try {
          ruleVersion = rules.resolve(policy.rule(), policy.alpha(), null).version();
        } catch (IllegalArgumentException e) {
          // Not applicable (yet): the fallback rule, a closed-form one, would score.
        }
      }
      observer.policyRead(policy.version(), policy.threshold(), ruleVersion);
    }

    /** The configured default policy. */
    DeferralPolicy configured() {
      return fallback;
    }

    PolicyView view(ReadOnlyKeyValueStore<String, dev.cascade.schemas.avro.DeferralPolicy> table) {
      return new PolicyView(table, this);
    }
  }

  private static final Logger LOG = LoggerFactory.getLogger(PolicyView.class);

  private final ReadOnlyKeyValueStore<String, dev.cascade.schemas.avro.DeferralPolicy> table;
  private final Source source;
  private dev.cascade.schemas.avro.DeferralPolicy lastSeen;
  /** The policy in force. */
  private DeferralPolicy lastPolicy;
  /** The latest policy, waiting for the rule version it names; null when none waits. */
  private DeferralPolicy waiting;
  private long waitingSinceMs;

  private PolicyView(ReadOnlyKeyValueStore<String, dev.cascade.schemas.avro.DeferralPolicy> table, Source source) {
    this.table = table;
    this.source = source;
  }

  DeferralPolicy current() {
    dev.cascade.schemas.avro.DeferralPolicy record = table.get(CascadeTopology.POLICY_KEY);
    if (record == null) {
      lastSeen = null;
      waiting = null;
      lastPolicy = source.fallback; // in force: a policy naming a rule on its way waits behind it
      return lastPolicy;
    }
    if (record.equals(lastSeen)) {
      if (waiting != null && !stillWaiting(waiting)) {
        takeForce(waiting);
      }
      return lastPolicy;
    }
    lastSeen = record;
    DeferralPolicy policy;
    try {
      policy = PolicyRecords.fromAvro(record);
    } catch (IllegalArgumentException e) {
      if (source.announced.add(record)) {
        LOG.error("policy record version {} on the policy topic is unusable ({}); using the configured default",
            record.getVersion(), e.getMessage());
      }
      waiting = null;
      lastPolicy = source.fallback;
      return lastPolicy;
    }
    waiting = null;
    if (lastPolicy != null && pending(policy)) {
      waiting = policy;
      waitingSinceMs = source.clock.getAsLong();
      if (source.announced.add(List.of("waiting", record))) {
        LOG.info("policy version {} names rule {}, not in this router's catalog yet; policy version {} stays in force"
            + " until it arrives (at most {} ms)", policy.version(), policy.ruleSpec(), lastPolicy.version(),
            PENDING_RULE_WAIT_MS);
      }
      return lastPolicy;
    }
    takeForce(policy);
    return lastPolicy;
  }

  /**
   * Whether {@code policy}'s rule is a version newer than the catalog has, or of a name it has no
   * version of at all (the first the learner publishes): its record may be on its way.
   */
  private boolean pending(DeferralPolicy policy) {
    if (policy.ruleVersion() == null) {
      return false;
    }
    try {
      source.rules.resolve(policy.rule(), policy.alpha(), policy.ruleVersion());
      return false;
    } catch (RuleResolver.RuleUnavailableException e) {
      return e.problem() == RuleResolver.Problem.PENDING_VERSION || e.problem() == RuleResolver.Problem.UNKNOWN_RULE;
    } catch (IllegalArgumentException e) {
      return false;
    }
  }

  private boolean stillWaiting(DeferralPolicy policy) {
    return pending(policy) && source.clock.getAsLong() - waitingSinceMs < PENDING_RULE_WAIT_MS;
  }

  private void takeForce(DeferralPolicy policy) {
    waiting = null;
    lastPolicy = policy;
    if (source.announced.add(List.of("in force", lastSeen))) {
      LOG.info("policy version {} in force: rule {} alpha {} threshold {} exploration {} target rate {} shadows {}{};"
          + " updated_by {} reason {}", policy.version(), policy.ruleSpec(), policy.alpha(), policy.threshold(),
          policy.explorationRate(), policy.targetEscalationRate(), policy.shadowRules(),
          (policy.earlyDeferMargin() == null ? "" : " early-defer margin " + policy.earlyDeferMargin())
              + (policy.earlyDeferLabelShare() == null ? "" : " label share " + policy.earlyDeferLabelShare()),
          dev.cascade.router.api.AdminAudit.quoted(policy.updatedBy()),
          dev.cascade.router.api.AdminAudit.quoted(policy.reason()));
      for (int i = 0; i < policy.tierPolicies().size(); i++) {
        int tier = i + 1;
        policy.tierPolicies().get(i).deferAllWarning("middle tier " + tier)
            .ifPresent(w -> LOG.warn("policy version {}: {}", policy.version(), w));
      }
      try {
        source.rules.check(policy);
      } catch (IllegalArgumentException e) {
        // Not fatal: until the rule can be applied the fallback rule scores, counted per request.
        LOG.warn("policy version {}: {}; the fallback rule {} scores until it can be applied", policy.version(),
            e.getMessage(), policy.fallbackRule());
      }
    }
  }
}
