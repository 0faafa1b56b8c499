package dev.cascade.models.server;

import dev.cascade.models.TextGenerator;
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
 * Serves {@code cascade.v1.LargeModel} for a {@link TextGenerator}, with the standard gRPC health
 * service and server reflection. At most {@code maxConcurrent} generations run at once and at most
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
  private final LargeModelService service;
  private final TextGenerator generator;

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
    this.service = new LargeModelService(generator, generations, limits);
    this.server = serverBuilder
        .addService(service)
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
    LOG.info("large-model server for model {} ({}) listening on port {}", generator.info().name(),
        generator.info().engine(), server.getPort());
    return this;
  }

  /** Stops taking calls, lets running ones finish for up to 30 seconds, then stops the rest. */
  public void stop() throws InterruptedException {
    health.enterTerminalState();
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
    return service.stats(generations.getActiveCount(), generations.getQueue().size());
  }

}
