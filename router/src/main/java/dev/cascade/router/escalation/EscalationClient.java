package dev.cascade.router.escalation;

import dev.cascade.proto.v1.LargeGenerateRequest;
import dev.cascade.proto.v1.LargeGenerateResponse;
import dev.cascade.proto.v1.LargeModelGrpc;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.circuitbreaker.CircuitBreakerConfig;
import io.github.resilience4j.core.IntervalFunction;
import io.github.resilience4j.retry.Retry;
import io.github.resilience4j.retry.RetryConfig;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Calls {@code cascade.v1.LargeModel/Generate} asynchronously, never blocking the caller: each
 * attempt has its own deadline, an UNAVAILABLE failure is retried with exponential backoff, and a
 * circuit breaker (resilience4j) stops calling a failing server for a while. The returned future
 * fails with the last {@link StatusRuntimeException}, or with resilience4j's
 * {@code CallNotPermittedException} when the breaker is open; the caller decides what to answer.
 *
 * <p>Thread-safe. It does not bound the calls in flight: the caller does, because only it knows
 * what to do with work that must wait.
 */
public final class EscalationClient implements AutoCloseable {

  private final ManagedChannel channel;
  private final boolean ownsChannel;
  private final LargeModelGrpc.LargeModelStub stub;
  private final EscalationSettings settings;
  private final CircuitBreaker breaker;
  private final Retry retry;
  private final ScheduledExecutorService scheduler;

  public EscalationClient(ManagedChannel channel, boolean ownsChannel, EscalationSettings settings) {
    this.channel = channel;
    this.ownsChannel = ownsChannel;
    this.stub = LargeModelGrpc.newStub(channel);
    this.settings = settings;
    this.breaker = CircuitBreaker.of("large-model", CircuitBreakerConfig.custom()
        .failureRateThreshold((float) settings.breakerFailureRatePercent())
        .slidingWindowType(CircuitBreakerConfig.SlidingWindowType.COUNT_BASED)
        .slidingWindowSize(20)
        .minimumNumberOfCalls(10)
        .permittedNumberOfCallsInHalfOpenState(3)
        .waitDurationInOpenState(settings.breakerOpen())
        .recordException(EscalationClient::isServerFailure)
        .build());
    this.scheduler = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "escalation-retry");
      t.setDaemon(true);
      return t;
    });
    this.retry = Retry.of("large-model", RetryConfig.custom()
        .maxAttempts(settings.retries() + 1)
        .intervalFunction(IntervalFunction.ofExponentialBackoff(Math.max(1, settings.backoff().toMillis()), 2.0))
        .retryOnException(e -> e instanceof StatusRuntimeException s && s.getStatus().getCode() == Status.Code.UNAVAILABLE)
        .failAfterMaxAttempts(false)
        .build());
  }

  /** A client with its own plaintext channel to {@code target} (host:port). */
  public static EscalationClient connect(String target, EscalationSettings settings) {
    ManagedChannel channel = NettyChannelBuilder.forTarget(target).usePlaintext().build();
    return new EscalationClient(channel, true, settings);
  }

  /** Starts a call; the future completes off the caller's thread. */
  public CompletableFuture<LargeAnswer> generate(String requestId, String prompt, int maxNewTokens) {
    LargeGenerateRequest request = LargeGenerateRequest.newBuilder()
        .setRequestId(requestId).setPrompt(prompt).setMaxNewTokens(maxNewTokens).build();
    long start = System.nanoTime();
    AtomicInteger attempts = new AtomicInteger();
    CompletionStage<LargeGenerateResponse> call = Retry.decorateCompletionStage(retry, scheduler,
        () -> {
          attempts.incrementAndGet();
          return CircuitBreaker.decorateCompletionStage(breaker, () -> attempt(request)).get();
        }).get();
    return call.toCompletableFuture().thenApply(r -> new LargeAnswer(r.getText(),
        r.getTokensList().stream().mapToInt(Integer::intValue).toArray(),
        toArray(r.getTokenLogprobsList()),
        (System.nanoTime() - start) / 1e6, attempts.get()));
  }

  private CompletableFuture<LargeGenerateResponse> attempt(LargeGenerateRequest request) {
    CompletableFuture<LargeGenerateResponse> result = new CompletableFuture<>();
    stub.withDeadlineAfter(settings.deadline().toMillis(), TimeUnit.MILLISECONDS)
        .generate(request, new StreamObserver<>() {
          @Override
          public void onNext(LargeGenerateResponse value) {
            result.complete(value);
          }

          @Override
          public void onError(Throwable t) {
            result.completeExceptionally(t);
          }

          @Override
          public void onCompleted() {
            if (!result.isDone()) {
              result.completeExceptionally(Status.INTERNAL.withDescription("no response").asRuntimeException());
            }
          }
        });
    return result;
  }

  /** The breaker's state, e.g. CLOSED, OPEN, HALF_OPEN. */
  public CircuitBreaker.State breakerState() {
    return breaker.getState();
  }

  /** The breaker, for metrics. */
  public CircuitBreaker breaker() {
    return breaker;
  }

  private static boolean isServerFailure(Throwable e) {
    if (e instanceof StatusRuntimeException s) {
      Status.Code code = s.getStatus().getCode();
      return code != Status.Code.INVALID_ARGUMENT && code != Status.Code.CANCELLED;
    }
    return true;
  }

  private static float[] toArray(java.util.List<Float> values) {
    float[] out = new float[values.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = values.get(i);
    }
    return out;
  }

  @Override
  public void close() {
    scheduler.shutdownNow();
    if (ownsChannel) {
      channel.shutdownNow();
      try {
        channel.awaitTermination(5, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }
}
