package dev.cascade.router.topology;

import dev.cascade.router.policy.DeferralPolicy;

/** Converts between the policy's Avro record (the topic's format) and the router's policy value. */
public final class PolicyRecords {

  private PolicyRecords() {}

  /** @throws dev.cascade.router.policy.InvalidPolicyException naming a bad field */
  public static DeferralPolicy fromAvro(dev.cascade.schemas.avro.DeferralPolicy r) {
    return new DeferralPolicy(r.getRule(), r.getAlpha(), r.getThreshold(), r.getExplorationRate(),
        r.getTargetEscalationRate(), r.getVersion(), r.getUpdatedBy(), r.getUpdatedAtMs(), r.getReason(),
        r.getRuleModelVersion(), r.getShadowRules(), r.getFallbackRule(), r.getEarlyDeferMargin(),
        r.getTierPolicies().stream()
            .map(t -> new dev.cascade.router.policy.TierPolicy(t.getRule(), t.getAlpha(), t.getThreshold(),
                t.getTargetEscalationRate(), t.getExplorationRate())).toList(),
        dev.cascade.router.policy.PregenSkipPolicy.of(r.getPregenSkipRule(), r.getPregenSkipThreshold()),
        r.getEarlyDeferLabelShare());
  }

  public static dev.cascade.schemas.avro.DeferralPolicy toAvro(DeferralPolicy p) {
    return dev.cascade.schemas.avro.DeferralPolicy.newBuilder()
        .setRule(p.rule()).setAlpha(p.alpha()).setThreshold(p.threshold()).setExplorationRate(p.explorationRate())
        .setTargetEscalationRate(p.targetEscalationRate()).setVersion(p.version()).setUpdatedBy(p.updatedBy())
        .setUpdatedAtMs(p.updatedAtMs()).setReason(p.reason()).setRuleModelVersion(p.ruleVersion())
        .setShadowRules(p.shadowRules()).setFallbackRule(p.fallbackRule())
        .setEarlyDeferMargin(p.earlyDeferMargin())
        .setTierPolicies(p.tierPolicies().stream().map(t -> dev.cascade.schemas.avro.TierPolicy.newBuilder()
            .setRule(t.rule()).setAlpha(t.alpha()).setThreshold(t.threshold())
            .setTargetEscalationRate(t.targetEscalationRate()).setExplorationRate(t.explorationRate()).build()).toList())
        .setPregenSkipRule(p.pregenSkip() == null ? null : p.pregenSkip().rule())
        .setPregenSkipThreshold(p.pregenSkip() == null ? null : p.pregenSkip().threshold())
        .setEarlyDeferLabelShare(p.earlyDeferLabelShare())
        .build();
  }
}
