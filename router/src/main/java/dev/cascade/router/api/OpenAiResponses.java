package dev.cascade.router.api;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cascade.models.openai.OpenAiRequest;
import dev.cascade.schemas.avro.CascadeResponse;
import dev.cascade.schemas.avro.SkippedTier;
import dev.cascade.schemas.avro.StageLatencies;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The HTTP door's answers in OpenAI's shapes: {@code text_completion} and {@code chat.completion}
 * bodies, their streamed chunks ({@code text_completion}, {@code chat.completion.chunk}), the
 * Responses API's {@code response} and its streamed events, Anthropic's Messages API's {@code
 * message} and its streamed events, the model list and errors. Each answer carries the cascade's
 * own view in an extension field, {@code "cascade"}, and in {@code x-cascade-*} headers; OpenAI's
 * and Anthropic's clients ignore both.
 */
final class OpenAiResponses {

  /** The one model the door serves: the cascade as a whole. */
  static final String MODEL = "cascade";

  private static final ObjectMapper JSON = new ObjectMapper();

  private OpenAiResponses() {}

  /**
   * A cascade response made into an OpenAI answer.
   *
   * @param id the request id, which is also the answer's {@code id}
   * @param created epoch seconds
   * @param text the answer as returned: cut at the first stop string, after the prompt when echoed
   * @param finishReason {@code stop} (the model ended, or a stop string was found) or {@code length}
   *     (as many tokens as allowed: inferred from the count; or an unfinished prefix, the response's
   *     {@code stopped_early})
   * @param stopSequence the stop string the text was cut at (then {@code finishReason} is {@code
   *     stop}); null when none cut it
   */
  record Answer(String id, long created, String model, String text, String finishReason, String stopSequence,
      int promptTokens, int completionTokens, CascadeResponse response) {}

  /**
   * Applies the request's stop strings and echo to the response and counts its tokens (the serving
   * model's counts where the response has them: {@link TokenCounter}).
   *
   * @param defaultMaxNewTokens the router's limit for a request that sets none ({@code generation.max-new-tokens})
   */
  static Answer answer(OpenAiRequest request, CascadeResponse response, TokenCounter tokens, int defaultMaxNewTokens,
      long createdSeconds) {
    String stop = request.stopIn(response.getText()).orElse(null);
    String text = stop == null ? response.getText() : response.getText().substring(0, response.getText().indexOf(stop));
    String finish = stop != null ? "stop" : Boolean.TRUE.equals(response.getStoppedEarly()) ? "length" : null;
    int completionTokens = tokens.completionTokens(response, text);
    if (finish == null) {
      int limit = tokens.effectiveLimit(request.maxNewTokens() > 0 ? request.maxNewTokens() : defaultMaxNewTokens,
          response);
      finish = completionTokens >= limit ? "length" : "stop";
    }
    if (request.echo()) {
      text = request.prompt() + text;
    }
    return new Answer(response.getRequestId(), createdSeconds, request.model(), text, finish, stop,
        tokens.promptTokens(response, request.prompt()), completionTokens, response);
  }

  /** The non-streamed body: a {@code text_completion} or a {@code chat.completion}. */
  static String body(Answer a, boolean chat) {
    ObjectNode body = head(a, chat ? "chat.completion" : "text_completion");
    ObjectNode choice = body.putArray("choices").addObject();
    choice.put("index", 0);
    if (chat) {
      ObjectNode message = choice.putObject("message");
      message.put("role", "assistant");
      message.put("content", a.text());
      message.putNull("refusal");
    } else {
      choice.put("text", a.text());
    }
    choice.putNull("logprobs");
    choice.put("finish_reason", a.finishReason());
    usage(body, a);
    body.set("cascade", cascade(a.response()));
    return body.toString();
  }

