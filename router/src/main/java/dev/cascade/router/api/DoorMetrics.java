package dev.cascade.router.api;

import dev.cascade.proto.v1.CascadeGrpc;
import io.grpc.ForwardingServerCall;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BooleanSupplier;

/**
 * What the doors answer, for alerts on a router that refuses its callers: {@code
 * cascade_health_serving} (1 while health is SERVING, 0 while it is NOT_SERVING and the doors
 * refuse every generation call) and {@code cascade_door_responses_total{door, code}}, the generation calls
 * each door answered ({@code Cascade.Generate} on {@code grpc}, by gRPC status code name;
 * {@code /v1/completions}, {@code /v1/chat/completions}, {@code /v1/responses} and {@code /v1/messages} on
 * {@code http}, by HTTP status). Both
 * label sets are small and fixed by the protocols (17 gRPC codes, the statuses the HTTP door
 * writes); nothing of the caller's goes into a label.
 */
public final class DoorMetrics {

  /** The HTTP door's generation paths, the ones counted. */
  static final Set<String> HTTP_GENERATION_PATHS = Set.of("/v1/completions", "/v1/chat/completions",
      "/v1/responses", "/v1/messages");
  /**
   * Series there from the start, so that a rate (and the alert on the share of failed calls) sees
   * the first one: answered, refused, timed out, and failed in the router (INTERNAL: a request the
   * router failed after taking it; UNKNOWN: an unexpected error in the door; HTTP 500).
   */
  private static final List<String> GRPC_FIRST = List.of("OK", "UNAVAILABLE", "DEADLINE_EXCEEDED", "INTERNAL", "UNKNOWN");
  private static final List<String> HTTP_FIRST = List.of("200", "503", "408", "500");
  private static final String GENERATE = CascadeGrpc.getGenerateMethod().getFullMethodName();

  private final Counter responses;
  private final Counter chatMessagesNotSent;

  private DoorMetrics(Counter responses, Counter chatMessagesNotSent) {
    this.responses = responses;
    this.chatMessagesNotSent = chatMessagesNotSent;
  }

  /**
   * Registers both metrics on {@code registry} (null: counts nothing).
   *
   * @param serving whether health is SERVING now
   */
  public static DoorMetrics register(PrometheusRegistry registry, BooleanSupplier serving) {
    if (registry == null) {
      return new DoorMetrics(null, null);
    }
    GaugeWithCallback.builder().name("cascade_health_serving")
        .help("1 while this router's health is SERVING, 0 while it is NOT_SERVING (stream threads not running, reply"
            + " reader failing, or Kafka not answering) and its doors refuse every generation call")
        .callback(cb -> cb.call(serving.getAsBoolean() ? 1 : 0)).register(registry);
    Counter responses = Counter.builder().name("cascade_door_responses_total")
        .help("Generation calls answered by each door (grpc: Cascade.Generate, by gRPC status code name; http:"
            + " /v1/completions, /v1/chat/completions, /v1/responses and /v1/messages, by HTTP status)")
        .labelNames("door", "code").withoutExemplars().register(registry);
    GRPC_FIRST.forEach(code -> responses.labelValues("grpc", code)); // the gRPC door is always on
    Counter notSent = Counter.builder().name("cascade_http_chat_messages_not_sent_total")
        .help("Messages of /v1/chat/completions, /v1/responses and /v1/messages calls (instructions and system count"
            + " as one) the router took"
            + " that it did not send to its models: with"
            + " http.chat-history=last-user every message but the last user one (system and developer messages,"
            + " earlier turns); with transcript, the messages without text and the oldest turns left out to keep"
            + " the transcript within a model's prompt limit")
        .withoutExemplars().register(registry);
    return new DoorMetrics(responses, notSent);
  }

  /**
   * Counts each {@code Cascade.Generate} call once, by the status it is closed with, or CANCELLED
   * when the caller went away first (its deadline, a cancel); other methods pass uncounted. Goes
   * outside the API-key check, so that its refusals are counted too.
   */
  ServerInterceptor grpc() {
    return new ServerInterceptor() {
      @Override
      public <Q, A> ServerCall.Listener<Q> interceptCall(ServerCall<Q, A> call, Metadata headers,
          ServerCallHandler<Q, A> next) {
        if (responses == null || !call.getMethodDescriptor().getFullMethodName().equals(GENERATE)) {
          return next.startCall(call, headers);
        }
        AtomicBoolean counted = new AtomicBoolean();
        ServerCall<Q, A> counting = new ForwardingServerCall.SimpleForwardingServerCall<>(call) {
          @Override
          public void close(Status status, Metadata trailers) {
            if (counted.compareAndSet(false, true)) {
              responses.labelValues("grpc", status.getCode().name()).inc();
            }
            super.close(status, trailers);
          }
        };
        return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(next.startCall(counting, headers)) {
          @Override
          public void onCancel() {
            if (counted.compareAndSet(false, true)) {
              responses.labelValues("grpc", Status.Code.CANCELLED.name()).inc();
            }
            super.onCancel();
          }
        };
      }
    };
  }

  /** The HTTP door is on: its series from the start. */
  void httpDoorOn() {
    if (responses != null) {
      HTTP_FIRST.forEach(code -> responses.labelValues("http", code));
    }
  }

  /** Counts the {@code messages} of a chat call the router took but does not send to its models. */
  void chatMessagesNotSent(int messages) {
    if (chatMessagesNotSent != null && messages > 0) {
      chatMessagesNotSent.inc(messages);
    }
  }

  /** Counts an HTTP call to {@code path} answered {@code status}, if it is a generation call. */
  void http(String path, int status) {
    if (responses != null && HTTP_GENERATION_PATHS.contains(path)) {
      responses.labelValues("http", Integer.toString(status)).inc();
    }
  }
}
