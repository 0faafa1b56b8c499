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

  /** How long the probe of each address waits for a connection, and then for an answer. */
  private static final int PROBE_MS = 2_000;

  /**
   * No broker at the {@code bootstrap.servers} of {@code clientProps} answered within
   * {@code waitedMs}. Before it says so, it probes those addresses ({@link BrokerProbe}: a TCP
   * connection and a Kafka request, up to 2 s each) to say what is there: nothing, something that
   * is not a Kafka broker, or a broker that answers.
   *
   * @param setting what sets that wait, for the message (e.g. {@code kafka.default.api.timeout.ms})
   */
  public static KafkaUnreachableException of(java.util.Map<String, ?> clientProps, Object waitedMs, String setting,
      org.apache.kafka.common.errors.TimeoutException cause) {
    Object bootstrap = clientProps.get(org.apache.kafka.clients.CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG);
    Object protocol = clientProps.get(org.apache.kafka.clients.CommonClientConfigs.SECURITY_PROTOCOL_CONFIG);
    BrokerProbe.Result found = BrokerProbe.probe(bootstrap, BrokerProbe.plaintext(protocol), PROBE_MS);
    return new KafkaUnreachableException("bootstrap.servers: no Kafka broker answered at " + bootstrap + " within "
        + waitedMs + " ms" + (setting == null ? "" : " (" + setting + ")") + ": " + hint(found, protocol)
        + " (" + cause.getMessage() + ")", cause);
  }

  /** What to check, after what the probe found. */
  static String hint(BrokerProbe.Result found, Object protocol) {
    if (found == null || found.found() == BrokerProbe.Found.NOTHING) {
      return "is the broker up, and is that address one this host can reach?";
    }
    String where = found.address() + " " + found.detail();
    return switch (found.found()) {
      case NOT_KAFKA -> where + ": is that the broker's port (not another server's, such as a model's HTTP port),"
          + " and does that listener expect TLS (kafka.security.protocol=SSL or SASL_SSL)?";
      case CONNECTION -> where + ", but no Kafka answer came over " + protocol + " (kafka.security.protocol):"
          + " is that the broker's listener for " + protocol + ", and not another server's port?";
      default -> where + ", but the client had no answer in time: do the addresses the brokers advertise"
          + " (advertised.listeners) resolve and connect from this host?";
    };
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