  /**
   * The streamed body, whole: one chunk with all the text (the cascade answers in one piece), one
   * with the finish reason and the cascade's details, a usage chunk when asked, then
   * {@code [DONE]}; each as a server-sent event {@code data: JSON}.
   */
  static String stream(Answer a, boolean chat, boolean includeUsage) {
    String object = chat ? "chat.completion.chunk" : "text_completion";
    StringBuilder out = new StringBuilder();
    ObjectNode content = head(a, object);
    ObjectNode choice = content.putArray("choices").addObject();
    choice.put("index", 0);
    if (chat) {
      ObjectNode delta = choice.putObject("delta");
      delta.put("role", "assistant");
      delta.put("content", a.text());
    } else {
      choice.put("text", a.text());
    }
    choice.putNull("logprobs");
    choice.putNull("finish_reason");
    if (includeUsage) {
      content.putNull("usage"); // as OpenAI: null on every chunk before the usage chunk
    }
    event(out, content.toString());

    ObjectNode last = head(a, object);
    ObjectNode end = last.putArray("choices").addObject();
    end.put("index", 0);
    if (chat) {
      end.putObject("delta");
    } else {
      end.put("text", "");
    }
    end.putNull("logprobs");
    end.put("finish_reason", a.finishReason());
    last.set("cascade", cascade(a.response()));
    if (includeUsage) {
      last.putNull("usage");
    }
    event(out, last.toString());

    if (includeUsage) {
      ObjectNode usage = head(a, object);
      usage.putArray("choices");
      usage(usage, a);
      event(out, usage.toString());
    }
    event(out, "[DONE]");
    return out.toString();
  }

  /**
   * A Responses API answer ({@code POST /v1/responses}): a {@code response} whose one output item is
   * the assistant's message, {@code status} {@code incomplete} (with {@code incomplete_details}
   * {@code max_output_tokens}) when the answer used every token it was allowed, else {@code
   * completed}.
   */
  static ObjectNode response(Answer a, OpenAiRequest request) {
    return response(a, request, false);
  }

  /**
   * @param inProgress the response as the stream's first events show it: {@code in_progress}, no
   *     output, no usage yet
   */
  private static ObjectNode response(Answer a, OpenAiRequest request, boolean inProgress) {
    boolean complete = a.finishReason().equals("stop");
    ObjectNode body = JSON.createObjectNode();
    body.put("id", a.id());
    body.put("object", "response");
    body.put("created_at", a.created());
    body.put("status", inProgress ? "in_progress" : complete ? "completed" : "incomplete");
    body.putNull("error");
    if (inProgress || complete) {
      body.putNull("incomplete_details");
    } else {
      body.putObject("incomplete_details").put("reason", "max_output_tokens");
    }
    body.put("instructions", request.messages().stream().filter(m -> m.contentParam().equals("instructions"))
        .findFirst().map(m -> m.content().asText()).orElse(null));
    if (request.maxNewTokens() > 0) {
      body.put("max_output_tokens", request.maxNewTokens());
    } else {
      body.putNull("max_output_tokens");
    }
    body.put("model", a.model());
    ArrayNode output = body.putArray("output");
    if (!inProgress) {
      output.add(message(a, complete ? "completed" : "incomplete"));
    }
    body.put("parallel_tool_calls", false);
    body.putNull("previous_response_id");
    body.put("store", false); // the door keeps nothing: a later call cannot name this one
    body.putNull("temperature");
    body.putObject("text").putObject("format").put("type", "text");
    body.put("tool_choice", "none");
    body.putArray("tools");
    body.putNull("top_p");
    body.put("truncation", "disabled");
    ObjectNode metadata = body.putObject("metadata");
    request.metadata().forEach(metadata::put);
    if (inProgress) {
      body.putNull("usage");
    } else {
      ObjectNode usage = body.putObject("usage");
      usage.put("input_tokens", a.promptTokens());
      usage.putObject("input_tokens_details").put("cached_tokens", 0);
      usage.put("output_tokens", a.completionTokens());
      usage.putObject("output_tokens_details").put("reasoning_tokens", 0);
      usage.put("total_tokens", a.promptTokens() + a.completionTokens());
      body.set("cascade", cascade(a.response()));
    }
    return body;
  }

