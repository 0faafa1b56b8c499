package dev.cascade.router.escalation;

import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.circuitbreaker.CircuitBreakerConfig;
import io.github.resilience4j.core.IntervalFunction;
import io.github.resilience4j.retry.Retry;
import io.github.resilience4j.retry.RetryConfig;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Calls the large model asynchronously, never blocking the caller: each
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
 * <h2>Drafts (speculative escalation)</h2>
 *
 * <p>An escalation may carry the small model's answer as a draft: the large model checks its tokens
 * in its forward passes and keeps those equal to its own greedy choices, giving the same answer,
 * faster when much of the draft is right and the server is not busy. A call sends its draft only when {@link EscalationSettings#draftTokenizerSha256()} equals
 * the tokenizer hash the server's {@code Info} reports (so the token ids mean the same to both
 * models), cut to the call's token limit. A server that does not say (no {@code Info}, kserve://,
 * openai://, an older server) or says another hash never gets one; nor does any call while
 * {@code Info} cannot be asked.
 *
 * <h2>Protocols</h2>
 *
 * <p>The protocol is a {@link LargeModelTransport} under this client's deadlines, retries, breaker
 * and metrics: {@code cascade.v1.LargeModel} over gRPC (the default), KServe v2 over gRPC, or an
 * OpenAI-compatible completions endpoint, as {@code large.target} says ({@link LargeTarget}). Every
 * transport reports failures as gRPC codes, so what is retried, what opens the breaker and what is
 * a refusal are the same for all three.
 *
 * <p>Thread-safe. It does not bound the calls in flight: the caller does, because only it knows
 * what to do with work that must wait.
 */
public final class EscalationClient implements AutoCloseable {

  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(EscalationClient.class);

  /** The name a client gets when none is given: the one tier of a two-model cascade. */
  public static final String DEFAULT_NAME = "large";

  private final LargeModelTransport transport;
  private final EscalationSettings settings;
  private final String name;
  private final RateLimitedWarning degradedWarning;
  private final RateLimitedWarning skippedWarning;
  private final RateLimitedWarning infoWarning;
  private final CircuitBreaker breaker;
  private final BreakerLog breakerLog;
  private final Retry retry;
  private final ScheduledExecutorService scheduler;
  /** What the server said of its model; null: not asked yet. */
  private final AtomicReference<CompletableFuture<LargeModelTransport.ServerInfo>> info = new AtomicReference<>();
  /** After a failed {@code Info}, {@link #knownServerInfo} asks again at most this often. */
  private static final long INFO_RETRY_INTERVAL_NANOS = 5_000_000_000L;
  private volatile long infoFailedAtNanos;
  /** The first thing the server said of its model, once it has ({@link #firstServerInfo}). */
  private final CompletableFuture<LargeModelTransport.ServerInfo> firstInfo = new CompletableFuture<>();
  /** Calls answered so far: a rise tells callers waiting out a failure that the server is back. */
  private final AtomicLong answeredCalls = new AtomicLong();

  /** A client calling {@code cascade.v1.LargeModel} on {@code channel}. */
  public EscalationClient(ManagedChannel channel, boolean ownsChannel, EscalationSettings settings) {
    this(new CascadeTransport(channel, ownsChannel), settings);
  }

  /** A client calling the large model through {@code transport}, which it closes when closed. */
  public EscalationClient(LargeModelTransport transport, EscalationSettings settings) {
    this(transport, settings, DEFAULT_NAME);
  }

