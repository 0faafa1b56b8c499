package dev.cascade.router.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cascade.models.openai.ChatTranscript;
import dev.cascade.models.openai.OpenAiError;
import dev.cascade.models.openai.OpenAiRequest;
import dev.cascade.models.openai.RequestBodyGuard;
import dev.cascade.router.routing.RequestValidator;
import dev.cascade.router.topology.DeadLetters;
import dev.cascade.schemas.avro.CascadeRequest;
import dev.cascade.schemas.avro.CascadeResponse;
import dev.cascade.schemas.avro.Feedback;
import io.javalin.Javalin;
import io.javalin.http.Context;
import io.javalin.http.HttpResponseException;
import java.time.Duration;
import java.util.HashMap;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BooleanSupplier;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.ServerConnector;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The OpenAI-compatible HTTP door (Javalin on Jetty): {@code POST /v1/completions}, {@code POST
 * /v1/chat/completions}, {@code POST /v1/responses}, Anthropic's {@code POST /v1/messages} (each
 * plain or {@code stream: true}), {@code GET /v1/models} and {@code
 * GET /v1/models/cascade}, and its own {@code POST /v1/feedback}. It takes the gRPC door's path:
 * the request goes onto the requests topic through the same {@link RequestChannel}, and the call
 * waits, without holding a thread, for the response with its request id.
 *
 * <p>Why a stream is written only once the answer is there: the cascade answers in one piece
 * (the small model's whole answer is scored before it is accepted or escalated), so there is
 * nothing to stream earlier, and waiting keeps every failure (a timeout, a refused prompt) a
 * plain JSON error with its HTTP status, as for a request that does not stream.
 *
 * <p>Statuses: 400 a bad or unsupported request (naming the field), 401 a missing or unknown API
 * key (when {@code api.keys-file} is set), 404 an unknown model or path, 405 a path served with
 * another method (with {@code Allow}), 408 no answer within the wait (or the router took the
 * request past its deadline and generated nothing: {@code deadline_exceeded}) or a request body
 * that did not arrive in its time ({@link RequestBodyGuard}), 429 more than {@code http.max-in-flight} calls
 * waiting or {@code http.max-body-reads} bodies arriving, 500 a failure in the router, 503 not
 * ready (stream threads not running, reply reader down) or shutting down. 429 and 503 carry {@code
 * Retry-After}; a 500 names the request, and the log line beside it says what failed. {@code
 * x-should-retry} ({@link OpenAiError#shouldRetry}) tells OpenAI's clients not to send again what
 * fails the same way (a 4xx other than 408/409/429, a request the router refused for what it is).
 */
final class OpenAiServer {

  private static final Logger LOG = LoggerFactory.getLogger(OpenAiServer.class);
  private static final String ERROR_WRITTEN = "cascade.openai.error-written";
  /** The largest request body read; a larger one is 413 (see {@link RequestBodyGuard}). */
  static final long MAX_BODY_BYTES = dev.cascade.models.openai.OpenAiRequest.MAX_BODY_BYTES;
  /** What the router accepts of an OpenAI request: its gRPC door's limits. */
  static final OpenAiRequest.Limits LIMITS = new OpenAiRequest.Limits(RequestValidator.MAX_NEW_TOKENS_LIMIT,
      " (a model's own lower limit then applies)", ApiRecords.MAX_METADATA_KEY_LENGTH,
      ApiRecords.MAX_METADATA_VALUE_LENGTH);
  private static final String KEY_NAME = "cascade.openai.key-name";
  /** Readiness for HTTP load balancers; {@code /health/live} beside it is liveness. */
  static final String HEALTH_PATH = "/health";
  private static final String HEALTH_SERVING = "{\"status\":\"SERVING\"}";
  private static final String HEALTH_NOT_SERVING = "{\"status\":\"NOT_SERVING\"}";
  private static final String HEALTH_LIVE = "{\"status\":\"LIVE\"}";
  /** Seconds a refused caller should wait (a key over its limit), for {@code Retry-After}; absent: 1. */
  private static final String RETRY_AFTER_S = "cascade.openai.retry-after-s";
  /** Anthropic's Messages API, whose calls are answered (errors too) in Anthropic's shapes. */
  static final String ANTHROPIC_MESSAGES_PATH = OpenAiError.ANTHROPIC_MESSAGES_PATH;
  /** The start of a Responses API call's request id (and its answer's {@code id}), as OpenAI's. */
  static final String RESPONSE_ID_PREFIX = "resp_";
  /** The id a generation call's request got (its answer's id), for the log line of a failure. */
  private static final String REQUEST_ID = "cascade.openai.request-id";

  /**
   * @param answerWait how long a call waits for its answer ({@code grpc.default-deadline-ms}, shared with the gRPC door)
   * @param defaultMaxNewTokens the router's limit of a request that sets none ({@code generation.max-new-tokens})
   * @param maxInFlight most calls waiting at once on this door; more get 429
   * @param bodies how long a request body may take to arrive ({@code http.body-timeout-ms}, {@code
   *     http.min-body-rate}; then 408) and how many are read at once ({@code http.max-body-reads}; more: 429)
   * @param corsOrigins the browser origins that may call the door ({@code http.cors-allowed-origins}; {@code *}:
   *     any; empty: no CORS, see {@link CorsHandler})
   * @param deadlineMargin how long before the answer wait ends the request's {@code deadline_ms} falls
   *     ({@code front-door.deadline-margin-ms}, {@link ApiRecords#deadlineMs})
   * @param chatTranscript how a chat's messages become its prompt ({@code http.chat-history=transcript});
   *     null: the last user message alone
   */
  record Settings(Duration answerWait, int defaultMaxNewTokens, int maxInFlight, RequestBodyGuard.Limits bodies,
      java.util.List<String> corsOrigins, Duration deadlineMargin, ChatTranscript chatTranscript) {

    /** A chat's prompt is its last user message. */
    Settings(Duration answerWait, int defaultMaxNewTokens, int maxInFlight, RequestBodyGuard.Limits bodies,
        java.util.List<String> corsOrigins, Duration deadlineMargin) {
      this(answerWait, defaultMaxNewTokens, maxInFlight, bodies, corsOrigins, deadlineMargin, null);
    }

    /** With the default body limits, no CORS, {@code deadline_ms} at the end of the wait. */
    Settings(Duration answerWait, int defaultMaxNewTokens, int maxInFlight) {
      this(answerWait, defaultMaxNewTokens, maxInFlight, bodyLimits(10_000, 65_536, 256));
    }

    /** Without CORS; {@code deadline_ms} at the end of the wait. */
    Settings(Duration answerWait, int defaultMaxNewTokens, int maxInFlight, RequestBodyGuard.Limits bodies) {
      this(answerWait, defaultMaxNewTokens, maxInFlight, bodies, java.util.List.of());
    }

    /** {@code deadline_ms} at the end of the wait. */
    Settings(Duration answerWait, int defaultMaxNewTokens, int maxInFlight, RequestBodyGuard.Limits bodies,
        java.util.List<String> corsOrigins) {
      this(answerWait, defaultMaxNewTokens, maxInFlight, bodies, corsOrigins, Duration.ZERO);
    }
  }

  /** The body limits of {@link Settings}: the body size limit is {@link #MAX_BODY_BYTES}. */
  static RequestBodyGuard.Limits bodyLimits(long timeoutMs, long minBytesPerSecond, int maxReads) {
    return new RequestBodyGuard.Limits(MAX_BODY_BYTES, timeoutMs, minBytesPerSecond, maxReads);
  }

  private final RequestChannel channel;
  private final RequestValidator validator;
  private final ApiKeys apiKeys;
  private final TokenCounter tokens;
  private final Settings settings;
  private final Semaphore inFlight;
  /** Calls with an {@code Idempotency-Key}, and their answers, kept as long as the router refuses a repeated id. */
  private final IdempotencyKeys idempotency = new IdempotencyKeys(
      dev.cascade.router.topology.CascadeTopology.DEDUPE_WINDOW, 10_000);
  private final FeedbackTopic.Sink feedback;
  private final long createdSeconds = System.currentTimeMillis() / 1000;
  private volatile BooleanSupplier ready = () -> true;
  private volatile boolean stopping;
  /** Calls being handled that came before {@link #refuseNew} (see {@link CallCounter}). */
  private final java.util.concurrent.atomic.AtomicInteger calls = new java.util.concurrent.atomic.AtomicInteger();
  private final Object idle = new Object();
  private Javalin app;
  private volatile String host;
  private volatile boolean secure;
  private DoorMetrics doorMetrics = DoorMetrics.register(null, () -> true);

  /**
   * @param apiKeys the keys a call must present; null: open
   * @param tokens how {@code usage} is counted
   */
  OpenAiServer(RequestChannel channel, RequestValidator validator, ApiKeys apiKeys, TokenCounter tokens,
      Settings settings) {
    this(channel, validator, apiKeys, tokens, settings, null);
  }

  /** As above; {@code POST /v1/feedback} writes to {@code feedback} (null: that path is not served). */
  OpenAiServer(RequestChannel channel, RequestValidator validator, ApiKeys apiKeys, TokenCounter tokens,
      Settings settings, FeedbackTopic.Sink feedback) {
    this.feedback = feedback;
    this.channel = channel;
    this.validator = validator;
    this.apiKeys = apiKeys;
    this.tokens = tokens;
    this.settings = settings;
    this.inFlight = new Semaphore(settings.maxInFlight());
  }

  /** Counts its generation calls' answers in {@code metrics} (before {@link #start}). */
  OpenAiServer countedBy(DoorMetrics metrics) {
    this.doorMetrics = metrics;
    metrics.httpDoorOn();
    return this;
  }

  /** Starts listening on {@code host:port} (host null: every interface; port 0 picks a free one), plain HTTP. */
  OpenAiServer start(String host, int port) {
    return start(host, port, dev.cascade.models.server.GrpcTls.Opened.NONE);
  }

  /**
   * As {@link #start(String, int)}, over HTTPS when {@code tls} has a key store (requiring a client
   * certificate its trust store trusts, when it has one).
   */
  OpenAiServer start(String host, int port, dev.cascade.models.server.GrpcTls.Opened tls) {
    // Jetty closes a connection idle for its idle timeout, and a call waiting for its answer sends
    // nothing: keep it open for longer than any wait, so the wait ends in an answer or a 408.
    long idleMs = settings.answerWait().toMillis() + 30_000;
    app = Javalin.create(config -> {
      config.startup.showJavalinBanner = false;
      config.startup.showOldJavalinVersionWarning = false;
      config.http.asyncTimeout = 0L; // the wait is ours (Settings.answerWait), answered 408
      config.http.maxRequestSize = MAX_BODY_BYTES;
      config.http.prefer405over404 = true; // a served path with another method: 405 with Allow
      config.jetty.modifyServer(server -> {
        // Jetty's own refusals (a malformed request, headers too large) in OpenAI's shape too.
        org.eclipse.jetty.server.Request.Handler errors = new dev.cascade.models.openai.OpenAiErrorHandler();
        // Bodies are read in full before a route runs, without a thread: a slow client gets 408
        // and holds none of the threads the routes (and other callers) need.
        // Each generation call's answer is counted by its status, refusals included; CORS outermost, so
        // that every answer carries its headers, the body guard's refusals too.
        org.eclipse.jetty.server.Handler calls =
            new CallCounter(new RequestBodyGuard(settings.bodies()));
        if (settings.corsOrigins().isEmpty()) {
          server.setHandler(calls);
          server.setErrorHandler(errors);
        } else {
          CorsHandler cors = new CorsHandler(settings.corsOrigins(), this::servedMethods, calls);
          server.setHandler(cors);
          server.setErrorHandler(cors.errors(errors)); // Jetty's own refusals too
        }
      });
      config.jetty.addConnector((server, http) -> {
        ServerConnector connector = dev.cascade.models.openai.HttpTls.connector(server, http,
            settings.corsOrigins().isEmpty() ? new HttpConnectionFactory(http)
                : new CorsHandler.OriginKeepingConnections(http), tls);
        connector.setHost(host);
        connector.setPort(port);
        connector.setIdleTimeout(idleMs);
        return connector;
      });
      config.routes.before(this::admit);
      config.routes.post("/v1/completions", ctx -> generate(ctx, OpenAiRequest.Api.COMPLETIONS));
      config.routes.post("/v1/chat/completions", ctx -> generate(ctx, OpenAiRequest.Api.CHAT));
      config.routes.post("/v1/responses", ctx -> generate(ctx, OpenAiRequest.Api.RESPONSES));
      config.routes.post(ANTHROPIC_MESSAGES_PATH, ctx -> generate(ctx, OpenAiRequest.Api.MESSAGES));
      if (feedback != null) {
        config.routes.post("/v1/feedback", this::feedback);
      }
      // HEAD as GET, the body left out by Jetty (Javalin would otherwise answer it 200 text/plain, empty).
      io.javalin.http.Handler models = ctx -> json(ctx, 200, OpenAiResponses.models(createdSeconds));
      io.javalin.http.Handler model = ctx -> {
        model(ctx.pathParam("model"));
        json(ctx, 200, OpenAiResponses.model(createdSeconds).toString());
      };
      config.routes.get("/v1/models", models);
      config.routes.head("/v1/models", models);
      // For HTTP load balancers and probes, without an API key: readiness as the gRPC door's health says
      // it (503 while not serving or stopping), and liveness (200 while this server answers at all).
      io.javalin.http.Handler health = ctx -> {
        boolean serving = !stopping && channel.healthy() && ready.getAsBoolean();
        if (!serving) {
          ctx.header("Retry-After", "1");
        }
        json(ctx, serving ? 200 : 503, serving ? HEALTH_SERVING : HEALTH_NOT_SERVING);
      };
      io.javalin.http.Handler live = ctx -> json(ctx, 200, HEALTH_LIVE);
      config.routes.get(HEALTH_PATH, health);
      config.routes.head(HEALTH_PATH, health);
      config.routes.get(HEALTH_PATH + "/live", live);
      config.routes.head(HEALTH_PATH + "/live", live);
      config.routes.get("/v1/models/{model}", model);
      config.routes.head("/v1/models/{model}", model);
      config.routes.exception(OpenAiError.class, (e, ctx) -> error(ctx, e));
      // Javalin maps its own HttpResponseException (a body over http.maxRequestSize is its
      // ContentTooLargeResponse, 413) to plain text unless a handler names that class.
      config.routes.exception(HttpResponseException.class, (e, ctx) -> error(ctx, unexpected(e, ctx)));
      config.routes.exception(Exception.class, (e, ctx) -> error(ctx, unexpected(e, ctx)));
      config.routes.error(404, ctx -> {
        if (ctx.attribute(ERROR_WRITTEN) == null) {
          error(ctx, unknownPath(ctx));
        }
      });
    });
    app.start();
    this.host = host;
    this.secure = tls != null && tls.keys() != null;
    LOG.info("OpenAI-compatible HTTP door listening on {}{}:{}{}", secure ? "HTTPS, " : "",
        host == null ? "every interface, port" : host,
        app.port(), settings.corsOrigins().isEmpty() ? "" : "; browsers of " + settings.corsOrigins() + " may call it (CORS)");
    return this;
  }

  /** Whether it speaks HTTPS (after {@link #start}). */
  boolean secure() {
    return secure;
  }

  /** The port it listens on (after {@link #start}). */
  int port() {
    return app.port();
  }

  /** The interface it listens on (after {@link #start}); empty: every interface. */
  Optional<java.net.InetAddress> host() {
    try {
      return host == null ? Optional.empty() : Optional.of(java.net.InetAddress.getByName(host)); // a literal
    } catch (java.net.UnknownHostException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Generation calls are answered 503 while {@code ready} says no (and the reply reader is down). */
  void healthFollows(BooleanSupplier ready) {
    this.ready = ready;
  }

  /** From now on every call is answered 503; calls already waiting go on (see {@link #awaitCalls}). */
  void refuseNew() {
    stopping = true;
  }

  /**
   * Waits until every call that came before {@link #refuseNew} has been answered (and its answer
   * written), or {@code bound} has passed.
   *
   * @return whether they all were; false: {@link #callsInFlight()} are still going on
   */
  boolean awaitCalls(Duration bound) throws InterruptedException {
    long deadline = System.nanoTime() + bound.toNanos();
    synchronized (idle) {
      while (calls.get() > 0) {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
          return false;
        }
        TimeUnit.NANOSECONDS.timedWait(idle, left);
      }
    }
    return true;
  }

  /** Calls being handled now (their body arriving, waiting for their answer, or being answered). */
  int callsInFlight() {
    return calls.get();
  }

  /** Stops listening (calls still waiting are cut off: call {@link #refuseNew} and {@link #awaitCalls} first). */
  void stop() {
    stopping = true;
    if (app != null) {
      app.stop();
    }
  }

  /** Before every call: shutting down (503), then the API key (401); the health paths need neither. */
  private void admit(Context ctx) {
    String path = ctx.path().endsWith("/") ? ctx.path().substring(0, ctx.path().length() - 1) : ctx.path();
    if (path.equals(HEALTH_PATH) || path.equals(HEALTH_PATH + "/live")) { // as routed: a trailing slash too
      return;
    }
    if (stopping) {
      throw new OpenAiError(503, "server_error", null, "shutting_down", RequestChannel.SHUTTING_DOWN);
    }
    if (ctx.contentLength() > MAX_BODY_BYTES) {
      // From the header, before the body is read: a client that sent "Expect: 100-continue" is
      // answered 413 instead of 100 Continue, and uploads nothing.
      throw tooLarge(ctx);
    }
    if (apiKeys == null) {
      return;
    }
    java.util.List<String> presented = ApiKeys.presented(ctx.header("Authorization"), ctx.header("x-api-key"));
    if (presented.isEmpty()) {
      throw new OpenAiError(401, "invalid_request_error", null, "missing_api_key", "You didn't provide an API key: "
          + ApiKeys.notPresented(ctx.header("Authorization"),
              "'Authorization: Bearer KEY' or 'x-api-key: KEY' (a key of the router's api.keys-file)"));
    }
    String name = apiKeys.nameOf(presented);
    if (name == null) {
      throw new OpenAiError(401, "invalid_request_error", null, "invalid_api_key", "Incorrect API key provided");
    }
    ctx.attribute(KEY_NAME, name);
  }

  /** A generation call to {@code api}'s endpoint. */
  private void generate(Context ctx, OpenAiRequest.Api api) {
    // Counted like a gRPC Generate call: every authenticated call, whatever its outcome.
    String keyName = ctx.attribute(KEY_NAME);
    if (keyName != null) {
      apiKeys.count(keyName);
      java.util.OptionalLong waitMs = apiKeys.refusedForMs(keyName);
      if (waitMs.isPresent()) {
        ctx.attribute(RETRY_AFTER_S, Long.toString((waitMs.getAsLong() + 999) / 1000));
        throw new OpenAiError(429, "requests", null, "rate_limit_exceeded",
            apiKeys.refusal(keyName, waitMs.getAsLong()));
      }
    }
    byte[] body = ctx.bodyAsBytes();
    String text = OpenAiRequest.utf8(body);
    OpenAiRequest parsed = switch (api) {
      case COMPLETIONS, CHAT -> OpenAiRequest.parse(text, api == OpenAiRequest.Api.CHAT, LIMITS);
      case RESPONSES -> OpenAiRequest.responses(OpenAiRequest.object(text), LIMITS);
      case MESSAGES -> OpenAiRequest.anthropicMessages(OpenAiRequest.object(text), LIMITS);
    };
    model(parsed.model());
    // A transcript keeps the newest turns that no model refuses as too long; any other problem is
    // the validator's to report below.
    OpenAiRequest request = settings.chatTranscript() == null ? parsed : settings.chatTranscript().apply(parsed,
        p -> validator.promptProblem(p).filter(dev.cascade.models.TextGenerator::overTokenLimit).isEmpty());
    String prefix = switch (api) {
      case COMPLETIONS -> "cmpl-";
      case CHAT -> "chatcmpl-";
      case RESPONSES -> RESPONSE_ID_PREFIX;
      case MESSAGES -> "msg_";
    };
    String idempotencyKey = ctx.header(IdempotencyKeys.HEADER);
    if (idempotencyKey != null && IdempotencyKeys.problem(idempotencyKey) != null) {
      throw OpenAiError.invalid(null, "invalid_value", IdempotencyKeys.problem(idempotencyKey));
    }
    String id = idempotencyKey == null ? prefix + UUID.randomUUID()
        : IdempotencyKeys.requestId(prefix, keyName == null ? "" : keyName, idempotencyKey);
    ctx.attribute(REQUEST_ID, id);
    CascadeRequest avro = CascadeRequest.newBuilder()
        .setRequestId(id)
        .setPrompt(request.prompt())
        .setMaxNewTokens(request.maxNewTokens())
        .setReference(null)
        .setMetadata(new HashMap<>(request.metadata()))
        .setBypassCache(false)
        .setReplyTo(channel.instanceId())
        .setCreatedAtMs(System.currentTimeMillis())
        .setMessages(conversation(request))
        .build();
    Optional<String> problem = validator.problem(avro);
    if (problem.isPresent()) {
      throw invalid(problem.get(), request);
    }
    if (!channel.healthy() || !ready.getAsBoolean()) {
      throw new OpenAiError(503, "server_error", null, "not_ready", "the router is not ready (starting, rebalancing,"
          + " or not reading its replies); try again shortly");
    }
    if (!inFlight.tryAcquire()) {
      throw new OpenAiError(429, "requests", null, "rate_limit_exceeded", "this router already has "
          + settings.maxInFlight() + " call" + (settings.maxInFlight() == 1 ? "" : "s")
          + " waiting, its limit (http.max-in-flight); try again shortly");
    }
    long waitMs = settings.answerWait().toMillis();
    avro.setDeadlineMs(ApiRecords.deadlineMs(avro.getCreatedAtMs(), waitMs, settings.deadlineMargin().toMillis()));
    CompletableFuture<CascadeResponse> response;
    try {
      response = idempotencyKey == null ? channel.submit(avro) : claim(ctx, id, body, avro);
    } catch (RuntimeException e) {
      inFlight.release();
      throw e;
    }
    doorMetrics.chatMessagesNotSent(request.messagesNotSent());
    ctx.future(() -> response.orTimeout(waitMs, TimeUnit.MILLISECONDS).handle((r, e) -> {
      try {
        if (e == null && r.getDeadlineExceeded()) {
          error(ctx, timedOut(ApiRecords.deadlineExceeded(r)));
        } else if (e == null) {
          answer(ctx, request, r);
        } else if (idempotencyKey != null && unwrap(e) instanceof RefusedRequestException refused
            && refused.reason().startsWith(DeadLetters.DUPLICATE_ID)) {
          error(ctx, alreadyAnswered(id));
        } else {
          error(ctx, failure(unwrap(e), id, waitMs, request));
        }
      } catch (RuntimeException writeFailed) {
        LOG.warn("HTTP door: could not write the answer to {}", id, writeFailed);
      } finally {
        inFlight.release();
      }
      return null;
    }));
  }

  /**
   * The answer to come for a call with an {@code Idempotency-Key} ({@code id} derived from it): the
   * first call's, on which a retry waits (a copy, so that one call's wait ending leaves the others
   * and the answer's keeping alone), or this call's, sent now. A retry with another body is refused.
   */
  private CompletableFuture<CascadeResponse> claim(Context ctx, String id, byte[] body, CascadeRequest avro) {
    String bodySha = IdempotencyKeys.sha256(body);
    IdempotencyKeys.Claim claim = idempotency.claim(id, bodySha, () -> channel.submit(avro));
    IdempotencyKeys.Entry entry = claim.entry();
    if (!claim.first()) {
      if (!entry.bodySha256().equals(bodySha)) {
        throw OpenAiError.invalid(null, "idempotency_key_reused", IdempotencyKeys.HEADER + ": already used for a"
            + " call with another body; a retry must send the same body, another call another key");
      }
      ctx.header(IdempotencyKeys.REPLAYED_HEADER, "true");
    } else {
      // Not sent (Kafka unreachable, the door closing): a retry may send it. An answer, or the
      // router's refusal, is kept: a retry gets the same.
      entry.response().whenComplete((r, e) -> {
        if (e != null && !(unwrap(e) instanceof RefusedRequestException)) {
          idempotency.forget(id, entry);
        }
      });
    }
    return entry.response().copy();
  }

  /**
   * A retry with the {@code Idempotency-Key} of a call this door no longer keeps (answered longer
   * ago, or by another router instance's door): the router refused to generate it again.
   */
  private static OpenAiError alreadyAnswered(String id) {
    return new OpenAiError(409, "invalid_request_error", null, "idempotency_key_used", "a call with this "
        + IdempotencyKeys.HEADER + " was sent already (request " + id + "), through another router instance or longer"
        + " ago than this one keeps answers: it is not generated again; its answer is in the router's outcomes")
        .withShouldRetry(false);
  }

  /**
   * {@code POST /v1/feedback} (not an OpenAI path; this router's own): {@code {"id": "cmpl-...",
   * "correct": false, "corrected_text": "...", "source": "..."}}, the id of a completion this door
   * answered and a verdict on it, the right answer, or both. Written to the feedback topic as
   * {@code Cascade.SubmitFeedback} writes it; 200 with where it was written, 400 naming the field,
   * 503 when Kafka does not take it.
   */
  private void feedback(Context ctx) {
    JsonNode body = OpenAiRequest.object(OpenAiRequest.utf8(ctx.bodyAsBytes()));
    String id = OpenAiRequest.optionalText(body, "id");
    Boolean correct = OpenAiRequest.optionalBoolean(body, "correct");
    String correctedText = OpenAiRequest.optionalText(body, "corrected_text");
    String source = OpenAiRequest.optionalText(body, "source");
    if (id == null) {
      throw OpenAiError.invalid("id", "missing_required_parameter", "id: required (the id of the request whose"
          + " answer is judged: the completion's id)");
    }
    Optional<String> problem = FeedbackTopic.problem(id, "id", correct != null, correctedText, source);
    if (problem.isPresent()) {
      String field = problem.get().substring(0, problem.get().indexOf(':'));
      // "correct, corrected_text: give at least one": param names both, as the message does.
      throw OpenAiError.invalid(field, correct == null && correctedText == null ? "missing_required_parameter"
          : "invalid_value", problem.get());
    }
    Feedback record = FeedbackTopic.record(id, correct, correctedText, source, "http");
    ctx.future(() -> feedback.send(record).handle((written, e) -> {
      if (e == null) {
        ObjectNode answer = JsonNodeFactory.instance.objectNode()
            .put("object", "feedback").put("id", id).put("topic", written.topic())
            .put("partition", written.partition()).put("offset", written.offset());
        json(ctx, 200, answer.toString());
      } else {
        // What Kafka said stays in the log: the caller learns what to do, not the cluster's inside.
        LOG.warn("HTTP door: feedback for {} could not be written: {}", id, unwrap(e).toString());
        error(ctx, new OpenAiError(503, "server_error", null, "unavailable", "feedback for " + id
            + " could not be written: " + RequestChannel.KAFKA_UNREACHABLE));
      }
      return null;
    }));
  }

  private void answer(Context ctx, OpenAiRequest request, CascadeResponse response) {
    OpenAiResponses.Answer answer = OpenAiResponses.answer(request, response, tokens, settings.defaultMaxNewTokens(),
        System.currentTimeMillis() / 1000);
    OpenAiResponses.headers(response).forEach(ctx::header);
    if (request.stream()) {
      ctx.status(200).header("Cache-Control", "no-cache").contentType("text/event-stream; charset=utf-8")
          .result(switch (request.api()) {
            case RESPONSES -> OpenAiResponses.responseEvents(answer, request);
            case MESSAGES -> OpenAiResponses.anthropicEvents(answer);
            default -> OpenAiResponses.stream(answer, request.chat(), request.includeUsage());
          });
    } else {
      json(ctx, 200, switch (request.api()) {
        case RESPONSES -> OpenAiResponses.response(answer, request).toString();
        case MESSAGES -> OpenAiResponses.anthropicMessage(answer).toString();
        default -> OpenAiResponses.body(answer, request.chat());
      });
    }
  }

  /**
   * The methods this door serves on {@code path}, as a 405's {@code Allow} names them (a CORS
   * preflight's answer); null for a path it does not serve.
   */
  String servedMethods(String path) {
    return switch (path) {
      case "/v1/completions", "/v1/chat/completions", "/v1/responses", ANTHROPIC_MESSAGES_PATH -> "POST";
      case "/v1/feedback" -> feedback == null ? null : "POST";
      case "/v1/models" -> "GET, HEAD";
      default -> path.startsWith("/v1/models/") && path.length() > 11 && path.indexOf('/', 11) < 0 ? "GET, HEAD" : null;
    };
  }

  /** Only {@code cascade} is served: 404 otherwise, as OpenAI answers an unknown model. */
  /**
   * A chat's conversation as the request record carries it ({@code messages}), for a later tier that
   * takes one: its system, developer, user and assistant messages with text, in order (a developer
   * message as {@code system}; instructions and a system prompt are system messages already). Tool
   * messages, messages without text, and those whose content is not text (which the door refuses
   * only where it reads them) are left out. A conversation longer than {@link #MAX_CONVERSATION_CHARS}
   * loses its oldest turns after the leading system messages (so that the request record stays
   * within Kafka's message size). Empty for a completion.
   */
  static java.util.List<dev.cascade.schemas.avro.ChatMessage> conversation(OpenAiRequest request) {
    java.util.List<dev.cascade.schemas.avro.ChatMessage> turns = new java.util.ArrayList<>();
    for (OpenAiRequest.Message m : request.messages()) {
      String role = m.role().equals("developer") ? "system" : m.role();
      if (!java.util.Set.of("system", "user", "assistant").contains(role)) {
        continue;
      }
      Optional<String> text;
      try {
        text = m.text();
      } catch (OpenAiError notText) {
        continue;
      }
      text.ifPresent(t -> turns.add(dev.cascade.schemas.avro.ChatMessage.newBuilder().setRole(role).setContent(t)
          .build()));
    }
    int leading = 0;
    while (leading < turns.size() && turns.get(leading).getRole().equals("system")) {
      leading++;
    }
    long chars = turns.stream().mapToLong(t -> t.getContent().length()).sum();
    while (chars > MAX_CONVERSATION_CHARS && turns.size() > leading + 1) {
      chars -= turns.remove(leading).getContent().length();
    }
    return turns;
  }

  /** The most characters of a conversation a request record carries ({@link #conversation}). */
  static final int MAX_CONVERSATION_CHARS = 200_000;

  private static void model(String model) {
    if (!OpenAiResponses.MODEL.equals(model)) {
      throw new OpenAiError(404, "invalid_request_error", "model", "model_not_found", "The model '" + model
          + "' does not exist; this router serves '" + OpenAiResponses.MODEL + "' (GET /v1/models)");
    }
  }

  /**
   * A problem the router's validator found ({@code field: what}, with the Avro field name), as a
   * 400 naming the OpenAI field it came from.
   */
  static OpenAiError invalid(String problem, OpenAiRequest request) {
    int colon = problem.indexOf(':');
    String field = colon > 0 ? problem.substring(0, colon) : "";
    String param = switch (field) {
      case "prompt" -> request.promptParam();
      case "max_new_tokens" -> request.maxTokensParam();
      case "metadata" -> "metadata";
      default -> null;
    };
    String message = param == null ? problem : param + problem.substring(colon);
    // OpenAI's code for a prompt over the context, which agent frameworks look for (to shorten it).
    return OpenAiError.invalid(param, dev.cascade.models.TextGenerator.overTokenLimit(problem)
        ? "context_length_exceeded" : "invalid_value", message);
  }

  /** How a submitted call that got no answer ends. */
  private static OpenAiError failure(Throwable e, String id, long waitMs, OpenAiRequest request) {
    if (e instanceof TimeoutException) {
      return timedOut("no answer to request " + id + " within " + waitMs + " ms (grpc.default-deadline-ms)");
    }
    if (e instanceof RefusedRequestException refused) {
      if (refused.stage().equals("validate")) {
        return invalid(refused.reason(), request);
      }
      LOG.error("HTTP door: request {} failed in the router: {}", id, refused.getMessage());
      // Escalation: no tier answered, perhaps only for now (a model server down); every other stage
      // (deserialize, processing, serialize, produce) fails on the request itself: sent again, refused again.
      return refused.stage().equals(DeadLetters.ESCALATION_STAGE) ? internal(id) : internal(id).withShouldRetry(false);
    }
    if (e instanceof DuplicateRequestException) { // cannot happen: ids are fresh, or sent once a door (IdempotencyKeys)
      LOG.error("HTTP door: request {} failed", id, e);
      return internal(id);
    }
    // What failed (Kafka's own words: brokers, topics, timeouts) is logged beside the id, not sent.
    LOG.warn("HTTP door: request {} could not be sent: {}", id, e.toString());
    if (e instanceof IllegalStateException) { // the front door closed while the call waited (or its producer did)
      return new OpenAiError(503, "server_error", null, "shutting_down", "request " + id + " was not answered: "
          + RequestChannel.SHUTTING_DOWN);
    }
    return new OpenAiError(503, "server_error", null, "unavailable", "request " + id + " could not be sent: "
        + RequestChannel.KAFKA_UNREACHABLE);
  }

  /** A call whose answer did not come within its wait: 408, as the door answers every timeout. */
  private static OpenAiError timedOut(String message) {
    return new OpenAiError(408, "timeout_error", null, "request_timeout", message);
  }

  /**
   * A 500 that says no more than that the router failed, and which request: what failed (an
   * exception's text, a router's reason) is in the log line beside the id, not sent to the caller.
   */
  private static OpenAiError internal(String id) {
    return new OpenAiError(500, "server_error", null, "internal_error", RequestChannel.failedToAnswer(id));
  }

  private static OpenAiError unexpected(Exception e, Context ctx) {
    if (e instanceof HttpResponseException http) {
      if (http.getStatus() == 413) {
        return tooLarge(ctx);
      }
      if (http.getStatus() == 405) {
        String allowed = http.getDetails().getOrDefault("availableMethods", "");
        ctx.header("Allow", allowed);
        return new OpenAiError(405, "invalid_request_error", null, "method_not_allowed", ctx.method() + " is not"
            + " served on " + ctx.path() + "; it serves " + allowed);
      }
      return http.getStatus() == 404 ? unknownPath(ctx)
          : new OpenAiError(http.getStatus(), http.getStatus() < 500 ? "invalid_request_error" : "server_error", null,
              null, http.getMessage());
    }
    String id = ctx.attribute(REQUEST_ID);
    if (id == null) {
      id = "req-" + UUID.randomUUID();
      ctx.attribute(REQUEST_ID, id);
    }
    LOG.error("HTTP door: {} {} (request {}) failed", ctx.method(), ctx.path(), id, e);
    return internal(id);
  }

  private static OpenAiError tooLarge(Context ctx) {
    return OpenAiError.tooLarge(ctx.contentLength(), MAX_BODY_BYTES);
  }

  private static OpenAiError unknownPath(Context ctx) {
    return new OpenAiError(404, "invalid_request_error", null, "unknown_url", "Invalid URL (" + ctx.method() + " "
        + ctx.path() + "); this router serves POST /v1/completions, POST /v1/chat/completions, POST /v1/responses,"
        + " POST /v1/messages, GET /v1/models, GET /v1/models/cascade, POST /v1/feedback, GET /health,"
        + " GET /health/live");
  }

  private static void error(Context ctx, OpenAiError e) {
    ctx.attribute(ERROR_WRITTEN, Boolean.TRUE);
    String id = ctx.attribute(REQUEST_ID);
    if (id != null) {
      ctx.header("x-request-id", id); // what the router's log line about it names
    }
    if (e.status() == 429 || e.status() == 503) {
      // Both pass within seconds (a call answered, the router ready, another instance), but for a
      // key over its limit, which waits for its next window.
      String after = ctx.attribute(RETRY_AFTER_S);
      ctx.header("Retry-After", after == null ? "1" : after);
    }
    if (e.shouldRetry() != null) {
      ctx.header("x-should-retry", e.shouldRetry()); // OpenAI's clients obey it over their own rule
    }
    if ("shutting_down".equals(e.code())) {
      // A client retries on its pooled connection; closed, the retry opens one to another instance.
      ctx.header("Connection", "close");
    }
    json(ctx, e.status(), e.toJson(ctx.path()));
  }

  private static void json(Context ctx, int status, String body) {
    ctx.status(status).contentType("application/json").result(body);
  }

  private static Throwable unwrap(Throwable e) {
    return e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
  }

  /**
   * Counts the calls being handled, from their arrival to their answer's last byte (a call waiting
   * for its answer holds no thread, so only Jetty's callback says when it has ended), for {@link
   * #awaitCalls}: a call that arrives after {@link #refuseNew} is not counted, it is answered 503 at
   * once. And counts each call's answer by its status ({@link DoorMetrics#http}) once its last byte
   * is written, or it failed, the 503s included.
   */
  private final class CallCounter extends org.eclipse.jetty.server.Handler.Wrapper {

    CallCounter(org.eclipse.jetty.server.Handler next) {
      super(next);
    }

    @Override
    public boolean handle(org.eclipse.jetty.server.Request request, org.eclipse.jetty.server.Response response,
        org.eclipse.jetty.util.Callback callback) throws Exception {
      String path = request.getHttpURI().getPath();
      DoorMetrics metrics = doorMetrics;
      org.eclipse.jetty.util.Callback answered = org.eclipse.jetty.util.Callback.from(callback,
          () -> metrics.http(path, response.getStatus()));
      // Counted first, then stopping read; refuseNew writes stopping, then awaitCalls reads the count:
      // either the call is counted before the wait looks, or it sees stopping and is refused.
      calls.incrementAndGet();
      if (stopping) {
        ended();
        return super.handle(request, response, answered);
      }
      Counted counted = new Counted(answered);
      boolean handled;
      try {
        handled = super.handle(request, response, counted);
      } catch (Throwable t) {
        counted.end();
        throw t;
      }
      if (!handled) {
        counted.end();
      }
      return handled;
    }
  }

  /** A call's callback that counts it ended once, however it ends. */
  private final class Counted extends org.eclipse.jetty.util.Callback.Nested {
    private final java.util.concurrent.atomic.AtomicBoolean ended = new java.util.concurrent.atomic.AtomicBoolean();

    Counted(org.eclipse.jetty.util.Callback callback) {
      super(callback);
    }

    void end() {
      if (ended.compareAndSet(false, true)) {
        ended();
      }
    }

    @Override
    public void succeeded() {
      end();
      super.succeeded();
    }

    @Override
    public void failed(Throwable x) {
      end();
      super.failed(x);
    }
  }

  private void ended() {
    if (calls.decrementAndGet() == 0) {
      synchronized (idle) {
        idle.notifyAll();
      }
    }
  }
}
