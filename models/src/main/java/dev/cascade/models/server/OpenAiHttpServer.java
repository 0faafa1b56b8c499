package dev.cascade.models.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cascade.models.Generation;
import dev.cascade.models.ModelInfo;
import dev.cascade.models.TextGenerator;
import dev.cascade.models.openai.OpenAiError;
import dev.cascade.models.openai.OpenAiRequest;
import io.grpc.Status;
import io.javalin.Javalin;
import io.javalin.http.Context;
import io.javalin.http.HttpResponseException;
import java.time.Instant;
import java.util.Optional;
import java.util.UUID;
import java.util.function.BooleanSupplier;

/**
 * The large-model server's OpenAI-compatible HTTP door (Javalin): {@code POST /v1/completions},
 * {@code POST /v1/chat/completions} and {@code GET /v1/models}, enough for any OpenAI completions or
 * chat client, and for the router's {@code openai://} targets (either {@code api}); and Anthropic's
 * {@code POST /v1/messages} (read by {@link OpenAiRequest#anthropicMessages}, answered as a {@code
 * message}, errors in Anthropic's shape), for Anthropic's clients and the router's {@code
 * anthropic://} targets.
 *
 * <p>A chat completion is read by the router door's {@link OpenAiRequest#chat} too: the model
 * answers the last message with role {@code user} (framed by its card's {@code prompt_template},
 * as every prompt is), {@code max_tokens} or {@code max_completion_tokens} defaulting to the
 * model's own limit; the answer is a {@code chat.completion} whose {@code choices[0].message} is
 * {@code {"role": "assistant", "content": ...}}, with the same {@code finish_reason} and
 * {@code usage} as a completion's.
 *
 * <p>A completion is read by the same {@link OpenAiRequest} as the router's door: {@code model}
 * (optional here; another name is 404), {@code prompt} (a string, or an array of one string),
 * {@code max_tokens} (default 16, as OpenAI's; above the model's limit is 400), {@code stop} (the
 * answer is cut before the first one), {@code echo}, and the sampling fields checked for type and
 * range but not used (one greedy answer). Refused with 400 naming the field: {@code stream},
 * {@code n} or {@code best_of} above 1, more than one prompt, token-id prompts, {@code logprobs},
 * a non-empty {@code suffix}, penalties, {@code logit_bias}. The answer has {@code finish_reason}
 * {@code length} when it used every token it was allowed and no stop string cut it, {@code stop}
 * otherwise, and {@code usage} ({@code prompt_tokens}, {@code completion_tokens}: the tokens
 * generated, {@code total_tokens}). A full server is 429 (with {@code Retry-After}), a model
 * failure 500; every error carries {@code x-should-retry} as the router's door sets it, and
 * OpenAI's body ({@code {"error": {"message", "type", "param", "code"}}}). Generations share the server's bounded executor with its gRPC doors.
 */
public final class OpenAiHttpServer implements AutoCloseable {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String ERROR_WRITTEN = "cascade.large.error-written";
  /** OpenAI's default token limit for a completion that sets none. */
  static final int DEFAULT_MAX_TOKENS = 16;
  /** The largest request body read; a larger one is 413 (see {@link dev.cascade.models.openai.RequestBodyGuard}). */
  static final long MAX_BODY_BYTES = dev.cascade.models.openai.OpenAiRequest.MAX_BODY_BYTES;
  /**
   * How bodies are read: as the router's door does by default (10 s plus the body at 64 KiB/s,
   * else 408; at most 256 at once, a stalled one giving its place to a new one, else 429).
   */
  static final dev.cascade.models.openai.RequestBodyGuard.Limits BODY_LIMITS =
      new dev.cascade.models.openai.RequestBodyGuard.Limits(MAX_BODY_BYTES, 10_000, 65_536, 256);

  private final Generations generations;
  private final BooleanSupplier ready;
  private final Javalin app;
  /** When this server started, as {@code created} of its model (epoch seconds). */
  private final long createdSeconds = Instant.now().getEpochSecond();

