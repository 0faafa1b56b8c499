package dev.cascade.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.proto.v1.LargeModelGrpc;
import dev.cascade.router.CascadeRouter;
import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.escalation.EscalationTiers;
import dev.cascade.router.policy.TierPolicy;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The three-tier overlay (deploy/k8s/overlays/three-tier), checked offline as the base is: its
 * manifests parse with no unknown field, the routers' configuration (the base's file and the
 * overlay's environment, as {@code serve} loads them) is a valid cascade of three with a target
 * rate on the middle tier, and every tier it names is a Service in front of a large-model server
 * running that model, on the port its probes and its NetworkPolicy name, reachable by the routers.
 */
class ThreeTierOverlayTest {

  private static final Path OVERLAY = Path.of("k8s", "overlays", "three-tier");

  @TempDir
  Path tmp;

  private final Manifests overlay = Manifests.of(OVERLAY);

  /** The router's patch: the StatefulSet it changes, and its router container's environment. */
  private static StatefulSet routerPatch() {
    Map<String, Object> k = Manifests.of(OVERLAY).kustomization();
    Object path = ((Map<?, ?>) Manifests.list(k.get("patches")).get(0)).get("path");
    return (StatefulSet) Manifests.parse(OVERLAY.resolve((String) path)).get(0).resource();
  }

  private CascadeConfig routerConfig() throws IOException {
    Path file = tmp.resolve("cascade.properties");
    Files.writeString(file, overlay.get(ConfigMap.class, "cascade-config").getData().get("cascade.properties"));
    Map<String, String> env = new LinkedHashMap<>();
    for (EnvVar v : routerPatch().getSpec().getTemplate().getSpec().getContainers().get(0).getEnv()) {
      env.put(v.getName(), v.getValue());
    }
    // As serve loads it: the file, then CASCADE_* variables over it.
    return CascadeConfig.load(file, env, Map.of());
  }

  @Test
  void everyManifestParsesAndThePatchChangesTheRoutersContainer() {
    List<Manifests.Manifest> all = new java.util.ArrayList<>(overlay.all());
    all.addAll(Manifests.parse(OVERLAY.resolve("router-tiers.yaml")));
    for (Manifests.Manifest m : all) {
      if (!(m.resource() instanceof io.fabric8.kubernetes.api.model.GenericKubernetesResource)) {
        assertThat(Manifests.unknownFields(m.resource())).as(m.file() + " " + m.kind() + " " + m.name()).isEmpty();
      }
    }
    StatefulSet patch = routerPatch();
    StatefulSet router = overlay.get(StatefulSet.class, patch.getMetadata().getName());
    assertThat(patch.getSpec().getTemplate().getSpec().getContainers()).singleElement()
        .satisfies(c -> assertThat(c.getName()).isEqualTo(
            router.getSpec().getTemplate().getSpec().getContainers().get(0).getName()));
  }

  @Test
  void theRoutersConfigurationIsACascadeOfThreeHoldingATargetOnTheMiddleTier() throws IOException {
    CascadeConfig config = routerConfig();
    assertThat(config.get(CascadeConfig.LARGE_TARGET)).as("cleared: tiers names the large model").isEmpty();
    // serve's own start-up checks: a rule per middle tier, a cost per model, rising, large.target empty.
    CascadeRouter.TierShape shape = CascadeRouter.checkTiers(config, config.get(CascadeConfig.LARGE_TARGET));
    assertThat(shape.targets()).extracting(EscalationTiers.Target::name).containsExactly("medium", "large");
    assertThat(CascadeRouter.configuredTierPolicies(config)).singleElement().satisfies(p -> {
      assertThat(p.holdsTargetRate()).isTrue();
      assertThat(p.targetEscalationRate()).isEqualTo(0.3);
      assertThat(p.rule()).isIn(TierPolicy.RULES);
    });
  }

  @Test
  void eachTierIsAServiceInFrontOfAServerOfThatModelThatOnlyTheRoutersReach() throws IOException {
    StatefulSet router = overlay.get(StatefulSet.class, "cascade-router");
    for (EscalationTiers.Target tier : routerConfig().get(CascadeConfig.TIERS)) {
      String host = tier.target().substring(0, tier.target().lastIndexOf(':'));
      int port = Integer.parseInt(tier.target().substring(tier.target().lastIndexOf(':') + 1));
      Service service = overlay.get(Service.class, host);
      ServicePort sp = service.getSpec().getPorts().stream().filter(p -> p.getPort() == port).findFirst()
          .orElseThrow(() -> new AssertionError("Service " + host + " has no port " + port));
      List<Deployment> servers = overlay.all(Deployment.class).stream().filter(d -> d.getSpec().getTemplate()
          .getMetadata().getLabels().entrySet().containsAll(service.getSpec().getSelector().entrySet())).toList();
      assertThat(servers).as("the Deployment behind " + host).hasSize(1);
      Container c = servers.get(0).getSpec().getTemplate().getSpec().getContainers().get(0);
      int containerPort = c.getPorts().stream().filter(p -> p.getName().equals(sp.getTargetPort().getStrVal()))
          .findFirst().orElseThrow().getContainerPort();
      assertThat(c.getArgs()).as(host).startsWith("large-model").containsSequence("--port", Integer.toString(containerPort));
      int model = c.getArgs().indexOf("--model");
      assertThat(model < 0 ? "large" : c.getArgs().get(model + 1)).as("the model " + host + " serves")
          .isEqualTo(tier.name());
      assertThat(c.getReadinessProbe().getGrpc().getPort()).isEqualTo(containerPort);
      assertThat(c.getReadinessProbe().getGrpc().getService()).isEqualTo(LargeModelGrpc.SERVICE_NAME);
      assertThat(c.getResources().getRequests()).containsKeys("cpu", "memory");
      assertThat(c.getResources().getLimits()).containsKey("memory");
      NetworkPolicy policy = overlay.all(NetworkPolicy.class).stream().filter(n -> n.getSpec().getPodSelector()
          .getMatchLabels().equals(servers.get(0).getSpec().getSelector().getMatchLabels())).findFirst()
          .orElseThrow(() -> new AssertionError("no NetworkPolicy for " + host));
      assertThat(policy.getSpec().getIngress()).anySatisfy(rule -> {
        assertThat(rule.getPorts()).anySatisfy(p -> assertThat(p.getPort().getStrVal()).isEqualTo("grpc"));
        assertThat(rule.getFrom()).singleElement().satisfies(peer -> assertThat(
            router.getSpec().getTemplate().getMetadata().getLabels()).containsAllEntriesOf(
            peer.getPodSelector().getMatchLabels()));
      });
    }
  }

  @Test
  void theOverlayBuildsOnTheProductionOneAndPatchesOnlyWhatItHas() {
    Map<String, Object> k = overlay.kustomization();
    assertThat(Manifests.list(k.get("resources"))).map(Object::toString).contains("../production");
    for (Object patch : Manifests.list(k.get("patches"))) {
      HasMetadata target = Manifests.parse(OVERLAY.resolve((String) ((Map<?, ?>) patch).get("path"))).get(0).resource();
      assertThat(overlay.all().stream().anyMatch(m -> m.kind().equals(target.getKind())
          && m.name().equals(target.getMetadata().getName()))).as("patch target " + target.getMetadata().getName())
          .isTrue();
    }
  }
}
