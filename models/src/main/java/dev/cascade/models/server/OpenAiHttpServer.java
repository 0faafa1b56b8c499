package dev.cascade.models.server;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cascade.models.Generation;
import dev.cascade.models.ModelInfo;
import dev.cascade.models.TextGenerator;
import io.grpc.Status;
import io.javalin.Javalin;
import io.javalin.http.Context;
import io.javalin.http.HttpResponseException;
import java.io.IOException;
import java.time.Instant;
import java.util.Optional;
import java.util.UUID;
import java.util.function.BooleanSupplier;

/**
 * The large-model server's OpenAI-compatible HTTP door (Javalin): {@code POST /v1/completions}
 * and {@code GET /v1/models}, enough for any OpenAI completions client, and for the router's
 * {@code openai://} targets.
 *
 * <p>A completion takes {@code model} (optional; another name is 404), {@code prompt} (a string,
 * or an array of one string), {@code max_tokens} (default 16, as OpenAI's; above the model's limit
 * is 400) and answers with one choice, generated greedily whatever {@code temperature} says, with
 * {@code finish_reason} {@code length} when it used every token it was allowed and {@code stop}
 * otherwise, and {@code usage.completion_tokens}. Not supported, and answered 400: {@code stream},
 * {@code n} above 1, more than one prompt, token-id prompts, {@code logprobs}. A full server is
 * 429, a model failure 500, with OpenAI's error body ({@code {"error": {"message", "type",
 * "code"}}}). Generations share the server's bounded executor with its gRPC doors.
 */
public final class OpenAiHttpServer implements AutoCloseable {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String ERROR_WRITTEN = "cascade.large.error-written";
  /** The largest request body read; a larger one is 413 without being read. */
  static final long MAX_BODY_BYTES = 1_000_000;

  private final Generations generations;
  private final BooleanSupplier ready;
  private final Javalin app;

  private OpenAiHttpServer(Generations generations, BooleanSupplier ready, String host, int port) {
    this.generations = generations;
    this.ready = ready;
    this.app = Javalin.create(config -> {
      config.startup.showJavalinBanner = false;
      config.startup.showOldJavalinVersionWarning = false;
      config.routes.post("/v1/completions", this::completions);
      config.routes.get("/v1/models", this::models);
      config.routes.get("/v1/models/{model}", this::model);
      config.routes.get("/health", ctx -> ctx.status(ready.getAsBoolean() ? 200 : 503));
      config.http.maxRequestSize = MAX_BODY_BYTES;
      // Javalin's own refusals (a body over the limit: 413) and unknown paths in OpenAI's shape
      // too, not Javalin's plain text.
      config.routes.exception(HttpResponseException.class, (e, ctx) -> {
        switch (e.getStatus()) {
          case 404 -> unknownPath(ctx);
          case 413 -> error(ctx, 413, "the request body" + (ctx.contentLength() > 0 ? " (" + ctx.contentLength()
              + " bytes)" : "") + " is over this server's limit of " + MAX_BODY_BYTES + " bytes", "BadRequestError");
          default -> error(ctx, e.getStatus(), e.getMessage(), e.getStatus() < 500 ? "BadRequestError" : "InternalServerError");
        }
      });
      config.routes.error(404, ctx -> {
        if (ctx.attribute(ERROR_WRITTEN) == null) {
          unknownPath(ctx);
        }
      });
    }).start(host, port);
  }

