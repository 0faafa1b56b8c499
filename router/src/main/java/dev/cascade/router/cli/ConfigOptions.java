package dev.cascade.router.cli;

import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.config.ConfigKey;
import java.io.IOException;
import java.io.StringReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.TreeMap;
import java.util.function.Predicate;
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
    CascadeConfig config = CascadeConfig.load(commandDefaults, file, System.getenv(), flags);
    dev.cascade.router.config.SchemaWrites.apply(config); // what this process writes: for the whole process
    return config;
  }

  public CascadeConfig load() {
    return load(Map.of());
  }

  /**
   * The keys given rather than defaulted, each with where the value in force came from: the
   * {@code --config} file, a {@code CASCADE_*} variable, {@code --set}. Meant after {@link #load}
   * has accepted them.
   */
  public Map<String, String> given() {
    Map<String, String> out = new TreeMap<>();
    if (file != null) {
      Properties props = new Properties();
      try {
        String content = Files.readString(file);
        props.load(new StringReader(content.startsWith("\uFEFF") ? content.substring(1) : content));
      } catch (IOException e) {
        // load() has refused such a file already.
      }
      props.stringPropertyNames().forEach(name -> out.put(name, "--config " + file));
    }
    Map<String, String> env = System.getenv();
    for (ConfigKey<?> key : CascadeConfig.KEYS) {
      if (env.containsKey(key.envName())) {
        out.put(key.name(), key.envName());
      }
    }
    overrides.forEach(kv -> out.put(kv.key(), "--set"));
    return out;
  }

  /**
   * A warning line naming the keys {@link #given} that {@code command} does not read (it reads those
   * {@code reads} accepts), then {@code instead}; empty when it reads every one given.
   */
  public Optional<String> unread(String command, Predicate<String> reads, String instead) {
    List<String> unread = new ArrayList<>();
    given().forEach((key, from) -> {
      if (!reads.test(key)) {
        unread.add(key + " (" + from + ")");
      }
    });
    return unread.isEmpty() ? Optional.empty() : Optional.of("warning: " + command + " does not read "
        + String.join(", ", unread) + ": " + instead);
  }
}
