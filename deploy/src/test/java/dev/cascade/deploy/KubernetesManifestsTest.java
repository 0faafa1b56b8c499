package dev.cascade.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.proto.v1.CascadeGrpc;
import dev.cascade.proto.v1.LargeModelGrpc;
import dev.cascade.proto.v1.PolicyAdminGrpc;
import dev.cascade.router.api.CascadeServer;
import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.config.TopicNames;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Kubernetes manifests (deploy/k8s), checked offline: every document parses into fabric8's
 * typed model with no field it does not know, and the pieces agree with each other and with the
 * router's own configuration (the ConfigMap loads as the router would load it; ports, probes,
 * mounts, topics and the autoscaler follow from it).
 */
class KubernetesManifestsTest {

  private static final Path BASE = Path.of("k8s", "base");
  private static final Path OVERLAY = Path.of("k8s", "overlays", "production");
  private static final String CONFIG_FILE = "cascade.properties";

  @TempDir
  Path tmp;

  private final Manifests base = Manifests.of(BASE);

  private CascadeConfig config() throws IOException {
    ConfigMap map = base.get(ConfigMap.class, "cascade-config");
    Path file = tmp.resolve(CONFIG_FILE);
    Files.writeString(file, map.getData().get(CONFIG_FILE));
    // As the router loads it: unknown keys and bad values fail here, naming the key.
    return CascadeConfig.load(file, Map.of(), Map.of());
  }

  @Test
  void everyManifestParsesIntoTypedObjectsWithNoUnknownField() {
    List<Manifests.Manifest> all = new ArrayList<>(Manifests.of(OVERLAY).all());
    all.addAll(Manifests.parse(OVERLAY.resolve("large-model-resources.yaml")));
    assertThat(all).extracting(Manifests.Manifest::kind).contains("StatefulSet", "Deployment", "Service",
        "ConfigMap", "PodDisruptionBudget", "KafkaTopic", "ScaledObject", "Namespace", "NetworkPolicy");
    for (Manifests.Manifest m : all) {
      boolean custom = m.resource() instanceof GenericKubernetesResource;
      assertThat(custom).as(m.file() + " " + m.kind() + " typed unless a custom resource")
          .isEqualTo(Set.of("KafkaTopic", "ScaledObject").contains(m.kind()));
      if (!custom) {
        assertThat(Manifests.unknownFields(m.resource())).as(m.file() + " " + m.kind() + " " + m.name()).isEmpty();
      }
    }
  }

  @Test
  void aMisspeltFieldIsCaught() throws IOException {
    Path file = tmp.resolve("typo.yaml");
    Files.writeString(file, """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: x}
        spec:
          selector: {matchLabels: {app: x}}
          template:
            metadata: {labels: {app: x}}
            spec:
              containers:
                - name: x
                  image: x
                  readinesProbe: {grpc: {port: 1}}
        """);
    assertThat(Manifests.unknownFields(Manifests.parse(file).get(0).resource()))
        .singleElement().asString().endsWith("containers[0].readinesProbe");
  }

  @Test
  void theConfigMapIsAValidRouterConfigurationForAClusterNotTheEmbeddedBroker() throws IOException {
    CascadeConfig config = config();
    assertThat(config.get(CascadeConfig.BOOTSTRAP_SERVERS)).isNotBlank();
    assertThat(config.get(CascadeConfig.GRPC_PORT)).as("a fixed gRPC port for probes and Services").isPositive();
    assertThat(config.get(CascadeConfig.HTTP_PORT)).as("a fixed HTTP port for the Service").isPositive();
    assertThat(config.get(CascadeConfig.METRICS_PORT)).isPositive();
    assertThat(config.get(CascadeConfig.STATE_DIR)).isNotBlank();
    assertThat(config.get(CascadeConfig.TOPIC_REPLICATION)).isGreaterThanOrEqualTo(3);
  }