  /** Serves on {@code host:port} (port 0: any free one). */
  static OpenAiHttpServer start(Generations generations, BooleanSupplier ready, String host, int port) {
    return new OpenAiHttpServer(generations, ready, host, port);
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
      error(ctx, 404, "The model `" + ctx.pathParam("model") + "` does not exist.", "NotFoundError");
      return;
    }
    json(ctx, 200, modelObject());
  }

  private ObjectNode modelObject() {
    ModelInfo info = generations.generator().info();
    // max_model_len as vLLM reports it; max_new_tokens is this server's own, for clients that want the limit.
    return JSON.createObjectNode().put("id", info.name()).put("object", "model").put("created", 0)
        .put("owned_by", "cascade").put("max_model_len", info.contextLength())
        .put("max_new_tokens", info.maxNewTokensLimit());
  }

  private void completions(Context ctx) {
    if (!ready.getAsBoolean()) {
      error(ctx, 503, "the server is not ready", "ServiceUnavailableError");
      return;
    }
    JsonNode request;
    try {
      request = JSON.readTree(ctx.bodyAsBytes());
    } catch (JsonProcessingException e) {
      // The parser's own message without its location dump ("at [Source: ...]").
      error(ctx, 400, "the body is not JSON: " + e.getOriginalMessage(), "BadRequestError");
      return;
    } catch (IOException e) {
      error(ctx, 400, "the body could not be read: " + e.getMessage(), "BadRequestError");
      return;
    }
    if (request == null || !request.isObject()) {
      error(ctx, 400, "the body must be a JSON object", "BadRequestError");
      return;
    }
    JsonNode model = request.path("model");
    if (!model.isMissingNode() && !model.isNull() && !model.asText().equals(modelName())) {
      error(ctx, 404, "The model `" + model.asText() + "` does not exist.", "NotFoundError");
      return;
    }
    Optional<String> unsupported = unsupported(request);
    if (unsupported.isPresent()) {
      generations.invalid(unsupported.get());
      error(ctx, 400, unsupported.get(), "BadRequestError");
      return;
    }
    String prompt = prompt(request.path("prompt"));
    JsonNode maxNode = request.path("max_tokens");
    boolean maxGiven = !maxNode.isMissingNode() && !maxNode.isNull();
    int maxTokens = !maxGiven ? 16 : maxNode.canConvertToInt() && maxNode.isIntegralNumber() ? maxNode.intValue() : -1;
    Optional<String> problem = prompt == null
        ? Optional.of("prompt: must be a string, or an array of one string")
        : maxGiven && !maxNode.isIntegralNumber() ? Optional.of("max_tokens: must be an integer, was " + describe(maxNode))
        : maxGiven && !maxNode.canConvertToInt() ? Optional.of("max_tokens: " + maxNode.asText() + " is not an int")
        : generations.problem(prompt, maxTokens, "prompt", "max_tokens");
    if (problem.isPresent()) {
      generations.invalid(problem.get());
      error(ctx, 400, problem.get(), "BadRequestError");
      return;
    }
    String id = Optional.ofNullable(ctx.header("X-Request-Id")).filter(s -> !s.isBlank())
        .orElseGet(() -> UUID.randomUUID().toString());
    int max = maxTokens;
    ctx.future(() -> generations.submit(id, prompt, max, TextGenerator.Cancellation.NONE)
        .handle((result, error) -> {
          if (error != null) {
            Status status = Status.fromThrowable(error);
            int http = switch (status.getCode()) {
              case RESOURCE_EXHAUSTED -> 429;
              case CANCELLED -> 499;
              case INVALID_ARGUMENT -> 400;
              default -> 500;
            };
            error(ctx, http, String.valueOf(status.getDescription()), http == 429 ? "RateLimitError" : "InternalServerError");
          } else {
            json(ctx, 200, completion(id, result.generation(), max));
          }
          return null;
        }));
  }

  private ObjectNode completion(String id, Generation g, int maxTokens) {
    ObjectNode body = JSON.createObjectNode().put("id", "cmpl-" + id).put("object", "text_completion")
        .put("created", Instant.now().getEpochSecond()).put("model", modelName());
    body.putArray("choices").addObject().put("index", 0).put("text", g.text()).putNull("logprobs")
        .put("finish_reason", g.tokens().length >= maxTokens ? "length" : "stop");
    body.putObject("usage").put("completion_tokens", g.tokens().length);
    return body;
  }

  /** The prompt: a string or an array of one string; null otherwise. */
  private static String prompt(JsonNode prompt) {
    if (prompt.isTextual()) {
      return prompt.asText();
    }
    if (prompt.isArray() && prompt.size() == 1 && prompt.get(0).isTextual()) {
      return prompt.get(0).asText();
    }
    return null;
  }

  private static Optional<String> unsupported(JsonNode request) {
    if (request.path("stream").asBoolean(false)) {
      return Optional.of("stream: streaming is not supported");
    }
    JsonNode n = request.path("n");
    if (!n.isMissingNode() && !n.isNull() && n.asInt(1) != 1) {
      return Optional.of("n: one choice per call");
    }
    JsonNode logprobs = request.path("logprobs");
    if (!logprobs.isMissingNode() && !logprobs.isNull()) {
      return Optional.of("logprobs: not supported");
    }
    if (request.path("prompt").isArray() && request.path("prompt").size() > 1) {
      return Optional.of("prompt: one prompt per call");
    }
    return Optional.empty();
  }

  private static void unknownPath(Context ctx) {
    error(ctx, 404, "Invalid URL (" + ctx.method() + " " + ctx.path() + "); this server serves POST /v1/completions,"
        + " GET /v1/models, GET /v1/models/{model} and GET /health", "NotFoundError");
  }

  /** What a JSON value is, for an error message: "a string", "a number (2.7)", ... */
  private static String describe(JsonNode v) {
    return switch (v.getNodeType()) {
      case STRING -> "a string";
      case NUMBER -> "a number (" + v.asText() + ")";
      case BOOLEAN -> "a boolean";
      case ARRAY -> "an array";
      case OBJECT -> "an object";
      default -> v.getNodeType().toString().toLowerCase(java.util.Locale.ROOT);
    };
  }

  private static void json(Context ctx, int status, JsonNode body) {
    ctx.status(status).contentType("application/json").result(body.toString());
  }

  private static void error(Context ctx, int status, String message, String type) {
    ObjectNode body = JSON.createObjectNode();
    body.putObject("error").put("message", message).put("type", type).put("code", status);
    ctx.attribute(ERROR_WRITTEN, Boolean.TRUE);
    json(ctx, status, body);
  }

  @Override
  public void close() {
    app.stop();
  }
}
