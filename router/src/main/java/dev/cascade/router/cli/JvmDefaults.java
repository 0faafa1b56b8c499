package dev.cascade.router.cli;

import java.util.List;

/**
 * The JVM options the {@code ./cascade} launcher gives one command on top of the JVM's defaults
 * (its {@code case} on the command; the fault harness gives its processes the same). Only {@code
 * broker}, the embedded single-node broker for development and tests, has any: C1 alone ({@code
 * -XX:TieredStopAtLevel=1}) and the serial collector. On two cores they cut its restart to well
 * under half (RELIABILITY.md), and its load is light enough that C1's less optimised code costs
 * nothing that shows; the router and the large-model server, which run for hours, keep the JVM's
 * defaults.
 */
public final class JvmDefaults {

  private JvmDefaults() {}

  /** The options for {@code cascade COMMAND}. */
  public static List<String> forCommand(String command) {
    return command.equals("broker") ? List.of("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC") : List.of();
  }
}
