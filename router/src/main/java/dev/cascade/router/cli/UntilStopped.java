package dev.cascade.router.cli;

import dev.cascade.router.StreamsFate;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.streams.KafkaStreams;
import org.slf4j.Logger;

/**
 * How {@code serve} and {@code learn} wait once started: until their shutdown hook (a signal, an
 * exit) has run, or until their Kafka Streams instance stops without being asked, which ends the
 * command with {@link StreamsFate#EXIT_STREAMS_STOPPED} (the JVM's exit then runs the shutdown
 * hook, which closes the rest).
 */
final class UntilStopped {

  private final CompletableFuture<Void> stopped = new CompletableFuture<>();
  private volatile boolean stopping;

  /** The shutdown hook has begun: a Kafka Streams stop from now on is its doing. */
  void stopping() {
    stopping = true;
  }

  /** The shutdown hook has finished. */
  void stopped() {
    stopped.complete(null);
  }

  /** How long a stop waits for the last commit when the cluster has stopped answering: long enough to see it is not. */
  static final java.time.Duration CLOSE_TIMEOUT_CLUSTER_LOST = java.time.Duration.ofSeconds(2);

  /**
   * How long the stop waits for the stream threads' last commit: the usual time, or, where
   * the broker watch says the cluster is not answering (a commit cannot be made, and would only be
   * retried until the timeout), {@link #CLOSE_TIMEOUT_CLUSTER_LOST}, logged. Nothing is lost:
   * exactly-once aborts the open transaction and the next owner does its work again.
   */
  static java.time.Duration closeTimeout(boolean clusterLost, Logger log) {
    if (!clusterLost) {
      return dev.cascade.router.CascadeRouter.CLOSE_TIMEOUT;
    }
    log.warn("the Kafka cluster is not answering: the last commit cannot be made, so the stop waits {} ms for it,"
        + " not {} s; the open transaction is aborted and its work done again by whoever processes its partitions",
        CLOSE_TIMEOUT_CLUSTER_LOST.toMillis(), dev.cascade.router.CascadeRouter.CLOSE_TIMEOUT.toSeconds());
    return CLOSE_TIMEOUT_CLUSTER_LOST;
  }

  /**
   * Waits; returns 0 after the shutdown hook, or {@link StreamsFate#EXIT_STREAMS_STOPPED} after
   * logging one error line when {@code unplanned} completed first.
   *
   * @param command {@code serve} or {@code learn}, for the log line
   * @param what whose Kafka Streams it is, e.g. {@code the router}
   */
  int await(String command, String what, CompletableFuture<KafkaStreams.State> unplanned, Logger log)
      throws InterruptedException {
    try {
      CompletableFuture.anyOf(stopped, unplanned).get();
    } catch (ExecutionException e) {
      throw new IllegalStateException(e.getCause());
    }
    if (stopping || !unplanned.isDone()) {
      return 0;
    }
    log.error("{}: {}'s Kafka Streams instance went to {} without being asked to stop (the Kafka Streams error"
        + " logged before says why, e.g. the global thread died: it cannot be replaced); it will process nothing more,"
        + " so {} exits with status {} for its supervisor to restart it", command, what, unplanned.join(), command,
        StreamsFate.EXIT_STREAMS_STOPPED);
    return StreamsFate.EXIT_STREAMS_STOPPED;
  }
}
