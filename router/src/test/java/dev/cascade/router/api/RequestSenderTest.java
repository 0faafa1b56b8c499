package dev.cascade.router.api;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.schemas.avro.CascadeRequest;
import dev.cascade.schemas.avro.CascadeResponse;
import dev.cascade.schemas.serde.CascadeSerdes;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.producer.Callback;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.errors.InterruptException;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The front door's sending thread, on Kafka's {@link MockProducer} made to behave as the real one
 * does with its brokers gone: a send that waits for metadata (until the test lets it go, or it is
 * interrupted) and then fails within {@code send()}, on the sending thread, as the real producer
 * reports a {@code max.block.ms} timeout. What a caller sees, and which requests count as never
 * written (so the front door does not wait for their replies).
 */
class RequestSenderTest {

  private final StalledProducer producer = new StalledProducer();
  private final AtomicInteger neverWritten = new AtomicInteger();
  private final RequestSender sender = new RequestSender(producer, "requests", "test-sender",
      neverWritten::incrementAndGet);

  /** A producer whose sends wait at {@link #stall} while it is closed, then fail within send() if {@link #noMetadata}. */
  private static final class StalledProducer extends MockProducer<String, CascadeRequest> {
    volatile CountDownLatch stall = new CountDownLatch(0);
    volatile boolean noMetadata;
    final CountDownLatch waiting = new CountDownLatch(1);

    StalledProducer() {
      super(false, null, new StringSerializer(), CascadeSerdes.requests().serializer());
    }

    @Override
    public Future<RecordMetadata> send(ProducerRecord<String, CascadeRequest> record, Callback callback) {
      waiting.countDown();
      try {
        stall.await();
      } catch (InterruptedException e) {
        throw new InterruptException(e); // as KafkaProducer does when its wait for metadata is interrupted
      }
      if (noMetadata) {
        TimeoutException e = new TimeoutException("Topic requests not present in metadata after 5000 ms.");
        callback.onCompletion(null, e); // on the caller's thread, as KafkaProducer reports it
        return CompletableFuture.failedFuture(e);
      }
      return super.send(record, callback);
    }
  }

  @AfterEach
  void close() {
    producer.stall.countDown();
    sender.close();
  }

  private static CascadeRequest request(String id) {
    return CascadeRequest.newBuilder().setRequestId(id).setPrompt("p").setMetadata(Map.of()).setCreatedAtMs(0).build();
  }

  private CompletableFuture<CascadeResponse> send(String id) {
    CompletableFuture<CascadeResponse> response = new CompletableFuture<>();
    sender.send(request(id), response);
    return response;
  }

  private static Throwable failure(CompletableFuture<CascadeResponse> f) throws Exception {
    try {
      f.get(30, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      return e.getCause();
    }
    throw new AssertionError("completed normally");
  }

  @Test
  void aSendThatWaitsForKafkaHoldsNoCallerAndItsCallCanEndMeanwhile() throws Exception {
    producer.stall = new CountDownLatch(1);
    CompletableFuture<CascadeResponse> first = send("first");
    CompletableFuture<CascadeResponse> second = send("second");
    assertThat(producer.waiting.await(30, TimeUnit.SECONDS)).isTrue();
    // The caller got its future back while the send waits; its own timeout ends the wait.
    assertThat(first).isNotDone();
    first.orTimeout(50, TimeUnit.MILLISECONDS);
    assertThat(failure(first)).isInstanceOf(java.util.concurrent.TimeoutException.class);
    // The second call ends before its turn comes: it is never sent.
    second.cancel(false);
    producer.stall.countDown();
    waitUntil(() -> neverWritten.get() == 1);
    assertThat(producer.history()).extracting(ProducerRecord::key).containsExactly("first");
  }

  @Test
  void aSendWithoutMetadataFailsItsCallAndThoseQueuedBehindItAndNoneCountsAsWritten() throws Exception {
    producer.stall = new CountDownLatch(1);
    producer.noMetadata = true;
    CompletableFuture<CascadeResponse> first = send("first");
    assertThat(producer.waiting.await(30, TimeUnit.SECONDS)).isTrue();
    CompletableFuture<CascadeResponse> second = send("second");
    CompletableFuture<CascadeResponse> third = send("third");
    producer.stall.countDown();
    Throwable cause = failure(first);
    assertThat(cause).isInstanceOf(TimeoutException.class).hasMessageContaining("not present in metadata");
    assertThat(failure(second)).isSameAs(cause);
    assertThat(failure(third)).isSameAs(cause);
    assertThat(neverWritten.get()).isEqualTo(3);
    assertThat(producer.history()).isEmpty();

    // Kafka back: the next one is sent.
    producer.noMetadata = false;
    CompletableFuture<CascadeResponse> later = send("later");
    waitUntil(() -> producer.history().size() == 1);
    assertThat(later).isNotDone();
    assertThat(neverWritten.get()).isEqualTo(3);
  }

  @Test
  void aSendThatFailsAfterTheProducerTookItStillCountsAsPossiblyWritten() throws Exception {
    CompletableFuture<CascadeResponse> call = send("in-flight");
    waitUntil(() -> producer.history().size() == 1);
    // As the producer's I/O thread reports a batch that expired in flight (it may have been written).
    assertThat(producer.errorNext(new TimeoutException("Expiring 1 record(s) for requests-0: 120000 ms has passed"
        + " since batch creation"))).isTrue();
    assertThat(failure(call)).isInstanceOf(TimeoutException.class);
    assertThat(neverWritten.get()).isZero();
  }

  @Test
  void closingEndsAWaitingSendAndFailsWhatIsQueuedUnsent() throws Exception {
    producer.stall = new CountDownLatch(1);
    CompletableFuture<CascadeResponse> waitingForMetadata = send("waiting");
    assertThat(producer.waiting.await(30, TimeUnit.SECONDS)).isTrue();
    CompletableFuture<CascadeResponse> queued = send("queued");
    sender.close();
    assertThat(failure(waitingForMetadata)).isInstanceOf(InterruptException.class);
    assertThat(failure(queued)).isInstanceOf(IllegalStateException.class).hasMessageContaining("shutting down");
    assertThat(neverWritten.get()).isEqualTo(2);
    assertThat(producer.history()).isEmpty();
  }

  private static void waitUntil(java.util.function.BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (!condition.getAsBoolean()) {
      assertThat(System.nanoTime()).as("condition not met within 30 s").isLessThan(deadline);
      Thread.sleep(10);
    }
  }
}
