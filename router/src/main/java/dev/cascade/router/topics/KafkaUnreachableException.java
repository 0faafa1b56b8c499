package dev.cascade.router.topics;

/**
 * No Kafka broker answered at the configured address in time: its host name does not resolve,
 * nothing listens there, or it is not a broker this host can reach. The command line prints its
 * message as one line and exits 1.
 */
public final class KafkaUnreachableException extends RuntimeException {

  private KafkaUnreachableException(String message, Throwable cause) {
    super(message, cause);
  }

  /**
   * No broker at {@code bootstrap} answered within {@code waitedMs}.
   *
   * @param setting what sets that wait, for the message (e.g. {@code kafka.default.api.timeout.ms})
   */
  public static KafkaUnreachableException of(Object bootstrap, Object waitedMs, String setting,
      org.apache.kafka.common.errors.TimeoutException cause) {
    return new KafkaUnreachableException("bootstrap.servers: no Kafka broker answered at " + bootstrap + " within "
        + waitedMs + " ms" + (setting == null ? "" : " (" + setting + ")")
        + ": is the broker up, and is that address one this host can reach? (" + cause.getMessage() + ")", cause);
  }

  /**
   * No host name of {@code bootstrap} resolved, looked up again and again for {@code waitedMs}
   * ({@link BootstrapNames}).
   *
   * @param hosts the names that did not resolve
   * @param setting what sets that wait, for the message (e.g. {@code kafka.default.api.timeout.ms})
   */
  public static KafkaUnreachableException unresolved(Object bootstrap, java.util.List<String> hosts, long waitedMs,
      String setting, java.net.UnknownHostException cause) {
    return new KafkaUnreachableException("bootstrap.servers: the host name" + (hosts.size() == 1 ? " " : "s ")
        + String.join(", ", hosts) + " (in " + bootstrap + ") did not resolve within " + waitedMs + " ms"
        + (setting == null ? "" : " (" + setting + ")") + ": is the name right, and published in the DNS this host"
        + " uses?" + (hosts.contains(cause.getMessage()) ? "" : " (" + cause.getMessage() + ")"), cause);
  }
}
