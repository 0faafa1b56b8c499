package dev.cascade.router.api;

import dev.cascade.proto.v1.CascadeGrpc;
import dev.cascade.proto.v1.FeedbackRequest;
import dev.cascade.proto.v1.FeedbackResponse;
import dev.cascade.proto.v1.GenerateRequest;
import dev.cascade.proto.v1.GenerateResponse;
import dev.cascade.router.routing.RequestValidator;
import dev.cascade.router.topology.DeadLetters;
import dev.cascade.schemas.avro.CascadeRequest;
import dev.cascade.schemas.avro.CascadeResponse;
import dev.cascade.schemas.avro.Feedback;
import io.grpc.Context;
import io.grpc.Deadline;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * {@code cascade.v1.Cascade}: one prompt in, the cascade's answer out. The request goes onto the
 * requests topic like any Kafka client's, and the call waits for its response there. Feedback on
 * an answer goes onto the feedback topic, for the learner.
 */
final class CascadeService extends CascadeGrpc.CascadeImplBase {

  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(CascadeService.class);

  private final RequestChannel channel;
  private final RequestValidator validator;
  private final TokenCounter tokens;
  private final Duration defaultDeadline;
  private final long deadlineMarginMs;
  private final FeedbackTopic.Sink feedback;
  private volatile java.util.function.BooleanSupplier serving = () -> true;

  /**
   * @param validator the rules every request obeys (the same as on the Kafka path)
   * @param defaultDeadline the longest a call waits when it sets no shorter deadline of its own
   * @param deadlineMargin how long before the call's wait ends the request's {@code deadline_ms} falls
   *     ({@link ApiRecords#deadlineMs})
   * @param feedback where {@code SubmitFeedback} writes; null: that call is UNIMPLEMENTED here
   */
  CascadeService(RequestChannel channel, RequestValidator validator, Duration defaultDeadline, Duration deadlineMargin,
      FeedbackTopic.Sink feedback) {
    this.channel = channel;
    this.validator = validator;
    this.tokens = TokenCounter.of(validator);
    this.defaultDeadline = defaultDeadline;
    this.deadlineMarginMs = deadlineMargin.toMillis();
    this.feedback = feedback;
  }

  /** {@code Generate} is refused with {@code UNAVAILABLE} while {@code serving} says no (health NOT_SERVING). */
  void refuseWhileNot(java.util.function.BooleanSupplier serving) {
    this.serving = serving;
  }

  /**
   * Writes feedback on an answer to the feedback topic and answers once the broker has it: {@code
   * INVALID_ARGUMENT} naming the field of a malformed call, {@code UNAVAILABLE} when it could not be
   * written.
   */
  @Override
  public void submitFeedback(FeedbackRequest request, StreamObserver<FeedbackResponse> observer) {
    if (feedback == null) {
      observer.onError(Status.UNIMPLEMENTED.withDescription("this server records no feedback").asRuntimeException());
      return;
    }
    String correctedText = request.hasCorrectedText() ? request.getCorrectedText() : null;
    Optional<String> problem = FeedbackTopic.problem(request.getRequestId(), "request_id", request.hasCorrect(),
        correctedText, request.getSource());
    if (problem.isPresent()) {
      observer.onError(Status.INVALID_ARGUMENT.withDescription(problem.get()).asRuntimeException());
      return;
    }
    Feedback record = FeedbackTopic.record(request.getRequestId(), request.hasCorrect() ? request.getCorrect() : null,
        correctedText, request.getSource(), "grpc");
    feedback.send(record).whenComplete((written, e) -> {
      if (e != null) {
        LOG.warn("gRPC door: feedback for request {} could not be written: {}", request.getRequestId(),
            unwrap(e).toString());
        observer.onError(Status.UNAVAILABLE.withDescription("feedback for request " + request.getRequestId()
            + " could not be written: " + RequestChannel.KAFKA_UNREACHABLE).withCause(e).asRuntimeException());
        return;
      }
      observer.onNext(FeedbackResponse.newBuilder().setRequestId(request.getRequestId()).setTopic(written.topic())
          .setPartition(written.partition()).setOffset(written.offset()).build());
      observer.onCompleted();
    });
  }

