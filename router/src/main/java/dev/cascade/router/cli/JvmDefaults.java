package dev.cascade.router.cli;

import java.util.List;

/**
 * The JVM options the {@code ./cascade} launcher gives one command on top of the JVM's defaults
 * (its {@code case} on the command; the fault harness gives its processes the same). {@code
 * broker}, the embedded single-node broker for development and tests: C1 alone ({@code
 * -XX:TieredStopAtLevel=1}) and the serial collector. {@code serve}: C1 alone. On two cores C2
 * compiling start-up code is a large part of a restart, and C1 cut both restarts to about half with
 * the class-data-sharing archive; {@code cascade bench router} ran faster with C1, not slower, with
 * the same CPU per request in the router's own threads (RELIABILITY.md). The large-model server and
 * every other command keep the JVM's defaults. Options in {@code CASCADE_JAVA_OPTS} come later and
 * win, e.g. {@code -XX:TieredStopAtLevel=4} for C2 again.
 */
public final class JvmDefaults {

  private JvmDefaults() {}

  /** The options for {@code cascade COMMAND}. */
  public static List<String> forCommand(String command) {
    return switch (command) {
      case "broker" -> List.of("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC");
      case "serve" -> List.of("-XX:TieredStopAtLevel=1");
      default -> List.of();
    };
  }
}
