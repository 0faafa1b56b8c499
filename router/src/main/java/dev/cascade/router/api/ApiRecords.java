package dev.cascade.router.api;

import dev.cascade.proto.v1.GenerateRequest;
import dev.cascade.proto.v1.GenerateResponse;
import dev.cascade.proto.v1.Policy;
import dev.cascade.proto.v1.Rule;
import dev.cascade.proto.v1.ServedBy;
import dev.cascade.proto.v1.StageLatencies;
import dev.cascade.router.learning.RuleCatalog;
import dev.cascade.router.learning.RuleInfo;
import dev.cascade.router.policy.DeferralPolicy;
import dev.cascade.schemas.avro.CascadeRequest;
import dev.cascade.schemas.avro.CascadeResponse;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;

/**
 * Converts between the gRPC messages of {@code cascade.v1} and the router's records (the Avro
 * request and response on Kafka, the policy value, rule catalog entries), and checks what only the gRPC door can get
 * wrong. The rules every request obeys, whichever door it came in by, stay in
 * {@link dev.cascade.router.routing.RequestValidator}.
 */
final class ApiRecords {

  /** Longest metadata key accepted, as documented in cascade.proto. */
  static final int MAX_METADATA_KEY_LENGTH = 64;
  /** Longest metadata value accepted, as documented in cascade.proto. */
  static final int MAX_METADATA_VALUE_LENGTH = 1024;
  /** Longest reference answer accepted, as documented in cascade.proto. */
  static final int MAX_REFERENCE_LENGTH = 8192;

  private ApiRecords() {}

  /**
   * The {@code deadline_ms} a door gives a request created at {@code createdAtMs} whose answer it
   * waits {@code waitMs} for: {@code marginMs} ({@code front-door.deadline-margin-ms}), at most half
   * the wait, before the wait ends. The router answers a request whose large model has not answered
   * by its deadline with the small model's answer (SMALL_DEGRADED); the margin is for that answer's
   * way back (the router's commit, the door's reply reader), so it reaches the caller instead of
   * losing the race with the door's own timeout.
   */
  static long deadlineMs(long createdAtMs, long waitMs, long marginMs) {
    return createdAtMs + waitMs - Math.min(marginMs, waitMs / 2);
  }

  /** What is wrong with the request's metadata entries or reference, naming the field; empty if nothing. */
  static Optional<String> doorProblem(GenerateRequest request) {
    if (request.hasReference() && request.getReference().length() > MAX_REFERENCE_LENGTH) {
      return Optional.of("reference: longer than " + MAX_REFERENCE_LENGTH + " characters ("
          + request.getReference().length() + ")");
    }
    for (Map.Entry<String, String> e : request.getMetadataMap().entrySet()) {
      if (e.getKey().isEmpty() || e.getKey().length() > MAX_METADATA_KEY_LENGTH) {
        return Optional.of("metadata: key '" + abbreviate(e.getKey()) + "' must be 1 to " + MAX_METADATA_KEY_LENGTH
            + " characters, was " + e.getKey().length());
      }
      if (e.getValue().length() > MAX_METADATA_VALUE_LENGTH) {
        return Optional.of("metadata: value of '" + e.getKey() + "' longer than " + MAX_METADATA_VALUE_LENGTH
            + " characters (" + e.getValue().length() + ")");
      }
    }
    long conversation = request.getMessagesList().stream().mapToLong(m -> m.getContent().length()).sum();
    if (conversation > OpenAiServer.MAX_CONVERSATION_CHARS) {
      return Optional.of("messages: more than " + OpenAiServer.MAX_CONVERSATION_CHARS + " characters of content in all ("
          + conversation + "); send the newest turns");
    }
    return Optional.empty();
  }

  /** The Kafka request for a gRPC request; {@code requestId} is the caller's or an assigned one. */
  static CascadeRequest toAvro(GenerateRequest request, String requestId, String replyTo, long createdAtMs) {
    return CascadeRequest.newBuilder()
        .setRequestId(requestId)
        .setPrompt(request.getPrompt())
        .setMaxNewTokens(request.getMaxNewTokens())
        .setReference(request.hasReference() ? request.getReference() : null)
        .setMetadata(new HashMap<>(request.getMetadataMap()))
        .setBypassCache(request.getBypassCache())
        .setReplyTo(replyTo)
        .setCreatedAtMs(createdAtMs)
        .setMessages(request.getMessagesList().stream().map(m -> dev.cascade.schemas.avro.ChatMessage.newBuilder()
            .setRole(m.getRole()).setContent(m.getContent()).build()).toList())
        .build();
  }

