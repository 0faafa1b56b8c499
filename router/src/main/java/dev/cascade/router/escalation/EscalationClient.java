package dev.cascade.router.escalation;

import dev.cascade.proto.v1.LargeGenerateRequest;
import dev.cascade.proto.v1.LargeGenerateResponse;
import dev.cascade.proto.v1.LargeModelGrpc;
import dev.cascade.proto.v1.LargeModelInfo;
import dev.cascade.proto.v1.LargeModelInfoRequest;
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
import java.util.OptionalInt;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Calls {@code cascade.v1.LargeModel/Generate} asynchronously, never blocking the caller: each
 * attempt has its own deadline, an UNAVAILABLE failure is retried with exponential backoff, and a
 * circuit breaker (resilience4j) stops calling a failing server for a while. The returned future
 * fails with the last {@link StatusRuntimeException}, or with resilience4j's
 * {@code CallNotPermittedException} when the breaker is open; the caller decides what to answer.
 *
 * <h2>The large model's limits</h2>
 *
 * <p>A call never asks for more tokens than the large model takes: {@code max_new_tokens} is
 * clamped to its limit, which comes from {@code large.max-new-tokens} when set and otherwise from
 * the server's {@code LargeModel/Info}, asked once before the first call (and again after a
 * failure to ask). The small model's answer is clamped to its own limit the same way, so a request
 * for more tokens than a model makes gets what that model can make, never a refusal. A server that
 * does not implement {@code Info} (UNIMPLEMENTED) is called unclamped.
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
  /** The large model's token limit (empty: none known and none to ask for); null: not asked yet. */
  private final AtomicReference<CompletableFuture<OptionalInt>> limit = new AtomicReference<>();

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
    return connect(target, settings, io.grpc.InsecureChannelCredentials.create());
  }

  /** A client with its own channel to {@code target} (host:port), TLS or not as {@code credentials} say. */
  public static EscalationClient connect(String target, EscalationSettings settings,
      io.grpc.ChannelCredentials credentials) {
    ManagedChannel channel = NettyChannelBuilder.forTarget(target, credentials).build();
    return new EscalationClient(channel, true, settings);
  }

  /**
   * The large model's token limit: configured, or as the server said; empty when the server does
   * not say. Asks the server when it has not yet (or the last asking failed).
   */
  public CompletableFuture<OptionalInt> maxNewTokens() {
    if (settings.maxNewTokens() > 0) {
      return CompletableFuture.completedFuture(OptionalInt.of(settings.maxNewTokens()));
    }
    CompletableFuture<OptionalInt> known = limit.get();
    if (known != null && !known.isCompletedExceptionally()) {
      return known;
    }
    CompletableFuture<OptionalInt> asking = new CompletableFuture<>();
    if (!limit.compareAndSet(known, asking)) {
      return limit.get();
    }
    stub.withDeadlineAfter(settings.deadline().toMillis(), TimeUnit.MILLISECONDS)
        .info(LargeModelInfoRequest.getDefaultInstance(), new StreamObserver<>() {
          @Override
          public void onNext(LargeModelInfo value) {
            asking.complete(value.getMaxNewTokens() > 0 ? OptionalInt.of(value.getMaxNewTokens()) : OptionalInt.empty());
          }

          @Override
          public void onError(Throwable t) {
            if (Status.fromThrowable(t).getCode() == Status.Code.UNIMPLEMENTED) {
              asking.complete(OptionalInt.empty());
            } else {
              asking.completeExceptionally(t);
            }
          }

          @Override
          public void onCompleted() {
            asking.complete(OptionalInt.empty());
          }
        });
    return asking;
  }

  /**
   * Starts a call, {@code maxNewTokens} clamped to the large model's limit; the future completes
   * off the caller's thread.
   */
  public CompletableFuture<LargeAnswer> generate(String requestId, String prompt, int maxNewTokens) {
    return maxNewTokens().handle((known, error) -> known == null ? OptionalInt.empty() : known)
        .thenCompose(known -> call(requestId, prompt,
            known.isPresent() ? Math.min(maxNewTokens, known.getAsInt()) : maxNewTokens));
  }

  private CompletableFuture<LargeAnswer> call(String requestId, String prompt, int maxNewTokens) {
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

  /** How this client calls the large model. */
  public EscalationSettings settings() {
    return settings;
  }

  /**
   * The gRPC status code name a call ended with: OK (null error), a code, or CIRCUIT_OPEN when the
   * breaker refused it.
   */
  public static String codeOf(Throwable error) {
    Throwable cause = error;
    while ((cause instanceof java.util.concurrent.CompletionException
        || cause instanceof java.util.concurrent.ExecutionException) && cause.getCause() != null) {
      cause = cause.getCause();
    }
    if (cause == null) {
      return "OK";
    }
    if (cause instanceof io.github.resilience4j.circuitbreaker.CallNotPermittedException) {
      return "CIRCUIT_OPEN";
    }
    if (cause instanceof java.util.concurrent.CancellationException) {
      return Status.Code.CANCELLED.name();
    }
    return Status.fromThrowable(cause).getCode().name();
  }

  /** The breaker's state, e.g. CLOSED, OPEN, HALF_OPEN. */
  public CircuitBreaker.State breakerState() {
    return breaker.getState();
  }

  /** The breaker, for metrics. */
  public CircuitBreaker breaker() {
    return breaker;
  }

  /**
   * Whether a call ended in a refusal that no retry or wait can mend: the large model says the call
   * itself is wrong (INVALID_ARGUMENT, OUT_OF_RANGE, FAILED_PRECONDITION), or the router may not
   * make it (UNAUTHENTICATED, PERMISSION_DENIED, UNIMPLEMENTED). A contract mismatch between router
   * and server, to be alarmed on rather than answered as routine degradation.
   *
   * @param code a gRPC status code name
   */
  public static boolean isRefusal(String code) {
    return switch (code) {
      case "INVALID_ARGUMENT", "OUT_OF_RANGE", "FAILED_PRECONDITION", "UNAUTHENTICATED", "PERMISSION_DENIED",
          "UNIMPLEMENTED" -> true;
      default -> false;
    };
  }

  /**
   * What opens the breaker: the server failing, unreachable or too slow. Not the caller's own
   * errors (INVALID_ARGUMENT, CANCELLED), and not RESOURCE_EXHAUSTED: a server that says it is busy
   * is alive, and the escalator already backs off from it (parked calls). (Leaving DEADLINE_EXCEEDED
   * out as well was tried with the fault harness and degraded more answers: RELIABILITY.md.)
   */
  private static boolean isServerFailure(Throwable e) {
    if (e instanceof StatusRuntimeException s) {
      Status.Code code = s.getStatus().getCode();
      return code != Status.Code.INVALID_ARGUMENT && code != Status.Code.CANCELLED
          && code != Status.Code.RESOURCE_EXHAUSTED;
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
