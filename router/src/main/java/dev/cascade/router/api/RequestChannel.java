package dev.cascade.router.api;

import dev.cascade.schemas.avro.CascadeRequest;
import dev.cascade.schemas.avro.CascadeResponse;
import java.util.concurrent.CompletableFuture;

/**
 * The gRPC front door's way into the cascade: sends a request and hands back its response.
 *
 * <p>Contract: the returned future completes with the one response to this submission, or
 * exceptionally ({@link DuplicateRequestException} when a request with the same id is already
 * waiting here; any other exception when the request could not be sent). Completing or cancelling
 * the future from outside (a deadline, a caller gone) abandons the wait: a response that arrives
 * afterwards is delivered to nobody.
 */
interface RequestChannel extends AutoCloseable {

  /**
   * What a door tells a caller whose request (or feedback) Kafka did not take: what to do, not
   * Kafka's own words (brokers, topics, timeouts), which the door logs beside the request's id.
   */
  String KAFKA_UNREACHABLE = "the router cannot reach Kafka; retry later";

  /** What a door tells a caller whose wait ended as the door closed ({@link IllegalStateException}). */
  String SHUTTING_DOWN = "the router is shutting down; try another instance or again later";

  /**
   * What a door tells a caller whose request the router failed after accepting it (or the door
   * itself failed): which request, nothing of what failed (an exception's text, a router's reason,
   * hosts), which the door logs at ERROR beside that id.
   */
  static String failedToAnswer(String requestId) {
    return "the router failed to answer request " + requestId + "; its log says why";
  }

  /** This instance's id, which requests carry as {@code reply_to}. */
  String instanceId();

  /**
   * Sends {@code request}; its {@code reply_to} and {@code created_at_ms} are set here (the latter
   * unique on this instance, so a late response to an abandoned call can't match a newer one
   * that reuses its id). Returns without waiting for Kafka (the Kafka channel sends from a thread
   * of its own), so a timeout the caller puts on the future bounds the whole call, the send
   * included.
   */
  CompletableFuture<CascadeResponse> submit(CascadeRequest request);

  /** Whether responses can reach their callers now (the reply reader is alive and reading). */
  default boolean healthy() {
    return true;
  }

  @Override
  void close();

  /**
   * Closes while the Kafka cluster is known not to answer: no reply can arrive and nothing can be
   * deleted, so nothing is waited for (by default, as {@link #close()}).
   */
  default void closeClusterLost() {
    close();
  }
}