  /**
   * What a door tells its caller of a response marked {@code deadline_exceeded}: the router took
   * the request after its deadline and generated nothing (small.expired-requests). The door's own
   * wait ends at that deadline too, so such a response reaches a caller only when the router's
   * clock runs ahead of the door's.
   */
  static String deadlineExceeded(CascadeResponse r) {
    return "request " + r.getRequestId() + " reached the router after its deadline; nothing was generated";
  }

  static GenerateResponse toProto(CascadeResponse r) {
    dev.cascade.schemas.avro.StageLatencies l = r.getLatencies();
    GenerateResponse.Builder b = GenerateResponse.newBuilder()
        .setRequestId(r.getRequestId())
        .setText(r.getText())
        .setServedBy(switch (r.getServedBy()) {
          case SMALL -> ServedBy.SMALL;
          case LARGE -> ServedBy.LARGE;
          case SMALL_DEGRADED -> ServedBy.SMALL_DEGRADED;
        })
        .setDeferralScore(r.getDeferralScore())
        .setThreshold(r.getThreshold())
        .setPolicyVersion(r.getPolicyVersion())
        .setRule(r.getRule())
        .setLatencies(StageLatencies.newBuilder().setQueueMs(l.getQueueMs()).setSmallModelMs(l.getSmallModelMs())
            .setRuleMs(l.getRuleMs()).setEscalationMs(l.getEscalationMs()).setTotalMs(l.getTotalMs()))
        .setCacheHit(r.getCacheHit())
        .setServedTier(dev.cascade.router.routing.RoutingRecords.servedTier(r))
        .setServedModel(r.getServedModel() == null ? "" : r.getServedModel())
        .setStoppedEarly(Boolean.TRUE.equals(r.getStoppedEarly()))
        .setDecision(r.getDecision() == null ? dev.cascade.proto.v1.Decision.DECISION_UNSPECIFIED
            : switch (r.getDecision()) {
              case ACCEPT -> dev.cascade.proto.v1.Decision.ACCEPT;
              case DEFER -> dev.cascade.proto.v1.Decision.DEFER;
              case EXPLORE -> dev.cascade.proto.v1.Decision.EXPLORE;
            })
        .addAllSkippedTiers(r.getSkippedTiers().stream().map(t -> dev.cascade.proto.v1.SkippedTier.newBuilder()
            .setTier(t.getTier()).setModel(t.getModel()).setCause(t.getCause()).setReason(t.getReason()).build()).toList());
    if (r.getRuleVersion() != null) {
      b.setRuleVersion(r.getRuleVersion());
    }
    return b.build();
  }


  static Policy toProto(DeferralPolicy p) {
    Policy.Builder b = Policy.newBuilder();
    if (p.ruleVersion() != null) {
      b.setRuleVersion(p.ruleVersion());
    }
    if (p.earlyDeferMargin() != null) {
      b.setEarlyDeferMargin(p.earlyDeferMargin());
    }
    if (p.earlyDeferLabelShare() != null) {
      b.setEarlyDeferLabelShare(p.earlyDeferLabelShare());
    }
    if (p.pregenSkip() != null) {
      b.setPregenSkipRule(p.pregenSkip().rule()).setPregenSkipThreshold(p.pregenSkip().threshold());
    }
    return b
        .addAllShadowRules(p.shadowRules())
        .setFallbackRule(p.fallbackRule())
        .setRule(p.rule())
        .setAlpha(p.alpha())
        .setThreshold(p.threshold())
        .setExplorationRate(p.explorationRate())
        .setTargetEscalationRate(p.targetEscalationRate())
        .setVersion(p.version())
        .setUpdatedBy(p.updatedBy())
        .setUpdatedAtMs(p.updatedAtMs())
        .setReason(p.reason())
        .addAllTierPolicies(p.tierPolicies().stream().map(t -> dev.cascade.proto.v1.TierPolicy.newBuilder()
            .setRule(t.rule()).setAlpha(t.alpha()).setThreshold(t.threshold())
            .setTargetEscalationRate(t.targetEscalationRate()).setExplorationRate(t.explorationRate()).build()).toList())
        .build();
  }