  /** The answer's one output item: an assistant message with one {@code output_text} part. */
  private static ObjectNode message(Answer a, String status) {
    ObjectNode item = JSON.createObjectNode();
    item.put("type", "message");
    item.put("id", messageId(a));
    item.put("status", status);
    item.put("role", "assistant");
    item.putArray("content").add(textPart(a.text()));
    return item;
  }

  private static ObjectNode textPart(String text) {
    ObjectNode part = JSON.createObjectNode();
    part.put("type", "output_text");
    part.put("text", text);
    part.putArray("annotations");
    part.putArray("logprobs");
    return part;
  }

  /** The output message's id: the request id's own part after {@code msg_}. */
  private static String messageId(Answer a) {
    String id = a.id();
    return "msg_" + (id.startsWith(OpenAiServer.RESPONSE_ID_PREFIX)
        ? id.substring(OpenAiServer.RESPONSE_ID_PREFIX.length()) : id);
  }

  /**
   * The Responses API's streamed answer, whole: its typed events in the order OpenAI sends them
   * ({@code response.created}, {@code response.in_progress}, the output item and its text part
   * added, the whole text as one {@code response.output_text.delta}, the text, part and item done,
   * then {@code response.completed} or {@code response.incomplete} with the full response), each an
   * {@code event:} line and a {@code data:} line, numbered by {@code sequence_number}; no {@code [DONE]}.
   */
  static String responseEvents(Answer a, OpenAiRequest request) {
    ObjectNode full = response(a, request, false);
    String itemStatus = full.path("status").asText().equals("completed") ? "completed" : "incomplete";
    StringBuilder out = new StringBuilder();
    int[] sequence = {0};
    java.util.function.BiConsumer<String, ObjectNode> event = (type, fields) ->
        typedEvent(out, type, JSON.createObjectNode().put("sequence_number", sequence[0]++).setAll(fields));
    ObjectNode started = response(a, request, true);
    event.accept("response.created", JSON.createObjectNode().set("response", started));
    event.accept("response.in_progress", JSON.createObjectNode().set("response", started));
    ObjectNode opening = message(a, "in_progress");
    opening.putArray("content");
    event.accept("response.output_item.added", JSON.createObjectNode().put("output_index", 0).set("item", opening));
    event.accept("response.content_part.added", textEvent(a).set("part", textPart("")));
    ObjectNode delta = textEvent(a).put("delta", a.text());
    delta.putArray("logprobs");
    event.accept("response.output_text.delta", delta);
    ObjectNode done = textEvent(a).put("text", a.text());
    done.putArray("logprobs");
    event.accept("response.output_text.done", done);
    event.accept("response.content_part.done", textEvent(a).set("part", textPart(a.text())));
    event.accept("response.output_item.done", JSON.createObjectNode().put("output_index", 0)
        .set("item", message(a, itemStatus)));
    event.accept(itemStatus.equals("completed") ? "response.completed" : "response.incomplete",
        JSON.createObjectNode().set("response", full));
    return out.toString();
  }

  /**
   * A typed server-sent event, as the Responses and Messages APIs send them: an {@code event:} line
   * and a {@code data:} line whose object starts with the same {@code type}, then {@code fields}.
   */
  private static void typedEvent(StringBuilder out, String type, ObjectNode fields) {
    ObjectNode e = JSON.createObjectNode().put("type", type);
    e.setAll(fields);
    out.append("event: ").append(type).append('\n').append("data: ").append(e).append("\n\n");
  }

  /** The fields every event about the text part has. */
  private static ObjectNode textEvent(Answer a) {
    return JSON.createObjectNode().put("item_id", messageId(a)).put("output_index", 0).put("content_index", 0);
  }

