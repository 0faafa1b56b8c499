package dev.cascade.router.cli;

import dev.cascade.router.config.CascadeConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Option;

/** The configuration flags every command that runs part of the router shares. */
public final class ConfigOptions {

  @Option(names = "--config", paramLabel = "FILE",
      description = "Properties file of configuration keys (see the README's configuration table).")
  Path file;

  @Option(names = "--set", paramLabel = "KEY=VALUE", converter = KeyValue.Converter.class,
      description = "Sets one configuration key; repeatable. Overrides the file and CASCADE_* environment variables.")
  List<KeyValue> overrides = new ArrayList<>();

  /** Defaults, then the file, then the environment, then {@code --set}, then {@code commandFlags}. */
  public CascadeConfig load(Map<String, String> commandFlags) {
    return load(Map.of(), commandFlags);
  }

  /**
   * {@code commandDefaults} sit just above the built-in defaults: the file, the environment,
   * {@code --set} and {@code commandFlags} all override them.
   */
  public CascadeConfig load(Map<String, String> commandDefaults, Map<String, String> commandFlags) {
    Map<String, String> flags = KeyValue.toMap(overrides);
    flags.putAll(commandFlags);
    return CascadeConfig.load(commandDefaults, file, System.getenv(), flags);
  }

  public CascadeConfig load() {
    return load(Map.of());
  }
}
