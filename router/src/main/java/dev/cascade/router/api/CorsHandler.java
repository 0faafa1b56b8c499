package dev.cascade.router.api;

import dev.cascade.models.openai.OpenAiError;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.function.Function;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpMethod;
import org.eclipse.jetty.http.HttpVersion;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

/**
 * CORS for the HTTP door ({@code http.cors-allowed-origins}), so that a page of an allowed origin
 * can call it from a browser. It wraps every other handler, so every answer to an allowed origin
 * carries {@code Access-Control-Allow-Origin} (and, unless any origin is allowed, {@code Vary:
 * Origin}): answers, streams, and errors, including the body guard's 408 and 429. A browser's
 * preflight ({@code OPTIONS} with {@code Origin} and {@code Access-Control-Request-Method}) to a
 * path the door serves is answered here, 204, without an API key (a browser sends none with it)
 * and whether or not the router is ready or stopping; one from another origin is 403. Jetty's own
 * refusals (400, 431) carry the headers too ({@link #errors}).
 *
 * <p>No {@code Access-Control-Allow-Credentials}: the door's API keys travel in a header the page
 * sets, never in cookies, so a page needs none.
 */
final class CorsHandler extends Handler.Wrapper {

  /** How long a browser may keep a preflight's answer (Chromium keeps it at most 7,200 s). */
  static final int MAX_AGE_SECONDS = 600;
  /** The answer's headers a page may read: the request id, the cascade's own, and when to retry. */
  static final String EXPOSED_HEADERS = "x-request-id, x-cascade-request-id, x-cascade-served-by, x-cascade-served-tier,"
      + " x-cascade-served-model, x-cascade-score, x-cascade-threshold, x-cascade-policy-version, x-cascade-rule,"
      + " x-cascade-cache-hit, Retry-After, x-should-retry, Idempotent-Replayed";
  /** Header names, as a preflight lists those its request will send. */
  private static final java.util.regex.Pattern HEADER_NAMES = java.util.regex.Pattern.compile("[A-Za-z0-9!#$%&'*+.^_`|~ ,-]*");

  private final List<String> origins;
  private final boolean anyOrigin;
  private final Function<String, String> methodsOf;

  /**
   * @param origins the allowed origins ({@code *}: any), not empty
   * @param methodsOf the methods the door serves on a path ({@code "POST"}), null for a path it does not serve
   */
  CorsHandler(List<String> origins, Function<String, String> methodsOf, Handler next) {
    super(next);
    this.origins = List.copyOf(origins);
    this.anyOrigin = origins.contains("*");
    this.methodsOf = methodsOf;
  }

  /** What {@code Access-Control-Allow-Origin} says to {@code origin}: {@code *}, the origin, or null when it is not allowed. */
  String allowOrigin(String origin) {
    if (origin == null) {
      return null;
    }
    if (anyOrigin) {
      return "*";
    }
    return origins.stream().anyMatch(origin::equalsIgnoreCase) ? origin : null;
  }

