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

  private final Path logDir;
  private final boolean ownsLogDir;
  private final int brokerPort;
  private final int controllerPort;
  private KafkaRaftServer server;

  private EmbeddedKafka(Path logDir, boolean ownsLogDir, int brokerPort, int controllerPort) {
    this.logDir = logDir;
    this.ownsLogDir = ownsLogDir;
    this.brokerPort = brokerPort;
    this.controllerPort = controllerPort;
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
    EmbeddedKafka kafka = new EmbeddedKafka(logDir, owns, brokerPort, controllerPort);
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
        Map.entry("auto.create.topics.enable", "false"),
        Map.entry("num.network.threads", "2"),
        Map.entry("num.io.threads", "4"),
        Map.entry("log.cleaner.dedupe.buffer.size", Integer.toString(2 * 1024 * 1024))));
    return p;
  }

  /** {@code 127.0.0.1:PORT}, for {@code bootstrap.servers}. */
  public String bootstrapServers() {
    return "127.0.0.1:" + brokerPort;
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

  /** A port that was free a moment ago on 127.0.0.1. */
  public static int freePort() {
    try (ServerSocket socket = new ServerSocket(0, 0, java.net.InetAddress.getLoopbackAddress())) {
      socket.setReuseAddress(true);
      return socket.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException("no free port on 127.0.0.1", e);
    }
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
