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
  /** The interface it listens on; null: every interface. */
  private final java.net.InetAddress host;

  private MetricsEndpoint(HTTPServer server, java.net.InetAddress host) {
    this.server = server;
    this.host = host;
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

  /** As above, on the interface {@code host} (null: every interface; {@code metrics.host}). */
  public static MetricsEndpoint start(PrometheusRegistry registry, java.net.InetAddress host, int port) {
    JvmMetrics.builder().register(registry);
    try {
      HTTPServer.Builder builder = HTTPServer.builder().port(port).registry(registry);
      if (host != null) {
        builder.inetAddress(host);
      }
      return new MetricsEndpoint(builder.buildAndStart(), host != null && host.isAnyLocalAddress() ? null : host);
    } catch (IOException e) {
      throw new UncheckedIOException("metrics.port " + port + (host == null ? "" : " on " + host.getHostAddress())
          + ": cannot serve metrics there: " + e.getMessage(), e);
    }
  }

  /** The port it listens on. */
  public int port() {
    return server.getPort();
  }

  /**
   * The scrape URL: on the interface it listens on, or on {@code anyInterfaceHost} when it listens
   * on every interface.
   */
  public String url(String anyInterfaceHost) {
    return "http://" + (host == null ? anyInterfaceHost : literal(host)) + ":" + port() + "/metrics";
  }

  /**
   * What {@code serve} and {@code learn} print as the host of a door or endpoint listening on every
   * interface: this machine's name ({@code 0.0.0.0} when it has none).
   */
  public static String machineName() {
    try {
      return java.net.InetAddress.getLocalHost().getHostName();
    } catch (java.net.UnknownHostException e) {
      return "0.0.0.0";
    }
  }

  /** An address as a URL's host: IPv6 in brackets. */
  public static String literal(java.net.InetAddress address) {
    String text = address.getHostAddress();
    return address instanceof java.net.Inet6Address ? "[" + text + "]" : text;
  }

  @Override
  public void close() {
    server.close();
  }
}
