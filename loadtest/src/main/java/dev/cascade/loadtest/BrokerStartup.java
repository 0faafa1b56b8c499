package dev.cascade.loadtest;

import dev.cascade.router.embedded.EmbeddedKafka;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;

/**
 * Embedded broker start-up time: from {@code EmbeddedKafka.start()} being called to an admin
 * client's first answer from it (cluster id and topic list), over a fresh log directory each time.
 * The first run of a JVM includes loading the broker's classes; later runs do not.
 *
 * <p>Run: {@code java -cp router/target/cascade.jar:loadtest/target/classes dev.cascade.loadtest.BrokerStartup [RUNS]}
 */
public final class BrokerStartup {

  private BrokerStartup() {}

  public static void main(String[] args) throws Exception {
    int runs = args.length > 0 ? Integer.parseInt(args[0]) : 5;
    double[] millis = new double[runs];
    for (int i = 0; i < runs; i++) {
      long t0 = System.nanoTime();
      try (EmbeddedKafka kafka = EmbeddedKafka.start();
          Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()))) {
        admin.describeCluster().clusterId().get();
        admin.listTopics().names().get();
        millis[i] = (System.nanoTime() - t0) / 1e6;
        System.out.printf(Locale.ROOT, "run %d: %.0f ms (%s)%n", i + 1, millis[i], kafka.bootstrapServers());
      }
    }
    double[] sorted = millis.clone();
    Arrays.sort(sorted);
    System.out.printf(Locale.ROOT, "median of %d: %.0f ms (min %.0f, max %.0f)%n", runs, sorted[runs / 2], sorted[0],
        sorted[runs - 1]);
  }
}
