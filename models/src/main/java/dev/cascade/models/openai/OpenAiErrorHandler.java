package dev.cascade.models.openai;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpStatus;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.handler.ErrorHandler;
import org.eclipse.jetty.util.Callback;

/**
 * Jetty's own error answers in OpenAI's shape: what the HTTP server refuses before a route sees
 * the request (a malformed request line or header, headers over the limit: 400, 431) gets {@code {"error": {"message", "type", "param", "code"}}} as
 * {@code application/json}, as the doors' own errors do, instead of Jetty's empty or HTML page.
 */
public final class OpenAiErrorHandler extends ErrorHandler {

  /** The error Jetty's {@code status} becomes; {@code reason} is Jetty's, when it gives one. */
  static OpenAiError of(int status, String reason) {
    String message = reason == null || reason.isBlank() ? HttpStatus.getMessage(status) : reason;
    String code = switch (status) {
      case 400 -> "bad_request";
      case 408 -> "request_timeout";
      case 413 -> "request_too_large";
      case 414 -> "uri_too_long";
      case 431 -> "request_header_fields_too_large";
      default -> "http_" + status;
    };
    return new OpenAiError(status, status >= 500 ? "server_error" : status == 408 ? "timeout_error"
        : "invalid_request_error", null, code, message);
  }

  @Override
  public ByteBuffer badMessageError(int status, String reason, HttpFields.Mutable fields) {
    fields.put(HttpHeader.CONTENT_TYPE, "application/json");
    retryAfter(status, fields);
    return ByteBuffer.wrap(of(status, reason).toJson().getBytes(StandardCharsets.UTF_8));
  }

  @Override
  protected void generateResponse(Request request, Response response, int code, String message, Throwable cause,
      Callback callback) throws IOException {
    response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
    retryAfter(code, response.getHeaders());
    response.write(true, ByteBuffer.wrap(of(code, message).toJson().getBytes(StandardCharsets.UTF_8)), callback);
  }

  /** 429 and 503 (Jetty's own: a stopping server, a full queue) say when to try again. */
  private static void retryAfter(int status, HttpFields.Mutable fields) {
    if (status == 429 || status == 503) {
      fields.put(HttpHeader.RETRY_AFTER, "1");
    }
  }
}
