package dev.cascade.router.api;

import com.google.protobuf.ByteString;
import dev.cascade.proto.v1.GetPolicyRequest;
import dev.cascade.proto.v1.GetRuleRequest;
import dev.cascade.proto.v1.ListRulesRequest;
import dev.cascade.proto.v1.ListRulesResponse;
import dev.cascade.proto.v1.Policy;
import dev.cascade.proto.v1.PolicyAdminGrpc;
import dev.cascade.proto.v1.PublishRuleRequest;
import dev.cascade.proto.v1.Rule;
import dev.cascade.proto.v1.UpdatePolicyRequest;
import dev.cascade.proto.v1.WatchPolicyRequest;
import dev.cascade.router.learning.LearnedRule;
import dev.cascade.router.learning.RuleArtifacts;
import dev.cascade.router.learning.RuleCatalog;
import dev.cascade.router.learning.RuleResolver;
import dev.cascade.router.policy.DeferralPolicy;
import dev.cascade.router.policy.InvalidPolicyException;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.time.Clock;
import java.time.Duration;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CopyOnWriteArraySet;
import java.util.regex.Pattern;

/**
 * {@code cascade.v1.PolicyAdmin}: reads and changes the live deferral policy, and lists, reads and
 * publishes learned rule versions. Policy changes go to the policy topic, rule versions to the
 * rules topic; every router instance reads both (the policy as a global table, the rules into its
 * {@link RuleCatalog}). The admin token is checked before {@link #updatePolicy} and
 * {@link #publishRule} run, by {@link AdminTokenInterceptor}.
 *
 * <p>Versions: an update gets the version in force on this instance plus one; a rule published
 * without a version gets the newest version of its name this instance's catalog knows plus one.
 * Writes through one instance are serialized; two instances writing at the same moment can pick
 * the same version (for a policy the later write wins on the topic; for a rule the later record
 * replaces the earlier under the same key), so let one operator tool write at a time.
 */
final class PolicyAdminService extends PolicyAdminGrpc.PolicyAdminImplBase {

  private static final Duration PUBLISH_TIMEOUT = Duration.ofSeconds(10);

  /** The longest {@code reason} a policy may carry, in characters (Unicode code points). */
  static final int MAX_REASON_CHARS = 1024;
  /** The most {@code shadow_rules} a policy may name: each is scored on every request. */
  static final int MAX_SHADOW_RULES = dev.cascade.router.policy.DeferralPolicy.MAX_SHADOW_RULES;
  /** The longest rule name a policy field may give (no rule's name comes near it); longer ones are not echoed. */
  static final int MAX_RULE_NAME_CHARS = 256;

  /** The form of a rule name in the registry ({@code DeferralRules}): lower-case words joined by hyphens. */
  private static final Pattern RULE_NAME = Pattern.compile("[a-z][a-z0-9]*(-[a-z0-9]+)*");

  private final PolicyStore store;
  private final RuleStore ruleStore;
  private final RuleResolver rules;
  private final Clock clock;
  /** How many middle tiers the cascade has (models after the small one, but the last); -1: not known here. */
  private final int middleTiers;
  private final Object updates = new Object();
  private final Object ruleWrites = new Object();
  private final Set<PolicyWatch> watches = new CopyOnWriteArraySet<>();

  /**
   * @param store where the live policy is read and written
   * @param ruleStore where rule versions are written
   * @param rules the rules a policy may name, and the catalog {@code ruleStore}'s writes show up in
   * @param middleTiers how many middle tiers the router's cascade has, the most {@code tier_policies} a
   *     policy may hold; -1 when not known (not checked)
   */
  PolicyAdminService(PolicyStore store, RuleStore ruleStore, RuleResolver rules, Clock clock, int middleTiers) {
    this.store = store;
    this.ruleStore = ruleStore;
    this.rules = rules;
    this.clock = clock;
    this.middleTiers = middleTiers;
  }

