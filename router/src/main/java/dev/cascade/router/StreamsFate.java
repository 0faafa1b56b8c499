package dev.cascade.router;

import java.util.concurrent.CompletableFuture;
import org.apache.kafka.streams.KafkaStreams;

/**
 * Tells a serving process ({@code serve}, {@code learn}) that its Kafka Streams instance stopped
 * without being asked to: the instance's state listener.
 *
 * <p>A stream thread that dies is replaced in the process (the uncaught exception handler answers
 * {@code REPLACE_THREAD}, for any {@code Throwable}), and the instance stays RUNNING or
 * REBALANCING. The global thread (the router's policy and rules topics) cannot be replaced: when it
 * dies, Kafka Streams closes the whole instance to PENDING_ERROR, then ERROR, and it never
 * processes again. A process that stayed up then would answer nothing while its liveness check
 * passed; so every change to a state other than CREATED, REBALANCING or RUNNING that no {@code
 * close()} asked for completes {@link #unplannedStop()}, and the command logs one line and exits
 * with {@link #EXIT_STREAMS_STOPPED}, for its supervisor to restart it.
 */
public final class StreamsFate implements KafkaStreams.StateListener {

  /** The exit status of {@code serve} and {@code learn} when Kafka Streams stopped without being asked. */
  public static final int EXIT_STREAMS_STOPPED = 3;

  private final CompletableFuture<KafkaStreams.State> unplanned = new CompletableFuture<>();
  private volatile boolean closing;

  /**
   * Whether a change to {@code newState} is a stop nobody asked for: any state but CREATED,
   * REBALANCING and RUNNING (PENDING_ERROR, ERROR, PENDING_SHUTDOWN, NOT_RUNNING) before {@code
   * closing}.
   */
  static boolean isUnplannedStop(KafkaStreams.State newState, boolean closing) {
    return !closing && newState != KafkaStreams.State.CREATED && !newState.isRunningOrRebalancing();
  }

  @Override
  public void onChange(KafkaStreams.State newState, KafkaStreams.State oldState) {
    if (isUnplannedStop(newState, closing)) {
      unplanned.complete(newState);
    }
  }

  /** Says that the stops from now on are asked for (call before {@code KafkaStreams.close}). */
  public void closing() {
    closing = true;
  }

  /**
   * Completes, with the state it went to first, when the instance stops without being asked;
   * never once {@link #closing()} came first.
   */
  public CompletableFuture<KafkaStreams.State> unplannedStop() {
    return unplanned.copy();
  }
}
