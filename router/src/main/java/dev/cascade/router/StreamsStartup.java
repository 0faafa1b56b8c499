package dev.cascade.router;

import java.time.Duration;
import org.apache.kafka.streams.KafkaStreams;

/** Waiting for a started Kafka Streams application (the router, the learner) to be RUNNING. */
public final class StreamsStartup {

  private StreamsStartup() {}

  /**
   * Returns once {@code streams} is RUNNING; runs {@code onFailure} (which should close it) and
   * throws when it has not got there within {@code timeout} or has stopped on the way.
   *
   * @param what names the application in the error, e.g. {@code router}
   */
  public static void awaitRunning(KafkaStreams streams, Duration timeout, String what, Runnable onFailure) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (streams.state() != KafkaStreams.State.RUNNING) {
      KafkaStreams.State state = streams.state();
      if (System.nanoTime() > deadline || !state.isRunningOrRebalancing() && state != KafkaStreams.State.CREATED) {
        onFailure.run();
        throw new IllegalStateException(what + " did not reach RUNNING within " + timeout + " (state " + state + ")");
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