  /** Returns the policy in force. */
  @Override
  public void getPolicy(GetPolicyRequest request, StreamObserver<Policy> observer) {
    observer.onNext(ApiRecords.toProto(store.current()));
    observer.onCompleted();
  }

  /**
   * Validates the policy ({@code INVALID_ARGUMENT} naming the field: also a {@code reason} over
   * {@value #MAX_REASON_CHARS} characters, more than {@value #MAX_SHADOW_RULES} {@code shadow_rules} or one
   * named twice, more {@code tier_policies} than the cascade has middle tiers; {@code FAILED_PRECONDITION}
   * when a rule it names was made for another small model, naming both fingerprints), gives it the
   * next version, the caller and the time, writes it to the policy topic and returns it once this
   * instance reads it back. A rule may also be given with its level in the name, e.g. {@code
   * chow-quantile-0.1}, or with its version, e.g. {@code posthoc-quantile@7}.
   */
  @Override
  public void updatePolicy(UpdatePolicyRequest request, StreamObserver<Policy> observer) {
    if (!request.hasPolicy()) {
      observer.onError(Status.INVALID_ARGUMENT.withDescription("policy: missing").asRuntimeException());
      return;
    }
    Policy asked = request.getPolicy();
    String limits = limitProblem(asked);
    if (limits != null) {
      observer.onError(Status.INVALID_ARGUMENT.withDescription(limits).asRuntimeException());
      return;
    }
    try {
      asked = withRuleNameSplit(asked);
    } catch (IllegalArgumentException e) {
      String field = e.getMessage() != null && e.getMessage().startsWith("alpha") ? "alpha" : "rule";
      observer.onError(Status.INVALID_ARGUMENT.withDescription(fieldProblem(field, e.getMessage()))
          .asRuntimeException());
      return;
    }
    if (asked.hasPregenSkipRule() && !asked.getPregenSkipRule().isEmpty() && !asked.hasPregenSkipThreshold()) {
      try {
        asked = withRecordedSkipThreshold(asked);
      } catch (io.grpc.StatusRuntimeException e) {
        observer.onError(e);
        return;
      }
    }
    String caller = AdminTokenInterceptor.CALLER.get();
    DeferralPolicy next;
    synchronized (updates) {
      long highest = store.highestVersion();
      if (highest == Long.MAX_VALUE) {
        observer.onError(Status.FAILED_PRECONDITION.withDescription("policy.version: the policy topic holds version "
            + highest + ", the highest a version can be; there is no next one").asRuntimeException());
        return;
      }
      try {
        next = ApiRecords.fromProto(asked, highest + 1, caller == null ? "admin" : caller, clock.millis());
      } catch (InvalidPolicyException e) {
        observer.onError(Status.INVALID_ARGUMENT.withDescription(e.describedAs("policy." + ApiRecords.protoField(e.field())))
            .asRuntimeException());
        return;
      }
      Status refused = ruleProblem(next);
      if (refused != null) {
        observer.onError(refused.asRuntimeException());
        return;
      }
      try {
        store.publish(next, PUBLISH_TIMEOUT);
      } catch (PolicyStore.PolicyStoreException e) {
        AdminAudit.written("policy version " + next.version() + " not written");
        observer.onError(Status.UNAVAILABLE.withDescription(e.getMessage()).withCause(e).asRuntimeException());
        return;
      }
    }
    AdminAudit.written("policy version " + next.version() + " written: rule " + next.ruleSpec() + " threshold "
        + next.threshold() + " exploration " + next.explorationRate() + " target rate " + next.targetEscalationRate()
        + (next.tierPolicies().isEmpty() ? "" : " tier rules " + next.tierPolicies().stream()
            .map(dev.cascade.router.policy.TierPolicy::describe).toList())
        + (next.pregenSkip() == null ? "" : " pregen skip " + next.pregenSkip().rule()
            + " threshold " + next.pregenSkip().threshold())
        + ", reason " + AdminAudit.quoted(next.reason()));
    observer.onNext(ApiRecords.toProto(next));
    observer.onCompleted();
  }

