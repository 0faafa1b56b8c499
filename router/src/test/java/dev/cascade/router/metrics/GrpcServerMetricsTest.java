package dev.cascade.router.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * The large-model server's call counter has the outcomes of Generate and of KServe's ModelInfer, and
 * Info's OK, at 0 before the first call.
 */
class GrpcServerMetricsTest {

  @Test
  void generatesOutcomesAreCountedFromZeroBeforeAnyCall() throws Exception {
    PrometheusRegistry registry = new PrometheusRegistry();
    GrpcServerMetrics.register(registry);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    PrometheusTextFormatWriter.create().write(out, registry.scrape());
    Scrape scrape = Scrape.parse(out.toString(StandardCharsets.UTF_8));
    assertThat(scrape.samples()).filteredOn(x -> x.name().equals("cascade_large_model_server_calls_total"))
        .extracting(x -> x.labels().get("method") + " " + x.labels().get("code") + " " + x.value())
        .contains("cascade.v1.LargeModel/Generate OK 0.0", "cascade.v1.LargeModel/Generate INVALID_ARGUMENT 0.0",
            "cascade.v1.LargeModel/Generate RESOURCE_EXHAUSTED 0.0", "cascade.v1.LargeModel/Generate INTERNAL 0.0",
            "cascade.v1.LargeModel/Generate UNAVAILABLE 0.0", "cascade.v1.LargeModel/Info OK 0.0",
            "inference.GRPCInferenceService/ModelInfer OK 0.0",
            "inference.GRPCInferenceService/ModelInfer RESOURCE_EXHAUSTED 0.0",
            "inference.GRPCInferenceService/ModelInfer UNAVAILABLE 0.0",
            "inference.GRPCInferenceService/ModelInfer NOT_FOUND 0.0");
    assertThat(scrape.samples()).filteredOn(x -> x.name().equals("cascade_large_model_server_call_duration_seconds_count"))
        .extracting(x -> x.labels().get("method"))
        .contains("cascade.v1.LargeModel/Generate", "inference.GRPCInferenceService/ModelInfer");
  }
}
