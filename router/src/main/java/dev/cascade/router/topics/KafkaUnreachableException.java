package dev.cascade.router.topics;

/**
 * No Kafka broker answered at the configured address in time: nothing listens there, or it is
 * not a broker this host can reach. The command line prints its message as one line and exits 1.
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
}
