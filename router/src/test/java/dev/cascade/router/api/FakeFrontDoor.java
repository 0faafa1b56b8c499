package dev.cascade.router.api;

import dev.cascade.router.learning.LearnedRules;
import dev.cascade.router.learning.RuleCatalog;
import dev.cascade.router.learning.RuleResolver;
import dev.cascade.router.policy.DeferralPolicy;
import dev.cascade.router.routing.RequestValidator;
import io.grpc.ManagedChannel;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.time.Duration;
import java.util.Optional;

/**
 * A front door's two doors with Kafka replaced by a {@link FakeChannel}, paired as {@link FrontDoor}
 * pairs them (the HTTP door counted by the gRPC door's {@link DoorMetrics}): the gRPC door
 * in-process, with a channel to it, and the HTTP door on loopback; the rules are the built-in and
 * shipped ones, and the small model only checks prompts (it refuses none). Constructing it starts
 * both doors; {@link #stop} stops them.
 */
final class FakeFrontDoor {

  final CascadeServer grpc;
  final OpenAiServer http;
  /** A channel to the gRPC door. */
  final ManagedChannel client;

  /** @param registry where the doors' health and answers are counted (null: nowhere) */
  FakeFrontDoor(FakeChannel channel, PrometheusRegistry registry) throws IOException {
    RequestValidator validator = new RequestValidator(FakeKafkaServer.model(p -> Optional.empty()));
    RuleCatalog catalog = RuleCatalog.withBundled(FakeKafkaServer.bundledModelFingerprint());
    String name = InProcessServerBuilder.generateName();
    grpc = new CascadeServer(InProcessServerBuilder.forName(name), channel, new InMemoryPolicyStore(
        new DeferralPolicy("chow-quantile", 0.0, 2.0, 0.01, 0.0, 4, "config", 0, "configured default")),
        new InMemoryRuleStore(catalog), validator, new RuleResolver(LearnedRules.bundled(), catalog), "token",
        Duration.ofSeconds(30), null, null, registry).start();
    http = new OpenAiServer(channel, validator, null, TokenCounter.approximate(),
        new OpenAiServer.Settings(Duration.ofSeconds(30), 48, 16)).countedBy(grpc.doorMetrics())
        .start("127.0.0.1", 0);
    client = InProcessChannelBuilder.forName(name).build();
  }

  /** Closes the channel and the HTTP door, and the gRPC door too unless {@code grpcStopped} (drained already). */
  void stop(boolean grpcStopped) throws InterruptedException {
    client.shutdownNow();
    http.stop();
    if (!grpcStopped) {
      grpc.stop(Duration.ZERO);
    }
  }
}
