package dev.cascade.router.config;

import java.util.function.Function;
import java.util.function.Predicate;

/**
 * One configuration key: its name, default, how its text is parsed and what values are allowed.
 *
 * @param name the key as written in a properties file, e.g. {@code small.batch.size}
 * @param defaultValue the default's text; {@code null} means "no default" (the key is optional)
 * @param parser turns the text into a value; throws on malformed text
 * @param valid the constraint a parsed value must meet
 * @param constraint the constraint in words, for error messages
 * @param doc one line on what the key does
 */
public record ConfigKey<T>(
    String name,
    String defaultValue,
    Function<String, T> parser,
    Predicate<T> valid,
    String constraint,
    String doc) {

  /** The environment variable that sets this key: {@code CASCADE_} + the name upper-cased, dots and dashes as underscores. */
  public String envName() {
    return envNameOf(name);
  }

  static String envNameOf(String key) {
    return "CASCADE_" + key.toUpperCase(java.util.Locale.ROOT).replace('.', '_').replace('-', '_');
  }

  T parse(String text, String source) {
    T value;
    try {
      value = parser.apply(text.trim());
    } catch (ConfigException e) {
      // A parser that explains itself (e.g. large.target's): its reason, and where the value came from.
      String reason = e.getMessage().startsWith(e.key() + ": ") ? e.getMessage().substring(e.key().length() + 2)
          : e.getMessage();
      throw new ConfigException(name, reason + " (from " + source + ")");
    } catch (RuntimeException e) {
      throw new ConfigException(name, "cannot parse '" + text + "' from " + source + " (expected " + constraint + ")");
    }
    if (!valid.test(value)) {
      throw new ConfigException(name, "value '" + text + "' from " + source + " is invalid: must be " + constraint);
    }
    return value;
  }

  static ConfigKey<String> string(String name, String defaultValue, String doc) {
    return new ConfigKey<>(name, defaultValue, s -> s, s -> true, "a string", doc);
  }

  static ConfigKey<String> nonEmpty(String name, String defaultValue, String doc) {
    return new ConfigKey<>(name, defaultValue, s -> s, s -> !s.isEmpty(), "a non-empty string", doc);
  }

  static ConfigKey<Integer> intInRange(String name, int defaultValue, int min, int max, String doc) {
    return new ConfigKey<>(name, Integer.toString(defaultValue), Integer::parseInt,
        v -> v >= min && v <= max, "an integer from " + min + " to " + max, doc);
  }

  static ConfigKey<Double> doubleInRange(String name, double defaultValue, double min, double max, String doc) {
    return new ConfigKey<>(name, Double.toString(defaultValue), Double::parseDouble,
        v -> !v.isNaN() && v >= min && v <= max, "a number from " + min + " to " + max, doc);
  }

  static ConfigKey<Double> finiteDouble(String name, double defaultValue, String doc) {
    return new ConfigKey<>(name, Double.toString(defaultValue), Double::parseDouble,
        Double::isFinite, "a finite number", doc);
  }

  static ConfigKey<Boolean> bool(String name, boolean defaultValue, String doc) {
    return new ConfigKey<>(name, Boolean.toString(defaultValue), s -> {
      if (s.equalsIgnoreCase("true")) {
        return true;
      }
      if (s.equalsIgnoreCase("false")) {
        return false;
      }
      throw new IllegalArgumentException(s);
    }, v -> true, "true or false", doc);
  }
}