  /**
   * An Anthropic Messages answer ({@code POST /v1/messages}): a {@code message} with one {@code
   * text} block; {@code stop_reason} {@code max_tokens} when the answer used every token it was
   * allowed, {@code stop_sequence} (naming it) when a stop sequence cut it, else {@code end_turn}.
   */
  static ObjectNode anthropicMessage(Answer a) {
    ObjectNode body = anthropicHead(a);
    body.putArray("content").addObject().put("type", "text").put("text", a.text());
    anthropicStop(body, a);
    ObjectNode usage = body.putObject("usage");
    usage.put("input_tokens", a.promptTokens());
    usage.put("cache_creation_input_tokens", 0); // no prompt caching: every prompt is read whole
    usage.put("cache_read_input_tokens", 0);
    usage.put("output_tokens", a.completionTokens());
    body.set("cascade", cascade(a.response()));
    return body;
  }

  private static ObjectNode anthropicHead(Answer a) {
    ObjectNode body = JSON.createObjectNode();
    body.put("id", a.id());
    body.put("type", "message");
    body.put("role", "assistant");
    body.put("model", a.model());
    return body;
  }

  private static void anthropicStop(ObjectNode target, Answer a) {
    target.put("stop_reason", a.stopSequence() != null ? "stop_sequence"
        : a.finishReason().equals("length") ? "max_tokens" : "end_turn");
    target.put("stop_sequence", a.stopSequence());
  }

  /**
   * The Anthropic Messages streamed answer, whole: {@code message_start} (the message without
   * content or stop reason), {@code content_block_start}, {@code ping}, one {@code
   * content_block_delta} with the whole text, {@code content_block_stop}, {@code message_delta}
   * (the stop reason, the output tokens, and the {@code cascade} field), {@code message_stop}; each
   * an {@code event:} and a {@code data:} line.
   */
  static String anthropicEvents(Answer a) {
    StringBuilder out = new StringBuilder();
    java.util.function.BiConsumer<String, ObjectNode> event = (type, fields) -> typedEvent(out, type, fields);
    ObjectNode start = anthropicHead(a);
    start.putArray("content");
    start.putNull("stop_reason");
    start.putNull("stop_sequence");
    start.putObject("usage").put("input_tokens", a.promptTokens()).put("output_tokens", 0);
    event.accept("message_start", JSON.createObjectNode().set("message", start));
    ObjectNode block = JSON.createObjectNode().put("index", 0);
    block.putObject("content_block").put("type", "text").put("text", "");
    event.accept("content_block_start", block);
    event.accept("ping", JSON.createObjectNode());
    ObjectNode delta = JSON.createObjectNode().put("index", 0);
    delta.putObject("delta").put("type", "text_delta").put("text", a.text());
    event.accept("content_block_delta", delta);
    event.accept("content_block_stop", JSON.createObjectNode().put("index", 0));
    ObjectNode end = JSON.createObjectNode();
    anthropicStop(end.putObject("delta"), a);
    end.putObject("usage").put("output_tokens", a.completionTokens());
    end.set("cascade", cascade(a.response()));
    event.accept("message_delta", end);
    event.accept("message_stop", JSON.createObjectNode());
    return out.toString();
  }

  /** {@code GET /v1/models}: the cascade. */
  static String models(long createdSeconds) {
    ObjectNode body = JSON.createObjectNode();
    body.put("object", "list");
    ArrayNode data = body.putArray("data");
    data.add(model(createdSeconds));
    return body.toString();
  }

  /** {@code GET /v1/models/cascade}. */
  static ObjectNode model(long createdSeconds) {
    ObjectNode m = JSON.createObjectNode();
    m.put("id", MODEL);
    m.put("object", "model");
    m.put("created", createdSeconds);
    m.put("owned_by", "cascade");
    return m;
  }

