package dev.cascade.models.openai;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One OpenAI-style request ({@code POST /v1/completions}, {@code /v1/chat/completions} or {@code
 * /v1/responses}), or an Anthropic Messages one ({@code POST /v1/messages}), reduced to what the
 * cascade can act on: one prompt (and, for a chat, its messages), a token limit, stop strings,
 * metadata, and how to answer (streamed or not).
 *
 * <p>Every field OpenAI defines is either honoured, ignored (it would not change a greedy,
 * deterministic, single answer: {@code temperature}, {@code top_p}, {@code seed}...) or refused
 * with 400 naming it (it asks for something the cascade cannot give: several answers,
 * log-probabilities, penalties, JSON mode...). A refused field is refused only when set to a value
 * that asks for something; its neutral value ({@code n: 1}, {@code logprobs: false}, a penalty of
 * 0) is accepted, since many clients send those by default. Unknown fields are ignored, so newer
 * clients keep working. The README's table lists every field.
 *
 * @param chat whether this came from the chat endpoint (the answer's shape follows it)
 * @param prompt the text the cascade answers: the completion's prompt, or the content of the
 *     chat's last user message
 * @param promptParam the request field the prompt came from, for error messages
 *     ({@code prompt}, or {@code messages[i].content})
 * @param maxNewTokens the token limit, 0 for the router's default
 * @param maxTokensParam the field the limit came from ({@code max_tokens} or {@code max_completion_tokens})
 * @param includeUsage whether a stream ends with a usage chunk ({@code stream_options.include_usage})
 * @param stop strings at whose first occurrence the answer is cut (at most 4)
 * @param echo completions only: the answer starts with the prompt
 * @param metadata request metadata: the {@code metadata} object plus {@code user} and {@code safety_identifier}
 * @param messagesNotSent chat only: the messages not in {@code prompt}: all but the last user message
 *     (system and developer messages, earlier turns), or under a {@link ChatTranscript} those it left
 *     out; 0 for a completion
 * @param messages chat only: the request's messages in order (a {@link ChatTranscript} renders them
 *     into one prompt); empty for a completion
 * @param api the endpoint it came to, whose shape the answer takes (a Responses API call and an
 *     Anthropic Messages call are read as chats: {@code chat} is true for them too)
 */