  /**
   * A policy that names a pre-generation skip rule without a threshold, given the threshold the
   * rule's artifact records as chosen on validation ({@code eval --tiers --skip-rule-out}: its
   * {@code skip_threshold}), as {@code demo --pregen-skip} takes it; the rule is then pinned to the
   * version that threshold was chosen for ({@code NAME@VERSION}).
   *
   * @throws io.grpc.StatusRuntimeException the rule's problem, naming {@code pregen_skip_rule} (as
   *     {@link #ruleProblem(DeferralPolicy)}), or {@code INVALID_ARGUMENT} naming {@code
   *     pregen_skip_threshold} when its artifact records none
   */
  private Policy withRecordedSkipThreshold(Policy p) {
    RuleResolver.ResolvedSkip[] skip = new RuleResolver.ResolvedSkip[1];
    Status refused = ruleProblem("pregen_skip_rule", () -> skip[0] = rules.resolveSkip(p.getPregenSkipRule()), true);
    if (refused != null) {
      throw refused.asRuntimeException();
    }
    java.util.OptionalDouble recorded = dev.cascade.router.learning.PromptFeatures.recordedThreshold(skip[0].rule());
    if (recorded.isEmpty()) {
      throw Status.INVALID_ARGUMENT.withDescription("policy.pregen_skip_threshold: must be set: skip rule '"
          + skip[0].spec() + "' records no threshold chosen on validation ("
          + dev.cascade.router.learning.PromptFeatures.SKIP_THRESHOLD_METRIC + "), was unset").asRuntimeException();
    }
    return p.toBuilder().setPregenSkipRule(skip[0].spec()).setPregenSkipThreshold(recorded.getAsDouble()).build();
  }

  /**
   * Why a policy is over a size limit ({@code reason}, {@code shadow_rules}, {@code tier_policies}) or
   * names a shadow rule twice, as "policy.FIELD: ..."; null when it is within them. Checked first, so
   * that nothing echoes an oversized field back.
   */
  private String limitProblem(Policy p) {
    String longName = longRuleName("rule", p.getRule());
    if (longName == null) {
      longName = longRuleName("fallback_rule", p.getFallbackRule());
    }
    for (int i = 0; longName == null && i < p.getShadowRulesCount(); i++) {
      longName = longRuleName("shadow_rules[" + i + "]", p.getShadowRules(i));
    }
    if (longName == null) {
      longName = longRuleName("pregen_skip_rule", p.getPregenSkipRule());
    }
    if (longName != null) {
      return longName;
    }
    int reasonLength = p.getReason().codePointCount(0, p.getReason().length());
    if (reasonLength > MAX_REASON_CHARS) {
      return "policy.reason: at most " + MAX_REASON_CHARS + " characters, was " + reasonLength;
    }
    if (p.getShadowRulesCount() > MAX_SHADOW_RULES) {
      return "policy.shadow_rules: at most " + MAX_SHADOW_RULES + " rules (each is scored on every request), was "
          + p.getShadowRulesCount();
    }
    Set<String> seen = new java.util.HashSet<>();
    for (int i = 0; i < p.getShadowRulesCount(); i++) {
      String shadow = p.getShadowRules(i);
      if (!seen.add(shadow)) {
        return "policy.shadow_rules[" + i + "]: '" + abbreviate(shadow) + "' is already shadow_rules["
            + p.getShadowRulesList().indexOf(shadow) + "]; name each rule once";
      }
    }
    if (middleTiers >= 0 && p.getTierPoliciesCount() > middleTiers) {
      return "policy.tier_policies: " + p.getTierPoliciesCount() + " entries, and this router's cascade of "
          + (middleTiers + 2) + " models has " + (middleTiers == 0 ? "no middle tiers (give none)"
              : middleTiers + " middle tier" + (middleTiers == 1 ? "" : "s") + " (at most one entry each, in order)");
    }
    return null;
  }

