package dev.cascade.router.cli;

import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.embedded.EmbeddedKafka;
import dev.cascade.router.topics.TopicProvisioner;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/** Runs the embedded single-node Kafka broker with the router's topics until interrupted. */
@Command(name = "broker", mixinStandardHelpOptions = true,
    description = {"Runs a single-node Kafka broker (KRaft) in-process on 127.0.0.1 with the router's topics.",
        "Prints bootstrap.servers=127.0.0.1:PORT once ready; stops (removing its data) on Ctrl-C."})
final class BrokerCommand implements Callable<Integer> {

  @Mixin
  ConfigOptions configOptions;

  @Override
  public Integer call() throws InterruptedException {
    CascadeConfig config = configOptions.load();
    EmbeddedKafka kafka = EmbeddedKafka.start();
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