  @Test
  void theRouterListensProbesAndMountsWhereItsConfigurationSays() throws IOException {
    CascadeConfig config = config();
    StatefulSet router = base.get(StatefulSet.class, "cascade-router");
    Container c = single(router.getSpec().getTemplate());
    assertThat(port(c, "grpc")).isEqualTo(config.get(CascadeConfig.GRPC_PORT));
    assertThat(port(c, "http")).isEqualTo(config.get(CascadeConfig.HTTP_PORT));
    assertThat(port(c, "metrics")).isEqualTo(config.get(CascadeConfig.METRICS_PORT));
    assertGrpcProbe(c.getReadinessProbe(), config.get(CascadeConfig.GRPC_PORT), CascadeGrpc.SERVICE_NAME);
    assertGrpcProbe(c.getLivenessProbe(), config.get(CascadeConfig.GRPC_PORT), PolicyAdminGrpc.SERVICE_NAME);
    assertGrpcProbe(c.getStartupProbe(), config.get(CascadeConfig.GRPC_PORT), PolicyAdminGrpc.SERVICE_NAME);
    assertThat(c.getArgs()).startsWith("serve");
    assertRunsWithTheConfigMapAndState(router, c, config);
    assertThat(mountDir(router.getSpec().getTemplate(), c, "secret", "cascade-secrets"))
        .isEqualTo(Path.of(config.get(CascadeConfig.ADMIN_TOKEN_FILE)).getParent())
        .isEqualTo(Path.of(config.get(CascadeConfig.API_KEYS_FILE)).getParent());
    Service headless = base.get(Service.class, router.getSpec().getServiceName());
    assertThat(headless.getSpec().getClusterIP()).isEqualTo("None");
  }

  /**
   * The stream close's timeout in CascadeRouter#close and ContinuousLearner#close, the large-model
   * server's drain (LargeModelServer#stop), and the seconds the gRPC servers wait after their drain
   * to cut what still runs (LargeModelServer: once for the calls, once for the generations): the
   * kubelet must not SIGKILL before they are done.
   */
  private static final long STREAMS_CLOSE_SECONDS = 30;
  private static final long LARGE_MODEL_DRAIN_SECONDS = 30;
  private static final long CUT_SECONDS = 5;

  @Test
  void everyGracePeriodCoversItsWorkloadsShutdown() {
    assertThat(grace(base.get(StatefulSet.class, "cascade-router").getSpec().getTemplate()))
        .isGreaterThan(CascadeServer.DRAIN.toSeconds() + CUT_SECONDS + STREAMS_CLOSE_SECONDS);
    assertThat(grace(base.get(StatefulSet.class, "cascade-learner").getSpec().getTemplate()))
        .isGreaterThan(STREAMS_CLOSE_SECONDS);
    assertThat(grace(base.get(Deployment.class, "cascade-large-model").getSpec().getTemplate()))
        .isGreaterThan(LARGE_MODEL_DRAIN_SECONDS + 2 * CUT_SECONDS);
  }

  /** The pod's terminationGracePeriodSeconds, Kubernetes' 30 where it sets none. */
  private static long grace(PodTemplateSpec pod) {
    Long seconds = pod.getSpec().getTerminationGracePeriodSeconds();
    return seconds == null ? 30 : seconds;
  }

  @Test
  void theLearnerRunsWithTheSameConfigurationAndItsOwnState() throws IOException {
    CascadeConfig config = config();
    StatefulSet learner = base.get(StatefulSet.class, "cascade-learner");
    Container c = single(learner.getSpec().getTemplate());
    assertThat(c.getArgs()).startsWith("learn");
    assertThat(learner.getSpec().getReplicas()).as("one learner publishes rules").isEqualTo(1);
    assertThat(port(c, "metrics")).isEqualTo(config.get(CascadeConfig.METRICS_PORT));
    for (Probe probe : new Probe[] {c.getStartupProbe(), c.getLivenessProbe()}) {
      assertThat(probe).as("the learner's start-up and liveness probes").isNotNull();
      assertThat(probe.getHttpGet().getPath()).isEqualTo("/metrics");
      assertThat(port(c, probe.getHttpGet().getPort().getStrVal())).isEqualTo(config.get(CascadeConfig.METRICS_PORT));
    }
    assertRunsWithTheConfigMapAndState(learner, c, config);
    assertThat(config.get(CascadeConfig.LEARN_APPLICATION_ID)).isNotEqualTo(config.get(CascadeConfig.APPLICATION_ID));
  }

