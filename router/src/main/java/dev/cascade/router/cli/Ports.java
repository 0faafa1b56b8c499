package dev.cascade.router.cli;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * The ports a serving command is told to listen on, checked before it loads anything slow: each
 * in 0..65535 ({@link IllegalArgumentException}, exit 2), no two the same, and each free now (a
 * trial bind on every interface, then closed). What is already taken is a {@link PortInUseException}
 * (exit 1: the process holding it may be going away, so a supervisor's restart can help). A port
 * that is taken between the check and the real bind gets the same one-line error from
 * {@link #cannotListen}.
 */
final class Ports {

  private final Map<String, Integer> ports = new LinkedHashMap<>();
  private final Map<String, java.net.InetAddress> hosts = new LinkedHashMap<>();

  /** Adds the port {@code option} gives (0: any free one, never checked against the others). */
  Ports add(String option, int port) {
    return add(option, null, port);
  }

  /** As above, on the interface {@code host} (null: every interface). */
  Ports add(String option, java.net.InetAddress host, int port) {
    if (port < 0 || port > 65_535) {
      throw new IllegalArgumentException(option + ": must be 0 to 65535, was " + port);
    }
    for (Map.Entry<String, Integer> other : ports.entrySet()) {
      if (port != 0 && other.getValue() == port) {
        throw new IllegalArgumentException(option + " " + port + ": the same port as " + other.getKey());
      }
    }
    ports.put(option, port);
    hosts.put(option, host);
    return this;
  }

  /**
   * Binds each port given (other than 0) on its interface (every interface when none was given) and
   * lets it go; throws for the first that cannot be.
   */
  void checkFree() {
    checkFree(null);
  }

  /** As {@link #checkFree()}, on {@code address} (null: every interface). */
  void checkFree(java.net.InetAddress address) {
    for (Map.Entry<String, Integer> entry : ports.entrySet()) {
      if (entry.getValue() == 0) {
        continue;
      }
      try (ServerSocket socket = new ServerSocket()) {
        socket.setReuseAddress(true);
        socket.bind(new InetSocketAddress(address != null ? address : hosts.get(entry.getKey()), entry.getValue()));
      } catch (IOException e) {
        throw cannotListen(entry.getKey(), entry.getValue(), e);
      }
    }
  }

  /**
   * The one-line error for a failed bind of {@code port} ({@code e} as the server library threw
   * it): "--port 8001: address already in use" ({@link PortInUseException}), or another reason
   * ("permission denied") as an {@link IllegalArgumentException}.
   */
  static RuntimeException cannotListen(String option, int port, Throwable e) {
    String reason = null;
    for (Throwable t = e; t != null; t = t.getCause()) {
      String message = t.getMessage();
      if (message != null && message.toLowerCase(Locale.ROOT).contains("address already in use")) {
        return new PortInUseException(option + " " + port + ": address already in use", e);
      }
      if (message != null) {
        // The innermost says it plainest: "bind(..) failed: Permission denied" -> "permission denied".
        reason = message.substring(message.lastIndexOf(": ") < 0 ? 0 : message.lastIndexOf(": ") + 2)
            .toLowerCase(Locale.ROOT);
      }
    }
    return new IllegalArgumentException(option + " " + port + ": cannot listen there: "
        + (reason == null ? e.getClass().getSimpleName() : reason), e);
  }

  /** Whether {@code e} is a failure to bind (an I/O error somewhere in its causes), not some other fault. */
  static boolean isBindFailure(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof IOException) {
        return true;
      }
    }
    return false;
  }

  /** A port a command was told to listen on is taken. The command line prints its message as one line and exits 1. */
  static final class PortInUseException extends RuntimeException {
    PortInUseException(String message, Throwable cause) {
      super(message, cause);
    }
  }
}
