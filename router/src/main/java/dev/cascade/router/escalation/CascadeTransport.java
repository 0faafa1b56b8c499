package dev.cascade.router.escalation;

import dev.cascade.proto.v1.LargeGenerateRequest;
import dev.cascade.proto.v1.LargeGenerateResponse;
import dev.cascade.proto.v1.LargeModelGrpc;
import dev.cascade.proto.v1.LargeModelInfo;
import dev.cascade.proto.v1.LargeModelInfoRequest;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/** {@code cascade.v1.LargeModel} over gRPC: {@code cascade://host:port}, or a bare {@code host:port}. */
public final class CascadeTransport implements LargeModelTransport {

  private final ManagedChannel channel;
  private final boolean ownsChannel;
  private final LargeModelGrpc.LargeModelStub stub;
  private final ReconnectNudge nudge;

  public CascadeTransport(ManagedChannel channel, boolean ownsChannel) {
    this.channel = channel;
    this.ownsChannel = ownsChannel;
    this.stub = LargeModelGrpc.newStub(channel);
    this.nudge = new ReconnectNudge(channel);
  }

  @Override
  public CompletableFuture<Reply> generate(String requestId, String prompt, int maxNewTokens, Duration deadline) {
    return generate(requestId, prompt, maxNewTokens, new int[0], null, deadline);
  }

  /**
   * Sends the draft as {@code draft_tokens} and the early stop as {@code early_stop}; the reply
   * says how much of the draft the server kept and whether it stopped early.
   */
  @Override
  public CompletableFuture<Reply> generate(String requestId, String prompt, int maxNewTokens, int[] draft,
      EarlyStopSpec stop, Duration deadline) {
    LargeGenerateRequest.Builder request = LargeGenerateRequest.newBuilder()
        .setRequestId(requestId).setPrompt(prompt).setMaxNewTokens(maxNewTokens);
    for (int token : draft) {
      request.addDraftTokens(token);
    }
    if (stop != null) {
      request.setEarlyStop(stop.toProto());
    }
    CompletableFuture<LargeGenerateResponse> result = new CompletableFuture<>();
    stub.withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS).generate(request.build(), unary(result, nudge));
    return result.thenApply(r -> {
      int[] tokens = r.getTokensList().stream().mapToInt(Integer::intValue).toArray();
      return new Reply(r.getText(), tokens, toArray(r.getTokenLogprobsList()), tokens.length, r.getDraftAccepted(),
          r.getStoppedEarly(), r.hasPromptTokens() && r.getPromptTokens() >= 0 ? r.getPromptTokens() : -1);
    });
  }

  @Override
  public CompletableFuture<ServerInfo> info(Duration deadline) {
    CompletableFuture<LargeModelInfo> info = new CompletableFuture<>();
    stub.withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS)
        .info(LargeModelInfoRequest.getDefaultInstance(), unary(info, nudge));
    return info.handle((value, error) -> {
      if (error == null) {
        return CompletableFuture.completedFuture(new ServerInfo(
            value.getMaxNewTokens() > 0 ? OptionalInt.of(value.getMaxNewTokens()) : OptionalInt.empty(),
            value.getTokenizerSha256().isEmpty() ? Optional.empty() : Optional.of(value.getTokenizerSha256()),
            value.getMaxPromptTokens() > 0 ? OptionalInt.of(value.getMaxPromptTokens()) : OptionalInt.empty(),
            value.getModel().isEmpty() ? Optional.empty() : Optional.of(value.getModel()),
            value.getParameters() > 0 ? java.util.OptionalLong.of(value.getParameters()) : java.util.OptionalLong.empty()));
      }
      // A server without Info is called unclamped, and never sent a draft.
      return Status.fromThrowable(error).getCode() == Status.Code.UNIMPLEMENTED
          ? CompletableFuture.completedFuture(ServerInfo.UNKNOWN)
          : CompletableFuture.<ServerInfo>failedFuture(error);
    }).thenCompose(Function.identity());
  }

  @Override
  public CompletableFuture<Boolean> ready(Duration deadline) {
    CompletableFuture<HealthCheckResponse> health = new CompletableFuture<>();
    HealthGrpc.newStub(channel).withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS)
        .check(HealthCheckRequest.newBuilder().setService(LargeModelGrpc.SERVICE_NAME).build(), unary(health, nudge));
    return health.thenApply(h -> h.getStatus() == HealthCheckResponse.ServingStatus.SERVING);
  }

  @Override
  public Optional<String> infoCall() {
    return Optional.of("LargeModel/Info");
  }

  @Override
  public String describe() {
    return "cascade://" + channel.authority();
  }

  @Override
  public void close() {
    if (ownsChannel) {
      LargeModelTransports.shutdown(channel);
    }
  }

  /**
   * An observer completing {@code result} with a unary call's one reply or its error, and telling
   * {@code nudge} of the error first.
   */
  static <T> StreamObserver<T> unary(CompletableFuture<T> result, ReconnectNudge nudge) {
    return new StreamObserver<>() {
      @Override
      public void onNext(T value) {
        result.complete(value);
      }

      @Override
      public void onError(Throwable t) {
        nudge.afterFailure(t);
        result.completeExceptionally(t);
      }

      @Override
      public void onCompleted() {
        if (!result.isDone()) {
          result.completeExceptionally(Status.INTERNAL.withDescription("no response").asRuntimeException());
        }
      }
    };
  }

  private static float[] toArray(List<Float> values) {
    float[] out = new float[values.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = values.get(i);
    }
    return out;
  }
}