  private OpenAiHttpServer(Generations generations, BooleanSupplier ready, String host, int port, GrpcTls.Opened tls) {
    this.generations = generations;
    this.ready = ready;
    this.app = Javalin.create(config -> {
      config.startup.showJavalinBanner = false;
      config.startup.showOldJavalinVersionWarning = false;
      // From the header, before the body is read: a client that sent "Expect: 100-continue" is
      // answered 413 instead of 100 Continue, and uploads nothing.
      config.routes.before(ctx -> {
        if (ctx.contentLength() > MAX_BODY_BYTES) {
          throw tooLarge(ctx);
        }
      });
      config.routes.post("/v1/completions", ctx -> answer(ctx, OpenAiRequest.Api.COMPLETIONS));
      config.routes.post("/v1/chat/completions", ctx -> answer(ctx, OpenAiRequest.Api.CHAT));
      config.routes.post(OpenAiError.ANTHROPIC_MESSAGES_PATH, ctx -> answer(ctx, OpenAiRequest.Api.MESSAGES));
      config.routes.get("/v1/models", this::models);
      config.routes.get("/v1/models/{model}", this::model);
      config.routes.get("/health", ctx -> ctx.status(ready.getAsBoolean() ? 200 : 503));
      config.http.maxRequestSize = MAX_BODY_BYTES;
      config.jetty.modifyServer(server -> {
        // Jetty's own refusals (a malformed request, headers too large) in OpenAI's shape too.
        server.setErrorHandler(new dev.cascade.models.openai.OpenAiErrorHandler());
        // Bodies read in full before a route runs, without a thread, as the router's door reads
        // them: a client whose body stalls gets 408 and holds none of the threads others need.
        server.setHandler(new dev.cascade.models.openai.RequestBodyGuard(BODY_LIMITS));
      });
      // Javalin's own refusals (a body over the limit: 413) and unknown paths in OpenAI's shape
      // too, not Javalin's plain text.
      config.routes.exception(OpenAiError.class, (e, ctx) -> error(ctx, e));
      config.routes.exception(HttpResponseException.class, (e, ctx) -> {
        switch (e.getStatus()) {
          case 404 -> unknownPath(ctx);
          case 413 -> error(ctx, tooLarge(ctx));
          default -> error(ctx, new OpenAiError(e.getStatus(), e.getStatus() < 500 ? "invalid_request_error"
              : "server_error", null, null, e.getMessage()));
        }
      });
      config.routes.error(404, ctx -> {
        if (ctx.attribute(ERROR_WRITTEN) == null) {
          unknownPath(ctx);
        }
      });
      // HTTPS with the gRPC port's key store (and mutual TLS with its client trust store), else plain HTTP.
      config.jetty.addConnector((server, http) -> {
        org.eclipse.jetty.server.ServerConnector connector = dev.cascade.models.openai.HttpTls.connector(server, http,
            new org.eclipse.jetty.server.HttpConnectionFactory(http), tls);
        connector.setHost(host);
        connector.setPort(port);
        return connector;
      });
    }).start();
  }

  /**
   * Serves on {@code host:port} (port 0: any free one), over TLS when {@code tls} has a key store
   * (mutual when it has a trust store too), plain HTTP otherwise.
   */
  static OpenAiHttpServer start(Generations generations, BooleanSupplier ready, String host, int port,
      GrpcTls.Opened tls) {
    return new OpenAiHttpServer(generations, ready, host, port, tls);
  }

  /** The port it listens on. */
  public int port() {
    return app.port();
  }

  private String modelName() {
    return generations.generator().info().name();
  }

  private void models(Context ctx) {
    ObjectNode body = JSON.createObjectNode().put("object", "list");
    body.putArray("data").add(modelObject());
    json(ctx, 200, body);
  }

  private void model(Context ctx) {
    if (!ctx.pathParam("model").equals(modelName())) {
      throw new OpenAiError(404, "invalid_request_error", "model", "model_not_found", "The model `"
          + ctx.pathParam("model") + "` does not exist; this server serves `" + modelName() + "`");
    }
    json(ctx, 200, modelObject());
  }

