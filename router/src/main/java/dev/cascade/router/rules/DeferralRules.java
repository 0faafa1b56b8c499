package dev.cascade.router.rules;

import java.util.Collections;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * The registry of deferral rules by name: an immutable map from a rule name to a factory that
 * builds the rule for a level α. {@link #builtIn()} knows {@code chow-sum}, {@code chow-average}
 * and {@code chow-quantile}; {@link #with(String, Factory)} returns a registry that also knows
 * another rule (a learned one, say), so the set is open without any global state.
 *
 * <p>Names come in two spellings. A policy names the rule and α separately ({@code rule =
 * chow-quantile, alpha = 0.1}); the evaluation and the command line use one string with α appended
 * as a plain decimal ({@code chow-quantile-0.1}, {@code chow-quantile-0}). {@link #parse(String)}
 * maps the second onto the first. Every rule is given α; rules that have no level ignore it, but α
 * must still lie in [0, 1].
 */
public final class DeferralRules {

  /** Builds a rule for a level α in [0, 1] (already checked); rules without a level ignore it. */
  @FunctionalInterface
  public interface Factory {
    DeferralRule create(double alpha);
  }

  /**
   * A rule name split into the registry name and the level.
   *
   * @param rule the registry name, e.g. {@code chow-quantile}
   * @param alpha the level; 0 when the name carried none
   */
  public record RuleName(String rule, double alpha) {
    public RuleName {
      Objects.requireNonNull(rule, "rule");
      alpha += 0.0;
    }
  }

  private static final Pattern NAME = Pattern.compile("[a-z][a-z0-9]*(-[a-z0-9]+)*");
  private static final Pattern PLAIN_DECIMAL = Pattern.compile("[0-9]+(\\.[0-9]+)?");
  private static final DeferralRules BUILT_IN =
      new DeferralRules(
          new TreeMap<>(
              Map.of(
                  ChowSumRule.NAME, alpha -> new ChowSumRule(),
                  ChowAverageRule.NAME, alpha -> new ChowAverageRule(),
                  ChowQuantileRule.NAME, ChowQuantileRule::new)));

  private final Map<String, Factory> factories;

  private DeferralRules(TreeMap<String, Factory> factories) {
    this.factories = Collections.unmodifiableMap(factories);
  }

  /** The registry of the built-in rules: {@code chow-sum}, {@code chow-average}, {@code chow-quantile}. */
  public static DeferralRules builtIn() {
    return BUILT_IN;
  }

  /** Shorthand for {@code builtIn().create(name, alpha)}. */
  public static DeferralRule of(String name, double alpha) {
    return BUILT_IN.create(name, alpha);
  }

  /** Shorthand for {@code builtIn().parse(ruleName)}. */
  public static RuleName parseName(String ruleName) {
    return BUILT_IN.parse(ruleName);
  }

  /**
   * A registry that knows every rule this one does, plus {@code name}.
   *
   * @param name lower-case words joined by hyphens, e.g. {@code posthoc-quantile}
   * @throws IllegalArgumentException if the name is malformed or already registered
   */
  public DeferralRules with(String name, Factory factory) {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(factory, "factory");
    if (!NAME.matcher(name).matches()) {
      throw new IllegalArgumentException(
          "rule name '" + name + "' must be lower-case words joined by hyphens, e.g. posthoc-quantile");
    }
    if (factories.containsKey(name)) {
      throw new IllegalArgumentException("rule '" + name + "' is already registered");
    }
    TreeMap<String, Factory> extended = new TreeMap<>(factories);
    extended.put(name, factory);
    return new DeferralRules(extended);
  }

  /** The registered names, sorted. */
  public Set<String> names() {
    return factories.keySet();
  }

  /**
   * The rule registered as {@code name}, at level {@code alpha}.
   *
   * @throws IllegalArgumentException if the name is unknown (the message lists the known ones) or
   *     alpha is not in [0, 1] (the message names {@code alpha})
   */
  public DeferralRule create(String name, double alpha) {
    Objects.requireNonNull(name, "name");
    Factory factory = factories.get(name);
    if (factory == null) {
      throw unknown(name);
    }
    if (!(alpha >= 0.0 && alpha <= 1.0)) {
      throw new IllegalArgumentException(
          "alpha must be in [0, 1], was " + alpha + " (rule '" + name + "')");
    }
    return factory.create(alpha + 0.0);
  }

  /** The rule a one-string name denotes: {@code create(parse(ruleName))}. */
  public DeferralRule create(String ruleName) {
    RuleName parsed = parse(ruleName);
    return create(parsed.rule(), parsed.alpha());
  }

  /**
   * Splits a one-string rule name into the registry name and α. A registered name stands for
   * itself with α = 0; otherwise the name must be a registered name, a hyphen, and α as a plain
   * decimal in [0, 1]: {@code chow-quantile-0} → (chow-quantile, 0), {@code chow-quantile-0.5} →
   * (chow-quantile, 0.5).
   *
   * @throws IllegalArgumentException if no registered name fits (the message lists the known ones)
   *     or α is not in [0, 1] (the message names {@code alpha})
   */
  public RuleName parse(String ruleName) {
    Objects.requireNonNull(ruleName, "ruleName");
    if (factories.containsKey(ruleName)) {
      return new RuleName(ruleName, 0.0);
    }
    int hyphen = ruleName.lastIndexOf('-');
    if (hyphen > 0) {
      String rule = ruleName.substring(0, hyphen);
      String level = ruleName.substring(hyphen + 1);
      if (factories.containsKey(rule) && PLAIN_DECIMAL.matcher(level).matches()) {
        double alpha = Double.parseDouble(level);
        if (alpha > 1.0) {
          throw new IllegalArgumentException(
              "alpha must be in [0, 1], was " + level + " (in rule name '" + ruleName + "')");
        }
        return new RuleName(rule, alpha);
      }
    }
    throw unknown(ruleName);
  }

  private IllegalArgumentException unknown(String name) {
    return new IllegalArgumentException(
        "unknown deferral rule '"
            + name
            + "'; known rules: "
            + String.join(", ", factories.keySet())
            + " (a level may follow as -ALPHA, e.g. chow-quantile-0.1)");
  }
}
