package dev.cascade.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Prometheus configurations pass {@code promtool check config} (Debian's prometheus package,
 * which the CI script installs), and the Kubernetes one keeps exactly the workloads of deploy/k8s
 * that expose a port named {@code metrics}.
 */
class PrometheusConfigTest {

  private static final Path STATIC = Path.of("prometheus", "prometheus.yml");
  private static final Path KUBERNETES = Path.of("prometheus", "prometheus-kubernetes.yml");

  @TempDir
  Path tmp;

  private static final Path ALERTS = Path.of("prometheus", "alerts.yml");
  private static final Path DASHBOARD = Path.of("grafana", "cascade-dashboard.json");

  @Test
  void theAlertingRulesPassPromtoolAndTheirUnitTests() throws Exception {
    assertThat(promtool("check", "rules", ALERTS.toString())).contains("SUCCESS");
    assertThat(promtool("test", "rules", Path.of("prometheus", "alerts-test.yml").toString())).contains("SUCCESS");
  }

  @Test
  void theAlertingRulesUseOnlyDocumentedMetricsAndBothConfigurationsLoadThem() throws Exception {
    java.util.Set<String> used = metricsIn(Files.readString(ALERTS));
    assertThat(used).contains("cascade_rule_fallbacks_total", "cascade_circuit_breaker_state");
    assertThat(documentedMetrics()).containsAll(used);
    for (Path config : List.of(STATIC, KUBERNETES)) {
      assertThat(Manifests.list(Manifests.yaml(config).get("rule_files")).stream().map(Object::toString).toList())
          .as(config.toString())
          .containsExactly(ALERTS.getFileName().toString());
    }
  }

  /**
   * A panel on a metric that no code exports (renamed, or never built) draws nothing and says
   * nothing: every series the dashboard queries is in the README's metrics table, which
   * MetricsReadmeTableTest holds to the registered metrics. A histogram's series are its
   * {@code _bucket}, {@code _count} and {@code _sum}.
   */
  @Test
  void theDashboardQueriesOnlyDocumentedMetrics() throws Exception {
    java.util.Set<String> used = new java.util.TreeSet<>();
    for (String name : metricsIn(Files.readString(DASHBOARD))) {
      used.add(name.replaceFirst("_(bucket|count|sum)$", ""));
    }
    assertThat(used).contains("cascade_requests_total", "cascade_stage_duration_seconds");
    assertThat(documentedMetrics()).containsAll(used);
  }

  /** The names in the first column of README.md's metrics table. */
  private static java.util.Set<String> documentedMetrics() throws IOException {
    java.util.Set<String> documented = new java.util.TreeSet<>();
    java.util.regex.Matcher d = java.util.regex.Pattern.compile("^\\| `((?:cascade|kafka)_[a-z_]+)` \\|",
        java.util.regex.Pattern.MULTILINE).matcher(Files.readString(Path.of("..", "README.md")));
    while (d.find()) {
      documented.add(d.group(1));
    }
    return documented;
  }

  /** The cascade and Kafka metric names {@code text} mentions. */
  private static java.util.Set<String> metricsIn(String text) {
    java.util.Set<String> used = new java.util.TreeSet<>();
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("\\b((?:cascade|kafka)_[a-z_]+)\\b").matcher(text);
    while (m.find()) {
      used.add(m.group(1));
    }
    return used;
  }

  @Test
  void theStaticConfigurationPassesPromtool() throws Exception {
    assertThat(promtool(STATIC)).contains("SUCCESS");
  }

  @Test
  void theKubernetesConfigurationPassesPromtoolWithStaticTargetsInPlaceOfDiscovery() throws Exception {
    // Debian's promtool is built without Kubernetes discovery; everything else (relabelling
    // rules, regexes, jobs) is still checked.
    String text = Files.readString(KUBERNETES).replace("kubernetes_sd_configs:\n      - role: pod",
        "static_configs:\n      - targets: [\"127.0.0.1:9464\"]");
    assertThat(text).doesNotContain("kubernetes_sd_configs");
    Path copy = tmp.resolve("prometheus-kubernetes-static.yml");
    Files.writeString(copy, text);
    Files.copy(ALERTS, tmp.resolve(ALERTS.getFileName())); // rule_files, beside the configuration
    assertThat(promtool(copy)).contains("SUCCESS");
  }

  @Test
  @SuppressWarnings("unchecked")
  void theKubernetesJobsKeepEveryWorkloadWithAMetricsPort() {
    Map<String, Object> config = Manifests.yaml(KUBERNETES);
    List<String> kept = new ArrayList<>();
    for (Object job : Manifests.list(config.get("scrape_configs"))) {
      List<Object> relabel = (List<Object>) ((Map<String, Object>) job).get("relabel_configs");
      String app = null;
      String port = null;
      for (Object r : relabel) {
        Map<String, Object> rule = (Map<String, Object>) r;
        String source = String.valueOf(rule.get("source_labels"));
        if ("keep".equals(rule.get("action")) && source.contains("__meta_kubernetes_pod_label_app")) {
          app = (String) rule.get("regex");
        } else if ("keep".equals(rule.get("action")) && source.contains("__meta_kubernetes_pod_container_port_name")) {
          port = (String) rule.get("regex");
        }
      }
      assertThat(port).as("job " + ((Map<?, ?>) job).get("job_name")).isEqualTo("metrics");
      kept.add(app);
    }
    // The three-tier overlay's workloads: the base's and the middle tier's large-model server.
    Manifests all = Manifests.of(Path.of("k8s", "overlays", "three-tier"));
    List<String> withMetrics = all.podTemplates().values().stream()
        .filter(p -> p.getSpec().getContainers().stream().anyMatch(c -> c.getPorts().stream()
            .anyMatch(port -> "metrics".equals(port.getName()))))
        .map(p -> p.getMetadata().getLabels().get("app")).toList();
    assertThat(kept).containsExactlyInAnyOrderElementsOf(withMetrics);
  }

  private static String promtool(Path config) throws IOException, InterruptedException {
    return promtool("check", "config", config.toString());
  }

  private static String promtool(String... args) throws IOException, InterruptedException {
    Optional<Path> promtool = find();
    Assumptions.assumeTrue(promtool.isPresent(), "promtool is not installed (Debian package 'prometheus'): not checked");
    List<String> command = new ArrayList<>(List.of(promtool.get().toString()));
    command.addAll(List.of(args));
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as(out).isZero();
    return out;
  }

  private static Optional<Path> find() {
    for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
      Path p = Path.of(dir, "promtool");
      if (Files.isExecutable(p)) {
        return Optional.of(p);
      }
    }
    return Optional.empty();
  }
}
