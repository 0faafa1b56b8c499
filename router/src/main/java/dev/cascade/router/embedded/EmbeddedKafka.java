package dev.cascade.router.embedded;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.stream.Stream;
import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.utils.Time;
import org.apache.kafka.metadata.storage.Formatter;
import org.apache.kafka.server.common.Feature;
import org.apache.kafka.server.common.MetadataVersion;

/**
 * A single-node Kafka broker (KRaft, broker and controller in one process) running in this JVM on
 * 127.0.0.1, for the embedded default and the integration tests.
 *
 * <p>Ports are picked free before start (the static controller quorum cannot use port 0). The log
 * directory is a fresh temporary one unless given; {@link #close()} removes a temporary directory
 * but keeps a given one, so a broker can be restarted over the same data.
 */
public final class EmbeddedKafka implements AutoCloseable {

  private static final String CONTROLLER_LISTENER = "CONTROLLER";

  /** SCRAM, the SASL mechanism of the SASL_SSL listener. */
  public static final String SCRAM_MECHANISM = "SCRAM-SHA-512";

  /**
   * TLS listeners besides the plaintext one: {@code SSL} (mutual TLS when {@code clientTrustStore}
   * is given) and {@code SASL_SSL} with {@link #SCRAM_MECHANISM}. SCRAM users are created with
   * Kafka's Admin API ({@code alterUserScramCredentials}) over the plaintext listener.
   *
   * @param keyStore the broker's key store (PKCS12)
   * @param password its password (and the key's)
   * @param clientTrustStore certificates of clients the SSL listener requires, null: no client
   *     certificate required
   */
  public record Tls(Path keyStore, String password, Path clientTrustStore) {}

  private final Path logDir;
  private final boolean ownsLogDir;
  private final int brokerPort;
  private final int controllerPort;
  private final Tls tls;
  private final int sslPort;
  private final int saslSslPort;
  private KafkaRaftServer server;

  private EmbeddedKafka(Path logDir, boolean ownsLogDir, int brokerPort, int controllerPort, Tls tls) {
    this.logDir = logDir;
    this.ownsLogDir = ownsLogDir;
    this.brokerPort = brokerPort;
    this.controllerPort = controllerPort;
    this.tls = tls;
    this.sslPort = tls == null ? -1 : freePort();
    this.saslSslPort = tls == null ? -1 : freePort();
  }

  /** Starts a broker with TLS listeners as well ({@link Tls}), over a temporary log directory. */
  public static EmbeddedKafka startWithTls(Tls tls) {
    try {
      EmbeddedKafka kafka = new EmbeddedKafka(Files.createTempDirectory("cascade-kafka-"), true, freePort(),
          freePort(), java.util.Objects.requireNonNull(tls, "tls"));
      kafka.startServer();
      return kafka;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create a temporary log directory", e);
    }
  }

  /** Starts a broker over a fresh temporary log directory, removed on close. */
  public static EmbeddedKafka start() {
    try {
      return start(Files.createTempDirectory("cascade-kafka-"), true, freePort(), freePort());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create a temporary log directory", e);
    }
  }

  /**
   * Starts a broker over {@code logDir} (formatted if empty) on the given ports; the directory is
   * kept on close. Use the same ports to restart over the same directory.
   */
  public static EmbeddedKafka start(Path logDir, int brokerPort, int controllerPort) {
    return start(logDir, false, brokerPort, controllerPort);
  }

  private static EmbeddedKafka start(Path logDir, boolean owns, int brokerPort, int controllerPort) {
    EmbeddedKafka kafka = new EmbeddedKafka(logDir, owns, brokerPort, controllerPort, null);
    kafka.startServer();
    return kafka;
  }

  private void startServer() {
    Properties props = brokerProperties();
    KafkaConfig config = new KafkaConfig(props, false);
    try {
      if (!Files.exists(logDir.resolve("meta.properties"))) {
        format();
      }
      server = new KafkaRaftServer(config, Time.SYSTEM);
      server.startup();
    } catch (Exception e) {
      close();
      throw new IllegalStateException("embedded Kafka broker failed to start on 127.0.0.1:" + brokerPort
          + " with log dir " + logDir + ": " + e.getMessage(), e);
    }
  }

  private void format() throws Exception {
    new Formatter()
        .setPrintStream(new PrintStream(OutputStream.nullOutputStream()))
        .setNodeId(1)
        .setClusterId(Uuid.randomUuid().toString())
        .setDirectories(List.of(logDir.toString()))
        .setMetadataLogDirectory(logDir.toString())
        .setReleaseVersion(MetadataVersion.latestProduction())
        .setSupportedFeatures(Feature.PRODUCTION_FEATURES)
        .setControllerListenerName(CONTROLLER_LISTENER)
        .setUnstableFeatureVersionsEnabled(false)
        // Transactions version 1: with version 2 (KIP-890), exactly-once Kafka Streams on this
        // broker kept failing produce requests with CONCURRENT_TRANSACTIONS and
        // OUT_OF_ORDER_SEQUENCE_NUMBER, retried with backoff, which cut throughput several-fold.
        .setFeatureLevel(Feature.TRANSACTION_VERSION.featureName(), (short) 1)
        .run();
  }

