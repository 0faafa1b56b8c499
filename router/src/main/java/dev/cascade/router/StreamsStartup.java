package dev.cascade.router;

import java.time.Duration;
import org.apache.kafka.streams.KafkaStreams;

/** Waiting for a started Kafka Streams application (the router, the learner) to be RUNNING. */
public final class StreamsStartup {

  private StreamsStartup() {}

  /** A Kafka Streams application that did not get to RUNNING in time, or stopped on the way. */
  public static final class NotRunningException extends IllegalStateException {
    NotRunningException(String message) {
      super(message);
    }
  }

  /**
   * Returns once {@code streams} is RUNNING; runs {@code onFailure} (which should close it) and
   * throws when it has not got there within {@code timeout} ({@link Duration#ZERO}: no limit) or
   * has stopped on the way.
   *
   * @param what names the application in the error, e.g. {@code router}
   * @throws NotRunningException when it did not get there
   */
  public static void awaitRunning(KafkaStreams streams, Duration timeout, String what, Runnable onFailure) {
    long started = System.nanoTime();
    while (streams.state() != KafkaStreams.State.RUNNING) {
      KafkaStreams.State state = streams.state();
      boolean stopped = !state.isRunningOrRebalancing() && state != KafkaStreams.State.CREATED;
      if (stopped || !timeout.isZero() && System.nanoTime() - started > timeout.toNanos()) {
        onFailure.run();
        throw new NotRunningException(stopped
            ? "the " + what + "'s Kafka Streams instance stopped while starting (state " + state + "); see the error"
                + " logged before"
            : "the " + what + " did not reach RUNNING within " + timeout.toMillis() + " ms (state " + state
                + "; streams.startup-timeout-ms, 0 for no limit)");
      }
      try {
        Thread.sleep(20);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted while starting the " + what, e);
      }
    }
  }
}
