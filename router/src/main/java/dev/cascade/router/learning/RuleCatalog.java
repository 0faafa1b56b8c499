package dev.cascade.router.learning;

import dev.cascade.schemas.avro.RuleModel;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Every version of every learned rule one router knows: the shipped ones (version 0) and those read
 * from the rules topic. Each version is marked applicable or not: a rule is applied only by a
 * router whose small model has the fingerprint the rule records, with the same feature layout.
 * Thread-safe: the global-store thread adds versions while stream tasks and the admin service
 * read them; a reader sees a version whole or not at all.
 */
public final class RuleCatalog {

  /**
   * One rule version.
   *
   * @param rule the decoded rule
   * @param applicable whether this router may apply it, as the kind of rule it is: a deferral rule,
   *     or, with the prompt features' layout ({@link PromptFeatures#LAYOUT}), a pre-generation skip rule
   * @param notApplicableReason why not, naming both fingerprints; empty when applicable
   */
  public record Entry(LearnedRule rule, boolean applicable, String notApplicableReason) {
    public String name() {
      return rule.name();
    }

    public long version() {
      return rule.info().version();
    }
  }

  /** What happened to a record offered to the catalog. */
  public enum Admission { LOADED, OTHER_MODEL, UNDECODABLE }

  private final String modelFingerprint;
  private final String modelDescription;
  private final Map<String, NavigableMap<Long, Entry>> byName = new ConcurrentHashMap<>();
  private final AtomicLong changes = new AtomicLong();

  /**
   * @param modelFingerprint the SHA-256 of this router's small model ({@link ModelFingerprint#of})
   */
  public RuleCatalog(String modelFingerprint) {
    this(modelFingerprint, "this router's small model");
  }

  /**
   * A catalog for a tool that applies rules outside a router ({@code eval}).
   *
   * @param modelFingerprint the fingerprint of the small model ({@link ModelFingerprint#of})
   * @param modelDescription how messages name that model, e.g. {@code small model 'medium'}
   */
  public RuleCatalog(String modelFingerprint, String modelDescription) {
    this.modelFingerprint = Objects.requireNonNull(modelFingerprint, "modelFingerprint");
    this.modelDescription = Objects.requireNonNull(modelDescription, "modelDescription");
  }

  /** A catalog for a small model, holding the shipped rules (applicable only to the bundled small model). */
  public static RuleCatalog withBundled(String modelFingerprint) {
    RuleCatalog catalog = new RuleCatalog(modelFingerprint);
    LearnedRules.bundledRules().forEach(catalog::add);
    return catalog;
  }

  /** The SHA-256 of the small model this catalog applies rules for. */
  public String modelFingerprint() {
    return modelFingerprint;
  }

  /**
   * Adds a rule version (replacing one with the same name and version).
   *
   * @return the entry, applicable or not
   * @throws IllegalArgumentException if its version is below 0 (no version a policy could name)
   */
  public Entry add(LearnedRule rule) {
    if (rule.info().version() < 0) {
      throw new IllegalArgumentException("rule '" + rule.name() + "' has version " + rule.info().version()
          + "; versions are 0 or above");
    }
    String reason = whyNotApplicable(rule.info());
    Entry entry = new Entry(rule, reason.isEmpty(), reason);
    byName.compute(rule.name(), (name, versions) -> {
      NavigableMap<Long, Entry> copy = versions == null ? new TreeMap<>() : new TreeMap<>(versions);
      copy.put(entry.version(), entry);
      return java.util.Collections.unmodifiableNavigableMap(copy);
    });
    changes.incrementAndGet();
    return entry;
  }

  /**
   * Decodes a rules-topic record and adds it.
   *
   * @throws IllegalArgumentException if it is not a usable rule artifact (the message says why)
   */
  public Entry add(RuleModel record) {
    return add(RuleArtifacts.fromRecord(record));
  }

  /** Removes one version (a tombstone on the rules topic); the shipped version 0 stays. */
  public void remove(String name, long version) {
    if (version == LearnedRules.BUNDLED_VERSION
        && LearnedRules.BUNDLED_NAMES.contains(name)) {
      return;
    }
    byName.computeIfPresent(name, (n, versions) -> {
      NavigableMap<Long, Entry> copy = new TreeMap<>(versions);
      copy.remove(version);
      return copy.isEmpty() ? null : java.util.Collections.unmodifiableNavigableMap(copy);
    });
    changes.incrementAndGet();
  }

  /** Whether any version of this name is known, applicable or not. */
  public boolean knows(String name) {
    return byName.containsKey(name);
  }