  /**
   * Why the rules a policy names cannot be applied here, naming the field ({@code rule}, {@code
   * fallback_rule}, {@code shadow_rules[i]}, {@code pregen_skip_rule}): {@code FAILED_PRECONDITION}
   * for a rule made for another small model, else {@code INVALID_ARGUMENT}; null when they all can.
   */
  private Status ruleProblem(DeferralPolicy next) {
    Status refused = ruleProblem("rule", () -> rules.resolve(next.rule(), next.alpha(), next.ruleVersion()), true);
    if (refused == null) {
      // A learned rule as the fallback is a wrong argument whatever the router has: never a precondition.
      refused = ruleProblem("fallback_rule", () -> rules.resolveFallback(next.fallbackRule()), false);
    }
    for (int i = 0; refused == null && i < next.shadowRules().size(); i++) {
      String shadow = next.shadowRules().get(i);
      refused = ruleProblem("shadow_rules[" + i + "]", () -> rules.resolve(shadow), true);
    }
    if (refused == null && next.pregenSkip() != null) {
      refused = ruleProblem("pregen_skip_rule", () -> rules.resolveSkip(next.pregenSkip().rule()), true);
    }
    return refused;
  }

  private static Status ruleProblem(String field, Runnable resolve, boolean otherModelIsPrecondition) {
    try {
      resolve.run();
      return null;
    } catch (RuleResolver.RuleUnavailableException e) {
      Status status = otherModelIsPrecondition && e.problem() == RuleResolver.Problem.OTHER_MODEL
          ? Status.FAILED_PRECONDITION : Status.INVALID_ARGUMENT;
      return status.withDescription("policy." + field + ": " + e.getMessage());
    } catch (IllegalArgumentException e) {
      String named = field.equals("rule") && e.getMessage() != null && e.getMessage().startsWith("alpha") ? "alpha"
          : field;
      return Status.INVALID_ARGUMENT.withDescription(fieldProblem(named, e.getMessage()));
    }
  }

  /** "policy.FIELD: problem", without the field's name twice when the problem starts with it. */
  static String fieldProblem(String field, String problem) {
    String text = problem == null ? "invalid" : problem;
    return "policy." + field + ": " + (text.startsWith(field + " ") ? text.substring(field.length() + 1) : text);
  }

  private static String longRuleName(String field, String name) {
    return name.length() <= MAX_RULE_NAME_CHARS ? null
        : "policy." + field + ": a rule name is at most " + MAX_RULE_NAME_CHARS + " characters, was " + name.length();
  }

  private static String abbreviate(String s) {
    return s.length() <= 80 ? s : s.substring(0, 80) + "...";
  }

  /**
   * Streams every policy that comes into force from now on (the current one first when asked),
   * until the caller cancels. A watcher that reads slower than policies change gets the latest
   * one when it is ready again, not a backlog of stale ones.
   */
  @Override
  public void watchPolicy(WatchPolicyRequest request, StreamObserver<Policy> observer) {
    PolicyWatch watch = new PolicyWatch((ServerCallStreamObserver<Policy>) observer);
    watches.add(watch);
    AutoCloseable subscription = store.subscribe(p -> watch.offer(ApiRecords.toProto(p)));
    watch.onEnd(() -> {
      watches.remove(watch);
      try {
        subscription.close();
      } catch (Exception e) {
        throw new IllegalStateException(e);
      }
    });
    if (request.getIncludeCurrent()) {
      watch.offer(ApiRecords.toProto(store.current()));
    }
  }

