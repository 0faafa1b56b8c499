package dev.cascade.router.api;

import dev.cascade.schemas.avro.CascadeRequest;
import dev.cascade.schemas.avro.CascadeResponse;
import dev.cascade.schemas.avro.ServedBy;
import dev.cascade.schemas.avro.StageLatencies;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A {@link RequestChannel} without Kafka: records what is submitted and answers with the prompt
 * upper-cased, unless told to stay silent (so a call can time out) or to fail.
 */
final class FakeChannel implements RequestChannel {

  final List<CascadeRequest> submitted = new CopyOnWriteArrayList<>();
  final List<CompletableFuture<CascadeResponse>> futures = new CopyOnWriteArrayList<>();
  volatile boolean silent;
  volatile RuntimeException failure;
  /** Answers as a router that took the request past its deadline: empty, marked deadline_exceeded. */
  volatile boolean expired;
  /** Thrown by {@link #submit} itself (a fault in the door's path, not an answer that failed). */
  volatile RuntimeException submitThrows;
  /** Applied to every answer {@link #submit} gives (e.g. to set the serving model's token counts). */
  volatile java.util.function.UnaryOperator<CascadeResponse> reshape = r -> r;
  /** What {@link #healthy()} says: whether the reply reader is reading. */
  volatile boolean readerHealthy = true;

  @Override
  public boolean healthy() {
    return readerHealthy;
  }

  @Override
  public String instanceId() {
    return "fake-door";
  }

  @Override
  public CompletableFuture<CascadeResponse> submit(CascadeRequest request) {
    if (submitThrows != null) {
      throw submitThrows;
    }
    submitted.add(request);
    CompletableFuture<CascadeResponse> f = new CompletableFuture<>();
    futures.add(f);
    if (failure != null) {
      f.completeExceptionally(failure);
    } else if (expired) {
      f.complete(CascadeResponse.newBuilder(answer(request)).setText("").setServedBy(ServedBy.SMALL_DEGRADED)
          .setServedTier(0).setServedModel(null).setCacheHit(false).setDeadlineExceeded(true).build());
    } else if (!silent) {
      f.complete(reshape.apply(answer(request)));
    }
    return f;
  }

  static CascadeResponse answer(CascadeRequest request) {
    return CascadeResponse.newBuilder().setRequestId(request.getRequestId())
        .setText(request.getPrompt().toUpperCase(java.util.Locale.ROOT)).setServedBy(ServedBy.LARGE)
        .setDeferralScore(2.5).setThreshold(1.5).setPolicyVersion(7).setRule("chow-quantile")
        .setLatencies(StageLatencies.newBuilder().setQueueMs(1).setSmallModelMs(2).setRuleMs(0.1).setEscalationMs(30)
            .setTotalMs(40).build())
        .setServedTier(2).setServedModel("large")
        .setCacheHit(true).setReplyTo(request.getReplyTo()).setCreatedAtMs(request.getCreatedAtMs())
        .setCompletedAtMs(request.getCreatedAtMs() + 40).build();
  }

  @Override
  public void close() {}
}