  private ObjectNode modelObject() {
    ModelInfo info = generations.generator().info();
    // max_model_len as vLLM reports it; max_new_tokens is this server's own, for clients that want the limit.
    return JSON.createObjectNode().put("id", info.name()).put("object", "model").put("created", createdSeconds)
        .put("owned_by", "cascade").put("max_model_len", info.contextLength())
        .put("max_new_tokens", info.maxNewTokensLimit());
  }

  private void answer(Context ctx, OpenAiRequest.Api api) {
    boolean chat = api != OpenAiRequest.Api.COMPLETIONS;
    if (!ready.getAsBoolean()) {
      throw new OpenAiError(503, "server_error", null, "not_ready", "the server is not ready");
    }
    JsonNode body = OpenAiRequest.object(OpenAiRequest.utf8(ctx.bodyAsBytes()));
    JsonNode model = body.get("model");
    if (model != null && !model.isNull() && !(model.isTextual() && model.asText().equals(modelName()))) {
      throw new OpenAiError(404, "invalid_request_error", "model", "model_not_found", "The model `"
          + (model.isTextual() ? model.asText() : model.toString()) + "` does not exist; this server serves `"
          + modelName() + "`");
    }
    if (model == null || model.isNull()) {
      ((ObjectNode) body).put("model", modelName()); // optional here; OpenAI's parser needs one
    }
    ModelInfo info = generations.generator().info();
    OpenAiRequest.Limits limits = new OpenAiRequest.Limits(info.maxNewTokensLimit(),
        " (the most " + info.name() + " generates)", Integer.MAX_VALUE, Integer.MAX_VALUE);
    OpenAiRequest request = switch (api) {
      case MESSAGES -> OpenAiRequest.anthropicMessages(body, limits);
      case CHAT -> OpenAiRequest.chat(body, limits);
      default -> OpenAiRequest.completion(body, limits);
    };
    if (request.stream()) {
      throw OpenAiError.unsupported("stream", "stream: streaming is not supported by this server");
    }
    int maxTokens = request.maxNewTokens() != 0 ? request.maxNewTokens()
        : chat ? info.maxNewTokensLimit() : DEFAULT_MAX_TOKENS;
    Optional<String> problem = generations.problem(request.prompt(), maxTokens, request.promptParam(),
        request.maxTokensParam());
    if (problem.isPresent()) {
      generations.invalid(problem.get());
      int colon = problem.get().indexOf(':');
      throw OpenAiError.invalid(colon > 0 ? problem.get().substring(0, colon) : null,
          TextGenerator.overTokenLimit(problem.get()) ? "context_length_exceeded" : "invalid_value", problem.get());
    }
    String id = Optional.ofNullable(ctx.header("X-Request-Id")).filter(s -> !s.isBlank())
        .orElseGet(() -> UUID.randomUUID().toString());
    ctx.future(() -> generations.submit(id, request.prompt(), maxTokens, TextGenerator.Cancellation.NONE)
        .handle((result, error) -> {
          if (error != null) {
            Status status = Status.fromThrowable(error);
            error(ctx, switch (status.getCode()) {
              case RESOURCE_EXHAUSTED -> new OpenAiError(429, "requests", null, "rate_limit_exceeded",
                  String.valueOf(status.getDescription()));
              case CANCELLED -> new OpenAiError(499, "invalid_request_error", null, "cancelled",
                  String.valueOf(status.getDescription()));
              case INVALID_ARGUMENT -> OpenAiError.invalid(null, "invalid_value", String.valueOf(status.getDescription()));
              default -> new OpenAiError(500, "server_error", null, "internal_error",
                  String.valueOf(status.getDescription()));
            });
          } else {
            json(ctx, 200, api == OpenAiRequest.Api.MESSAGES ? message(id, request, result.generation(), maxTokens)
                : completion(id, request, result.generation(), maxTokens));
          }
          return null;
        }));
  }