  /**
   * The policy an update asks for, with the server's version, author and time.
   *
   * @throws dev.cascade.router.policy.InvalidPolicyException naming the first bad field
   */
  static DeferralPolicy fromProto(Policy p, long version, String updatedBy, long updatedAtMs) {
    return new DeferralPolicy(p.getRule(), p.getAlpha(), p.getThreshold(), p.getExplorationRate(),
        p.getTargetEscalationRate(), version, updatedBy, updatedAtMs, p.getReason(),
        p.hasRuleVersion() ? p.getRuleVersion() : null, p.getShadowRulesList(),
        p.getFallbackRule().isBlank() ? dev.cascade.router.rules.ChowSumRule.NAME : p.getFallbackRule(),
        p.hasEarlyDeferMargin() ? p.getEarlyDeferMargin() : null,
        tierPolicies(p.getTierPoliciesList()),
        dev.cascade.router.policy.PregenSkipPolicy.of(p.hasPregenSkipRule() ? p.getPregenSkipRule() : null,
            p.hasPregenSkipThreshold() ? p.getPregenSkipThreshold() : null),
        p.hasEarlyDeferLabelShare() ? p.getEarlyDeferLabelShare() : null);
  }

  private static java.util.List<dev.cascade.router.policy.TierPolicy> tierPolicies(
      java.util.List<dev.cascade.proto.v1.TierPolicy> asked) {
    java.util.List<dev.cascade.router.policy.TierPolicy> tiers = new java.util.ArrayList<>();
    for (int i = 0; i < asked.size(); i++) {
      dev.cascade.proto.v1.TierPolicy t = asked.get(i);
      tiers.add(dev.cascade.router.policy.TierPolicy.at(i, t.getRule(), t.getAlpha(), t.getThreshold(),
          t.getTargetEscalationRate(), t.getExplorationRate()));
    }
    return tiers;
  }

  /** A rule catalog entry as {@code cascade.v1.Rule}, without the artifact. */
  static Rule toProto(RuleCatalog.Entry entry) {
    RuleInfo info = entry.rule().info();
    return Rule.newBuilder()
        .setName(info.name())
        .setVersion(info.version())
        .setLearner(info.learner())
        .addAllFeatureNames(info.featureNames())
        .setModelFingerprint(info.modelFingerprint())
        .setFeatureLayout(info.featureLayout())
        .setTrainingDataRange(info.trainingDataRange())
        .putAllValidationMetrics(info.validationMetrics())
        .setCreatedAtMs(info.createdAtMs())
        .setApplicable(entry.applicable())
        .setNotApplicableReason(entry.notApplicableReason())
        .build();
  }

  /** The proto field name of a {@link DeferralPolicy} component, for error messages. */
  static String protoField(String recordComponent) {
    if (recordComponent.startsWith("tierPolicies[")) {
      // tierPolicies[1].targetEscalationRate: the entry's own field in proto spelling too.
      int dot = recordComponent.indexOf("].");
      return dot < 0 ? "tier_policies" + recordComponent.substring("tierPolicies".length())
          : "tier_policies" + recordComponent.substring("tierPolicies".length(), dot + 2)
              + protoField(recordComponent.substring(dot + 2));
    }
    return switch (recordComponent) {
      case "explorationRate" -> "exploration_rate";
      case "targetEscalationRate" -> "target_escalation_rate";
      case "updatedBy" -> "updated_by";
      case "updatedAtMs" -> "updated_at_ms";
      case "ruleVersion" -> "rule_version";
      case "shadowRules" -> "shadow_rules";
      case "fallbackRule" -> "fallback_rule";
      case "earlyDeferMargin" -> "early_defer_margin";
      case "earlyDeferLabelShare" -> "early_defer_label_share";
      case "pregenSkip.rule" -> "pregen_skip_rule";
      case "pregenSkip.threshold" -> "pregen_skip_threshold";
      default -> recordComponent;
    };
  }

  private static String abbreviate(String s) {
    return s.length() <= 20 ? s : s.substring(0, 20) + "…";
  }
}
