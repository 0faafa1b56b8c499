package dev.cascade.models.openai;

/**
 * An error of an OpenAI-compatible HTTP door (the router's and the large-model server's), answered in OpenAI's shape, {@code {"error":
 * {"message", "type", "param", "code"}}}, with its HTTP status. OpenAI's client libraries pick
 * their exception from the status and expose the other fields, so {@code param} names the request
 * field at fault wherever there is one.
 */
public final class OpenAiError extends RuntimeException {

  private final int status;
  private final String type;
  private final String param;
  private final String code;
  private final Boolean shouldRetry;

  public OpenAiError(int status, String type, String param, String code, String message) {
    this(status, type, param, code, message, null);
  }

  private OpenAiError(int status, String type, String param, String code, String message, Boolean shouldRetry) {
    super(message);
    this.status = status;
    this.type = type;
    this.param = param;
    this.code = code;
    this.shouldRetry = shouldRetry;
  }

  /** This error, saying explicitly whether the same request sent again can succeed ({@link #shouldRetry}). */
  public OpenAiError withShouldRetry(boolean retry) {
    return new OpenAiError(status, type, param, code, getMessage(), retry);
  }

  /**
   * The {@code x-should-retry} header for this error, which OpenAI's client libraries obey over
   * their own rule (they retry 408, 409, 429 and 5xx): what {@link #withShouldRetry} set, else
   * {@code "false"} for a 4xx other than 408, 409 and 429 (the same request fails the same way),
   * {@code "true"} for 429 and 503 (they pass within seconds), and null (no header: the client's
   * own rule) otherwise.
   */
  public String shouldRetry() {
    if (shouldRetry != null) {
      return shouldRetry.toString();
    }
    if (status == 429 || status == 503) {
      return "true";
    }
    if (status >= 400 && status < 500 && status != 408 && status != 409) {
      return "false";
    }
    return null;
  }

  /** 400 {@code invalid_request_error}: the field {@code param} (null: the request as a whole) is wrong. */
  public static OpenAiError invalid(String param, String code, String message) {
    return new OpenAiError(400, "invalid_request_error", param, code, message);
  }

  /** 400: {@code param} asks for something the cascade cannot do (more than one answer, log-probs...). */
  public static OpenAiError unsupported(String param, String message) {
    return invalid(param, "unsupported_parameter", message);
  }

  public int status() {
    return status;
  }

  public String type() {
    return type;
  }

  /** The request field at fault; null when none. */
  public String param() {
    return param;
  }

  /** A machine-readable code; null when none. */
  public String code() {
    return code;
  }

  /**
   * 413 {@code request_too_large}: a body of {@code contentLength} bytes (not positive: unknown) over
   * {@code limit}.
   */
  public static OpenAiError tooLarge(long contentLength, long limit) {
    return new OpenAiError(413, "invalid_request_error", null, "request_too_large", "the request body"
        + (contentLength > 0 ? " (" + contentLength + " bytes)" : "") + " is over the limit of " + limit + " bytes");
  }

  /** Where Anthropic's Messages API is served, whose errors take {@link #toAnthropicJson}'s shape. */
  public static final String ANTHROPIC_MESSAGES_PATH = "/v1/messages";

  /**
   * The body in Anthropic's shape, for its Messages API: {@code {"type": "error", "error": {"type",
   * "message"}}}, the type Anthropic gives the status ({@code api_error} for one it has none for,
   * such as a 408).
   */
  public String toAnthropicJson() {
    String anthropicType = switch (status) {
      case 400, 405, 409, 415 -> "invalid_request_error";
      case 401 -> "authentication_error";
      case 403 -> "permission_error";
      case 404 -> "not_found_error";
      case 413 -> "request_too_large";
      case 429 -> "rate_limit_error";
      case 503 -> "overloaded_error";
      default -> "api_error";
    };
    com.fasterxml.jackson.databind.node.ObjectNode body =
        com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode().put("type", "error");
    body.putObject("error").put("type", anthropicType).put("message", getMessage());
    return body.toString();
  }

  /** The body of an error on {@code path}: Anthropic's shape on its Messages API, else OpenAI's. */
  public String toJson(String path) {
    return ANTHROPIC_MESSAGES_PATH.equals(path) ? toAnthropicJson() : toJson();
  }

  /** The body: {@code {"error": {"message", "type", "param", "code"}}}. */
  public String toJson() {
    com.fasterxml.jackson.databind.node.ObjectNode body =
        com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode();
    body.putObject("error").put("message", getMessage()).put("type", type).put("param", param).put("code", code);
    return body.toString();
  }
}
