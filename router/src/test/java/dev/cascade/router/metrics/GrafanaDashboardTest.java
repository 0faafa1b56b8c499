package dev.cascade.router.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The Grafana dashboard queries only metrics the README documents (so, by MetricsReadmeTableTest, that exist). */
class GrafanaDashboardTest {

  private static final Pattern METRIC = Pattern.compile("\\b((?:cascade|kafka)_[a-z_]+)\\b");
  private static final Pattern DOCUMENTED = Pattern.compile("^\\| `((?:cascade|kafka)_[a-z_]+)` \\|", Pattern.MULTILINE);

  @Test
  void everyQueryUsesDocumentedMetrics() throws Exception {
    JsonNode dashboard = new ObjectMapper().readTree(Path.of("..", "deploy", "grafana", "cascade-dashboard.json").toFile());
    Set<String> documented = new TreeSet<>();
    Matcher d = DOCUMENTED.matcher(Files.readString(Path.of("..", "README.md")));
    while (d.find()) {
      documented.add(d.group(1));
    }
    List<String> exprs = new ArrayList<>();
    for (JsonNode panel : dashboard.get("panels")) {
      for (JsonNode target : panel.path("targets")) {
        exprs.add(target.get("expr").asText());
      }
    }
    assertThat(exprs).hasSizeGreaterThan(10);
    Set<String> used = new TreeSet<>();
    for (String expr : exprs) {
      Matcher m = METRIC.matcher(expr);
      while (m.find()) {
        used.add(m.group(1).replaceAll("_(bucket|count|sum)$", ""));
      }
    }
    assertThat(documented).containsAll(used);
    assertThat(used).contains("cascade_escalations_total", "cascade_policy_threshold", "cascade_deferral_score",
        "cascade_stage_duration_seconds", "cascade_cost_units_spent_total", "cascade_large_model_calls_total",
        "cascade_circuit_breaker_state");
    assertThat(dashboard.get("__inputs").get(0).get("pluginId").asText()).isEqualTo("prometheus");
  }
}