  /** The {@code x-cascade-*} headers of an answer (and {@code x-request-id}, as OpenAI sends). */
  static Map<String, String> headers(CascadeResponse r) {
    Map<String, String> h = new LinkedHashMap<>();
    h.put("x-request-id", r.getRequestId());
    h.put("x-cascade-request-id", r.getRequestId());
    h.put("x-cascade-served-by", r.getServedBy().name());
    h.put("x-cascade-served-tier", Integer.toString(dev.cascade.router.routing.RoutingRecords.servedTier(r)));
    if (r.getServedModel() != null) {
      h.put("x-cascade-served-model", r.getServedModel());
    }
    if (!Double.isNaN(r.getDeferralScore())) { // NaN: no small answer was scored
      h.put("x-cascade-score", Double.toString(r.getDeferralScore()));
    }
    h.put("x-cascade-threshold", Double.toString(r.getThreshold()));
    h.put("x-cascade-policy-version", Long.toString(r.getPolicyVersion()));
    h.put("x-cascade-rule", r.getRule());
    h.put("x-cascade-cache-hit", Boolean.toString(r.getCacheHit()));
    return h;
  }

  /** The extension field {@code "cascade"}: how the cascade answered. */
  static ObjectNode cascade(CascadeResponse r) {
    ObjectNode c = JSON.createObjectNode();
    c.put("request_id", r.getRequestId());
    c.put("served_by", r.getServedBy().name());
    c.put("served_tier", dev.cascade.router.routing.RoutingRecords.servedTier(r));
    c.put("served_model", r.getServedModel());
    number(c, "deferral_score", r.getDeferralScore());
    number(c, "threshold", r.getThreshold());
    c.put("policy_version", r.getPolicyVersion());
    c.put("rule", r.getRule());
    if (r.getRuleVersion() != null) {
      c.put("rule_version", r.getRuleVersion());
    } else {
      c.putNull("rule_version");
    }
    c.put("cache_hit", r.getCacheHit());
    c.put("stopped_early", Boolean.TRUE.equals(r.getStoppedEarly()));
    if (r.getDecision() != null) {
      c.put("decision", r.getDecision().name());
    } else {
      c.putNull("decision");
    }
    ArrayNode skipped = c.putArray("skipped_tiers");
    for (SkippedTier t : r.getSkippedTiers()) {
      skipped.addObject().put("tier", t.getTier()).put("model", t.getModel()).put("cause", t.getCause())
          .put("reason", t.getReason());
    }
    StageLatencies l = r.getLatencies();
    ObjectNode ms = c.putObject("latency_ms");
    ms.put("queue", l.getQueueMs());
    ms.put("small_model", l.getSmallModelMs());
    ms.put("rule", l.getRuleMs());
    ms.put("escalation", l.getEscalationMs());
    ms.put("total", l.getTotalMs());
    return c;
  }

  /**
   * {@code value} as a JSON number, or {@code null} where JSON has none: a NaN score (no small answer
   * was scored: skipped before generation, the small model failed, or the deadline had passed) or
   * an infinite threshold (a target escalation rate of 0 or 1). Jackson would write those as the
   * strings "NaN" and "Infinity", changing the field's type.
   */
  private static void number(ObjectNode node, String field, double value) {
    if (Double.isFinite(value)) {
      node.put(field, value);
    } else {
      node.putNull(field);
    }
  }

  private static ObjectNode head(Answer a, String object) {
    ObjectNode body = JSON.createObjectNode();
    body.put("id", a.id());
    body.put("object", object);
    body.put("created", a.created());
    body.put("model", a.model());
    body.putNull("system_fingerprint");
    return body;
  }

  private static void usage(ObjectNode body, Answer a) {
    ObjectNode usage = body.putObject("usage");
    usage.put("prompt_tokens", a.promptTokens());
    usage.put("completion_tokens", a.completionTokens());
    usage.put("total_tokens", a.promptTokens() + a.completionTokens());
  }

  private static void event(StringBuilder out, String data) {
    out.append("data: ").append(data).append("\n\n");
  }
}
