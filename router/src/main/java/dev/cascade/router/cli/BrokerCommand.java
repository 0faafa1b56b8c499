package dev.cascade.router.cli;

import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.embedded.EmbeddedKafka;
import dev.cascade.router.topics.TopicProvisioner;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Runs the embedded single-node Kafka broker with the router's topics until interrupted. */
@Command(name = "broker", mixinStandardHelpOptions = true,
    description = {"Runs a single-node Kafka broker (KRaft) in-process on 127.0.0.1 with the router's topics.",
        "Prints bootstrap.servers=127.0.0.1:PORT once ready; stops on Ctrl-C (SIGTERM), removing its data unless"
            + " --data-dir keeps it.",
        "With --data-dir and --port it is restartable: started again with the same two, it keeps its log, its"
            + " topics and its address, so clients reconnect."})
final class BrokerCommand implements Callable<Integer> {

  @Mixin
  ConfigOptions configOptions;

  @Option(names = "--data-dir", paramLabel = "DIR",
      description = "The broker's log directory, kept across restarts, with --port (default: a temporary one, removed"
          + " on exit).")
  Path dataDir;

  @Option(names = "--port", defaultValue = "0", paramLabel = "PORT",
      description = "The broker's port on 127.0.0.1, with --data-dir: the two go together (a restartable broker"
          + " keeps both), and either alone is refused (default: any free port, and a temporary log directory).")
  int port;

  @Option(names = "--controller-port", defaultValue = "0", paramLabel = "PORT",
      description = "The KRaft controller's port (default: --port + 1 when --port is given, else any free port).")
  int controllerPort;

  @picocli.CommandLine.Spec
  picocli.CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() throws InterruptedException {
    CascadeConfig config = configOptions.load();
    EmbeddedKafka kafka;
    if (dataDir == null && port == 0) {
      kafka = EmbeddedKafka.start();
    } else {
      if (dataDir == null || port == 0) {
        throw new picocli.CommandLine.ParameterException(spec.commandLine(),
            "--data-dir and --port go together: a restartable broker keeps both");
      }
      int controller = controllerPort != 0 ? controllerPort : port + 1;
      // Both ports free on loopback, or one line (the broker's own failure is a stack trace).
      new Ports().add("--port", java.net.InetAddress.getLoopbackAddress(), port)
          .add(controllerPort != 0 ? "--controller-port" : "--controller-port (not given: --port + 1)",
              java.net.InetAddress.getLoopbackAddress(), controller).checkFree();
      kafka = EmbeddedKafka.start(dataDir, port, controller);
    }
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      kafka.close();
      stopped.countDown();
    }, "broker-shutdown"));
    try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()))) {
      TopicProvisioner.ensure(admin, TopicProvisioner.specs(config.topics(), config.get(CascadeConfig.TOPIC_PARTITIONS),
          config.get(CascadeConfig.TOPIC_REPLICATION).shortValue()));
    }
    System.out.println("bootstrap.servers=" + kafka.bootstrapServers());
    System.out.println("topics=" + String.join(",", config.topics().all()));
    System.out.flush();
    stopped.await();
    return 0;
  }
}
