package dev.cascade.router.api;

import dev.cascade.schemas.avro.CascadeRequest;
import dev.cascade.schemas.avro.CascadeResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.TimeoutException;

/**
 * Sends a front door's requests to the requests topic from a thread of its own, in the order they
 * come, so that no caller's thread waits in the producer's {@code send()}: a call's wait (its
 * deadline, the door's timeout) starts when it is handed over here, whatever Kafka does.
 *
 * <p>Why: a producer that has lost every broker forgets the topic's metadata, and a send then waits
 * for it up to {@code max.block.ms}; on the callers' threads, each call hung that long, past its
 * door's wait. Here such a wait holds this thread alone, and it ends in a failure the call is
 * answered with (UNAVAILABLE, 503), together with the calls queued behind it, which would each
 * wait as long.
 *
 * <p>What is known never to have been written is reported to {@code neverWritten}, once per
 * request: a request whose call ended (its deadline passed, its caller left) before its turn,
 * which is then not sent; a send the producer failed within {@code send()}, before taking the
 * request (no metadata within {@code max.block.ms}, a record it refuses: its callback then runs on
 * this thread); the requests behind such a failure; and those still queued at {@link #close()}. A
 * send the producer fails after taking it (its callback runs on the producer's I/O thread) is not:
 * the front door's producer is idempotent but not transactional, and a batch that expired ({@code
 * delivery.timeout.ms}) while it was in flight may have been written all the same.
 */
final class RequestSender implements AutoCloseable {

  private record Outgoing(CascadeRequest request, CompletableFuture<CascadeResponse> response) {}

  private final Producer<String, CascadeRequest> producer;
  private final String topic;
  private final Runnable neverWritten;
  private final BlockingQueue<Outgoing> outbox = new LinkedBlockingQueue<>();
  private final Thread thread;

  /**
   * Starts the sending thread, {@code threadName}.
   *
   * @param neverWritten told of each request known never to have been written (see above)
   */
  RequestSender(Producer<String, CascadeRequest> producer, String topic, String threadName, Runnable neverWritten) {
    this.producer = producer;
    this.topic = topic;
    this.neverWritten = neverWritten;
    this.thread = new Thread(this::run, threadName);
    this.thread.setDaemon(true);
    this.thread.start();
  }

  /**
   * Queues {@code request}, keyed by its request id, to be sent; returns at once. A send that fails
   * completes {@code response} exceptionally with the producer's exception; a request whose {@code
   * response} is complete before its turn is not sent.
   */
  void send(CascadeRequest request, CompletableFuture<CascadeResponse> response) {
    outbox.add(new Outgoing(request, response));
  }

  private void run() {
    try {
      while (true) {
        send(outbox.take());
      }
    } catch (InterruptedException e) {
      // close(): what is left in the outbox is never sent
    }
  }

  private void send(Outgoing next) {
    if (next.response().isDone()) {
      neverWritten.run(); // its call ended before its turn
      return;
    }
    try {
      producer.send(new ProducerRecord<>(topic, next.request().getRequestId(), next.request()), (metadata, e) -> {
        if (e == null) {
          return;
        }
        if (Thread.currentThread() == thread) { // within send(), before the producer took it
          neverWritten.run();
          if (e instanceof TimeoutException) {
            failQueued(e); // no metadata (or buffer space) within max.block.ms: those behind it would wait as long
          }
        }
        next.response().completeExceptionally(e);
      });
    } catch (RuntimeException e) { // not sent: not serializable, or close() interrupted the wait for metadata
      neverWritten.run();
      next.response().completeExceptionally(e);
    }
  }

  /** Fails every request still queued with {@code e}: none of them is sent. */
  private void failQueued(Throwable e) {
    List<Outgoing> queued = new ArrayList<>();
    outbox.drainTo(queued);
    for (Outgoing o : queued) {
      neverWritten.run();
      o.response().completeExceptionally(e);
    }
  }

  /**
   * Stops sending: a send waiting for metadata ends at once, unsent, and what is still queued is
   * never sent (its calls fail: the front door is shutting down). Call before closing the producer.
   */
  @Override
  public void close() {
    thread.interrupt();
    try {
      thread.join(TimeUnit.SECONDS.toMillis(10));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    failQueued(new IllegalStateException("the front door is shutting down"));
  }
}