  /**
   * Puts the headers every answer to a request from {@code origin} (null: it sent none) carries:
   * {@code Vary: Origin} unless any origin is allowed, and, for an allowed origin, {@code
   * Access-Control-Allow-Origin} and {@code Access-Control-Expose-Headers}. Returns the former's
   * value, or null when the origin is not allowed.
   */
  private String putAnswerHeaders(String origin, HttpFields.Mutable headers) {
    String allowed = allowOrigin(origin);
    if (!anyOrigin && !headers.contains(HttpHeader.VARY, "Origin")) {
      headers.add(HttpHeader.VARY, "Origin"); // a shared cache keeps one answer per origin
    }
    if (allowed != null) {
      headers.put(HttpHeader.ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
      headers.put(HttpHeader.ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSED_HEADERS);
    }
    return allowed;
  }

  /**
   * The server's error handler {@code errors} with the same headers on its answers. Jetty answers
   * what it refuses before any handler runs (a malformed request line or header: 400; headers over
   * its limit: 431) through its error handler alone, with a request that has no headers: the origin
   * is then the one the connection read before the refusal ({@link OriginKeepingConnections}; none
   * when the {@code Origin} header came after what was refused).
   */
  Request.Handler errors(Request.Handler errors) {
    return (request, response, callback) -> {
      String origin = request.getHeaders().get(HttpHeader.ORIGIN);
      putAnswerHeaders(origin != null ? origin : OriginKeepingConnections.origin(request), response.getHeaders());
      return errors.handle(request, response, callback);
    };
  }

  @Override
  public boolean handle(Request request, Response response, Callback callback) throws Exception {
    String origin = request.getHeaders().get(HttpHeader.ORIGIN);
    String allowed = putAnswerHeaders(origin, response.getHeaders());
    String methods;
    if (!HttpMethod.OPTIONS.is(request.getMethod()) || origin == null
        || !request.getHeaders().contains(HttpHeader.ACCESS_CONTROL_REQUEST_METHOD)
        || (methods = methodsOf.apply(Request.getPathInContext(request))) == null) {
      return super.handle(request, response, callback);
    }
    if (allowed == null) {
      OpenAiError refused = new OpenAiError(403, "invalid_request_error", null, "cors_origin_not_allowed", "origin '"
          + origin + "' may not call this door from a browser; it is not in http.cors-allowed-origins");
      response.setStatus(403);
      response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
      response.write(true, ByteBuffer.wrap(refused.toJson().getBytes(StandardCharsets.UTF_8)), callback);
      return true;
    }
    response.setStatus(204);
    response.getHeaders().put(HttpHeader.ACCESS_CONTROL_ALLOW_METHODS, methods);
    String headers = request.getHeaders().get(HttpHeader.ACCESS_CONTROL_REQUEST_HEADERS);
    if (headers != null && HEADER_NAMES.matcher(headers).matches()) {
      // Whatever the client library sends (Authorization, x-api-key, its own x-stainless-*...): the
      // door reads only its key from them.
      response.getHeaders().put(HttpHeader.ACCESS_CONTROL_ALLOW_HEADERS, headers);
    }
    response.getHeaders().put(HttpHeader.ACCESS_CONTROL_MAX_AGE, Integer.toString(MAX_AGE_SECONDS));
    response.getHeaders().remove(HttpHeader.ACCESS_CONTROL_EXPOSE_HEADERS); // for the answer, not the preflight
    callback.succeeded();
    return true;
  }

  /**
   * HTTP/1.1 connections that keep the {@code Origin} header of the request they are reading, for
   * {@link #errors}: Jetty hands its error handler a request without the headers it had read when
   * it refused the rest.
   */
  static final class OriginKeepingConnections extends HttpConnectionFactory {

    OriginKeepingConnections(HttpConfiguration config) {
      super(config);
    }

    /** The {@code Origin} the connection of {@code request} read for its current request, or null. */
    static String origin(Request request) {
      return request.getConnectionMetaData().getConnection() instanceof OriginKeeping c ? c.origin : null;
    }

    @Override
    public Connection newConnection(Connector connector, EndPoint endPoint) {
      // As HttpConnectionFactory makes its own, but keeping the origin.
      OriginKeeping connection = new OriginKeeping(getHttpConfiguration(), connector, endPoint);
      connection.setTransferEncodingChunkMaxLength(getTransferEncodingChunkMaxLength());
      return configure(connection, connector, endPoint);
    }

    private static final class OriginKeeping extends org.eclipse.jetty.server.internal.HttpConnection {

      private volatile String origin; // no initializer: the parser's handler is made in super's constructor

      OriginKeeping(HttpConfiguration config, Connector connector, EndPoint endPoint) {
        super(config, connector, endPoint);
      }

      @Override
      protected RequestHandler newRequestHandler() {
        return new RequestHandler() {
          @Override
          public void messageBegin() {
            origin = null; // a new request on the connection
            super.messageBegin();
          }

          @Override
          public void startRequest(String method, String uri, HttpVersion version) {
            origin = null;
            super.startRequest(method, uri, version);
          }

          @Override
          public void parsedHeader(HttpField field) {
            if (field.getHeader() == HttpHeader.ORIGIN) {
              origin = field.getValue();
            }
            super.parsedHeader(field);
          }
        };
      }
    }
  }
}
