package dev.cascade.router.metrics;

import dev.cascade.proto.kserve.GRPCInferenceServiceGrpc;
import dev.cascade.proto.v1.LargeModelGrpc;
import io.grpc.ForwardingServerCall;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The large-model server's side of its health: calls it handled by method and gRPC status, how
 * long they took, and how many are running. A server interceptor, so the server (in
 * {@code models/}) needs no change: add it to the {@code ServerBuilder} handed to the server.
 * The method label takes the server's fixed set of full method names.
 */
public final class GrpcServerMetrics implements ServerInterceptor {

  /** The large model's generation method, by full name. */
  private static final String GENERATE = LargeModelGrpc.getGenerateMethod().getFullMethodName();
  /** The same generation through the KServe v2 protocol, by full name. */
  private static final String MODEL_INFER = GRPCInferenceServiceGrpc.getModelInferMethod().getFullMethodName();
  /** The server's other method of its own, which always answers (OK) while the server runs. */
  private static final String INFO = LargeModelGrpc.getInfoMethod().getFullMethodName();
  /** The codes the large-model server's Generate ends with, counted from 0. */
  private static final List<Status.Code> GENERATE_FIRST = List.of(Status.Code.OK,
      Status.Code.INVALID_ARGUMENT, Status.Code.RESOURCE_EXHAUSTED, Status.Code.INTERNAL, Status.Code.UNAVAILABLE,
      Status.Code.CANCELLED, Status.Code.DEADLINE_EXCEEDED);

  private final Counter handled;
  private final Histogram duration;
  private final Gauge inFlight;

  private GrpcServerMetrics(PrometheusRegistry registry) {
    handled = Counter.builder().name("cascade_large_model_server_calls_total")
        .help("Calls the large-model server finished, by full gRPC method name and status code")
        .labelNames("method", "code").withoutExemplars().register(registry);
    duration = Histogram.builder().name("cascade_large_model_server_call_duration_seconds")
        .help("Time from a call's start to its status, by full gRPC method name")
        .labelNames("method").classicOnly().classicUpperBounds(CascadeMetrics.LATENCY_BUCKETS).withoutExemplars()
        .register(registry);
    inFlight = Gauge.builder().name("cascade_large_model_server_calls_in_flight")
        .help("Calls the large-model server has started and not finished").withoutExemplars().register(registry);
    // Generate's outcomes there at 0 from the start, so that a rate (and an error-share alert) sees
    // the first failure: answered, refused (a request it cannot take), busy, failed, unavailable
    // (stopping), and the caller gone (its deadline or a cancel).
    // ModelInfer the same, and NOT_FOUND: a model name or version the server does not serve.
    for (Status.Code code : GENERATE_FIRST) {
      handled.labelValues(GENERATE, code.name());
      handled.labelValues(MODEL_INFER, code.name());
    }
    handled.labelValues(MODEL_INFER, Status.Code.NOT_FOUND.name());
    duration.labelValues(GENERATE);
    duration.labelValues(MODEL_INFER);
    handled.labelValues(INFO, Status.Code.OK.name());
    duration.labelValues(INFO);
  }

  /** Registers the server metrics on {@code registry}. */
  public static GrpcServerMetrics register(PrometheusRegistry registry) {
    return new GrpcServerMetrics(registry);
  }

  @Override
  public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
      ServerCallHandler<Q, R> next) {
    String method = call.getMethodDescriptor().getFullMethodName();
    long start = System.nanoTime();
    AtomicBoolean finished = new AtomicBoolean();
    inFlight.inc();
    ServerCall<Q, R> counted = new ForwardingServerCall.SimpleForwardingServerCall<>(call) {
      @Override
      public void close(Status status, Metadata trailers) {
        finish(method, status.getCode(), start, finished);
        super.close(status, trailers);
      }
    };
    return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(next.startCall(counted, headers)) {
      @Override
      public void onCancel() {
        finish(method, Status.Code.CANCELLED, start, finished);
        super.onCancel();
      }
    };
  }

  private void finish(String method, Status.Code code, long start, AtomicBoolean finished) {
    if (finished.compareAndSet(false, true)) {
      inFlight.dec();
      handled.labelValues(method, code.name()).inc();
      duration.labelValues(method).observe((System.nanoTime() - start) / 1e9);
    }
  }
}
