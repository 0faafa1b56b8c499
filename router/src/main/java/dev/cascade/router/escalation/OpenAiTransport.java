package dev.cascade.router.escalation;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An OpenAI-compatible completions server (vLLM, TGI, SGLang, llama.cpp's server, the bundled
 * large-model server's HTTP port): {@code openai://host:port/v1?model=NAME}. One {@code POST
 * /v1/completions} per escalation with {@code model}, {@code prompt}, {@code max_tokens} and
 * {@code temperature: 0} (greedy, as the cascade's own models decode), and the answer read from
 * {@code choices[0].text}; with {@code api=chat}, one {@code POST /v1/chat/completions} with the
 * prompt as the one {@code user} message (a chat model's server then frames it with the model's
 * chat template), the answer read from {@code choices[0].message.content}. An API key, when given,
 * goes as {@code Authorization: Bearer KEY}. With {@link Api#MESSAGES} ({@code anthropic://}), it
 * speaks Anthropic's Messages API instead: one {@code POST /v1/messages} with the prompt as the one
 * {@code user} message, {@code max_tokens} and {@code temperature: 0}, the answer the text of the
 * reply's {@code text} blocks, {@code usage.output_tokens} and {@code usage.input_tokens}; the key
 * goes as {@code x-api-key}, with {@code anthropic-version: 2023-06-01}. To the chat and Messages
 * endpoints, a request that carries a conversation ({@code CascadeRequest.messages}: a chat sent to
 * the router's HTTP door) is sent as that conversation instead of the prompt.
 *
 * <p>HTTP errors become gRPC codes ({@link TransportErrors#codeOfHttp}); a refused connection is
 * UNAVAILABLE and a timeout DEADLINE_EXCEEDED, so retries and the breaker act as for gRPC. The
 * protocol gives no token ids, so the answer is its text and {@code usage.completion_tokens} and
 * {@code usage.prompt_tokens} (when sent); the token limit comes from
 * {@code large.max-new-tokens} or is unknown. Readiness is {@code GET /v1/models} answering 200 and
 * listing the model (or listing none).
 */
public final class OpenAiTransport implements LargeModelTransport {

  private static final ObjectMapper JSON = new ObjectMapper();

  private final URI base;
  private final String model;
  private final String apiKey;
  /** The endpoints it may ask. */
  public enum Api {
    /** {@code POST /completions}. */
    COMPLETIONS,
    /** {@code POST /chat/completions} ({@code api=chat}). */
    CHAT,
    /** Anthropic's {@code POST /messages} ({@code anthropic://}). */
    MESSAGES
  }

  /** The version of Anthropic's API the Messages calls are written for (its {@code anthropic-version} header). */
  static final String ANTHROPIC_VERSION = "2023-06-01";

  /** The endpoint it asks. */
  private final Api api;
  private final HttpClient http;
  private final ExecutorService executor;

  /**
   * @param base the base URL, e.g. {@code http://vllm:8000/v1}
   * @param model the model name the server serves
   * @param apiKey the API key, or empty for none
   * @param sslContext the TLS context for https, or null for the JVM's default
   */
  public OpenAiTransport(URI base, String model, String apiKey, javax.net.ssl.SSLContext sslContext) {
    this(base, model, apiKey, sslContext, false);
  }

  /**
   * @param chat whether to ask {@code POST /v1/chat/completions} (the prompt as the one user
   *     message) rather than {@code POST /v1/completions}
   */
  public OpenAiTransport(URI base, String model, String apiKey, javax.net.ssl.SSLContext sslContext, boolean chat) {
    this(base, model, apiKey, sslContext, chat ? Api.CHAT : Api.COMPLETIONS);
  }

  /** @param api the endpoint to ask */
  public OpenAiTransport(URI base, String model, String apiKey, javax.net.ssl.SSLContext sslContext, Api api) {
    this.base = base;
    this.model = model;
    this.api = api;
    this.apiKey = apiKey == null ? "" : apiKey.strip();
    AtomicInteger threads = new AtomicInteger();
    // The client's own daemon threads, so a forgotten close never holds the JVM up.
    this.executor = Executors.newCachedThreadPool(r -> {
      Thread t = new Thread(r, "openai-transport-" + threads.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
    HttpClient.Builder builder = HttpClient.newBuilder()
        .version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(10))
        .executor(executor);
    if (sslContext != null) {
      builder.sslContext(sslContext);
    }
    this.http = builder.build();
  }

  /** The request body for one prompt. */
  String body(String prompt, int maxNewTokens) {
    return body(prompt, java.util.List.of(), maxNewTokens);
  }

  /**
   * The request body for one prompt, or, to the chat and Messages endpoints, for its conversation
   * when there is one (an Anthropic system message goes in {@code system}, several joined by a
   * blank line).
   */
  String body(String prompt, java.util.List<ChatTurn> conversation, int maxNewTokens) {
    ObjectNode body = JSON.createObjectNode().put("model", model);
    if (api == Api.COMPLETIONS) {
      body.put("prompt", prompt);
    } else if (conversation.isEmpty()) {
      body.putArray("messages").addObject().put("role", "user").put("content", prompt);
    } else {
      com.fasterxml.jackson.databind.node.ArrayNode messages = body.putArray("messages");
      java.util.List<String> system = new java.util.ArrayList<>();
      for (ChatTurn t : conversation) {
        if (api == Api.MESSAGES && t.role().equals("system")) {
          system.add(t.content());
        } else {
          messages.addObject().put("role", t.role()).put("content", t.content());
        }
      }
      if (!system.isEmpty()) {
        body.put("system", String.join("\n\n", system));
      }
    }
    // max_tokens on all three: servers of the chat API take it too (OpenAI's own as a deprecated alias).
    body.put("max_tokens", maxNewTokens).put("temperature", 0);
    if (api != Api.MESSAGES) {
      body.put("n", 1); // not a Messages API field
    }
    return body.put("stream", false).toString();
  }

  @Override
  public CompletableFuture<Reply> generate(String requestId, String prompt, int maxNewTokens, Duration deadline) {
    return generate(requestId, prompt, java.util.List.of(), maxNewTokens, new int[0], null, deadline);
  }

  /** The prompt, or to the chat and Messages endpoints the conversation when there is one; never a draft or an early stop. */
  @Override
  public CompletableFuture<Reply> generate(String requestId, String prompt, java.util.List<ChatTurn> conversation,
      int maxNewTokens, int[] draft, EarlyStopSpec stop, Duration deadline) {
    HttpRequest request = request(switch (api) {
      case COMPLETIONS -> "/completions";
      case CHAT -> "/chat/completions";
      case MESSAGES -> "/messages";
    }, deadline)
        .header("Content-Type", "application/json")
        .header("X-Request-Id", requestId)
        .POST(HttpRequest.BodyPublishers.ofString(body(prompt, conversation, maxNewTokens), StandardCharsets.UTF_8))
        .build();
    return send(request).thenApply(response -> {
      JsonNode reply = parse(response.body());
      JsonNode usage = reply.path("usage");
      return switch (api) {
        case MESSAGES -> Reply.text(messageText(reply), count(usage.path("output_tokens")),
            count(usage.path("input_tokens")));
        case CHAT -> Reply.text(textAt(reply, "chat completion reply", "message", "content"),
            count(usage.path("completion_tokens")), count(usage.path("prompt_tokens")));
        case COMPLETIONS -> Reply.text(textOf(reply), count(usage.path("completion_tokens")),
            count(usage.path("prompt_tokens")));
      };
    });
  }

  /**
   * The text of an Anthropic Messages reply: its {@code text} blocks' text, joined (other blocks,
   * such as {@code thinking}, left out).
   *
   * @throws io.grpc.StatusRuntimeException FAILED_PRECONDITION (a protocol mismatch: a refusal,
   *     not retried) when the reply has no {@code content} array or no text block in it
   */
  static String messageText(JsonNode reply) {
    JsonNode content = reply.path("content");
    if (!content.isArray()) {
      throw TransportErrors.protocolMismatch("the Messages reply has no content array (content is "
          + (content.isMissingNode() ? "missing" : content.getNodeType().name().toLowerCase(java.util.Locale.ROOT))
          + ")");
    }
    StringBuilder text = new StringBuilder();
    boolean found = false;
    for (JsonNode block : content) {
      if ("text".equals(block.path("type").asText()) && block.path("text").isTextual()) {
        text.append(block.path("text").asText());
        found = true;
      }
    }
    if (!found && !content.isEmpty()) {
      throw TransportErrors.protocolMismatch("the Messages reply has no text block (" + content.size()
          + " block(s) of other types)");
    }
    return text.toString();
  }

  /** A {@code usage} count the server sent, or -1. */
  private static int count(JsonNode count) {
    return count.canConvertToInt() && count.intValue() >= 0 ? count.intValue() : -1;
  }

  /**
   * The text of a completions reply: {@code choices[0].text}.
   *
   * @throws io.grpc.StatusRuntimeException FAILED_PRECONDITION (a protocol mismatch: a refusal,
   *     not retried) when the reply has none
   */
  static String textOf(JsonNode reply) {
    return textAt(reply, "completions reply", "text");
  }

  /**
   * The text at {@code choices[0].FIELD...} of a {@code what} (a completions reply's {@code text}, a
   * chat completion's {@code message.content}).
   *
   * @throws io.grpc.StatusRuntimeException FAILED_PRECONDITION (a protocol mismatch: a refusal,
   *     not retried) when it is not there, saying the first part of the path that is missing
   */
  static String textAt(JsonNode reply, String what, String... fields) {
    JsonNode choices = reply.path("choices");
    String name = "choices[0]";
    JsonNode node = choices.path(0);
    for (int i = 0; i < fields.length; i++) {
      name += "." + fields[i];
      node = node.path(fields[i]);
      if (node.isMissingNode() || i == fields.length - 1 && !node.isTextual()) {
        throw TransportErrors.protocolMismatch("the " + what + " has no choices[0]." + String.join(".", fields) + " ("
            + (!choices.isArray() ? "no choices array" : choices.isEmpty() ? "choices is empty"
                : name + " is " + (node.isMissingNode() ? "missing"
                    : node.getNodeType().name().toLowerCase(java.util.Locale.ROOT)))
            + ")");
      }
    }
    return node.asText();
  }

  /** The protocol carries neither the model's token limit nor its tokenizer: no limit, and never a draft. */
  @Override
  public CompletableFuture<ServerInfo> info(Duration deadline) {
    return CompletableFuture.completedFuture(ServerInfo.UNKNOWN);
  }

  @Override
  public CompletableFuture<Boolean> ready(Duration deadline) {
    return send(request("/models", deadline).GET().build()).thenApply(r -> {
      // Ready when the server lists the model, or lists none (some servers serve any name).
      JsonNode data = parse(r.body()).path("data");
      if (!data.isArray() || data.isEmpty()) {
        return true;
      }
      for (JsonNode m : data) {
        if (model.equals(m.path("id").asText())) {
          return true;
        }
      }
      return false;
    });
  }

  @Override
  public String describe() {
    // as the target is written (openai://, openais://), not as the HTTP client is given it
    String scheme = api == Api.MESSAGES ? "anthropic" : "openai";
    return base.toString().replaceFirst("^https://", scheme + "s://").replaceFirst("^http://", scheme + "://")
        + "?model=" + model + (api == Api.CHAT ? "&api=chat" : "");
  }

  private HttpRequest.Builder request(String path, Duration deadline) {
    HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(base + path)).timeout(deadline)
        .header("Accept", "application/json");
    if (api == Api.MESSAGES) {
      request.header("anthropic-version", ANTHROPIC_VERSION);
      if (!apiKey.isEmpty()) {
        request.header("x-api-key", apiKey);
      }
    } else if (!apiKey.isEmpty()) {
      request.header("Authorization", "Bearer " + apiKey);
    }
    return request;
  }

  /** Sends; a non-2xx reply or a failure to talk fails the future with a status exception. */
  private CompletableFuture<HttpResponse<String>> send(HttpRequest request) {
    CompletableFuture<HttpResponse<String>> result = new CompletableFuture<>();
    http.sendAsync(request, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8)).whenComplete((r, e) -> {
      if (e != null) {
        result.completeExceptionally(TransportErrors.ofIo(e));
      } else if (r.statusCode() / 100 != 2) {
        result.completeExceptionally(TransportErrors.ofHttp(r.statusCode(), r.body()));
      } else {
        result.complete(r);
      }
    });
    return result;
  }

  /**
   * A 2xx reply's body as JSON; one that is not JSON is a protocol mismatch (the target is not an
   * OpenAI-compatible server, or not at that path): FAILED_PRECONDITION, a refusal no retry mends.
   */
  static JsonNode parse(String body) {
    try {
      return JSON.readTree(body);
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      // The original message, without Jackson's location ("at [Source: REDACTED ...]").
      throw TransportErrors.protocolMismatch("the reply is not JSON: " + e.getOriginalMessage());
    } catch (IOException e) {
      throw TransportErrors.protocolMismatch("the reply is not JSON: " + e.getMessage());
    }
  }

  @Override
  public void close() {
    executor.shutdownNow();
  }
}
