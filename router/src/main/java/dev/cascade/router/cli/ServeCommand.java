package dev.cascade.router.cli;

import dev.cascade.models.TextGenerator;
import dev.cascade.models.TextGenerators;
import dev.cascade.router.CascadeRouter;
import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.config.ConfigException;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/** Production mode: the router alone, against external brokers and a large-model gRPC target. */
@Command(name = "serve", mixinStandardHelpOptions = true,
    description = {"Runs one router instance against external Kafka brokers (bootstrap.servers) and a",
        "LargeModel gRPC server (large.target), until interrupted. Start more with the same application.id to scale out."})
final class ServeCommand implements Callable<Integer> {

  @Mixin
  ConfigOptions configOptions;

  @Override
  public Integer call() throws Exception {
    CascadeConfig config = configOptions.load();
    String target = config.get(CascadeConfig.LARGE_TARGET);
    if (target.isBlank()) {
      throw new ConfigException(CascadeConfig.LARGE_TARGET.name(),
          "is empty: serve needs the large model's gRPC address (host:port), e.g. --set large.target=10.0.0.5:50052");
    }
    if (config.get(CascadeConfig.BOOTSTRAP_SERVERS).isBlank()) {
      throw new ConfigException(CascadeConfig.BOOTSTRAP_SERVERS.name(),
          "is empty: serve needs Kafka brokers, e.g. --set bootstrap.servers=kafka:9092 (or CASCADE_BOOTSTRAP_SERVERS)");
    }
    TextGenerator small = TextGenerators.load(config.get(CascadeConfig.SMALL_MODEL), config.get(CascadeConfig.ENGINE));
    CascadeRouter router = CascadeRouter.start(config, small, target);
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      router.close();
      small.close();
      stopped.countDown();
    }, "serve-shutdown"));
    System.out.println("router=" + config.get(CascadeConfig.APPLICATION_ID) + " bootstrap.servers="
        + config.get(CascadeConfig.BOOTSTRAP_SERVERS) + " large.target=" + target + " engine=" + small.info().engine());
    System.out.flush();
    stopped.await();
    return 0;
  }
}