  /** One version, applicable or not. */
  public Optional<Entry> get(String name, long version) {
    NavigableMap<Long, Entry> versions = byName.get(name);
    return versions == null ? Optional.empty() : Optional.ofNullable(versions.get(version));
  }

  /** The newest applicable version of a name. */
  public Optional<Entry> latestApplicable(String name) {
    NavigableMap<Long, Entry> versions = byName.get(name);
    if (versions == null) {
      return Optional.empty();
    }
    for (Entry e : versions.descendingMap().values()) {
      if (e.applicable()) {
        return Optional.of(e);
      }
    }
    return Optional.empty();
  }

  /** The newest version of a name, applicable or not. */
  public Optional<Entry> latest(String name) {
    NavigableMap<Long, Entry> versions = byName.get(name);
    return versions == null ? Optional.empty() : Optional.of(versions.lastEntry().getValue());
  }

  /** The versions of a name, oldest first. */
  public List<Long> versions(String name) {
    NavigableMap<Long, Entry> versions = byName.get(name);
    return versions == null ? List.of() : List.copyOf(versions.keySet());
  }

  /** Every entry, by name then version. */
  public List<Entry> entries() {
    List<Entry> out = new ArrayList<>();
    new TreeMap<>(byName).values().forEach(v -> out.addAll(v.values()));
    return out;
  }

  /** Counts every change, so readers can tell when to look again. */
  public long changes() {
    return changes.get();
  }

  /**
   * Why this router may not apply a rule with this info as the kind of rule it is (a pre-generation
   * skip rule when its layout is {@link PromptFeatures#LAYOUT}, else a deferral rule); empty when it may.
   */
  public String whyNotApplicable(RuleInfo info) {
    return whyNotApplicable(info, isSkipRule(info) ? info.featureLayout() : ModelFingerprint.FEATURE_LAYOUT);
  }

  /**
   * Why a small model with this catalog's fingerprint may not apply {@code rule} as a deferral rule,
   * as a router decides it ({@link RuleResolver#resolve}): a rule over the embedding when the model
   * has none ({@code hidden} output), then the fingerprint and the feature layout; empty when it may.
   * For tools that apply rules outside a router ({@code eval}).
   *
   * @param hasEmbedding whether the small model's graph has a {@code hidden} output
   * @param smallModel how the small model was named, for the message
   */
  public String whyNotDeferralRule(LearnedRule rule, boolean hasEmbedding, String smallModel) {
    if (!hasEmbedding && rule.embeddingLength() > 0) {
      return RuleResolver.noEmbeddingReason(rule.name(), smallModel);
    }
    return whyNotApplicable(rule.info(), ModelFingerprint.FEATURE_LAYOUT);
  }

  /**
   * Whether a rule scores prompts before generation (a pre-generation skip rule, layout {@link
   * PromptFeatures#LAYOUT} or {@link PromptFeatures#TEXT_LAYOUT}) rather than generations.
   */
  public static boolean isSkipRule(RuleInfo info) {
    return PromptFeatures.isSkipLayout(info.featureLayout());
  }

  /** Why this router may not apply a rule with this info as a pre-generation skip rule; empty when it may. */
  public String whyNotSkipRule(RuleInfo info) {
    return whyNotApplicable(info, isSkipRule(info) ? info.featureLayout() : PromptFeatures.LAYOUT);
  }

  /**
   * Why this router may not apply a rule with this info over inputs of {@code layout} ({@link
   * ModelFingerprint#FEATURE_LAYOUT} for a deferral rule, {@link PromptFeatures#LAYOUT} for a
   * pre-generation skip rule); empty when it may.
   */
  public String whyNotApplicable(RuleInfo info, String layout) {
    if (!info.modelFingerprint().equals(modelFingerprint)) {
      return "rule '" + info.name() + "' v" + info.version() + " was trained for the small model with sha256 "
          + (info.modelFingerprint().isEmpty() ? "(not recorded)" : info.modelFingerprint())
          + ", " + modelDescription + " has sha256 " + modelFingerprint;
    }
    if (!info.featureLayout().equals(layout)) {
      return "rule '" + info.name() + "' v" + info.version() + " uses feature layout '" + info.featureLayout()
          + "', " + (PromptFeatures.isSkipLayout(layout) ? "a pre-generation skip rule needs '" + PromptFeatures.LAYOUT
              + "' or '" + PromptFeatures.TEXT_LAYOUT + "'" : "this router computes '" + layout + "'");
    }
    return "";
  }
}