public record OpenAiRequest(boolean chat, String model, String prompt, String promptParam, int maxNewTokens,
    String maxTokensParam, boolean stream, boolean includeUsage, List<String> stop, boolean echo,
    Map<String, String> metadata, int messagesNotSent, List<Message> messages, Api api) {

  /** The endpoints a request comes to. */
  public enum Api {
    /** OpenAI's {@code POST /v1/completions}. */
    COMPLETIONS,
    /** OpenAI's {@code POST /v1/chat/completions}. */
    CHAT,
    /** OpenAI's Responses API, {@code POST /v1/responses}. */
    RESPONSES,
    /** Anthropic's Messages API, {@code POST /v1/messages}. */
    MESSAGES
  }

  public OpenAiRequest {
    messages = List.copyOf(messages);
  }

  /**
   * One chat message as sent: its role, and its {@code content} as JSON (null when absent), which is
   * read only where it is used ({@link #text()}), so that a message the cascade does not send is not
   * refused for a content it would not read.
   *
   * @param index its place in the conversation (-1 for a Responses API call's {@code instructions})
   * @param contentParam the request field its content came from, for error messages ({@code
   *     messages[2].content}, {@code input[0].content}, {@code input}, {@code instructions})
   */
  public record Message(String role, JsonNode content, int index, String contentParam) {

    /**
     * The message's text: its content string, or its text parts joined by single spaces; empty when
     * it has no content (an assistant message that only called tools). 400 naming the field for
     * another content (an image part...).
     */
    public java.util.Optional<String> text() {
      return content == null || content.isNull() ? java.util.Optional.empty()
          : java.util.Optional.of(OpenAiRequest.content(content, contentParam));
    }
  }

  /** This request with another prompt, taken from {@code promptParam}, leaving {@code messagesNotSent} out of it. */
  public OpenAiRequest withPrompt(String prompt, String promptParam, int messagesNotSent) {
    return new OpenAiRequest(chat, model, prompt, promptParam, maxNewTokens, maxTokensParam, stream, includeUsage,
        stop, echo, metadata, messagesNotSent, messages, api);
  }

  /** The largest request body either OpenAI-compatible door reads; a larger one is 413 (see {@link RequestBodyGuard}). */
  public static final long MAX_BODY_BYTES = 1_000_000;

  /** The most stop strings a request may give (OpenAI's limit). */
  public static final int MAX_STOP = 4;

  /**
   * What a door accepts.
   *
   * @param maxTokens the largest token limit a request may ask for
   * @param maxTokensNote said after that limit when a request asks for more ("" for nothing)
   * @param maxMetadataKeyLength the longest metadata key, in characters
   * @param maxMetadataValueLength the longest metadata value, in characters
   */
  public record Limits(int maxTokens, String maxTokensNote, int maxMetadataKeyLength, int maxMetadataValueLength) {}

  private static final ObjectMapper JSON = new ObjectMapper()
      .enable(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
  private static final Set<String> ROLES = Set.of("system", "developer", "user", "assistant", "tool", "function");
  /** The roles of a Responses API input message. */
  private static final Set<String> INPUT_ROLES = Set.of("system", "developer", "user", "assistant");
  /** Content parts read as text: chat's {@code text}, the Responses API's {@code input_text} and {@code output_text}. */
  private static final Set<String> TEXT_PARTS = Set.of("text", "input_text", "output_text");

  /** Parses a request body; {@code chat} says which endpoint it came to. */
  public static OpenAiRequest parse(String body, boolean chat, Limits limits) {
    JsonNode root = object(body);
    return chat ? chat(root, limits) : completion(root, limits);
  }

  /**
   * A request body as text; 400 ({@code invalid_json}) when it is not UTF-8, naming the first byte
   * that is not (a lenient decoding would turn it into U+FFFD and blame the prompt for it).
   */
  public static String utf8(byte[] body) {
    java.nio.charset.CharsetDecoder decoder = java.nio.charset.StandardCharsets.UTF_8.newDecoder()
        .onMalformedInput(java.nio.charset.CodingErrorAction.REPORT)
        .onUnmappableCharacter(java.nio.charset.CodingErrorAction.REPORT);
    java.nio.ByteBuffer in = java.nio.ByteBuffer.wrap(body);
    java.nio.CharBuffer out = java.nio.CharBuffer.allocate(body.length);
    java.nio.charset.CoderResult result = decoder.decode(in, out, true);
    if (result.isError()) {
      throw OpenAiError.invalid(null, "invalid_json", "the request body is not UTF-8 text: byte 0x"
          + String.format("%02X", body[in.position()] & 0xff) + " at offset " + in.position() + " does not begin a"
          + " valid UTF-8 character");
    }
    decoder.flush(out);
    return out.flip().toString();
  }

  /** A request body as a JSON object; 400 ({@code invalid_json}) when it is not one. */
  public static JsonNode object(String body) {
    JsonNode root;
    try {
      root = body == null || body.isBlank() ? null : JSON.readTree(body);
    } catch (JsonProcessingException e) {
      throw OpenAiError.invalid(null, "invalid_json", "We could not parse the JSON body of your request: "
          + dev.cascade.models.JsonProblem.of(e) + dev.cascade.models.JsonProblem.at(e));
    }
    if (root == null || !root.isObject()) {
      throw OpenAiError.invalid(null, "invalid_json", "the request body must be a JSON object");
    }
    return root;
  }

  /** {@code POST /v1/completions}. */
  public static OpenAiRequest completion(JsonNode body, Limits limits) {
    String model = model(body);
    JsonNode p = present(body, "prompt");
    if (p == null) {
      throw missing("prompt");
    }
    String prompt;
    if (p.isTextual()) {
      prompt = p.asText();
    } else if (p.isArray() && p.size() == 1 && p.get(0).isTextual()) {
      prompt = p.get(0).asText();
    } else if (p.isArray() && p.size() > 1 && allTextual(p)) {
      throw OpenAiError.unsupported("prompt", "prompt: one prompt per request (the cascade answers one at a time);"
          + " send " + p.size() + " requests");
    } else if (p.isArray() && p.isEmpty()) {
      throw OpenAiError.invalid("prompt", "invalid_value", "prompt: an empty array; must be a string (or an array of"
          + " one string)");
    } else {
      throw OpenAiError.invalid("prompt", "invalid_type", "prompt: must be a string (or an array of one string);"
          + " token arrays are not accepted, was " + describe(p));
    }
    refuseAbove(body, "best_of", 1, "one answer per request");
    if (present(body, "logprobs") != null) {
      throw OpenAiError.unsupported("logprobs", "logprobs: log-probabilities are not returned by the cascade");
    }
    String suffix = optionalText(body, "suffix");
    if (suffix != null && !suffix.isEmpty()) {
      throw OpenAiError.unsupported("suffix", "suffix: the cascade's models complete a prompt, they do not insert text");
    }
    boolean echo = optionalBoolean(body, "echo", false);
    return common(body, false, model, prompt, "prompt", tokenLimit(body, "max_tokens", limits), "max_tokens", echo,
        limits, 0, List.of());
  }

  /** {@code POST /v1/chat/completions}: the prompt is the content of the last user message. */
  public static OpenAiRequest chat(JsonNode body, Limits limits) {
    String model = model(body);
    List<Message> sent = new ArrayList<>();
    Read read = readMessages(messagesArray(body), "messages", ROLES,
        "one of system, developer, user, assistant, tool, function", false, sent);
    String prompt = read.prompt();
    String promptParam = read.promptParam();
    if (optionalBoolean(body, "logprobs", false)) {
      throw OpenAiError.unsupported("logprobs", "logprobs: log-probabilities are not returned by the cascade");
    }
    refuseAbove(body, "top_logprobs", 0, "log-probabilities are not returned by the cascade");
    JsonNode format = present(body, "response_format");
    if (format != null && !(format.isObject() && "text".equals(format.path("type").asText()))) {
      throw OpenAiError.unsupported("response_format", "response_format: only {\"type\": \"text\"}; the cascade cannot"
          + " guarantee JSON output");
    }
    // function_call is tool_choice's deprecated form (with functions for tools): a client that
    // forces a call reads function_call.arguments from the answer, which would have none.
    for (String field : List.of("tool_choice", "function_call")) {
      JsonNode choice = present(body, field);
      if (choice != null && !(choice.isTextual() && (choice.asText().equals("none") || choice.asText().equals("auto")))) {
        throw OpenAiError.unsupported(field, field + ": the cascade's models never call tools; only 'none' or"
            + " 'auto' (which then calls none)");
      }
    }
    JsonNode modalities = present(body, "modalities");
    if (modalities != null && !(modalities.isArray() && modalities.size() == 1
        && "text".equals(modalities.get(0).asText()))) {
      throw OpenAiError.unsupported("modalities", "modalities: only [\"text\"]");
    }
    for (String field : List.of("audio", "web_search_options")) {
      if (present(body, field) != null) {
        throw OpenAiError.unsupported(field, field + ": not supported by the cascade");
      }
    }
    String limitParam = present(body, "max_completion_tokens") != null ? "max_completion_tokens" : "max_tokens";
    return common(body, true, model, prompt, promptParam, tokenLimit(body, limitParam, limits), limitParam, false,
        limits, sent.size() - 1, sent);
  }

  /**
   * {@code POST /v1/responses}, OpenAI's Responses API, read as a chat: {@code instructions} is a
   * system message before {@code input}, which is a string (one user message) or a list of
   * messages; the prompt is the last user message's content, as for a chat. The door keeps no
   * state, so a call that continues a stored response or conversation is refused, as are items
   * other than messages (tool calls and their outputs, reasoning) and non-text parts.
   */
  public static OpenAiRequest responses(JsonNode body, Limits limits) {
    String model = model(body);
    for (String field : List.of("previous_response_id", "conversation", "prompt")) {
      if (present(body, field) != null) {
        throw OpenAiError.unsupported(field, field + ": the cascade keeps no stored responses, conversations or"
            + " prompts; send the whole conversation in input");
      }
    }
    if (optionalBoolean(body, "background", false)) {
      throw OpenAiError.unsupported("background", "background: the cascade answers while the call waits");
    }
    List<Message> sent = new ArrayList<>();
    JsonNode instructions = present(body, "instructions");
    if (instructions != null) {
      if (!instructions.isTextual()) {
        throw OpenAiError.invalid("instructions", "invalid_type", "instructions: must be a string, was "
            + describe(instructions));
      }
      sent.add(new Message("system", instructions, -1, "instructions"));
    }
    JsonNode input = present(body, "input");
    if (input == null) {
      throw missing("input");
    }
    String prompt;
    String promptParam;
    if (input.isTextual()) {
      sent.add(new Message("user", input, 0, "input"));
      prompt = input.asText();
      promptParam = "input";
    } else if (input.isArray() && !input.isEmpty()) {
      Read read = readMessages(input, "input", INPUT_ROLES, "one of user, system, developer, assistant", true, sent);
      prompt = read.prompt();
      promptParam = read.promptParam();
    } else {
      throw OpenAiError.invalid("input", input.isArray() ? "invalid_value" : "invalid_type",
          "input: must be a string or a non-empty array of messages, was "
              + (input.isArray() ? "an empty array" : describe(input)));
    }
    refuseAbove(body, "top_logprobs", 0, "log-probabilities are not returned by the cascade");
    JsonNode include = present(body, "include");
    if (include != null && include.isArray()) {
      for (JsonNode what : include) {
        if (what.asText().contains("logprobs")) {
          throw OpenAiError.unsupported("include", "include: log-probabilities are not returned by the cascade, was "
              + describe(what));
        }
      }
    }
    JsonNode format = present(body.path("text"), "format");
    if (format != null && !(format.isObject() && "text".equals(format.path("type").asText()))) {
      throw OpenAiError.unsupported("text.format", "text.format: only {\"type\": \"text\"}; the cascade cannot"
          + " guarantee JSON output");
    }
    JsonNode choice = present(body, "tool_choice");
    if (choice != null && !(choice.isTextual() && (choice.asText().equals("none") || choice.asText().equals("auto")))) {
      throw OpenAiError.unsupported("tool_choice", "tool_choice: the cascade's models never call tools; only 'none'"
          + " or 'auto' (which then calls none)");
    }
    OpenAiRequest request = common(body, true, model, prompt, promptParam,
        tokenLimit(body, "max_output_tokens", limits), "max_output_tokens", false, limits, sent.size() - 1, sent);
    return new OpenAiRequest(true, model, request.prompt(), promptParam, request.maxNewTokens(),
        request.maxTokensParam(), request.stream(), false, request.stop(), false, request.metadata(),
        request.messagesNotSent(), sent, Api.RESPONSES);
  }

  /** The most {@code stop_sequences} an Anthropic Messages call may give. */
  public static final int MAX_STOP_SEQUENCES = 16;

  /**
   * {@code POST /v1/messages}, Anthropic's Messages API, read as a chat: {@code system} (text, or
   * text blocks) is a system message before {@code messages} (roles {@code user} and {@code
   * assistant}, content text or text blocks); the prompt is the last user message's content, as for
   * a chat. {@code max_tokens} is required, as Anthropic requires it; {@code stop_sequences} are
   * honoured as stop strings. Blocks other than text (images, documents, tool use and results,
   * thinking) and a forced tool choice are refused, naming the field.
   */
  public static OpenAiRequest anthropicMessages(JsonNode body, Limits limits) {
    String model = model(body);
    if (present(body, "max_tokens") == null) {
      throw missing("max_tokens");
    }
    int maxNewTokens = tokenLimit(body, "max_tokens", limits);
    List<Message> sent = new ArrayList<>();
    JsonNode system = present(body, "system");
    if (system != null) {
      content(system, "system"); // refused now, whatever is sent: text or text blocks only
      sent.add(new Message("system", system, -1, "system"));
    }
    Read read = readMessages(messagesArray(body), "messages", Set.of("user", "assistant"),
        "user or assistant (a system prompt goes in system)", false, sent);
    String prompt = read.prompt();
    String promptParam = read.promptParam();
    List<String> stop = new ArrayList<>();
    JsonNode sequences = present(body, "stop_sequences");
    if (sequences != null) {
      if (!sequences.isArray() || !allTextual(sequences)) {
        throw OpenAiError.invalid("stop_sequences", "invalid_type", "stop_sequences: must be an array of strings, was "
            + describe(sequences));
      }
      if (sequences.size() > MAX_STOP_SEQUENCES) {
        throw OpenAiError.invalid("stop_sequences", "invalid_value", "stop_sequences: at most " + MAX_STOP_SEQUENCES
            + " strings, was " + sequences.size());
      }
      sequences.forEach(v -> stop.add(v.asText()));
    }
    number(body, "temperature", 0, 1);
    number(body, "top_p", 0, 1);
    JsonNode topK = present(body, "top_k");
    if (topK != null && !(topK.isIntegralNumber() && topK.asLong() >= 0)) {
      throw OpenAiError.invalid("top_k", "invalid_value", "top_k: must be an integer, 0 or more, was " + describe(topK));
    }
    JsonNode choice = present(body, "tool_choice");
    if (choice != null && !(choice.isObject() && List.of("auto", "none").contains(choice.path("type").asText()))) {
      throw OpenAiError.unsupported("tool_choice", "tool_choice: the cascade's models never call tools; only"
          + " {\"type\": \"auto\"} or {\"type\": \"none\"}");
    }
    Map<String, String> metadata = new LinkedHashMap<>();
    JsonNode meta = present(body, "metadata");
    if (meta != null) {
      if (!meta.isObject()) {
        throw OpenAiError.invalid("metadata", "invalid_type", "metadata: must be an object, was " + describe(meta));
      }
      JsonNode user = present(meta, "user_id");
      if (user != null) {
        if (!user.isTextual() || user.asText().length() > limits.maxMetadataValueLength()) {
          throw OpenAiError.invalid("metadata.user_id", "invalid_value", "metadata.user_id: must be a string of at most "
              + limits.maxMetadataValueLength() + " characters, was " + describe(user));
        }
        metadata.put("user_id", user.asText());
      }
    }
    return new OpenAiRequest(true, model, prompt, promptParam, maxNewTokens, "max_tokens",
        optionalBoolean(body, "stream", false), false, stop, false, metadata, sent.size() - 1, sent, Api.MESSAGES);
  }

  /** The last user message of a conversation: its text, and the field it came from. */
  private record Read(String prompt, String promptParam) {}

  /** The body's {@code messages}: present, and a non-empty array (else 400 naming it). */
  private static JsonNode messagesArray(JsonNode body) {
    JsonNode messages = present(body, "messages");
    if (messages == null) {
      throw missing("messages");
    }
    if (!messages.isArray() || messages.isEmpty()) {
      throw OpenAiError.invalid("messages", messages.isArray() ? "invalid_value" : "invalid_type",
          "messages: must be a non-empty array, was " + (messages.isArray() ? "an empty array" : describe(messages)));
    }
    return messages;
  }

  /**
   * Reads the messages of {@code array} (the request field {@code field}) into {@code into}, each
   * an object with a role of {@code roles} ({@code allowed} says them), and, when {@code typed}, a
   * {@code type} that is {@code message} or absent; the last user message's content is the prompt.
   * 400 naming the field for a message that is not so, or when no message is the user's.
   */
  private static Read readMessages(JsonNode array, String field, Set<String> roles, String allowed, boolean typed,
      List<Message> into) {
    int lastUser = -1;
    for (int i = 0; i < array.size(); i++) {
      JsonNode m = array.get(i);
      String param = field + "[" + i + "]";
      if (!m.isObject()) {
        throw OpenAiError.invalid(param, "invalid_type", param + ": must be an object, was " + describe(m));
      }
      JsonNode type = m.get("type");
      if (typed && type != null && !"message".equals(type.asText())) {
        throw OpenAiError.unsupported(param + ".type", param + ".type: only messages are accepted (the cascade's"
            + " models never call tools), was " + describe(type));
      }
      JsonNode role = m.get("role");
      if (role == null || !role.isTextual() || !roles.contains(role.asText())) {
        String code = role == null ? "missing_required_parameter" : role.isTextual() ? "invalid_value" : "invalid_type";
        throw OpenAiError.invalid(param + ".role", code, param + ".role: must be " + allowed + "; was "
            + (role == null ? "missing" : describe(role)));
      }
      if (role.asText().equals("user")) {
        lastUser = i;
      }
      into.add(new Message(role.asText(), m.get("content"), i, param + ".content"));
    }
    if (lastUser < 0) {
      throw OpenAiError.invalid(field, "invalid_value", field + ": no message with role 'user'; the cascade answers"
          + " the last user message");
    }
    String promptParam = field + "[" + lastUser + "].content";
    return new Read(content(array.get(lastUser).get("content"), promptParam), promptParam);
  }

  /** The fields both endpoints share. */
  private static OpenAiRequest common(JsonNode body, boolean chat, String model, String prompt, String promptParam,
      int maxNewTokens, String maxTokensParam, boolean echo, Limits limits, int messagesNotSent,
      List<Message> messages) {
    refuseAbove(body, "n", 1, "one answer per request");
    number(body, "temperature", 0, 2);
    number(body, "top_p", 0, 1);
    for (String penalty : List.of("presence_penalty", "frequency_penalty")) {
      Double v = number(body, penalty, -2, 2);
      if (v != null && v != 0) {
        throw OpenAiError.unsupported(penalty, penalty + ": the cascade decodes greedily without penalties; only 0");
      }
    }
    JsonNode bias = present(body, "logit_bias");
    if (bias != null && !(bias.isObject() && bias.isEmpty())) {
      throw OpenAiError.unsupported("logit_bias", "logit_bias: not supported by the cascade; only {}");
    }
    JsonNode seed = present(body, "seed");
    if (seed != null && !seed.isIntegralNumber()) {
      throw OpenAiError.invalid("seed", "invalid_type", "seed: must be an integer, was " + describe(seed));
    }
    boolean stream = optionalBoolean(body, "stream", false);
    boolean includeUsage = false;
    JsonNode options = present(body, "stream_options");
    if (options != null) {
      if (!options.isObject()) {
        throw OpenAiError.invalid("stream_options", "invalid_type", "stream_options: must be an object, was "
            + describe(options));
      }
      includeUsage = optionalBoolean(options, "include_usage", "stream_options.include_usage", false);
    }
    return new OpenAiRequest(chat, model, prompt, promptParam, maxNewTokens, maxTokensParam, stream, includeUsage,
        stop(body), echo, metadata(body, limits), messagesNotSent, messages, chat ? Api.CHAT : Api.COMPLETIONS);
  }

  private static String model(JsonNode body) {
    JsonNode model = present(body, "model");
    if (model == null) {
      throw missing("model");
    }
    if (!model.isTextual() || model.asText().isBlank()) {
      throw OpenAiError.invalid("model", model.isTextual() ? "invalid_value" : "invalid_type",
          "model: must be a non-empty string, was " + describe(model));
    }
    return model.asText();
  }

  /** A message's content: a string, or an array of text parts joined by single spaces. */
  private static String content(JsonNode content, String param) {
    if (content == null || content.isNull()) {
      throw OpenAiError.invalid(param, "missing_required_parameter", param + ": the last user message has no content");
    }
    if (content.isTextual()) {
      return content.asText();
    }
    if (!content.isArray()) {
      throw OpenAiError.invalid(param, "invalid_type", param + ": must be a string or an array of text parts, was "
          + describe(content));
    }
    List<String> texts = new ArrayList<>();
    for (int j = 0; j < content.size(); j++) {
      JsonNode part = content.get(j);
      String partParam = param + "[" + j + "]";
      if (!part.isObject() || !TEXT_PARTS.contains(part.path("type").asText())) {
        throw OpenAiError.unsupported(partParam + ".type", partParam + ".type: only text parts are accepted, was "
            + (part.isObject() ? describe(part.path("type")) : describe(part)));
      }
      JsonNode text = part.get("text");
      if (text == null || !text.isTextual()) {
        throw OpenAiError.invalid(partParam + ".text", "invalid_type", partParam + ".text: must be a string, was "
            + (text == null ? "missing" : describe(text)));
      }
      texts.add(text.asText());
    }
    return String.join(" ", texts);
  }

  /** The token limit in {@code field}: 0 (the door's default) when absent, otherwise 1 to the limit. */
  private static int tokenLimit(JsonNode body, String field, Limits limits) {
    JsonNode v = present(body, field);
    if (v == null) {
      return 0;
    }
    if (!v.isIntegralNumber()) {
      throw OpenAiError.invalid(field, "invalid_type", field + ": must be an integer, was " + describe(v));
    }
    if (!v.canConvertToInt() || v.asInt() < 1 || v.asInt() > limits.maxTokens()) {
      throw OpenAiError.invalid(field, "invalid_value", field + ": must be 1 to " + limits.maxTokens()
          + limits.maxTokensNote() + ", was " + v.asText());
    }
    return v.asInt();
  }

  /**
   * {@code text} cut before the first occurrence of any stop string; empty when none occurs.
   */
  public java.util.Optional<String> cutAtStop(String text) {
    return stopIn(text).map(s -> text.substring(0, text.indexOf(s)));
  }

  /** The stop string {@link #cutAtStop} cuts {@code text} at: the one found first (of two there, the first given). */
  public java.util.Optional<String> stopIn(String text) {
    int cut = -1;
    String found = null;
    for (String s : stop) {
      int at = text.indexOf(s);
      if (at >= 0 && (cut < 0 || at < cut)) {
        cut = at;
        found = s;
      }
    }
    return java.util.Optional.ofNullable(found);
  }

  private static List<String> stop(JsonNode body) {
    JsonNode v = present(body, "stop");
    if (v == null) {
      return List.of();
    }
    List<String> stop = new ArrayList<>();
    if (v.isTextual()) {
      stop.add(v.asText());
    } else if (v.isArray() && allTextual(v)) {
      if (v.size() > MAX_STOP) {
        throw OpenAiError.invalid("stop", "invalid_value", "stop: at most " + MAX_STOP + " strings, was " + v.size());
      }
      v.forEach(s -> stop.add(s.asText()));
    } else {
      throw OpenAiError.invalid("stop", "invalid_type", "stop: must be a string or an array of at most " + MAX_STOP
          + " strings, was " + describe(v));
    }
    if (stop.stream().anyMatch(String::isEmpty)) {
      throw OpenAiError.invalid("stop", "invalid_value", "stop: a stop string must not be empty");
    }
    return List.copyOf(stop);
  }

  /**
   * {@code metadata} (an object of strings) plus {@code user} and {@code safety_identifier} as
   * entries of those names; {@code metadata}'s own entry of the same name may repeat the value, and a
   * different one is refused (400, naming both fields) rather than one silently dropped.
   */
  private static Map<String, String> metadata(JsonNode body, Limits limits) {
    Map<String, String> metadata = new LinkedHashMap<>();
    JsonNode m = present(body, "metadata");
    if (m != null) {
      if (!m.isObject()) {
        throw OpenAiError.invalid("metadata", "invalid_type", "metadata: must be an object of strings, was "
            + describe(m));
      }
      for (Map.Entry<String, JsonNode> e : m.properties()) {
        if (!e.getValue().isTextual()) {
          throw OpenAiError.invalid("metadata", "invalid_type", "metadata: value of '" + e.getKey()
              + "' must be a string, was " + describe(e.getValue()));
        }
        metadata.put(e.getKey(), e.getValue().asText());
      }
    }
    // user (deprecated by OpenAI) and safety_identifier (its successor) name the end user.
    Map<String, String> named = new LinkedHashMap<>();
    for (String field : List.of("user", "safety_identifier")) {
      String value = optionalText(body, field);
      if (value != null) {
        String inMetadata = metadata.get(field);
        if (inMetadata != null && !inMetadata.equals(value)) {
          throw OpenAiError.invalid(field, "invalid_value", field + ": differs from metadata." + field + " (" + field
              + " is " + describe(body.get(field)) + ", metadata." + field + " is " + describe(m.get(field))
              + "); send one of them, or the same value in both");
        }
        metadata.put(field, value);
        named.put(field, value);
      }
    }
    for (Map.Entry<String, String> e : metadata.entrySet()) {
      String param = named.containsKey(e.getKey()) ? e.getKey() : "metadata";
      if (e.getKey().isEmpty() || e.getKey().length() > limits.maxMetadataKeyLength()) {
        throw OpenAiError.invalid(param, "invalid_value", "metadata: a key must be 1 to "
            + limits.maxMetadataKeyLength() + " characters, was " + e.getKey().length());
      }
      if (e.getValue().length() > limits.maxMetadataValueLength()) {
        throw OpenAiError.invalid(param, "invalid_value", param + ": value of '" + e.getKey() + "' longer than "
            + limits.maxMetadataValueLength() + " characters (" + e.getValue().length() + ")");
      }
    }
    return metadata;
  }

  /** Refuses an integer field above {@code neutral} (n, best_of, top_logprobs); checks its type. */
  private static void refuseAbove(JsonNode body, String field, int neutral, String why) {
    JsonNode v = present(body, field);
    if (v == null) {
      return;
    }
    if (!v.isIntegralNumber()) {
      throw OpenAiError.invalid(field, "invalid_type", field + ": must be an integer, was " + describe(v));
    }
    if (v.asLong() < neutral) {
      throw OpenAiError.invalid(field, "invalid_value", field + ": must be at least " + neutral + ", was " + v.asLong());
    }
    if (v.asLong() > neutral) {
      throw OpenAiError.unsupported(field, field + ": only " + neutral + " (" + why + "), was " + v.asLong());
    }
  }

  /** A number field within [min, max] (null when absent), checked but not used by the cascade. */
  private static Double number(JsonNode body, String field, double min, double max) {
    JsonNode v = present(body, field);
    if (v == null) {
      return null;
    }
    if (!v.isNumber()) {
      throw OpenAiError.invalid(field, "invalid_type", field + ": must be a number, was " + describe(v));
    }
    double d = v.asDouble();
    if (!(d >= min && d <= max)) {
      throw OpenAiError.invalid(field, "invalid_value", field + ": must be " + min + " to " + max + ", was " + d);
    }
    return d;
  }

  private static boolean optionalBoolean(JsonNode body, String field, boolean absent) {
    return optionalBoolean(body, field, field, absent);
  }

  private static boolean optionalBoolean(JsonNode body, String field, String param, boolean absent) {
    JsonNode v = present(body, field);
    if (v == null) {
      return absent;
    }
    if (!v.isBoolean()) {
      throw OpenAiError.invalid(param, "invalid_type", param + ": must be a boolean, was " + describe(v));
    }
    return v.asBoolean();
  }

  /** A boolean field; null when absent or JSON null; 400 naming it when it is another type. */
  public static Boolean optionalBoolean(JsonNode body, String field) {
    return present(body, field) == null ? null : optionalBoolean(body, field, false);
  }

  /** A string field; null when absent or JSON null; 400 naming it when it is another type. */
  public static String optionalText(JsonNode body, String field) {
    JsonNode v = present(body, field);
    if (v == null) {
      return null;
    }
    if (!v.isTextual()) {
      throw OpenAiError.invalid(field, "invalid_type", field + ": must be a string, was " + describe(v));
    }
    return v.asText();
  }

  /** The field's value; null when absent or JSON null (OpenAI treats both as "not given"). */
  private static JsonNode present(JsonNode body, String field) {
    JsonNode v = body.get(field);
    return v == null || v.isNull() ? null : v;
  }

  private static boolean allTextual(JsonNode array) {
    for (JsonNode n : array) {
      if (!n.isTextual()) {
        return false;
      }
    }
    return true;
  }

  private static OpenAiError missing(String field) {
    return OpenAiError.invalid(field, "missing_required_parameter", field + ": required");
  }

  /** A value's JSON type, with the value when it is short, for error messages. */
  private static String describe(JsonNode v) {
    String type = switch (v.getNodeType()) {
      case STRING -> "a string";
      case NUMBER -> "a number";
      case BOOLEAN -> "a boolean";
      case ARRAY -> "an array";
      case OBJECT -> "an object";
      case NULL, MISSING -> "null";
      default -> v.getNodeType().toString().toLowerCase(java.util.Locale.ROOT);
    };
    String text = v.toString();
    return v.isContainerNode() || text.length() > 40 ? type : type + " (" + text + ")";
  }
}
