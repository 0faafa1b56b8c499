package dev.cascade.router.api;

import dev.cascade.proto.v1.PolicyAdminGrpc;
import dev.cascade.router.logging.LogLimiter;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.ForwardingServerCall;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The audit trail of PolicyAdmin's writes ({@code UpdatePolicy}, {@code PublishRule}): every
 * attempt, whatever its end, is one log line and one count in {@code
 * cascade_admin_requests_total{method, result}}. The line names the method, the caller's address
 * ({@code peer}), the {@code updated_by} an authorized caller is recorded as, and the outcome; for a
 * write, what was written (the policy's version and reason, the rule's name and version). Never
 * the token: a refused caller is said to have sent none or a wrong one. Accepted writes and
 * refused arguments are logged at INFO, the rest (a missing or wrong token above all) at WARN.
 * Attempts refused for their token are logged at most {@link #REFUSED_LOG_BURST} a minute per
 * source address (a client hammering with a bad token would otherwise flood the log): the rest are
 * counted, as every attempt is in the metric, and summed up in one line per source and minute
 * ({@link #logSuppressed}, also called by the server's health task, so a flood that stops is
 * summed up too).
 * The policy topic is compacted, so these lines, kept wherever the router's logs are kept, are the
 * history of who changed what.
 *
 * <p>It goes outside {@link AdminTokenInterceptor}, so that calls that interceptor refuses are
 * recorded too.
 */
public final class AdminAudit implements ServerInterceptor {

  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(AdminAudit.class);

  /** The counter's {@code result} values. */
  static final List<String> RESULTS = List.of("ok", "unauthenticated", "invalid", "refused", "unavailable",
      "cancelled", "error");
  private static final List<String> METHODS = List.of(PolicyAdminGrpc.getUpdatePolicyMethod().getBareMethodName(),
      PolicyAdminGrpc.getPublishRuleMethod().getBareMethodName());
  private static final Context.Key<Attempt> ATTEMPT = Context.key("cascade-admin-attempt");

  /** Lines per source address and {@link #REFUSED_LOG_INTERVAL} about attempts refused for their token. */
  static final int REFUSED_LOG_BURST = 5;
  static final Duration REFUSED_LOG_INTERVAL = Duration.ofMinutes(1);
  /** Source addresses followed at once; attempts from more are summed up together. */
  static final int REFUSED_LOG_SOURCES = 1024;

  private final Counter requests;
  private final LogLimiter<String> refusedLines;

  /** @param registry where {@code cascade_admin_requests_total} is registered; null: not counted */
  public AdminAudit(PrometheusRegistry registry) {
    this(registry, new LogLimiter<>(REFUSED_LOG_INTERVAL, REFUSED_LOG_BURST, REFUSED_LOG_SOURCES, System::nanoTime));
  }

  /** As above, with the limiter of the lines about refused tokens (a test's clock). */
  AdminAudit(PrometheusRegistry registry, LogLimiter<String> refusedLines) {
    this.refusedLines = refusedLines;
    this.requests = registry == null ? null : Counter.builder().name("cascade_admin_requests_total")
        .help("PolicyAdmin writes (UpdatePolicy, PublishRule) by method and result: ok, unauthenticated (no or a"
            + " wrong admin token), invalid (INVALID_ARGUMENT), refused (FAILED_PRECONDITION, ALREADY_EXISTS),"
            + " unavailable, cancelled, error")
        .labelNames("method", "result").withoutExemplars().register(registry);
    if (requests != null) {
      METHODS.forEach(m -> RESULTS.forEach(r -> requests.labelValues(m, r))); // every series from 0
    }
  }

  /** What one write attempt came to, filled in by the interceptor and the service as the call goes. */
  static final class Attempt {
    volatile String updatedBy;
    volatile String written;
  }

  /** Records that the call in progress is authorized as {@code updatedBy}; no-op outside an audited call. */
  static void authorized(String updatedBy) {
    Attempt a = ATTEMPT.get();
    if (a != null) {
      a.updatedBy = updatedBy;
    }
  }

  /** Records what the call in progress wrote, for its log line; no-op outside an audited call. */
  static void written(String what) {
    Attempt a = ATTEMPT.get();
    if (a != null) {
      a.written = what;
    }
  }

  @Override
  public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
      ServerCallHandler<Q, R> next) {
    String method = call.getMethodDescriptor().getBareMethodName();
    if (!PolicyAdminGrpc.SERVICE_NAME.equals(call.getMethodDescriptor().getServiceName())
        || !METHODS.contains(method)) {
      return next.startCall(call, headers);
    }
    SocketAddress remote = call.getAttributes() == null ? null
        : call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR);
    String peer = peer(remote);
    String source = source(remote);
    Attempt attempt = new Attempt();
    AtomicBoolean recorded = new AtomicBoolean();
    ServerCall<Q, R> audited = new ForwardingServerCall.SimpleForwardingServerCall<>(call) {
      @Override
      public void close(Status status, Metadata trailers) {
        if (recorded.compareAndSet(false, true)) {
          record(method, peer, source, attempt, status);
        }
        super.close(status, trailers);
      }
    };
    ServerCall.Listener<Q> listener = Contexts.interceptCall(Context.current().withValue(ATTEMPT, attempt), audited,
        headers, next);
    return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(listener) {
      @Override
      public void onCancel() {
        if (recorded.compareAndSet(false, true)) {
          record(method, peer, source, attempt, Status.CANCELLED.withDescription("the caller went away"));
        }
        super.onCancel();
      }
    };
  }

  private void record(String method, String peer, String source, Attempt attempt, Status status) {
    String result = result(status.getCode());
    if (requests != null) {
      requests.labelValues(method, result).inc();
    }
    String who = "PolicyAdmin." + method + " from " + peer
        + (attempt.updatedBy == null ? "" : " (updated_by " + attempt.updatedBy + ")");
    if (status.isOk()) {
      LOG.info("{}: ok, {}", who, attempt.written == null ? "written" : attempt.written);
      return;
    }
    String what = status.getCode() + " " + quoted(status.getDescription())
        + (attempt.written == null ? "" : ", " + attempt.written);
    if (result.equals("invalid") || result.equals("refused")) {
      LOG.info("{}: {}", who, what);
    } else if (!result.equals("unauthenticated")) {
      LOG.warn("{}: {}", who, what);
    } else {
      LogLimiter.Pass pass = refusedLines.admit(source);
      if (pass != null) {
        LOG.warn("{}: {}{}", who, what, pass.suppressed() == 0 ? "" : " (and " + pass.suppressed()
            + " refused attempts from " + source + " not logged in the last " + pass.sinceLastSeconds() + " s)");
      }
      logSuppressed();
    }
  }

  /**
   * Logs a line for each source whose attempts refused for their token were counted and not logged
   * and whose minute has passed.
   */
  void logSuppressed() {
    for (LogLimiter.Summary<String> s : refusedLines.due()) {
      LOG.warn("PolicyAdmin: {} more attempts refused for their admin token from {} in the last {} s, not logged one"
          + " by one (at most {} lines per source and {} s; cascade_admin_requests_total counts every attempt)",
          s.suppressed(), s.key() == null ? "other sources (over " + REFUSED_LOG_SOURCES + " at once)" : s.key(),
          s.overSeconds(), REFUSED_LOG_BURST, REFUSED_LOG_INTERVAL.toSeconds());
    }
  }

  /** The counter's {@code result} for a status code. */
  static String result(Status.Code code) {
    return switch (code) {
      case OK -> "ok";
      case UNAUTHENTICATED, PERMISSION_DENIED -> "unauthenticated";
      case INVALID_ARGUMENT -> "invalid";
      case FAILED_PRECONDITION, ALREADY_EXISTS, OUT_OF_RANGE -> "refused";
      case UNAVAILABLE -> "unavailable";
      case CANCELLED, DEADLINE_EXCEEDED -> "cancelled";
      default -> "error";
    };
  }

  /** The caller's host, which refused attempts are counted by: its address, {@code local} or {@code unknown}. */
  static String source(SocketAddress address) {
    if (address instanceof InetSocketAddress inet) {
      return inet.getHostString();
    }
    return address == null ? "unknown" : "local";
  }

  /** The caller's address as {@code host:port}; {@code local} or {@code unknown} when it has none. */
  static String peer(SocketAddress address) {
    if (address instanceof InetSocketAddress inet) {
      String host = inet.getHostString();
      return (host.contains(":") ? "[" + host + "]" : host) + ":" + inet.getPort();
    }
    return address == null ? "unknown" : "local";
  }

  /**
   * {@code s} in double quotes, with control characters, quotes and backslashes escaped, so that
   * text a caller chose (a reason, a rule name in an error) cannot forge log lines; at most 1024
   * characters of it.
   */
  public static String quoted(String s) {
    if (s == null) {
      return "\"\"";
    }
    StringBuilder out = new StringBuilder(Math.min(s.length(), 1024) + 2).append('"');
    int shown = 0;
    for (int i = 0; i < s.length(); i++, shown++) {
      if (shown == 1024) {
        out.append("...");
        break;
      }
      char c = s.charAt(i);
      switch (c) {
        case '"' -> out.append("\\\"");
        case '\\' -> out.append("\\\\");
        case '\n' -> out.append("\\n");
        case '\r' -> out.append("\\r");
        case '\t' -> out.append("\\t");
        default -> {
          if (Character.isISOControl(c) || c == '\u2028' || c == '\u2029') {
            out.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
          } else {
            out.append(c);
          }
        }
      }
    }
    return out.append('"').toString();
  }
}
