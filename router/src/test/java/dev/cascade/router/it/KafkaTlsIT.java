package dev.cascade.router.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cascade.models.TextGenerator;
import dev.cascade.models.TextGenerators;
import dev.cascade.proto.v1.LargeGenerateRequest;
import dev.cascade.proto.v1.LargeGenerateResponse;
import dev.cascade.proto.v1.LargeModelGrpc;
import dev.cascade.router.CascadeRouter;
import dev.cascade.router.TestCertificates;
import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.demo.DemoWorkload;
import dev.cascade.router.demo.Example;
import dev.cascade.router.demo.Examples;
import dev.cascade.router.embedded.EmbeddedKafka;
import dev.cascade.router.topics.KafkaUnreachableException;
import dev.cascade.schemas.avro.CascadeResponse;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.common.errors.SaslAuthenticationException;
import org.apache.kafka.common.errors.SslAuthenticationException;
import org.apache.kafka.common.errors.TimeoutException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The router on Kafka over TLS: mutual TLS, and SASL/SCRAM over TLS, against the embedded broker
 * with TLS listeners and certificates made at test time, configured only through {@code kafka.*}
 * keys as a user would. Every request is answered exactly once over the secured listener; a wrong
 * password and a missing client certificate are refused with Kafka's authentication errors. A
 * client that had no answer is told a broker from a TLS listener spoken to in plaintext.
 */
class KafkaTlsIT {

  private static final String PASSWORD = "kafka-test-secret";
  private static final String USER = "cascade";
  private static final String USER_PASSWORD = "scram-test-password";

  @TempDir
  static Path dir;

  private static EmbeddedKafka kafka;
  private static Path brokerTrust;
  private static Path clientKeys;
  private static TextGenerator small;
  private static Server large;