  private Properties brokerProperties() {
    Properties p = new Properties();
    p.putAll(Map.ofEntries(
        Map.entry("process.roles", "broker,controller"),
        Map.entry("node.id", "1"),
        Map.entry("controller.quorum.voters", "1@127.0.0.1:" + controllerPort),
        Map.entry("listeners", "PLAINTEXT://127.0.0.1:" + brokerPort + "," + CONTROLLER_LISTENER + "://127.0.0.1:" + controllerPort),
        Map.entry("advertised.listeners", "PLAINTEXT://127.0.0.1:" + brokerPort),
        Map.entry("controller.listener.names", CONTROLLER_LISTENER),
        Map.entry("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT," + CONTROLLER_LISTENER + ":PLAINTEXT"),
        Map.entry("inter.broker.listener.name", "PLAINTEXT"),
        Map.entry("log.dirs", logDir.toString()),
        Map.entry("offsets.topic.replication.factor", "1"),
        Map.entry("offsets.topic.num.partitions", "4"),
        Map.entry("transaction.state.log.replication.factor", "1"),
        Map.entry("transaction.state.log.min.isr", "1"),
        Map.entry("transaction.state.log.num.partitions", "4"),
        Map.entry("share.coordinator.state.topic.replication.factor", "1"),
        Map.entry("share.coordinator.state.topic.min.isr", "1"),
        Map.entry("min.insync.replicas", "1"),
        Map.entry("default.replication.factor", "1"),
        Map.entry("num.partitions", "1"),
        Map.entry("group.initial.rebalance.delay.ms", "0"),
        // After kill -9 the restarted controller keeps the dead broker's registration alive until its
        // session times out, and refuses the new one meanwhile: 9 s by default, most of a restart.
        // One node heartbeats to itself over loopback, so a short session costs nothing.
        Map.entry("broker.heartbeat.interval.ms", "500"),
        Map.entry("broker.session.timeout.ms", "3000"),
        Map.entry("auto.create.topics.enable", "false"),
        Map.entry("num.network.threads", "2"),
        Map.entry("num.io.threads", "4"),
        Map.entry("log.cleaner.dedupe.buffer.size", Integer.toString(2 * 1024 * 1024))));
    if (tls != null) {
      p.put("listeners", "PLAINTEXT://127.0.0.1:" + brokerPort + ",SSL://127.0.0.1:" + sslPort
          + ",SASL_SSL://127.0.0.1:" + saslSslPort + "," + CONTROLLER_LISTENER + "://127.0.0.1:" + controllerPort);
      p.put("advertised.listeners", "PLAINTEXT://127.0.0.1:" + brokerPort + ",SSL://127.0.0.1:" + sslPort
          + ",SASL_SSL://127.0.0.1:" + saslSslPort);
      p.put("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL,"
          + CONTROLLER_LISTENER + ":PLAINTEXT");
      p.put("ssl.keystore.type", "PKCS12");
      p.put("ssl.keystore.location", tls.keyStore().toString());
      p.put("ssl.keystore.password", tls.password());
      p.put("ssl.key.password", tls.password());
      if (tls.clientTrustStore() != null) {
        p.put("listener.name.ssl.ssl.client.auth", "required");
        p.put("ssl.truststore.type", "PKCS12");
        p.put("ssl.truststore.location", tls.clientTrustStore().toString());
        p.put("ssl.truststore.password", tls.password());
      }
      p.put("sasl.enabled.mechanisms", SCRAM_MECHANISM);
      p.put("listener.name.sasl_ssl." + SCRAM_MECHANISM.toLowerCase(java.util.Locale.ROOT) + ".sasl.jaas.config",
          "org.apache.kafka.common.security.scram.ScramLoginModule required;");
    }
    return p;
  }

  /** {@code 127.0.0.1:PORT}, for {@code bootstrap.servers}. */
  public String bootstrapServers() {
    return "127.0.0.1:" + brokerPort;
  }

  /** The SSL listener's {@code 127.0.0.1:PORT} (a broker started {@link #startWithTls with TLS}). */
  public String sslBootstrapServers() {
    requireTls();
    return "127.0.0.1:" + sslPort;
  }

  /** The SASL_SSL (SCRAM) listener's {@code 127.0.0.1:PORT} (a broker started with TLS). */
  public String saslSslBootstrapServers() {
    requireTls();
    return "127.0.0.1:" + saslSslPort;
  }

  private void requireTls() {
    if (tls == null) {
      throw new IllegalStateException("this broker was started without TLS listeners (startWithTls)");
    }
  }

  public Path logDir() {
    return logDir;
  }

  public int brokerPort() {
    return brokerPort;
  }

  public int controllerPort() {
    return controllerPort;
  }

  /** Stops the broker; removes the log directory when it was a temporary one. */
  @Override
  public synchronized void close() {
    if (server != null) {
      try {
        server.shutdown();
        server.awaitShutdown();
      } finally {
        server = null;
      }
    }
    if (ownsLogDir) {
      deleteRecursively(logDir);
    }
  }

  /** Ports {@link #freePort} has handed out in this JVM: the system may offer one again once it is closed. */
  private static final java.util.Set<Integer> HANDED_OUT = java.util.concurrent.ConcurrentHashMap.newKeySet();

  /**
   * A port that was free a moment ago on 127.0.0.1, and not one this method returned before in this
   * JVM (the system may offer a port again as soon as it is closed, and a broker given the same
   * port for its two listeners does not start).
   */
  public static int freePort() {
    for (int tries = 0; tries < 1_000; tries++) {
      try (ServerSocket socket = new ServerSocket(0, 0, java.net.InetAddress.getLoopbackAddress())) {
        socket.setReuseAddress(true);
        if (HANDED_OUT.add(socket.getLocalPort())) {
          return socket.getLocalPort();
        }
      } catch (IOException e) {
        throw new UncheckedIOException("no free port on 127.0.0.1", e);
      }
    }
    throw new IllegalStateException("no port on 127.0.0.1 that this process has not been given before");
  }

  static void deleteRecursively(Path dir) {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> paths = Files.walk(dir)) {
      paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot remove " + dir, e);
    }
  }
}