  /**
   * Lists every rule version this router's catalog holds (the shipped version 0 and those read from
   * the rules topic), by name then version, each marked applicable here or not; without artifacts.
   */
  @Override
  public void listRules(ListRulesRequest request, StreamObserver<ListRulesResponse> observer) {
    ListRulesResponse.Builder response = ListRulesResponse.newBuilder();
    rules.catalog().entries().forEach(e -> response.addRules(ApiRecords.toProto(e)));
    observer.onNext(response.build());
    observer.onCompleted();
  }

  /**
   * Returns one rule version (the newest, applicable or not, when the request gives none) with its
   * artifact; {@code NOT_FOUND} naming the rule or version asked for and those known.
   */
  @Override
  public void getRule(GetRuleRequest request, StreamObserver<Rule> observer) {
    String name = request.getName();
    if (name.isBlank()) {
      observer.onError(Status.INVALID_ARGUMENT.withDescription("name: missing").asRuntimeException());
      return;
    }
    RuleCatalog catalog = rules.catalog();
    Optional<RuleCatalog.Entry> entry = request.hasVersion() ? catalog.get(name, request.getVersion())
        : catalog.latest(name);
    if (entry.isEmpty()) {
      String why = catalog.knows(name)
          ? "rule '" + name + "' has no version " + request.getVersion() + "; known versions: " + catalog.versions(name)
          : "no learned rule '" + name + "'; known rules: " + knownRuleNames(catalog);
      observer.onError(Status.NOT_FOUND.withDescription(why).asRuntimeException());
      return;
    }
    observer.onNext(ApiRecords.toProto(entry.get()).toBuilder()
        .setArtifact(ByteString.copyFrom(RuleArtifacts.encode(entry.get().rule())))
        .build());
    observer.onCompleted();
  }

  /**
   * Decodes a rule artifact ({@code INVALID_ARGUMENT} naming {@code artifact} when it is not one),
   * gives it the requested version or the next one of its name, checks it was made for this
   * router's small model and feature layout ({@code FAILED_PRECONDITION} naming both fingerprints)
   * and that the version is new ({@code ALREADY_EXISTS}), writes it to the rules topic and returns
   * it (without the artifact) once this instance's catalog holds it ({@code UNAVAILABLE} when it
   * cannot be written or does not show up in time).
   */
  @Override
  public void publishRule(PublishRuleRequest request, StreamObserver<Rule> observer) {
    if (request.getArtifact().isEmpty()) {
      observer.onError(Status.INVALID_ARGUMENT.withDescription("artifact: missing").asRuntimeException());
      return;
    }
    if (request.getVersion() < 0) {
      observer.onError(Status.INVALID_ARGUMENT.withDescription("version: must be 0 (the next version) or above, was "
          + request.getVersion()).asRuntimeException());
      return;
    }
    LearnedRule rule;
    try {
      rule = RuleArtifacts.decode(request.getArtifact().toByteArray());
    } catch (IllegalArgumentException e) {
      observer.onError(Status.INVALID_ARGUMENT.withDescription("artifact: " + e.getMessage()).asRuntimeException());
      return;
    }
    String nameProblem = nameProblem(rule.name());
    if (!nameProblem.isEmpty()) {
      observer.onError(Status.INVALID_ARGUMENT.withDescription("artifact: " + nameProblem).asRuntimeException());
      return;
    }
    RuleCatalog catalog = rules.catalog();
    RuleCatalog.Entry published;
    synchronized (ruleWrites) {
      long newest = catalog.latest(rule.name()).map(RuleCatalog.Entry::version).orElse(0L);
      if (request.getVersion() == 0 && newest == Long.MAX_VALUE) {
        observer.onError(Status.FAILED_PRECONDITION.withDescription("version: rule '" + rule.name() + "' has version "
            + newest + ", the highest a version can be, so there is no next one; publish under an unused version"
            + " (known versions: " + abbreviatedVersions(catalog, rule.name()) + ")").asRuntimeException());
        return;
      }
      long version = request.getVersion() > 0 ? request.getVersion() : newest + 1;
      LearnedRule versioned = rule.withInfo(rule.info().withVersion(version));
      String notApplicable = catalog.whyNotApplicable(versioned.info());
      if (!notApplicable.isEmpty()) {
        observer.onError(Status.FAILED_PRECONDITION.withDescription(notApplicable).asRuntimeException());
        return;
      }
      if (catalog.get(rule.name(), version).isPresent()) {
        observer.onError(Status.ALREADY_EXISTS.withDescription("rule '" + rule.name() + "' already has version "
            + version + " (known versions: " + catalog.versions(rule.name())
            + "); publish under a new version, or 0 for the next").asRuntimeException());
        return;
      }
      try {
        ruleStore.publish(versioned, PUBLISH_TIMEOUT);
      } catch (RuleStore.RuleStoreException e) {
        AdminAudit.written("rule " + AdminAudit.quoted(rule.name()) + " version " + version + " not written");
        observer.onError(Status.UNAVAILABLE.withDescription(e.getMessage()).withCause(e).asRuntimeException());
        return;
      }
      published = catalog.get(rule.name(), version).orElse(new RuleCatalog.Entry(versioned, true, ""));
    }
    AdminAudit.written("rule " + AdminAudit.quoted(published.name()) + " version " + published.version()
        + " published");
    observer.onNext(ApiRecords.toProto(published));
    observer.onCompleted();
  }

