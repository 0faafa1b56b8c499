package dev.cascade.router.learning;

import dev.cascade.router.policy.DeferralPolicy;
import dev.cascade.router.rules.DeferralRule;
import dev.cascade.router.rules.DeferralRules;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Turns the rules a policy names into rules that score: closed-form rules from the registry, and
 * learned ones from the {@link RuleCatalog} by name and version (a pinned version, or the newest
 * applicable one). Thread-safe; holds no state of its own.
 */
public final class RuleResolver {

  /** Why a named rule cannot be applied, as a kind a metric can count. */
  public enum Problem {
    /** No rule of that name, on the topic or built in. */
    UNKNOWN_RULE,
    /** The name is known but not that version. */
    MISSING_VERSION,
    /**
     * The version is newer than every version of that name this router has: the policy naming it
     * arrived before the rule record (they come on two topics), which is usually a moment away.
     */
    PENDING_VERSION,
    /** The version exists but was made for another small model or feature layout. */
    OTHER_MODEL,
    /** The rule failed to score a request. */
    SCORE_FAILED;

    /** The metric label: lower case. */
    public String label() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }
  }

  /** A rule that cannot be applied; the message says why. */
  public static final class RuleUnavailableException extends IllegalArgumentException {
    private final Problem problem;

    RuleUnavailableException(Problem problem, String message) {
      super(message);
      this.problem = problem;
    }

    public Problem problem() {
      return problem;
    }
  }

  /**
   * A rule ready to score.
   *
   * @param rule scores a generation
   * @param name the registry name
   * @param alpha the level (0 for rules without one)
   * @param version the learned rule's version, null for a closed-form rule
   * @param fallbackReason why the policy's rule was not used and this fallback was; null when it was
   * @param problem the kind of that reason, null when none
   */
  public record Resolved(DeferralRule rule, String name, double alpha, Long version, String fallbackReason,
      Problem problem) {

    /** Identifies the rule and version: scores under different keys are not comparable. */
    public String key() {
      return RuleResolver.key(name, alpha, version);
    }

    /** How a policy or an outcome names it: {@code NAME}, {@code NAME-ALPHA} or {@code NAME@VERSION}. */
    public String spec() {
      return version != null ? name + "@" + version : alpha == 0.0 ? name : name + "-" + stripZeros(alpha);
    }

    Resolved asFallbackFor(String reason, Problem kind) {
      return new Resolved(rule, name, alpha, version, reason, kind);
    }
  }

  /**
   * A rule as one string: NAME, NAME-ALPHA or NAME@VERSION.
   *
   * @param name the registry name
   * @param alpha the level
   * @param version the pinned version, or null for the latest
   */
  public record Spec(String name, double alpha, Long version) {}

  /** {@code NAME@VERSION}: any run of digits, so that a version too large for a long is refused, not read as a name. */
  private static final Pattern AT_VERSION = Pattern.compile("(.+)@([0-9]+)");

  /**
   * A rule name with a version, as {@code NAME@VERSION} gives it.
   *
   * @param name the rule's name
   * @param version its version, 0 to {@link Long#MAX_VALUE}
   */
  public record Versioned(String name, long version) {}

  /**
   * Splits {@code NAME@VERSION}, the one way a version is read from a rule's name everywhere (policies,
   * {@code rules get}, configuration): every version a catalog can list, 0 to {@link Long#MAX_VALUE}.
   *
   * @return empty when {@code spec} does not end in {@code @DIGITS}
   * @throws IllegalArgumentException when the digits are above {@link Long#MAX_VALUE}
   */
  public static java.util.Optional<Versioned> splitVersion(String spec) {
    Matcher at = AT_VERSION.matcher(Objects.requireNonNull(spec, "spec"));
    if (!at.matches()) {
      return java.util.Optional.empty();
    }
    try {
      return java.util.Optional.of(new Versioned(at.group(1), Long.parseLong(at.group(2))));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("version " + at.group(2) + " in '" + spec + "' is above the highest a version"
          + " can be, " + Long.MAX_VALUE);
    }
  }

  private final DeferralRules registry;
  private final RuleCatalog catalog;
  /** The small model's name when it has no embedding (rules over it cannot apply here); null when it has one. */
  private final String noEmbedding;

  /**
   * @param registry the closed-form rules (and any learned ones registered without versions)
   * @param catalog the learned rules by version
   */
  public RuleResolver(DeferralRules registry, RuleCatalog catalog) {
    this(registry, catalog, null);
  }

  private RuleResolver(DeferralRules registry, RuleCatalog catalog, String noEmbedding) {
    this.registry = Objects.requireNonNull(registry, "registry");
    this.catalog = Objects.requireNonNull(catalog, "catalog");
    this.noEmbedding = noEmbedding;
  }

  /**
   * This resolver for a small model without an embedding (no {@code hidden} output): a rule over
   * the embedding ({@code posthoc-embed}, or any version with embedding inputs) is refused, saying so.
   */
  public RuleResolver withoutEmbedding(String smallModel) {
    return new RuleResolver(registry, catalog, smallModel);
  }

  /**
   * Why a rule over the embedding cannot apply to a small model without one. The alternatives it
   * names are ones that can: a closed-form rule, or a posthoc-quantile trained for that model (the
   * shipped one is bound to the bundled small model, which has a {@code hidden} output).
   */
  public static String noEmbeddingReason(String rule, String smallModel) {
    return "rule '" + rule + "' scores the small model's embedding, and small model '" + smallModel
        + "' has none (its graph has no 'hidden' output); use a chow-* rule, or a posthoc-quantile trained for"
        + " this model with train-rule";
  }

  /** A resolver over a registry alone (no versioned rules): for tests and tools. */
  /**
   * Identifies a rule with its level and version ({@link Resolved#key()}), as the target-rate
   * controller keys its window: scores under different keys are not comparable. An outcome's
   * {@code rule}, {@code alpha} and {@code rule_version} give the key it was scored under.
   */
  public static String key(String name, double alpha, Long version) {
    return name + "@" + alpha + (version == null ? "" : "#v" + version);
  }

  public static RuleResolver of(DeferralRules registry) {
    return new RuleResolver(registry, new RuleCatalog(""));
  }

  public RuleCatalog catalog() {
    return catalog;
  }

  public DeferralRules registry() {
    return registry;
  }

  /**
   * Parses NAME, NAME-ALPHA or NAME@VERSION.
   *
   * @throws IllegalArgumentException for an unknown name or a bad level
   */
  public Spec parse(String spec) {
    java.util.Optional<Versioned> at = splitVersion(spec);
    if (at.isPresent()) {
      return new Spec(at.get().name(), 0.0, at.get().version());
    }
    if (catalog.knows(spec)) {
      return new Spec(spec, 0.0, null);
    }
    DeferralRules.RuleName parsed = registry.parse(spec);
    return new Spec(parsed.rule(), parsed.alpha(), null);
  }

  /**
   * The rule a name, level and optional version denote.
   *
   * @throws RuleUnavailableException if there is no such rule or version, or it was made for another
   *     small model (the message names both fingerprints)
   * @throws IllegalArgumentException if alpha is out of range
   */
  public Resolved resolve(String name, double alpha, Long version) {
    Objects.requireNonNull(name, "name");
    if (noEmbedding != null && usesEmbedding(name)) {
      throw new RuleUnavailableException(Problem.OTHER_MODEL, noEmbeddingReason(name, noEmbedding));
    }
    if (catalog.knows(name)) {
      RuleCatalog.Entry entry;
      if (version == null) {
        entry = catalog.latestApplicable(name).orElseThrow(() -> new RuleUnavailableException(Problem.OTHER_MODEL,
            catalog.latest(name).map(RuleCatalog.Entry::notApplicableReason).orElse("rule '" + name + "' has no versions")));
      } else {
        entry = catalog.get(name, version).orElseThrow(() -> missingVersion("rule '" + name + "'", name, version));
        if (!entry.applicable()) {
          throw new RuleUnavailableException(Problem.OTHER_MODEL, entry.notApplicableReason());
        }
      }
      if (RuleCatalog.isSkipRule(entry.rule().info())) {
        throw new RuleUnavailableException(Problem.OTHER_MODEL, "rule '" + name + "' v" + entry.version()
            + " uses feature layout '" + entry.rule().info().featureLayout() + "': it scores prompts before generation, a"
            + " pre-generation skip rule (the policy's pregen_skip_rule), not a deferral rule");
      }
      return new Resolved(entry.rule(), name, 0.0, entry.version(), null, null);
    }
    if (!registry.names().contains(name)) {
      throw new RuleUnavailableException(Problem.UNKNOWN_RULE, "unknown deferral rule '" + name + "'; known rules: "
          + String.join(", ", names()));
    }
    if (version != null) {
      throw new RuleUnavailableException(Problem.MISSING_VERSION,
          "rule '" + name + "' has no versions (only learned rules do); drop @" + version);
    }
    return new Resolved(registry.create(name, alpha), name, alpha + 0.0, null, null, null);
  }

  /**
   * {@code version} of {@code name} is not in the catalog: {@link Problem#PENDING_VERSION} when it
   * is newer than every version there (its record may still be on its way), else
   * {@link Problem#MISSING_VERSION}.
   */
  private RuleUnavailableException missingVersion(String what, String name, long version) {
    List<Long> known = catalog.versions(name);
    boolean newer = known.stream().allMatch(v -> v < version);
    return new RuleUnavailableException(newer ? Problem.PENDING_VERSION : Problem.MISSING_VERSION,
        what + " has no version " + version + (newer ? " yet" : "") + "; known versions: " + known);
  }

  private boolean usesEmbedding(String name) {
    if (name.equals(FeatureSet.EMBED.ruleName())) {
      return true;
    }
    return catalog.entries().stream().anyMatch(e -> e.name().equals(name) && e.rule().embeddingLength() > 0);
  }

  /** The rule one string names: {@code resolve(parse(spec))}. */
  public Resolved resolve(String spec) {
    Spec parsed = parse(spec);
    return resolve(parsed.name(), parsed.alpha(), parsed.version());
  }

  /**
   * The policy's rule, or its fallback rule with the reason when the policy's rule cannot be applied.
   *
   * @throws IllegalArgumentException only if the fallback rule cannot be applied either
   */
  public Resolved ruleOf(DeferralPolicy policy) {
    try {
      return resolve(policy.rule(), policy.alpha(), policy.ruleVersion());
    } catch (RuleUnavailableException e) {
      return resolve(policy.fallbackRule()).asFallbackFor(e.getMessage(), e.problem());
    }
  }

  /** The fallback rule of a policy, for a request the policy's rule failed to score. */
  public Resolved fallbackOf(DeferralPolicy policy, String reason) {
    return resolve(policy.fallbackRule()).asFallbackFor(reason, Problem.SCORE_FAILED);
  }

  /** The policy's shadow rules that can be applied here; the others are left out (see {@link #check}). */
  public List<Resolved> shadowsOf(DeferralPolicy policy) {
    List<Resolved> out = new ArrayList<>();
    for (String spec : policy.shadowRules()) {
      try {
        out.add(resolve(spec));
      } catch (IllegalArgumentException e) {
        // Not applicable here: left out; check() refuses such a policy up front.
      }
    }
    return out;
  }

  /**
   * The rule a policy's {@code fallback_rule} names: a closed-form rule, which any small model can apply.
   *
   * @throws RuleUnavailableException if it names no rule, or a learned one (problem {@link Problem#OTHER_MODEL})
   * @throws IllegalArgumentException for a bad level
   */
  public Resolved resolveFallback(String spec) {
    Resolved fallback = resolve(spec);
    if (fallback.version() != null) {
      throw new RuleUnavailableException(Problem.OTHER_MODEL, "fallback rule '" + spec
          + "' must be a closed-form rule (chow-sum, chow-average, chow-quantile), which any model can apply;"
          + " it names a learned rule");
    }
    return fallback;
  }

  /**
   * Checks every rule a policy names (its rule, fallback and shadows) can be applied here.
   *
   * @throws RuleUnavailableException naming the first that cannot
   * @throws IllegalArgumentException for a bad level
   */
  public void check(DeferralPolicy policy) {
    resolve(policy.rule(), policy.alpha(), policy.ruleVersion());
    resolveFallback(policy.fallbackRule());
    for (String spec : policy.shadowRules()) {
      resolve(spec);
    }
    if (policy.pregenSkip() != null) {
      resolveSkip(policy.pregenSkip().rule());
    }
  }

  /**
   * A pre-generation skip rule ready to score prompts ({@link PromptFeatures#score}).
   *
   * @param rule the learned prompt rule
   * @param name its name
   * @param version its version
   */
  public record ResolvedSkip(LearnedRule rule, String name, long version) {
    /** How an outcome names it: {@code NAME@VERSION}. */
    public String spec() {
      return name + "@" + version;
    }
  }

  /**
   * The pre-generation skip rule {@code spec} names ({@code NAME}: its newest version applicable
   * here; {@code NAME@VERSION}: that one): a learned rule with the prompt features' layout ({@link
   * PromptFeatures#LAYOUT}) trained for this router's small model.
   *
   * @throws RuleUnavailableException if there is no such rule or version, or it was made for another
   *     small model or over other inputs (a post-generation rule, say): the message says which
   */
  public ResolvedSkip resolveSkip(String spec) {
    java.util.Optional<Versioned> at = splitVersion(spec);
    String name = at.map(Versioned::name).orElse(spec);
    Long version = at.map(Versioned::version).orElse(null);
    if (!catalog.knows(name)) {
      throw new RuleUnavailableException(Problem.UNKNOWN_RULE, registry.names().contains(name)
          ? "rule '" + name + "' is a post-generation rule; a pre-generation skip rule is a learned rule over the"
              + " prompt features (" + PromptFeatures.LAYOUT + "), published to the rules topic"
          : "unknown pre-generation skip rule '" + name + "': no version on the rules topic");
    }
    RuleCatalog.Entry entry;
    if (version == null) {
      List<Long> versions = catalog.versions(name);
      entry = null;
      for (int i = versions.size() - 1; i >= 0 && entry == null; i--) {
        RuleCatalog.Entry e = catalog.get(name, versions.get(i)).orElseThrow();
        if (catalog.whyNotSkipRule(e.rule().info()).isEmpty()) {
          entry = e;
        }
      }
      if (entry == null) {
        RuleCatalog.Entry newest = catalog.latest(name).orElseThrow();
        throw new RuleUnavailableException(Problem.OTHER_MODEL,
            catalog.whyNotSkipRule(newest.rule().info()));
      }
    } else {
      entry = catalog.get(name, version).orElseThrow(
          () -> missingVersion("pre-generation skip rule '" + name + "'", name, version));
      String why = catalog.whyNotSkipRule(entry.rule().info());
      if (!why.isEmpty()) {
        throw new RuleUnavailableException(Problem.OTHER_MODEL, why);
      }
    }
    return new ResolvedSkip(entry.rule(), name, entry.version());
  }

  /** Every name a policy may give: the registry's and the catalog's. */
  public List<String> names() {
    java.util.TreeSet<String> names = new java.util.TreeSet<>(registry.names());
    catalog.entries().forEach(e -> names.add(e.name()));
    return List.copyOf(names);
  }

  private static String stripZeros(double alpha) {
    return java.math.BigDecimal.valueOf(alpha).stripTrailingZeros().toPlainString();
  }
}
