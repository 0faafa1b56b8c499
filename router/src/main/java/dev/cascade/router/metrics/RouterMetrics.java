package dev.cascade.router.metrics;

import dev.cascade.router.cache.ResponseCache;
import dev.cascade.router.routing.RoutingObserver;
import dev.cascade.router.escalation.EscalationTiers;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.Optional;
import org.apache.kafka.streams.KafkaStreams;

/**
 * A router instance's metrics: its own registry with the cascade's metrics, the response cache,
 * every tier's circuit breaker, the Kafka Streams client and the JVM, served on the metrics port. When
 * metrics are off ({@code metrics.enabled=false}) it observes nothing and serves nothing, so the
 * hot path pays nothing for them.
 */
public final class RouterMetrics implements AutoCloseable {

  private final PrometheusRegistry registry;
  private final CascadeMetrics cascade;
  private MetricsEndpoint endpoint;

  private RouterMetrics(PrometheusRegistry registry, CascadeMetrics cascade) {
    this.registry = registry;
    this.cascade = cascade;
  }

  /**
   * Metrics on, with the starting policy's threshold and version, and the series of every tier
   * after the small model ({@code tiers}, by name, cheapest first) from 0 ({@link CascadeMetrics#tiers}).
   */
  public static RouterMetrics enabled(double startingThreshold, long startingPolicyVersion,
      java.util.List<String> tiers) {
    PrometheusRegistry registry = new PrometheusRegistry();
    CascadeMetrics cascade = CascadeMetrics.register(registry, startingThreshold, startingPolicyVersion);
    cascade.tiers(tiers);
    return new RouterMetrics(registry, cascade);
  }

  /** Metrics off. */
  public static RouterMetrics disabled() {
    return new RouterMetrics(null, null);
  }

  /** What the topology reports to. */
  public RoutingObserver observer() {
    return cascade == null ? RoutingObserver.NONE : cascade;
  }

  /**
   * Adds the instance's cache, the small model's own counts, every tier's circuit breaker and the Kafka Streams client, and
   * starts serving on {@code host:port} (host null: every interface).
   */
  public void serve(ResponseCache cache, dev.cascade.models.TextGenerator small, EscalationTiers tiers,
      KafkaStreams streams, java.net.InetAddress host, int port) {
    if (cascade == null) {
      return;
    }
    cascade.observe(cache);
    cascade.observeSmall(small);
    for (EscalationTiers.Tier t : tiers.all()) {
      cascade.observe(t.name(), t.client().breaker());
      if (!tiers.isLast(t.tier())) {
        cascade.middleTier(t.name());
      }
    }
    registry.register(new KafkaStreamsCollector(streams::metrics));
    endpoint = MetricsEndpoint.start(registry, host, port);
  }

  /** The registry; empty when metrics are off. */
  public Optional<PrometheusRegistry> registry() {
    return Optional.ofNullable(registry);
  }

  /** The endpoint serving the metrics; empty when metrics are off or not yet served. */
  public Optional<MetricsEndpoint> endpoint() {
    return Optional.ofNullable(endpoint);
  }

  @Override
  public void close() {
    if (endpoint != null) {
      endpoint.close();
    }
  }
}