  /**
   * A client calling tier {@code name} through {@code transport}, which it closes when closed; its
   * circuit breaker and retry are named {@code name} too.
   */
  public EscalationClient(LargeModelTransport transport, EscalationSettings settings, String name) {
    this.transport = transport;
    this.settings = settings;
    this.name = java.util.Objects.requireNonNull(name, "name");
    this.degradedWarning = new RateLimitedWarning(name, DEGRADED_WARNING_INTERVAL, System::nanoTime,
        line -> LOG.warn("{}", line));
    this.skippedWarning = new RateLimitedWarning(name, "request", "requests", "went past it to the next tier",
        DEGRADED_WARNING_INTERVAL, System::nanoTime, line -> LOG.warn("{}", line));
    this.infoWarning = new RateLimitedWarning(name + " (" + transport.describe() + ")",
        "attempt to ask the model's limits (LargeModel/Info)", "attempts to ask the model's limits (LargeModel/Info)",
        "failed", INFO_WARNING_INTERVAL, System::nanoTime, line -> LOG.warn("{}", line));
    this.breaker = CircuitBreaker.of(name, CircuitBreakerConfig.custom()
        .failureRateThreshold((float) settings.breakerFailureRatePercent())
        .slidingWindowType(CircuitBreakerConfig.SlidingWindowType.COUNT_BASED)
        .slidingWindowSize(20)
        .minimumNumberOfCalls(10)
        .permittedNumberOfCallsInHalfOpenState(TRIAL_CALLS)
        .waitDurationInOpenState(settings.breakerOpen())
        .recordException(EscalationClient::isServerFailure)
        .ignoreException(EscalationClient::isCancelled)
        .build());
    this.breakerLog = new BreakerLog(name, transport.describe(), settings, System::nanoTime, (level, line) -> {
      switch (level) {
        case WARN -> LOG.warn("{}", line);
        case INFO -> LOG.info("{}", line);
        default -> LOG.debug("{}", line);
      }
    });
    breaker.getEventPublisher()
        .onError(e -> breakerLog.failed(e.getThrowable()))
        .onCallNotPermitted(e -> breakerLog.refused())
        .onStateTransition(e -> breakerLog.transition(e.getStateTransition(), breaker.getMetrics().getFailureRate(),
            breaker.getMetrics().getNumberOfBufferedCalls()));
    this.scheduler = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "escalation-retry");
      t.setDaemon(true);
      return t;
    });
    this.retry = Retry.of(name, RetryConfig.custom()
        .maxAttempts(settings.retries() + 1)
        .intervalFunction(IntervalFunction.ofExponentialBackoff(Math.max(1, settings.backoff().toMillis()), 2.0))
        .retryOnException(e -> e instanceof StatusRuntimeException s && s.getStatus().getCode() == Status.Code.UNAVAILABLE)
        .failAfterMaxAttempts(false)
        .build());
  }

  /** A client with its own plaintext connection to {@code target}: host:port or a URI ({@link LargeTarget}). */
  public static EscalationClient connect(String target, EscalationSettings settings) {
    return connect(target, settings, io.grpc.InsecureChannelCredentials.create());
  }

  /**
   * A client with its own connection to {@code target} (host:port or a URI: {@link LargeTarget});
   * gRPC targets TLS or not as {@code credentials} say.
   */
  public static EscalationClient connect(String target, EscalationSettings settings,
      io.grpc.ChannelCredentials credentials) {
    return connect(LargeTarget.parse(target), settings, LargeModelTransports.Options.of(credentials));
  }

  /** A client with its own connection to {@code target}. */
  public static EscalationClient connect(LargeTarget target, EscalationSettings settings,
      LargeModelTransports.Options options) {
    return connect(target, settings, options, DEFAULT_NAME);
  }

  /** A client with its own connection to {@code target}, for the tier named {@code name}. */
  public static EscalationClient connect(LargeTarget target, EscalationSettings settings,
      LargeModelTransports.Options options, String name) {
    return new EscalationClient(LargeModelTransports.open(target, options), settings, name);
  }

  /** Calls a half-open breaker lets through to try the model again. */
  static final int TRIAL_CALLS = 3;

  /** Longest failure description {@link #describe} gives (a gRPC status can carry a long transport report). */
  static final int MAX_FAILURE_CHARS = 240;

  /** How often at most a failed asking of the server's limits is logged. */
  static final Duration INFO_WARNING_INTERVAL = Duration.ofSeconds(30);

  /** How often at most {@link #degraded} logs a line for this tier. */
  static final Duration DEGRADED_WARNING_INTERVAL = Duration.ofSeconds(10);

  /** The tier's name, as configured: its breaker's name, and the {@code tier} label of its metrics. */
  public String name() {
    return name;
  }

  /**
   * Notes a request degraded because this tier failed (unavailable, slow, or its breaker open) and
   * logs a warning: at most one line every 10 s for this tier, with how many requests were degraded
   * since the last line and the latest reason.
   */
  public void degraded(String reason) {
    degradedWarning.record(reason);
  }

  /**
   * Notes a request that passed over this tier, unavailable, to the next one
   * ({@code escalation.skip-unavailable-tiers}), and logs a warning as {@link #degraded} does.
   */
  public void skipped(String reason) {
    skippedWarning.record(reason);
  }

  /**
   * The large model's token limit: configured, or as the server said; empty when the server does
   * not say. Asks the server when it has not yet (or the last asking failed).
   */
  public CompletableFuture<OptionalInt> maxNewTokens() {
    if (settings.maxNewTokens() > 0) {
      return CompletableFuture.completedFuture(OptionalInt.of(settings.maxNewTokens()));
    }
    return serverInfo().thenApply(LargeModelTransport.ServerInfo::maxNewTokens);
  }

  /**
   * The large model's token limit without waiting ({@link #knownServerInfo}): configured, or as
   * the server has said; empty while it has not said, or when it does not (then it is called
   * unclamped). What an answer of this tier was allowed, beside the request's own limit.
   */
  public OptionalInt knownMaxNewTokens() {
    if (settings.maxNewTokens() > 0) {
      return OptionalInt.of(settings.maxNewTokens());
    }
    return knownServerInfo().map(LargeModelTransport.ServerInfo::maxNewTokens).orElse(OptionalInt.empty());
  }

  /**
   * What the server says of its model ({@link LargeModelTransport.ServerInfo#UNKNOWN} when it
   * cannot say). Asks the server when it has not yet (or the last asking failed).
   */
  public CompletableFuture<LargeModelTransport.ServerInfo> serverInfo() {
    CompletableFuture<LargeModelTransport.ServerInfo> known = info.get();
    if (known != null && !known.isCompletedExceptionally()) {
      return known;
    }
    CompletableFuture<LargeModelTransport.ServerInfo> asking = new CompletableFuture<>();
    if (!info.compareAndSet(known, asking)) {
      return info.get();
    }
    transport.info(settings.deadline()).whenComplete((value, error) -> {
      if (error != null) {
        infoFailedAtNanos = System.nanoTime();
        // A tier that is down is asked again with each request: one line every 30 s says so.
        infoWarning.record(unwrap(error).toString() + "; asking again later");
        asking.completeExceptionally(unwrap(error));
      } else {
        firstInfo.complete(value);
        asking.complete(value);
      }
    });
    return asking;
  }

  /**
   * Completes with what the server says of its model the first time it says it, however late (a
   * tier down at start answers {@code Info} once it is back and asked again: by a request, or by
   * {@link #knownServerInfo}); never fails. Does not itself ask.
   */
  public CompletableFuture<LargeModelTransport.ServerInfo> firstServerInfo() {
    return firstInfo.copy();
  }

  /**
   * What the server has said of its model, without waiting: empty while it has not answered (this
   * call then starts asking, once) or when the last asking failed (asked again at most every 5 s
   * from here, and by the next call to the model). For checks on a caller's thread that must not
   * wait on the network.
   */
  public Optional<LargeModelTransport.ServerInfo> knownServerInfo() {
    CompletableFuture<LargeModelTransport.ServerInfo> known = info.get();
    if (known == null || (known.isCompletedExceptionally()
        && System.nanoTime() - infoFailedAtNanos > INFO_RETRY_INTERVAL_NANOS)) {
      serverInfo();
      return Optional.empty();
    }
    return known.isDone() && !known.isCompletedExceptionally() ? Optional.of(known.join()) : Optional.empty();
  }

  /** Whether the large model is ready to answer (outside the breaker and retries: for probes and startup logs). */
  public CompletableFuture<Boolean> ready() {
    return transport.ready(settings.deadline());
  }

  /** The target, for logs. */
  public String target() {
    return transport.describe();
  }

  /** The call that asks the server what it serves, as logs name it; empty when its protocol has none. */
  public Optional<String> infoCall() {
    return transport.infoCall();
  }

  /**
   * Starts a call, {@code maxNewTokens} clamped to the large model's limit; the future completes
   * off the caller's thread.
   */
  public CompletableFuture<LargeAnswer> generate(String requestId, String prompt, int maxNewTokens) {
    return generate(requestId, prompt, maxNewTokens, new int[0], null);
  }

  /** As {@link #generate(String, String, int, int[], EarlyStopSpec)}, without an early stop. */
  public CompletableFuture<LargeAnswer> generate(String requestId, String prompt, int maxNewTokens, int[] draft) {
    return generate(requestId, prompt, maxNewTokens, draft, null);
  }

  /**
   * As {@link #generate(String, String, int)}, sending {@code draft} (the small model's tokens) when
   * the server's tokenizer is the small model's (see the class comment); the answer is the same
   * either way, and says how much of the draft the large model kept; and, unless {@code stop} is
   * null, asking the server to stop once the answer's score passes its threshold (a middle tier of
   * a cascade; {@link LargeAnswer#stoppedEarly()} says whether it did: only a {@code cascade://}
   * server can).
   */
  public CompletableFuture<LargeAnswer> generate(String requestId, String prompt, int maxNewTokens, int[] draft,
      EarlyStopSpec stop) {
    return generate(requestId, prompt, maxNewTokens, draft, stop, null);
  }

  /**
   * As {@link #generate(String, String, int, int[], EarlyStopSpec)}, with every attempt's deadline
   * cut to what is left until {@code untilEpochMs} (the request's {@code deadline_ms}: its caller
   * stops waiting then) when that comes before {@code escalation.deadline-ms}; an attempt that
   * deadline ends, or that has no time left and is not sent, fails with {@link
   * RequestDeadlineReached}. Null: attempts get {@code escalation.deadline-ms}.
   */
  public CompletableFuture<LargeAnswer> generate(String requestId, String prompt, int maxNewTokens, int[] draft,
      EarlyStopSpec stop, Long untilEpochMs) {
    return generate(requestId, prompt, java.util.List.of(), maxNewTokens, draft, stop, untilEpochMs);
  }

  /**
   * As {@link #generate(String, String, int, int[], EarlyStopSpec, Long)}, with the request's
   * conversation (empty for a plain prompt), which a target that takes one (an {@code openai://}
   * target with {@code api=chat}, an {@code anthropic://} target) is sent instead of the prompt.
   */
  public CompletableFuture<LargeAnswer> generate(String requestId, String prompt, java.util.List<ChatTurn> conversation,
      int maxNewTokens, int[] draft, EarlyStopSpec stop, Long untilEpochMs) {
    CompletableFuture<Boolean> sendDraft = draft.length == 0 || settings.draftTokenizerSha256().isEmpty()
        ? CompletableFuture.completedFuture(false)
        : serverInfo().handle((server, error) -> server != null
            && server.tokenizerSha256().filter(settings.draftTokenizerSha256()::equals).isPresent());
    return maxNewTokens().handle((known, error) -> known == null ? OptionalInt.empty() : known)
        .thenCombine(sendDraft, (known, send) -> {
          int max = known.isPresent() ? Math.min(maxNewTokens, known.getAsInt()) : maxNewTokens;
          return new Call(max, send ? java.util.Arrays.copyOf(draft, Math.min(draft.length, max)) : new int[0]);
        })
        .thenCompose(c -> c.draft().length == 0
            ? call(requestId, prompt, conversation, c.maxNewTokens(), c.draft(), stop, untilEpochMs)
            : call(requestId, prompt, conversation, c.maxNewTokens(), c.draft(), stop, untilEpochMs)
                .exceptionallyCompose(error -> {
              // A draft the server refuses (a token it takes for padding, say) must not cost the
              // answer: the same call without it.
              if (!isDraftRefusal(error)) {
                return CompletableFuture.failedFuture(error);
              }
              LOG.warn("the large model refused request {}'s draft ({}); calling again without it", requestId,
                  Status.fromThrowable(unwrap(error)).getDescription());
              return call(requestId, prompt, conversation, c.maxNewTokens(), new int[0], stop, untilEpochMs);
            }));
  }

  private static boolean isDraftRefusal(Throwable error) {
    Status status = Status.fromThrowable(unwrap(error));
    return status.getCode() == Status.Code.INVALID_ARGUMENT && status.getDescription() != null
        && status.getDescription().startsWith("draft_tokens");
  }

  private record Call(int maxNewTokens, int[] draft) {}

  private CompletableFuture<LargeAnswer> call(String requestId, String prompt, java.util.List<ChatTurn> conversation,
      int maxNewTokens, int[] draft, EarlyStopSpec stop, Long untilEpochMs) {
    long start = System.nanoTime();
    AtomicInteger attempts = new AtomicInteger();
    CompletionStage<LargeModelTransport.Reply> call = Retry.decorateCompletionStage(retry, scheduler,
        () -> {
          attempts.incrementAndGet();
          long left = untilEpochMs == null ? 1 : untilEpochMs - System.currentTimeMillis();
          if (left <= 0) {
            // Nobody waits for the answer any more: no call, and no failure the breaker should count.
            return CompletableFuture.failedFuture(new RequestDeadlineReached(Status.CANCELLED.withDescription("request "
                + requestId + "'s deadline_ms passed " + -left + " ms before this attempt; not sent")));
          }
          return CircuitBreaker.decorateCompletionStage(breaker,
              () -> attempt(requestId, prompt, conversation, maxNewTokens, draft, stop, untilEpochMs)).get();
        }).get();
    return call.toCompletableFuture().thenApply(r -> {
      answeredCalls.incrementAndGet();
      return new LargeAnswer(r.text(), r.tokens(), r.tokenLogprobs(),
          (System.nanoTime() - start) / 1e6, attempts.get(), r.outputTokens(), draft.length, r.draftAccepted(),
          r.stoppedEarly(), r.promptTokens());
    });
  }

  /**
   * How many calls the server has answered since this client was made. A caller that parked calls
   * after a failure can call again as soon as this rises, instead of waiting out its backoff.
   */
  public long answeredCalls() {
    return answeredCalls.get();
  }

  /** One attempt, failing with the transport's status exception itself (never wrapped), as the retry and breaker expect. */
  private CompletableFuture<LargeModelTransport.Reply> attempt(String requestId, String prompt,
      java.util.List<ChatTurn> conversation, int maxNewTokens, int[] draft, EarlyStopSpec stop, Long untilEpochMs) {
    CompletableFuture<LargeModelTransport.Reply> result = new CompletableFuture<>();
    CompletableFuture<LargeModelTransport.Reply> sent;
    boolean cut = false;
    try {
      Duration left = untilEpochMs == null ? null
          : Duration.ofMillis(Math.max(1, untilEpochMs - System.currentTimeMillis()));
      cut = left != null && left.compareTo(settings.deadline()) < 0;
      // A transport that carries neither a draft nor an early stop sends the plain call (the default).
      sent = transport.generate(requestId, prompt, conversation, maxNewTokens, draft, stop,
          cut ? left : settings.deadline());
    } catch (RuntimeException e) {
      sent = CompletableFuture.failedFuture(e);
    }
    boolean cutToRequest = cut;
    sent.whenComplete((reply, error) -> {
      if (error != null && cutToRequest && Status.fromThrowable(unwrap(error)).getCode() == Status.Code.DEADLINE_EXCEEDED) {
        // The caller's deadline ended the call, not escalation.deadline-ms: no sign the model is
        // failing, so not a failure the breaker counts (CANCELLED, as the caller's own cancelling is).
        result.completeExceptionally(new RequestDeadlineReached(Status.CANCELLED.withDescription("request " + requestId
            + "'s deadline_ms came before the model answered (escalation.deadline-ms is "
            + settings.deadline().toMillis() + " ms)").withCause(unwrap(error))));
      } else if (error != null) {
        result.completeExceptionally(unwrap(error));
      } else {
        result.complete(reply);
      }
    });
    return result;
  }

  private static Throwable unwrap(Throwable error) {
    Throwable e = error;
    while ((e instanceof java.util.concurrent.CompletionException
        || e instanceof java.util.concurrent.ExecutionException) && e.getCause() != null) {
      e = e.getCause();
    }
    return e;
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
      return CIRCUIT_OPEN;
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

  /**
   * Whether {@code state} refuses every call (OPEN, FORCED_OPEN): the model is known to be failing.
   * Not HALF_OPEN, whose trial calls go through.
   */
  public static boolean isOpen(CircuitBreaker.State state) {
    return state == CircuitBreaker.State.OPEN || state == CircuitBreaker.State.FORCED_OPEN;
  }

  /**
   * The last failure the breaker counted against the model (any call's, not only this request's),
   * described as {@link #describe} does; empty while none has failed. What a call the breaker
   * refused is degraded for.
   */
  public Optional<String> lastCountedFailure() {
    return breakerLog.lastFailure();
  }

  /**
   * A failure as a degraded reason says it: its kind and message ({@code StatusRuntimeException:
   * DEADLINE_EXCEEDED: ...}, {@code CallNotPermittedException: CircuitBreaker 'large' is OPEN ...}),
   * out of any {@code CompletionException}, cut to {@value #MAX_FAILURE_CHARS} characters.
   */
  public static String describe(Throwable error) {
    Throwable cause = unwrap(error);
    String message = cause.getMessage();
    String text = cause.getClass().getSimpleName() + (message == null ? "" : ": " + message);
    return text.length() <= MAX_FAILURE_CHARS ? text : text.substring(0, MAX_FAILURE_CHARS - 1) + "…";
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
    return REFUSALS.contains(code);
  }

  /** The codes {@link #isRefusal} says are refusals. */
  public static final java.util.List<String> REFUSALS = java.util.List.of("INVALID_ARGUMENT", "OUT_OF_RANGE",
      "FAILED_PRECONDITION", "UNAUTHENTICATED", "PERMISSION_DENIED", "UNIMPLEMENTED");

  /** The code {@link #codeOf} gives a call the tier's open breaker refused. */
  public static final String CIRCUIT_OPEN = "CIRCUIT_OPEN";

  /** Every code {@link #codeOf} can return: the gRPC status codes' names, and CIRCUIT_OPEN. */
  public static final java.util.List<String> CODES = java.util.stream.Stream.concat(
      java.util.Arrays.stream(Status.Code.values()).map(Status.Code::name), java.util.stream.Stream.of(CIRCUIT_OPEN))
      .toList();

  /**
   * A call ended, or not sent, because the request's {@code deadline_ms} came first: its caller
   * stopped waiting. CANCELLED, so neither retried nor counted against the model by the breaker.
   */
  public static final class RequestDeadlineReached extends StatusRuntimeException {
    RequestDeadlineReached(Status status) {
      super(status);
    }
  }

  /** Whether a call's failure is {@link RequestDeadlineReached}, however wrapped. */
  public static boolean isRequestDeadline(Throwable error) {
    return unwrap(error) instanceof RequestDeadlineReached;
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

  /**
   * A call the caller ended (CANCELLED: the request's deadline came first, or the router stopped):
   * neither a failure nor a success for the breaker. Counted as a success (resilience4j's default
   * for an exception it does not record), such calls closed a half-open breaker during a slow
   * model's outage, the trial calls cut at their requests' deadlines (RELIABILITY.md).
   */
  private static boolean isCancelled(Throwable e) {
    return e instanceof StatusRuntimeException s && s.getStatus().getCode() == Status.Code.CANCELLED;
  }

  @Override
  public void close() {
    scheduler.shutdownNow();
    transport.close();
  }
}