  /**
   * Routes one prompt through the cascade. {@code INVALID_ARGUMENT} naming the field for a request
   * the router would refuse; {@code DEADLINE_EXCEEDED} when no answer came within the call's
   * deadline (the late answer is then delivered to nobody), or when the router took the request
   * after its deadline and generated nothing ({@code deadline_exceeded}); {@code ALREADY_EXISTS} when the same
   * request id is still waiting on this instance or the router saw it recently; {@code UNAVAILABLE}
   * when Kafka can't be reached, or while the router's health is NOT_SERVING; {@code INTERNAL} naming
   * only the request id when the router failed it after accepting it (the reason is logged).
   */
  @Override
  public void generate(GenerateRequest request, StreamObserver<GenerateResponse> observer) {
    ServerCallStreamObserver<GenerateResponse> call = (ServerCallStreamObserver<GenerateResponse>) observer;
    String id = request.getRequestId().isEmpty() ? UUID.randomUUID().toString() : request.getRequestId();
    if (!serving.getAsBoolean()) {
      call.onError(Status.UNAVAILABLE.withDescription("this router cannot answer now (health NOT_SERVING: its stream"
          + " threads are not running, its reply reader is failing, or Kafka does not answer; its log says which);"
          + " try another instance").asRuntimeException());
      return;
    }
    CascadeRequest avro = ApiRecords.toAvro(request, id, channel.instanceId(), System.currentTimeMillis());
    Optional<String> problem = ApiRecords.doorProblem(request).or(() -> validator.problem(avro));
    if (problem.isPresent()) {
      call.onError(Status.INVALID_ARGUMENT.withDescription(problem.get()).asRuntimeException());
      return;
    }
    long waitNanos = defaultDeadline.toNanos();
    Deadline deadline = Context.current().getDeadline();
    if (deadline != null) {
      waitNanos = Math.min(waitNanos, deadline.timeRemaining(TimeUnit.NANOSECONDS));
    }
    if (waitNanos <= 0) {
      call.onError(Status.DEADLINE_EXCEEDED.withDescription("the deadline expired before request " + id
          + " was sent").asRuntimeException());
      return;
    }
    long waitMs = TimeUnit.NANOSECONDS.toMillis(waitNanos);
    // Where the wait came from, for a timeout's message: the call's own deadline, or this door's.
    String waitFrom = waitNanos < defaultDeadline.toNanos() ? "the call's deadline"
        : "grpc.default-deadline-ms, this door's longest wait";
    // The caller's deadline (or this door's own wait), less the margin its answer needs to come
    // back, travels with the request: the router stops waiting for a large model that is down in
    // time for its degraded answer to reach the caller.
    avro.setDeadlineMs(ApiRecords.deadlineMs(avro.getCreatedAtMs(), waitMs, deadlineMarginMs));
    // The channel sends it from a thread of its own: the wait below starts now, whatever Kafka does.
    CompletableFuture<CascadeResponse> response = channel.submit(avro);
    call.setOnCancelHandler(() -> response.cancel(false));
    response.orTimeout(waitNanos, TimeUnit.NANOSECONDS).whenComplete((r, e) -> {
      if (call.isCancelled()) {
        return;
      }
      if (e == null && r.getDeadlineExceeded()) {
        call.onError(Status.DEADLINE_EXCEEDED.withDescription(ApiRecords.deadlineExceeded(r)).asRuntimeException());
      } else if (e == null) {
        call.onNext(ApiRecords.toProto(r).toBuilder().setPromptTokens(tokens.promptTokens(r, request.getPrompt()))
            .setCompletionTokens(tokens.completionTokens(r, r.getText())).build());
        call.onCompleted();
      } else {
        call.onError(status(unwrap(e), id, waitMs + " ms (" + waitFrom + ")").asRuntimeException());
      }
    });
  }

  private static Status status(Throwable e, String id, String waited) {
    if (e instanceof TimeoutException) {
      return Status.DEADLINE_EXCEEDED.withDescription("no answer to request " + id + " within " + waited);
    }
    if (e instanceof RefusedRequestException refused) {
      if (!refused.stage().equals("validate")) {
        // What failed (the router's reason: exceptions, hosts) is logged beside the id, not sent.
        LOG.error("gRPC door: request {} failed in the router: {}", id, refused.getMessage());
        return Status.INTERNAL.withDescription(RequestChannel.failedToAnswer(id));
      }
      return refused.reason().startsWith(DeadLetters.DUPLICATE_ID)
          ? Status.ALREADY_EXISTS.withDescription(refused.reason())
          : Status.INVALID_ARGUMENT.withDescription(refused.reason());
    }
    if (e instanceof DuplicateRequestException) {
      return Status.ALREADY_EXISTS.withDescription(e.getMessage());
    }
    if (e instanceof CancellationException) {
      return Status.CANCELLED.withDescription("request " + id + " was cancelled");
    }
    // What failed (Kafka's own words) is logged beside the id, not sent.
    LOG.warn("gRPC door: request {} could not be sent: {}", id, e.toString());
    if (e instanceof IllegalStateException) { // the front door closed while the call waited (or its producer did)
      return Status.UNAVAILABLE.withDescription("request " + id + " was not answered: " + RequestChannel.SHUTTING_DOWN)
          .withCause(e);
    }
    return Status.UNAVAILABLE.withDescription("request " + id + " could not be sent: "
        + RequestChannel.KAFKA_UNREACHABLE).withCause(e);
  }

  private static Throwable unwrap(Throwable e) {
    return e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
  }
}
