package dev.cascade.router.metrics;

import io.prometheus.metrics.exporter.httpserver.HTTPServer;
import io.prometheus.metrics.instrumentation.jvm.JvmMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * A Prometheus scrape endpoint ({@code GET /metrics}, Prometheus' HTTP exporter) over one
 * registry, with the JVM's metrics added to it.
 */
public final class MetricsEndpoint implements AutoCloseable {

  private final HTTPServer server;

  private MetricsEndpoint(HTTPServer server) {
    this.server = server;
  }

  /**
   * Adds the JVM metrics to {@code registry} and serves it on {@code port} (0 picks a free one),
   * on every interface.
   *
   * @throws UncheckedIOException naming the port when it cannot be bound
   */
  public static MetricsEndpoint start(PrometheusRegistry registry, int port) {
    return start(registry, null, port);
  }

  /** As above, on {@code address} only (null: every interface). */
  public static MetricsEndpoint start(PrometheusRegistry registry, java.net.InetAddress address, int port) {
    JvmMetrics.builder().register(registry);
    try {
      HTTPServer.Builder builder = HTTPServer.builder().port(port).registry(registry);
      if (address != null) {
        builder.inetAddress(address);
      }
      return new MetricsEndpoint(builder.buildAndStart());
    } catch (IOException e) {
      throw new UncheckedIOException("metrics.port " + port + ": cannot serve metrics there: " + e.getMessage(), e);
    }
  }

  /** The port it listens on. */
  public int port() {
    return server.getPort();
  }

  /** The scrape URL on {@code host}. */
  public String url(String host) {
    return "http://" + host + ":" + port() + "/metrics";
  }

  @Override
  public void close() {
    server.close();
  }
}