  @Test
  void theLargeModelTargetIsTheLargeModelServiceAndItsProbedPort() throws IOException {
    String target = config().get(CascadeConfig.LARGE_TARGET);
    String host = target.substring(0, target.lastIndexOf(':'));
    int targetPort = Integer.parseInt(target.substring(target.lastIndexOf(':') + 1));
    Service service = base.get(Service.class, host);
    ServicePort sp = service.getSpec().getPorts().stream().filter(p -> p.getPort() == targetPort).findFirst()
        .orElseThrow(() -> new AssertionError("Service " + host + " has no port " + targetPort));
    Deployment large = base.get(Deployment.class, "cascade-large-model");
    Container c = single(large.getSpec().getTemplate());
    int containerPort = port(c, sp.getTargetPort().getStrVal());
    assertThat(c.getArgs()).containsSequence("--port", Integer.toString(containerPort));
    assertGrpcProbe(c.getReadinessProbe(), containerPort, LargeModelGrpc.SERVICE_NAME);
    assertGrpcProbe(c.getLivenessProbe(), containerPort, null);
  }

  @Test
  void servicesAndDisruptionBudgetsSelectPodsThatHaveTheirPorts() {
    Map<String, PodTemplateSpec> pods = base.podTemplates();
    pods.forEach((name, pod) -> assertThat(pod.getSpec().getContainers()).allSatisfy(c -> {
      assertThat(c.getResources().getRequests()).as(name + " requests").containsKeys("cpu", "memory");
      assertThat(c.getResources().getLimits()).as(name + " memory limit").containsKey("memory");
    }));
    for (Service s : base.all(Service.class)) {
      List<PodTemplateSpec> selected = selected(pods, s.getSpec().getSelector());
      assertThat(selected).as("pods of Service " + s.getMetadata().getName()).isNotEmpty();
      for (ServicePort p : s.getSpec().getPorts()) {
        for (PodTemplateSpec pod : selected) {
          port(single(pod), p.getTargetPort().getStrVal());
        }
      }
    }
    for (StatefulSet set : base.all(StatefulSet.class)) {
      Service governing = base.get(Service.class, set.getSpec().getServiceName());
      assertThat(governing.getSpec().getClusterIP()).as("governing Service of " + set.getMetadata().getName())
          .isEqualTo("None");
    }
    // The configuration reads CASCADE_* variables as its keys; a Service named cascade-* would put
    // CASCADE_*_PORT and the like into every pod's environment.
    pods.forEach((name, pod) -> assertThat(pod.getSpec().getEnableServiceLinks()).as(name + " enableServiceLinks")
        .isFalse());
    List<PodDisruptionBudget> budgets = base.all(PodDisruptionBudget.class);
    assertThat(budgets).isNotEmpty();
    for (PodDisruptionBudget b : budgets) {
      assertThat(selected(pods, b.getSpec().getSelector().getMatchLabels()))
          .as("pods of PodDisruptionBudget " + b.getMetadata().getName()).isNotEmpty();
    }
  }

  @Test
  void everyTopicTheRouterUsesIsAKafkaTopicShapedAsTheRouterMakesIt() throws IOException {
    CascadeConfig config = config();
    TopicNames names = config.topics();
    Map<String, Map<String, Object>> topics = base.custom("KafkaTopic").stream()
        .collect(Collectors.toMap(t -> (String) spec(t).get("topicName"), KubernetesManifestsTest::spec));
    assertThat(topics.keySet()).containsExactlyInAnyOrderElementsOf(names.all());
    for (String name : names.all()) {
      Map<String, Object> spec = topics.get(name);
      boolean compacted = name.equals(names.policy()) || name.equals(names.rules());
      assertThat(((Number) spec.get("partitions")).intValue()).as(name)
          .isEqualTo(compacted ? 1 : (int) config.get(CascadeConfig.TOPIC_PARTITIONS));
      assertThat(((Number) spec.get("replicas")).intValue()).as(name)
          .isEqualTo((int) config.get(CascadeConfig.TOPIC_REPLICATION));
      Object cleanup = spec.get("config") == null ? null : ((Map<?, ?>) spec.get("config")).get("cleanup.policy");
      assertThat(cleanup).as(name).isEqualTo(compacted ? "compact" : null);
    }
  }

