package dev.cascade.models.server;

import dev.cascade.models.TextGenerator;
import dev.cascade.proto.kserve.GRPCInferenceServiceGrpc;
import dev.cascade.proto.v1.LargeModelGrpc;
import io.grpc.Server;
import io.grpc.ServerBuilder;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.protobuf.services.HealthStatusManager;
import java.io.IOException;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves a {@link TextGenerator} over three protocols: {@code cascade.v1.LargeModel} and KServe v2
 * ({@code inference.GRPCInferenceService}, {@link KServeService}) on its gRPC port, with the
 * standard gRPC health service and server reflection, and, when {@link #serveHttp} is called,
 * OpenAI-compatible completions over HTTP ({@link OpenAiHttpServer}). All share one bounded
 * executor and one set of counters. At most {@code maxConcurrent} generations run at once and at most
 * {@code queueSize} wait; a call beyond that gets {@code RESOURCE_EXHAUSTED}. A call whose deadline
 * passes or that is cancelled stops generating at the next decoding step.
 *
 * <p>Constructed from a {@link ServerBuilder}, so tests can hand it an in-process builder.
 */
public final class LargeModelServer {

  private static final Logger LOG = LoggerFactory.getLogger(LargeModelServer.class);

  private final Server server;
  private final HealthStatusManager health = new HealthStatusManager();
  private final ThreadPoolExecutor generations;
  private final Generations calls;
  private final TextGenerator generator;
  private volatile boolean serving;
  private volatile OpenAiHttpServer http;

  public LargeModelServer(ServerBuilder<?> serverBuilder, TextGenerator generator, ServerLimits limits) {
    this.generator = generator;
    BlockingQueue<Runnable> queue = limits.queueSize() == 0
        ? new SynchronousQueue<>() : new ArrayBlockingQueue<>(limits.queueSize());
    AtomicInteger threads = new AtomicInteger();
    this.generations = new ThreadPoolExecutor(limits.maxConcurrent(), limits.maxConcurrent(), 0, TimeUnit.SECONDS,
        queue, r -> {
          Thread t = new Thread(r, "large-model-generation-" + threads.incrementAndGet());
          t.setDaemon(true);
          return t;
        }, new ThreadPoolExecutor.AbortPolicy());
    this.calls = new Generations(generator, generations, limits);
    this.server = serverBuilder
        .addService(new LargeModelService(calls))
        .addService(new KServeService(calls, () -> serving))
        .addService(health.getHealthService())
        .addService(GrpcReflection.v1())
        .addService(GrpcReflection.v1alpha())
        .build();
  }

  /** Starts serving; health turns SERVING. */
  public LargeModelServer start() throws IOException {
    server.start();
    health.setStatus("", ServingStatus.SERVING);
    health.setStatus(LargeModelGrpc.SERVICE_NAME, ServingStatus.SERVING);
    health.setStatus(GRPCInferenceServiceGrpc.SERVICE_NAME, ServingStatus.SERVING);
    serving = true;
    LOG.info("large-model server for model {} ({}) listening on {}", generator.info().name(),
        generator.info().engine(), server.getListenSockets());
    return this;
  }

  /**
   * Also serves OpenAI-compatible {@code POST /v1/completions} and {@code GET /v1/models} on
   * {@code host:port} (port 0: any free one; see {@link #httpPort()}); stopped with the server.
   */
  public LargeModelServer serveHttp(String host, int port) {
    return serveHttp(host, port, GrpcTls.Opened.NONE);
  }

  /**
   * As {@link #serveHttp(String, int)}, over HTTPS with {@code tls}'s key store (the gRPC port's,
   * as {@code large-model --tls-key-store} gives both), requiring a client certificate its trust
   * store trusts when it has one; plain HTTP when it has no key store.
   */
  public synchronized LargeModelServer serveHttp(String host, int port, GrpcTls.Opened tls) {
    if (http != null) {
      throw new IllegalStateException("already serving HTTP on port " + http.port());
    }
    http = OpenAiHttpServer.start(calls, () -> serving, host, port, tls);
    LOG.info("large-model server: OpenAI-compatible completions on {}://{}:{}/v1",
        tls != null && tls.keys() != null ? "https" : "http", host, http.port());
    return this;
  }

  /** The HTTP port, or -1 when not serving HTTP. */
  public int httpPort() {
    OpenAiHttpServer h = http;
    return h == null ? -1 : h.port();
  }

  /** Stops taking calls, lets running ones finish for up to 30 seconds, then stops the rest. */
  public void stop() throws InterruptedException {
    serving = false;
    health.enterTerminalState();
    OpenAiHttpServer h = http;
    if (h != null) {
      h.close();
    }
    server.shutdown();
    if (!server.awaitTermination(30, TimeUnit.SECONDS)) {
      server.shutdownNow();
      server.awaitTermination(5, TimeUnit.SECONDS);
    }
    generations.shutdownNow();
    generations.awaitTermination(5, TimeUnit.SECONDS);
  }

  /** Waits until the server has stopped. */
  public void blockUntilShutdown() throws InterruptedException {
    server.awaitTermination();
  }

  /** The port it listens on (after {@link #start()}; -1 for in-process servers). */
  public int port() {
    return server.getPort();
  }

  /** A snapshot of the call counters. */
  public ServerStats stats() {
    return calls.stats(generations.getActiveCount(), generations.getQueue().size());
  }

}
