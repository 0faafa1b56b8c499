package dev.cascade.router.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.models.TextGenerator;
import dev.cascade.models.TextGenerators;
import dev.cascade.router.CascadeRouter;
import dev.cascade.router.api.FrontDoor;
import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.embedded.EmbeddedKafka;
import dev.cascade.router.learning.LearnedRules;
import dev.cascade.router.learning.ModelFingerprint;
import dev.cascade.router.learning.RuleCatalog;
import dev.cascade.router.learning.RuleResolver;
import dev.cascade.router.routing.RequestValidator;
import dev.cascade.router.topics.TopicProvisioner;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Where the front door's doors listen, on a real broker: the HTTP door on an interface of its own
 * ({@code http.host}) beside a gRPC door on every interface, and no HTTP door at all with {@code
 * http.enabled=false} (no router runs: the doors only need Kafka to start).
 */
class DoorInterfacesIT {

  @Test
  void theHttpDoorListensWhereHttpHostSaysOrNowhereWhenItIsOff() throws Exception {
    try (EmbeddedKafka kafka = EmbeddedKafka.start();
        TextGenerator small = TextGenerators.load("small", "OnnxRuntime")) {
      CascadeConfig base = CascadeConfig.load(null, Map.of(), Map.of("bootstrap.servers", kafka.bootstrapServers(),
          "application.id", "door-interfaces-it", "topic.partitions", "1", "admin.token", "it-token"));
      // The topics the router would have made.
      TopicProvisioner.ensure(CascadeRouter.clientProperties(base), TopicProvisioner.specs(base.topics(), 1, (short) 1));
      RequestValidator validator = new RequestValidator(small);
      RuleResolver rules = new RuleResolver(LearnedRules.bundled(),
          RuleCatalog.withBundled(ModelFingerprint.of("small")));

      try (FrontDoor doors = FrontDoor.start(base.with(CascadeConfig.HTTP_HOST, "127.0.0.1"), validator, rules,
          new InetSocketAddress(0))) {
        assertThat(doors.host()).as("gRPC: every interface").isEmpty();
        assertThat(doors.httpHost()).hasValue(InetAddress.getByName("127.0.0.1"));
        HttpResponse<String> models = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
            URI.create("http://127.0.0.1:" + doors.httpPort() + "/v1/models")).build(),
            HttpResponse.BodyHandlers.ofString());
        assertThat(models.statusCode()).isEqualTo(200);
        InetAddress other = nonLoopbackAddress();
        if (other != null) { // on loopback only: another address of this machine is refused
          try (Socket socket = new Socket()) {
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> socket.connect(
                new InetSocketAddress(other, doors.httpPort()), 2_000)).isInstanceOf(ConnectException.class);
          }
        }
      }

      try (FrontDoor doors = FrontDoor.start(base.with(CascadeConfig.HTTP_ENABLED, "false"), validator, rules,
          new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))) {
        assertThat(doors.httpPort()).isEqualTo(-1);
        assertThat(doors.httpHost()).isEmpty();
        assertThat(doors.host()).hasValue(InetAddress.getLoopbackAddress());
        assertThat(doors.port()).isPositive();
      }

      // The doors' metrics go to the registry given (serve's): the admin audit's counter (from 0) and
      // the policy reader's gauge.
      PrometheusRegistry registry = new PrometheusRegistry();
      try (FrontDoor doors = FrontDoor.start(base.with(CascadeConfig.HTTP_ENABLED, "false"), validator, rules,
          new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), registry)) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        new PrometheusTextFormatWriter(false).write(out, registry.scrape());
        assertThat(out.toString(StandardCharsets.UTF_8))
            .contains("cascade_admin_requests_total{method=\"UpdatePolicy\",result=\"unauthenticated\"} 0.0")
            .contains("cascade_policy_topic_missing 0.0");
      }
    }
  }

  /** An IPv4 address of this machine other than loopback; null when it has none. */
  private static InetAddress nonLoopbackAddress() throws Exception {
    for (var nic : java.util.Collections.list(java.net.NetworkInterface.getNetworkInterfaces())) {
      if (!nic.isUp() || nic.isLoopback()) {
        continue;
      }
      for (InetAddress a : java.util.Collections.list(nic.getInetAddresses())) {
        if (a instanceof java.net.Inet4Address) {
          return a;
        }
      }
    }
    return null;
  }
}