  @Test
  void theAutoscalerScalesTheRoutersOnTheirLagAndNeverPastThePartitionCount() throws IOException {
    CascadeConfig config = config();
    GenericKubernetesResource scaler = base.custom("ScaledObject").stream().findFirst().orElseThrow();
    Map<String, Object> spec = spec(scaler);
    Map<?, ?> target = (Map<?, ?>) spec.get("scaleTargetRef");
    assertThat(target.get("kind")).isEqualTo("StatefulSet");
    assertThat(base.find(StatefulSet.class, (String) target.get("name"))).isPresent();
    int max = ((Number) spec.get("maxReplicaCount")).intValue();
    int min = ((Number) spec.get("minReplicaCount")).intValue();
    assertThat(max).isBetween(min, config.get(CascadeConfig.TOPIC_PARTITIONS));
    Map<?, ?> kafka = (Map<?, ?>) ((Map<?, ?>) Manifests.list(spec.get("triggers")).get(0)).get("metadata");
    assertThat(kafka.get("consumerGroup")).isEqualTo(config.get(CascadeConfig.APPLICATION_ID));
    assertThat(kafka.get("topic")).isEqualTo(config.topics().requests());
    assertThat(kafka.get("bootstrapServers")).isEqualTo(config.get(CascadeConfig.BOOTSTRAP_SERVERS));
    assertThat(kafka.get("allowIdleConsumers")).isEqualTo("false");
  }

  @Test
  void everyWorkloadRunsAsTheImagesUnprivilegedUserOnAReadOnlyRootWithAWritableTmp() {
    assertThat(base.podTemplates()).hasSize(3);
    base.podTemplates().forEach((name, pod) -> {
      var podSecurity = pod.getSpec().getSecurityContext();
      assertThat(podSecurity).as(name).isNotNull();
      assertThat(podSecurity.getRunAsNonRoot()).as(name + " runAsNonRoot").isTrue();
      assertThat(podSecurity.getRunAsUser()).as(name + ": the Dockerfile's USER").isEqualTo(10001L);
      assertThat(podSecurity.getSeccompProfile().getType()).isEqualTo("RuntimeDefault");
      Container c = single(pod);
      var security = c.getSecurityContext();
      assertThat(security).as(name).isNotNull();
      assertThat(security.getReadOnlyRootFilesystem()).as(name + " readOnlyRootFilesystem").isTrue();
      assertThat(security.getAllowPrivilegeEscalation()).as(name).isFalse();
      assertThat(security.getCapabilities().getDrop()).as(name).containsExactly("ALL");
      VolumeMount tmp = c.getVolumeMounts().stream().filter(m -> m.getMountPath().equals("/tmp")).findFirst()
          .orElseThrow(() -> new AssertionError(name + ": nothing writable at /tmp"));
      assertThat(pod.getSpec().getVolumes()).filteredOn(v -> v.getName().equals(tmp.getName()))
          .singleElement().satisfies(v -> assertThat(v.getEmptyDir()).as(name + " /tmp").isNotNull());
    });
    StatefulSet learner = base.get(StatefulSet.class, "cascade-learner");
    assertThat(learner.getSpec().getTemplate().getSpec().getVolumes()).as("the learner reads no secret")
        .allSatisfy(v -> assertThat(v.getSecret()).isNull());
  }

  @Test
  void theLargeModelsGrpcPortTakesTheRoutersAlone() throws IOException {
    var policy = base.get(io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy.class, "cascade-large-model");
    Deployment large = base.get(Deployment.class, "cascade-large-model");
    assertThat(policy.getSpec().getPodSelector().getMatchLabels())
        .isEqualTo(large.getSpec().getSelector().getMatchLabels());
    var grpcRule = policy.getSpec().getIngress().stream()
        .filter(r -> r.getPorts().stream().anyMatch(p -> "grpc".equals(p.getPort().getStrVal()))).findFirst()
        .orElseThrow();
    assertThat(port(single(large.getSpec().getTemplate()), "grpc")).as("the port the rule names")
        .isEqualTo(Integer.parseInt(config().get(CascadeConfig.LARGE_TARGET).replaceAll(".*:", "")));
    StatefulSet router = base.get(StatefulSet.class, "cascade-router");
    assertThat(grpcRule.getFrom()).singleElement().satisfies(peer -> assertThat(
        router.getSpec().getTemplate().getMetadata().getLabels()).containsAllEntriesOf(
        peer.getPodSelector().getMatchLabels()));
    StatefulSet learner = base.get(StatefulSet.class, "cascade-learner");
    assertThat(learner.getSpec().getTemplate().getMetadata().getLabels())
        .doesNotContainEntry("app", "cascade-router");
  }

