package dev.cascade.router.api;

/**
 * An error of the OpenAI-compatible HTTP door, answered in OpenAI's shape, {@code {"error":
 * {"message", "type", "param", "code"}}}, with its HTTP status. OpenAI's client libraries pick
 * their exception from the status and expose the other fields, so {@code param} names the request
 * field at fault wherever there is one.
 */
final class OpenAiError extends RuntimeException {

  private final int status;
  private final String type;
  private final String param;
  private final String code;

  OpenAiError(int status, String type, String param, String code, String message) {
    super(message);
    this.status = status;
    this.type = type;
    this.param = param;
    this.code = code;
  }

  /** 400 {@code invalid_request_error}: the field {@code param} (null: the request as a whole) is wrong. */
  static OpenAiError invalid(String param, String code, String message) {
    return new OpenAiError(400, "invalid_request_error", param, code, message);
  }

  /** 400: {@code param} asks for something the cascade cannot do (more than one answer, log-probs...). */
  static OpenAiError unsupported(String param, String message) {
    return invalid(param, "unsupported_parameter", message);
  }

  int status() {
    return status;
  }

  String type() {
    return type;
  }

  /** The request field at fault; null when none. */
  String param() {
    return param;
  }

  /** A machine-readable code; null when none. */
  String code() {
    return code;
  }
}
