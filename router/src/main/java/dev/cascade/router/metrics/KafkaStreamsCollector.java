package dev.cascade.router.metrics;

import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Supplier;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;

/**
 * Bridges the Kafka Streams client's own metrics ({@code KafkaStreams.metrics()}) into Prometheus
 * at scrape time: records processed and commits (summed over stream threads), commit latency
 * (the worst thread's), and the consumer lag of every input partition. Values Kafka has not
 * measured yet (NaN) are left out rather than exposed.
 */
public final class KafkaStreamsCollector implements MultiCollector {

  private final Supplier<Map<MetricName, ? extends Metric>> metrics;

  /** @param metrics the client's metrics, read at every scrape: {@code streams::metrics} */
  public KafkaStreamsCollector(Supplier<Map<MetricName, ? extends Metric>> metrics) {
    this.metrics = metrics;
  }

  @Override
  public MetricSnapshots collect() {
    double processed = 0;
    double commits = 0;
    double commitAvg = Double.NaN;
    double commitMax = Double.NaN;
    boolean anyThread = false;
    Map<String, Double> lag = new TreeMap<>();
    Map<String, Double> lagMax = new TreeMap<>();
    for (Map.Entry<MetricName, ? extends Metric> e : metrics.get().entrySet()) {
      MetricName name = e.getKey();
      double value = value(e.getValue());
      if (name.group().equals("stream-thread-metrics")) {
        anyThread = true;
        switch (name.name()) {
          case "process-total" -> processed += finite(value);
          case "commit-total" -> commits += finite(value);
          case "commit-latency-avg" -> commitAvg = max(commitAvg, value);
          case "commit-latency-max" -> commitMax = max(commitMax, value);
          default -> { }
        }
      } else if (name.group().equals("consumer-fetch-manager-metrics") && name.tags().containsKey("partition")
          && !Double.isNaN(value) && !isRestoreConsumer(name)) {
        String key = name.tags().get("topic") + "\u0000" + name.tags().get("partition");
        if (name.name().equals("records-lag")) {
          lag.merge(key, value, Math::max);
        } else if (name.name().equals("records-lag-max")) {
          lagMax.merge(key, value, Math::max);
        }
      }
    }
    List<MetricSnapshot> out = new ArrayList<>();
    if (anyThread) {
      out.add(counter("kafka_streams_records_processed", "Records processed by the stream threads (Kafka Streams process-total)", processed));
      out.add(counter("kafka_streams_commits", "Commits of the stream threads (Kafka Streams commit-total)", commits));
      GaugeSnapshot.Builder latency = GaugeSnapshot.builder().name("kafka_streams_commit_latency_seconds")
          .help("Commit latency of the stream threads over Kafka's sample window: stat=avg (the highest thread "
              + "average) or max");
      if (!Double.isNaN(commitAvg)) {
        latency.dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder().labels(Labels.of("stat", "avg"))
            .value(commitAvg / 1e3).build());
      }
      if (!Double.isNaN(commitMax)) {
        latency.dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder().labels(Labels.of("stat", "max"))
            .value(commitMax / 1e3).build());
      }
      out.add(latency.build());
    }
    dropLegacyTopicNames(lag);
    dropLegacyTopicNames(lagMax);
    out.add(partitionGauge("kafka_consumer_records_lag", "Records the router's consumers are behind, by input partition", lag));
    out.add(partitionGauge("kafka_consumer_records_lag_max",
        "Highest lag of each input partition over Kafka's sample window", lagMax));
    return new MetricSnapshots(out);
  }

  private static CounterSnapshot counter(String name, String help, double value) {
    return CounterSnapshot.builder().name(name).help(help)
        .dataPoint(CounterSnapshot.CounterDataPointSnapshot.builder().value(value).build()).build();
  }

  private static GaugeSnapshot partitionGauge(String name, String help, Map<String, Double> values) {
    GaugeSnapshot.Builder b = GaugeSnapshot.builder().name(name).help(help);
    values.forEach((key, v) -> {
      int cut = key.indexOf('\u0000');
      b.dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder()
          .labels(Labels.of("topic", key.substring(0, cut), "partition", key.substring(cut + 1))).value(v).build());
    });
    return b.build();
  }

  /**
   * The consumer reports each partition's lag twice: tagged with the topic's name, and again with
   * its dots as underscores (the older metric Kafka keeps for compatibility). The second copy of a
   * partition is dropped, so a {@code sum} over the family counts each partition once.
   */
  private static void dropLegacyTopicNames(Map<String, Double> byPartition) {
    java.util.Set<String> legacy = new java.util.HashSet<>();
    for (String key : byPartition.keySet()) {
      int cut = key.indexOf('\u0000');
      String topic = key.substring(0, cut);
      if (topic.indexOf('.') >= 0) {
        legacy.add(topic.replace('.', '_') + key.substring(cut));
      }
    }
    byPartition.keySet().removeAll(legacy);
  }

  private static boolean isRestoreConsumer(MetricName name) {
    String client = name.tags().getOrDefault("client-id", "");
    return client.endsWith("-restore-consumer");
  }

  private static double value(Metric metric) {
    Object v = metric.metricValue();
    return v instanceof Number n ? n.doubleValue() : Double.NaN;
  }

  private static double finite(double v) {
    return Double.isFinite(v) ? v : 0;
  }

  private static double max(double current, double v) {
    if (Double.isNaN(v) || Double.isInfinite(v)) {
      return current;
    }
    return Double.isNaN(current) ? v : Math.max(current, v);
  }

  @Override
  public List<String> getPrometheusNames() {
    return List.of("kafka_streams_records_processed", "kafka_streams_commits", "kafka_streams_commit_latency_seconds",
        "kafka_consumer_records_lag", "kafka_consumer_records_lag_max");
  }
}