  @Test
  void theOverlayGeneratesTheSecretTheWorkloadsMountAndRetagsTheirImage() throws IOException {
    CascadeConfig config = config();
    Map<String, Object> k = Manifests.of(OVERLAY).kustomization();
    Map<?, ?> generator = (Map<?, ?>) Manifests.list(k.get("secretGenerator")).get(0);
    assertThat(generator.get("name")).isEqualTo("cascade-secrets");
    Set<String> keys = Manifests.list(generator.get("files")).stream().map(f -> f.toString().split("=")[0])
        .collect(Collectors.toSet());
    assertThat(keys).containsExactlyInAnyOrder(
        Path.of(config.get(CascadeConfig.ADMIN_TOKEN_FILE)).getFileName().toString(),
        Path.of(config.get(CascadeConfig.API_KEYS_FILE)).getFileName().toString());
    String image = (String) ((Map<?, ?>) Manifests.list(k.get("images")).get(0)).get("name");
    assertThat(base.podTemplates().values()).allSatisfy(p -> assertThat(single(p).getImage()).startsWith(image + ":"));
    for (Object patch : Manifests.list(k.get("patches"))) {
      HasMetadata target = Manifests.parse(OVERLAY.resolve((String) ((Map<?, ?>) patch).get("path"))).get(0).resource();
      assertThat(base.all().stream().anyMatch(m -> m.kind().equals(target.getKind())
          && m.name().equals(target.getMetadata().getName()))).as("patch target " + target.getMetadata().getName())
          .isTrue();
    }
  }

  private void assertRunsWithTheConfigMapAndState(StatefulSet set, Container c, CascadeConfig config) {
    List<String> args = c.getArgs();
    Path configPath = Path.of(args.get(args.indexOf("--config") + 1));
    assertThat(configPath.getFileName().toString()).isEqualTo(CONFIG_FILE);
    assertThat(mountDir(set.getSpec().getTemplate(), c, "configMap", "cascade-config")).isEqualTo(configPath.getParent());
    String claim = set.getSpec().getVolumeClaimTemplates().get(0).getMetadata().getName();
    VolumeMount state = c.getVolumeMounts().stream().filter(m -> m.getName().equals(claim)).findFirst().orElseThrow();
    assertThat(state.getMountPath()).as("state.dir on the persistent volume").isEqualTo(config.get(CascadeConfig.STATE_DIR));
  }

  private static Path mountDir(PodTemplateSpec pod, Container c, String sourceKind, String sourceName) {
    for (Volume v : pod.getSpec().getVolumes()) {
      String name = "secret".equals(sourceKind) ? (v.getSecret() == null ? null : v.getSecret().getSecretName())
          : (v.getConfigMap() == null ? null : v.getConfigMap().getName());
      if (sourceName.equals(name)) {
        return c.getVolumeMounts().stream().filter(m -> m.getName().equals(v.getName())).findFirst()
            .map(m -> Path.of(m.getMountPath())).orElseThrow(() -> new AssertionError(v.getName() + " not mounted"));
      }
    }
    throw new AssertionError("no volume from " + sourceKind + " " + sourceName);
  }

  private static void assertGrpcProbe(Probe probe, int port, String service) {
    assertThat(probe).isNotNull();
    assertThat(probe.getGrpc()).as("a gRPC health probe").isNotNull();
    assertThat(probe.getGrpc().getPort()).isEqualTo(port);
    assertThat(probe.getGrpc().getService()).isEqualTo(service);
  }

  private static Container single(PodTemplateSpec pod) {
    assertThat(pod.getSpec().getContainers()).hasSize(1);
    return pod.getSpec().getContainers().get(0);
  }

  private static int port(Container c, String name) {
    return c.getPorts().stream().filter(p -> name.equals(p.getName())).map(ContainerPort::getContainerPort)
        .findFirst().orElseThrow(() -> new AssertionError("container " + c.getName() + " has no port " + name));
  }

  private static List<PodTemplateSpec> selected(Map<String, PodTemplateSpec> pods, Map<String, String> selector) {
    return pods.values().stream()
        .filter(p -> p.getMetadata().getLabels().entrySet().containsAll(selector.entrySet())).toList();
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> spec(GenericKubernetesResource r) {
    return (Map<String, Object>) r.getAdditionalProperties().get("spec");
  }
}
