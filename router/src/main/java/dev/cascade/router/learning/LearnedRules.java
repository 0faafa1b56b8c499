package dev.cascade.router.learning;

import dev.cascade.router.rules.DeferralRules;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Objects;

/**
 * The learned rules shipped with the router, and registries that include learned rules. The
 * shipped ones ({@code posthoc-quantile}, {@code posthoc-embed}) were trained on the bundled
 * models' validation split; they are classpath resources {@code cascade/rules/NAME.rule}
 * (artifacts as {@link RuleArtifacts} writes them), read once and shared: rules are immutable.
 *
 * <pre>{@code
 * CascadeRouter.start(config, small, target, LearnedRules.bundled());
 * }</pre>
 */
public final class LearnedRules {

  /** The classpath directory of the shipped rules. */
  public static final String RESOURCE_DIR = "cascade/rules/";

  /** The names of the shipped rules, in the order {@link #bundledRules()} returns them. */
  public static final List<String> BUNDLED_NAMES =
      List.of(FeatureSet.QUANTILE.ruleName(), FeatureSet.EMBED.ruleName());

  /** The version the shipped rules have: newer versions on the rules topic replace them. */
  public static final long BUNDLED_VERSION = 0L;

  /** The bundled small model the shipped rules were trained for. */
  public static final String BUNDLED_MODEL = "small";

  private static List<LearnedRule> bundled;

  private LearnedRules() {}

  /** The built-in Chow rules plus the shipped learned rules. */
  public static DeferralRules bundled() {
    return register(DeferralRules.builtIn(), bundledRules());
  }

  /**
   * The shipped learned rules.
   *
   * @throws IllegalStateException if a shipped artifact is missing or unreadable (a broken build)
   */
  public static synchronized List<LearnedRule> bundledRules() {
    if (bundled == null) {
      bundled = loadBundled();
    }
    return bundled;
  }

  /**
   * {@code base} plus every rule in {@code rules} under its own name. A policy names a learned rule
   * like any other; the level α it gives is ignored.
   *
   * @throws IllegalArgumentException if a name is already registered in {@code base}
   */
  public static DeferralRules register(DeferralRules base, Collection<LearnedRule> rules) {
    Objects.requireNonNull(base, "base");
    DeferralRules registry = base;
    for (LearnedRule rule : rules) {
      registry = registry.with(rule.name(), alpha -> rule);
    }
    return registry;
  }

  private static List<LearnedRule> loadBundled() {
    List<LearnedRule> rules = new ArrayList<>();
    for (String name : BUNDLED_NAMES) {
      String resource = RESOURCE_DIR + name + ".rule";
      try (InputStream in = LearnedRules.class.getClassLoader().getResourceAsStream(resource)) {
        if (in == null) {
          throw new IllegalStateException("the shipped rule artifact " + resource
              + " is missing from the classpath");
        }
        LearnedRule rule = RuleArtifacts.read(in);
        if (!rule.name().equals(name)) {
          throw new IllegalStateException(resource + " holds rule '" + rule.name() + "'");
        }
        // The shipped rules are version 0 of their names, made for the bundled small model.
        RuleInfo info = rule.info().withVersion(BUNDLED_VERSION);
        if (info.modelFingerprint().isEmpty()) {
          info = info.withModel(ModelFingerprint.of(BUNDLED_MODEL), ModelFingerprint.FEATURE_LAYOUT);
        }
        rules.add(rule.withInfo(info));
      } catch (IOException e) {
        throw new UncheckedIOException("cannot read " + resource, e);
      } catch (IllegalArgumentException e) {
        throw new IllegalStateException(resource + ": " + e.getMessage(), e);
      }
    }
    return List.copyOf(rules);
  }
}
