package dev.cascade.router.config;

/** A configuration value is missing, unknown or invalid. The message names the key and its source. */
public final class ConfigException extends RuntimeException {
  private final String key;

  public ConfigException(String key, String message) {
    super(key + ": " + message);
    this.key = key;
  }

  /** The offending configuration key. */
  public String key() {
    return key;
  }
}