  @BeforeAll
  static void start() throws Exception {
    Path brokerKeys = TestCertificates.keyPair(dir, "broker", PASSWORD);
    brokerTrust = TestCertificates.trustStoreOf(dir, "broker", PASSWORD);
    clientKeys = TestCertificates.keyPair(dir, "client", PASSWORD);
    Path clientTrust = TestCertificates.trustStoreOf(dir, "client", PASSWORD);
    kafka = EmbeddedKafka.startWithTls(new EmbeddedKafka.Tls(brokerKeys, PASSWORD, clientTrust));
    try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()))) {
      admin.alterUserScramCredentials(List.of(new UserScramCredentialUpsertion(USER,
          new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), USER_PASSWORD))).all().get(30, TimeUnit.SECONDS);
    }
    small = TextGenerators.load("small", "OnnxRuntime");
    large = NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
        .addService(new Upper()).build().start();
  }

  @AfterAll
  static void stop() throws Exception {
    if (large != null) {
      large.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
    if (small != null) {
      small.close();
    }
    if (kafka != null) {
      kafka.close();
    }
  }

  private static Map<String, String> trust() {
    return Map.of("kafka.ssl.truststore.type", "PKCS12", "kafka.ssl.truststore.location", brokerTrust.toString(),
        "kafka.ssl.truststore.password", PASSWORD);
  }

  @Test
  void theRouterRunsOverMutualTls() throws Exception {
    Map<String, String> keys = new LinkedHashMap<>(trust());
    keys.putAll(Map.of("kafka.security.protocol", "SSL", "kafka.ssl.keystore.type", "PKCS12",
        "kafka.ssl.keystore.location", clientKeys.toString(), "kafka.ssl.keystore.password", PASSWORD,
        "kafka.ssl.key.password", PASSWORD));
    answersEveryRequestOnce(kafka.sslBootstrapServers(), "tls", keys);
  }

  @Test
  void theRouterRunsOverSaslScramOnTls() throws Exception {
    Map<String, String> keys = new LinkedHashMap<>(trust());
    keys.putAll(Map.of("kafka.security.protocol", "SASL_SSL", "kafka.sasl.mechanism", EmbeddedKafka.SCRAM_MECHANISM,
        "kafka.sasl.jaas.config", scram(USER, USER_PASSWORD)));
    answersEveryRequestOnce(kafka.saslSslBootstrapServers(), "scram", keys);
  }

  @Test
  void aWrongScramPasswordIsRefusedAsAnAuthenticationFailure() {
    Map<String, Object> props = admin(kafka.saslSslBootstrapServers());
    props.put("security.protocol", "SASL_SSL");
    props.put("sasl.mechanism", EmbeddedKafka.SCRAM_MECHANISM);
    props.put("sasl.jaas.config", scram(USER, "not-the-password"));
    trust().forEach((k, v) -> props.put(k.substring("kafka.".length()), v));
    try (Admin admin = Admin.create(props)) {
      assertThatThrownBy(() -> admin.describeCluster().clusterId().get(30, TimeUnit.SECONDS))
          .isInstanceOf(ExecutionException.class).hasCauseInstanceOf(SaslAuthenticationException.class)
          .hasMessageContaining("Authentication failed");
    }
  }

  @Test
  void aClientWithoutACertificateIsRefusedByTheMutualTlsListener() {
    Map<String, Object> props = admin(kafka.sslBootstrapServers());
    props.put("security.protocol", "SSL");
    trust().forEach((k, v) -> props.put(k.substring("kafka.".length()), v));
    try (Admin admin = Admin.create(props)) {
      assertThatThrownBy(() -> admin.describeCluster().clusterId().get(30, TimeUnit.SECONDS))
          .isInstanceOf(ExecutionException.class).hasCauseInstanceOf(SslAuthenticationException.class);
    }
  }

  @Test
  void whenNoAnswerCameTheProbeTellsABrokerFromATlsListenerSpokenToInPlaintext() {
    TimeoutException expired = new TimeoutException("Timed out waiting for a node assignment.");
    assertThat(KafkaUnreachableException.of(admin(kafka.bootstrapServers()), 1000, null, expired).getMessage())
        .contains(kafka.bootstrapServers() + " answers Kafka requests, but the client had no answer in time");
    for (String tls : List.of(kafka.sslBootstrapServers(), kafka.saslSslBootstrapServers())) {
      assertThat(KafkaUnreachableException.of(admin(tls), 1000, null, expired).getMessage()).as(tls)
          .contains(tls + " accepts TCP connections but answered a Kafka request with TLS (a TLS listener)")
          .contains("does that listener expect TLS (kafka.security.protocol=SSL or SASL_SSL)?");
      Map<String, Object> overTls = admin(tls);
      overTls.put("security.protocol", "SSL");
      assertThat(KafkaUnreachableException.of(overTls, 1000, null, expired).getMessage()).as(tls)
          .contains(tls + " accepts TCP connections, but no Kafka answer came over SSL");
    }
  }

  private static Map<String, Object> admin(String bootstrap) {
    Map<String, Object> props = new HashMap<>();
    props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 20_000);
    props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 10_000);
    return props;
  }

  private static String scram(String user, String password) {
    return "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"" + user
        + "\" password=\"" + password + "\";";
  }

  private static void answersEveryRequestOnce(String bootstrap, String name, Map<String, String> kafkaKeys)
      throws Exception {
    Map<String, String> flags = new LinkedHashMap<>(kafkaKeys);
    flags.putAll(Map.of("bootstrap.servers", bootstrap, "application.id", "cascade-" + name,
        "topic.partitions", "2", "metrics.enabled", "false", "state.dir", dir.resolve("state-" + name).toString(),
        "policy.rule", "chow-sum", "policy.threshold", "2.0", "large.max-new-tokens", "64"));
    CascadeConfig config = CascadeConfig.load(null, Map.of(), flags);
    List<Example> examples = Examples.bundled("test").subList(0, 40);
    DemoWorkload.Result result;
    try (CascadeRouter router = CascadeRouter.start(config, small, "127.0.0.1:" + large.getPort())) {
      Map<String, Object> client = CascadeRouter.clientProperties(config);
      assertThat(client).containsEntry("security.protocol", kafkaKeys.get("kafka.security.protocol"));
      result = DemoWorkload.run(client, config.topics().requests(), config.topics().responses(),
          config.topics().outcomes(), name, examples, Duration.ofSeconds(60), n -> { });
    }
    assertThat(result.answeredAtNanos()).hasSize(examples.size());
    assertThat(result.responses()).hasSize(examples.size());
    assertThat(result.responses().stream().map(CascadeResponse::getRequestId).distinct()).hasSize(examples.size());
    assertThat(result.responses().stream().map(r -> r.getServedBy().toString()).distinct())
        .as("some accepted, some escalated to the large model").contains("SMALL", "LARGE");
  }

  /** Echoes the prompt upper-cased. */
  private static final class Upper extends LargeModelGrpc.LargeModelImplBase {
    @Override
    public void generate(LargeGenerateRequest request, StreamObserver<LargeGenerateResponse> out) {
      out.onNext(LargeGenerateResponse.newBuilder().setText(request.getPrompt().toUpperCase()).build());
      out.onCompleted();
    }
  }
}