  /**
   * The {@code text_completion}, or for a chat the {@code chat.completion}: the answer cut before
   * the first stop string (then {@code finish_reason} {@code stop}) and after the prompt when
   * echoed; {@code usage} counts the prompt's tokens and the tokens the model generated (before
   * any cut).
   */
  private ObjectNode completion(String id, OpenAiRequest request, Generation g, int maxTokens) {
    ObjectNode body = JSON.createObjectNode().put("id", (request.chat() ? "chatcmpl-" : "cmpl-") + id)
        .put("object", request.chat() ? "chat.completion" : "text_completion")
        .put("created", Instant.now().getEpochSecond()).put("model", modelName());
    Optional<String> cut = request.cutAtStop(g.text());
    String text = (request.echo() ? request.prompt() : "") + cut.orElse(g.text());
    ObjectNode choice = body.putArray("choices").addObject().put("index", 0);
    if (request.chat()) {
      choice.putObject("message").put("role", "assistant").put("content", text);
    } else {
      choice.put("text", text);
    }
    choice.putNull("logprobs").put("finish_reason", cut.isEmpty() && g.tokens().length >= maxTokens ? "length" : "stop");
    int promptTokens = generations.generator().promptTokens(request.prompt()).orElse(0);
    body.putObject("usage").put("prompt_tokens", promptTokens).put("completion_tokens", g.tokens().length)
        .put("total_tokens", promptTokens + g.tokens().length);
    return body;
  }

  /**
   * An Anthropic Messages answer: a {@code message} with one {@code text} block, cut before the first
   * stop sequence (then {@code stop_reason} {@code stop_sequence}, naming it), {@code max_tokens}
   * when the model generated as many tokens as it was allowed, else {@code end_turn}; {@code usage}
   * as a completion's.
   */
  private ObjectNode message(String id, OpenAiRequest request, Generation g, int maxTokens) {
    ObjectNode body = JSON.createObjectNode().put("id", "msg_" + id).put("type", "message").put("role", "assistant")
        .put("model", modelName());
    Optional<String> stop = request.stopIn(g.text());
    body.putArray("content").addObject().put("type", "text").put("text", request.cutAtStop(g.text()).orElse(g.text()));
    body.put("stop_reason", stop.isPresent() ? "stop_sequence" : g.tokens().length >= maxTokens ? "max_tokens"
        : "end_turn");
    body.put("stop_sequence", stop.orElse(null));
    int promptTokens = generations.generator().promptTokens(request.prompt()).orElse(0);
    body.putObject("usage").put("input_tokens", promptTokens).put("output_tokens", g.tokens().length);
    return body;
  }

  private static OpenAiError tooLarge(Context ctx) {
    return OpenAiError.tooLarge(ctx.contentLength(), MAX_BODY_BYTES);
  }

  private static void unknownPath(Context ctx) {
    error(ctx, new OpenAiError(404, "invalid_request_error", null, "unknown_url", "Invalid URL (" + ctx.method() + " "
        + ctx.path() + "); this server serves POST /v1/completions, POST /v1/chat/completions, POST /v1/messages,"
        + " GET /v1/models,"
        + " GET /v1/models/{model} and GET /health"));
  }

  private static void json(Context ctx, int status, JsonNode body) {
    ctx.status(status).contentType("application/json").result(body.toString());
  }

  private static void error(Context ctx, OpenAiError e) {
    ctx.attribute(ERROR_WRITTEN, Boolean.TRUE);
    if (e.status() == 429 || e.status() == 503) {
      ctx.header("Retry-After", "1"); // both pass within seconds: a generation answered, the model loaded
    }
    if (e.shouldRetry() != null) {
      ctx.header("x-should-retry", e.shouldRetry()); // as the router's door: OpenAI's clients obey it over their own rule
    }
    ctx.status(e.status()).contentType("application/json").result(e.toJson(ctx.path()));
  }

  @Override
  public void close() {
    app.stop();
  }
}
