package dev.cascade.router.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.HashMap;
import java.util.Map;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.junit.jupiter.api.Test;

class KafkaStreamsCollectorTest {

  private final Map<MetricName, Metric> kafka = new HashMap<>();

  private void put(String group, String name, double value, String... tags) {
    Map<String, String> t = new HashMap<>();
    for (int i = 0; i < tags.length; i += 2) {
      t.put(tags[i], tags[i + 1]);
    }
    MetricName metricName = new MetricName(name, group, "", t);
    kafka.put(metricName, new Metric() {
      @Override
      public MetricName metricName() {
        return metricName;
      }

      @Override
      public Object metricValue() {
        return value;
      }
    });
  }

  private Scrape scrape() {
    PrometheusRegistry registry = new PrometheusRegistry();
    registry.register(new KafkaStreamsCollector(() -> kafka));
    return Scrape.parse(Exposition.of(registry));
  }

  @Test
  void threadCountersAreSummedLatencyIsInSecondsAndLagIsPerPartition() {
    put("stream-thread-metrics", "process-total", 30, "thread-id", "t1");
    put("stream-thread-metrics", "process-total", 12, "thread-id", "t2");
    put("stream-thread-metrics", "commit-total", 5, "thread-id", "t1");
    put("stream-thread-metrics", "commit-latency-avg", 20, "thread-id", "t1");
    put("stream-thread-metrics", "commit-latency-avg", 40, "thread-id", "t2");
    put("stream-thread-metrics", "commit-latency-max", Double.NaN, "thread-id", "t2");
    put("consumer-fetch-manager-metrics", "records-lag", 7, "client-id", "app-StreamThread-1-consumer",
        "topic", "cascade.requests", "partition", "0");
    put("consumer-fetch-manager-metrics", "records-lag", 99, "client-id", "app-StreamThread-1-restore-consumer",
        "topic", "cascade.requests", "partition", "1");
    put("consumer-fetch-manager-metrics", "records-lag-max", 9, "client-id", "app-StreamThread-1-consumer",
        "topic", "cascade.requests", "partition", "0");
    put("consumer-fetch-manager-metrics", "records-lag-max", 1, "client-id", "app-StreamThread-1-consumer");

    Scrape s = scrape();
    assertThat(s.value("kafka_streams_records_processed_total")).isEqualTo(42);
    assertThat(s.value("kafka_streams_commits_total")).isEqualTo(5);
    assertThat(s.value("kafka_streams_commit_latency_seconds", "stat", "avg")).isEqualTo(0.04);
    assertThat(s.has("kafka_streams_commit_latency_seconds")).isTrue();
    assertThat(s.value("kafka_streams_commit_latency_seconds", "stat", "max")).isZero();
    assertThat(s.value("kafka_consumer_records_lag", "topic", "cascade.requests", "partition", "0")).isEqualTo(7);
    assertThat(s.samples().stream().filter(x -> x.name().equals("kafka_consumer_records_lag")).count()).isEqualTo(1);
    assertThat(s.value("kafka_consumer_records_lag_max", "topic", "cascade.requests", "partition", "0")).isEqualTo(9);
  }

  @Test
  void aPartitionsLegacyCopyWithUnderscoresIsNotCountedTwice() {
    for (String topic : new String[] {"cascade.requests", "cascade_requests"}) {
      put("consumer-fetch-manager-metrics", "records-lag", 4, "client-id", "app-StreamThread-1-consumer",
          "topic", topic, "partition", "2");
      put("consumer-fetch-manager-metrics", "records-lag-max", 6, "client-id", "app-StreamThread-1-consumer",
          "topic", topic, "partition", "2");
    }
    put("consumer-fetch-manager-metrics", "records-lag", 3, "client-id", "app-StreamThread-1-consumer",
        "topic", "plain_name", "partition", "0");
    Scrape s = scrape();
    assertThat(s.samples().stream().filter(x -> x.name().equals("kafka_consumer_records_lag")))
        .extracting(x -> x.labels().get("topic")).containsExactlyInAnyOrder("cascade.requests", "plain_name");
    assertThat(s.samples().stream().filter(x -> x.name().equals("kafka_consumer_records_lag_max")).count()).isEqualTo(1);
  }

  @Test
  void beforeTheThreadsStartOnlyTheLagFamiliesAreThereAndEmpty() {
    Scrape s = scrape();
    assertThat(s.samples()).isEmpty();
  }
}