  /**
   * Why a rule may not be published under this name; empty when it may. A new name must not be
   * one the registry already resolves (a closed-form rule, or one with its level, e.g.
   * {@code chow-quantile-0.1}): the catalog is looked up first, so such a rule would replace it in
   * every policy that names it.
   */
  private String nameProblem(String name) {
    if (rules.catalog().knows(name)) {
      return "";
    }
    if (!RULE_NAME.matcher(name).matches()) {
      return "rule name '" + name + "' must be lower-case words joined by hyphens, e.g. posthoc-quantile";
    }
    try {
      rules.registry().parse(name);
    } catch (IllegalArgumentException e) {
      return "";
    }
    return "rule name '" + name + "' names a rule built into the router; a learned rule needs a name of its own";
  }

  /** The versions of a name, the first and last few when there are many. */
  private static String abbreviatedVersions(RuleCatalog catalog, String name) {
    java.util.List<Long> versions = catalog.versions(name);
    if (versions.size() <= 10) {
      return versions.toString();
    }
    return versions.subList(0, 5) + " ... " + versions.subList(versions.size() - 5, versions.size());
  }

  private static String knownRuleNames(RuleCatalog catalog) {
    TreeSet<String> names = new TreeSet<>();
    catalog.entries().forEach(e -> names.add(e.name()));
    return names.isEmpty() ? "(none)" : String.join(", ", names);
  }

  /** Ends every open watch (the server is stopping). */
  void completeWatches() {
    watches.forEach(PolicyWatch::complete);
  }

  private Policy withRuleNameSplit(Policy p) {
    if (rules.names().contains(p.getRule()) || p.getRule().isBlank()) {
      return p;
    }
    RuleResolver.Spec parsed = rules.parse(p.getRule());
    if (parsed.version() != null) {
      if (p.hasRuleVersion() && p.getRuleVersion() != parsed.version()) {
        throw new IllegalArgumentException("rule_version " + p.getRuleVersion() + " contradicts the version in rule name '"
            + p.getRule() + "'");
      }
      return p.toBuilder().setRule(parsed.name()).setRuleVersion(parsed.version()).build();
    }
    if (p.getAlpha() != 0.0 && p.getAlpha() != parsed.alpha()) {
      throw new IllegalArgumentException("alpha " + p.getAlpha() + " contradicts the level in rule name '"
          + p.getRule() + "'");
    }
    return p.toBuilder().setRule(parsed.name()).setAlpha(parsed.alpha()).build();
  }
}
