package dev.cascade.router.cli;

import dev.cascade.models.CacheSettings;
import dev.cascade.models.CpuThreads;
import dev.cascade.models.TextGenerator;
import dev.cascade.models.TextGenerators;
import dev.cascade.models.server.FaultInjection;
import dev.cascade.models.server.GrpcTls;
import dev.cascade.models.server.LargeModelServer;
import dev.cascade.models.server.ServerLimits;
import dev.cascade.models.LoadOptions;
import dev.cascade.router.CascadeRouter;
import dev.cascade.router.api.AdminTokens;
import dev.cascade.router.api.FrontDoor;
import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.demo.Example;
import dev.cascade.router.demo.Examples;
import dev.cascade.router.embedded.EmbeddedKafka;
import dev.cascade.router.metrics.GrpcServerMetrics;
import dev.cascade.router.metrics.MetricsEndpoint;
import dev.cascade.router.routing.RequestValidator;
import dev.cascade.router.topics.TopicProvisioner;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import picocli.CommandLine.Command;

/**
 * The run {@code cascade cds} records (hidden): what {@code broker --data-dir} (over an existing log),
 * {@code large-model} and {@code serve} do up to their ready lines, in one JVM, then a few requests
 * through the router's front door (both models answer some), then everything closed in order and a
 * normal exit, when a JVM started with {@code -XX:ArchiveClassesAtExit} writes its archive.
 */
@Command(name = "cds-workload", hidden = true, mixinStandardHelpOptions = true,
    description = "Internal to 'cascade cds': starts a broker, the large-model server and a router, sends a few requests, exits.")
final class CdsWorkloadCommand implements Callable<Integer> {

  @Override
  public Integer call() throws Exception {
    Path dir = Files.createTempDirectory("cascade-cds-workload-");
    try {
      run(dir);
    } finally {
      deleteRecursively(dir);
    }
    System.out.println("cds-workload: done");
    return 0;
  }

  private static void run(Path dir) throws Exception {
    Path logDir = dir.resolve("kafka");
    int port = EmbeddedKafka.freePort();
    int controllerPort = EmbeddedKafka.freePort();
    // The first start formats the log; the second is a restart over it, as in broker --data-dir.
    EmbeddedKafka.start(logDir, port, controllerPort).close();
    try (EmbeddedKafka kafka = EmbeddedKafka.start(logDir, port, controllerPort)) {
      CascadeConfig brokerConfig = CascadeConfig.load(null, Map.of(), Map.of());
      try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()))) {
        TopicProvisioner.ensure(admin, TopicProvisioner.specs(brokerConfig.topics(),
            brokerConfig.get(CascadeConfig.TOPIC_PARTITIONS), brokerConfig.get(CascadeConfig.TOPIC_REPLICATION).shortValue()));
      }
      System.out.println("bootstrap.servers=" + kafka.bootstrapServers());

      // large-model, with metrics and the test-only fault file (the fault harness's form), as LargeModelCommand.
      TextGenerator large = TextGenerators.load("large", "auto", LoadOptions.DEFAULT.withCache(CacheSettings.megabytes(0)));
      // On loopback, as printed below: nothing outside this machine needs it.
      io.grpc.ServerBuilder<?> builder = io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder.forAddress(
          new java.net.InetSocketAddress(java.net.InetAddress.getLoopbackAddress(), 0),
          GrpcTls.server(GrpcTls.Store.of(null, null), GrpcTls.Store.of(null, null)));
      PrometheusRegistry largeRegistry = new PrometheusRegistry();
      builder.intercept(GrpcServerMetrics.register(largeRegistry));
      MetricsEndpoint largeMetrics = MetricsEndpoint.start(largeRegistry, java.net.InetAddress.getLoopbackAddress(), 0);
      builder.intercept(new FaultInjection(dir.resolve("large-model-faults")));
      LargeModelServer server = new LargeModelServer(builder, large, new ServerLimits(16, 64)).start();
      System.out.println("large-model=127.0.0.1:" + server.port());
      try {
        serve(dir, kafka.bootstrapServers(), "127.0.0.1:" + server.port());
      } finally {
        server.stop();
        largeMetrics.close();
        large.close();
      }
    }
  }

  /** What ServeCommand does, then a few requests through the front door with the ask command. */
  private static void serve(Path dir, String bootstrap, String largeTarget) throws Exception {
    CascadeConfig config = CascadeConfig.load(null, Map.of(), Map.of("bootstrap.servers", bootstrap,
        "large.target", largeTarget, "state.dir", dir.resolve("router").toString(),
        "admin.token-file", dir.resolve("token").toString(), "application.id", "cascade-cds"));
    TextGenerator small = TextGenerators.load(config.get(CascadeConfig.SMALL_MODEL), config.get(CascadeConfig.ENGINE),
        config.loadOptions());
    try {
      AdminTokens.Resolved token = AdminTokens.resolve(config);
      config = config.with(CascadeConfig.ADMIN_TOKEN, token.token());
      try (CascadeRouter router = CascadeRouter.start(config, small, largeTarget)) {
        FrontDoor doors = FrontDoor.start(config, new RequestValidator(small, router.tiers()), router.rules(),
            new InetSocketAddress(0), router.metrics().registry().orElse(null));
        try {
          doors.healthFollows(() -> router.streams().state().isRunningOrRebalancing());
          System.out.println("grpc=127.0.0.1:" + doors.port());
          List<Example> examples = Examples.bundled("test");
          for (Example e : examples.subList(0, Math.min(12, examples.size()))) {
            // Answered by either model; an error (e.g. a deadline) only means fewer classes recorded.
            CascadeCommand.commandLine().execute("ask", "--target", "127.0.0.1:" + doors.port(), "--prompt",
                e.prompt(), "--deadline-ms", "60000");
          }
        } finally {
          doors.close();
        }
      }
    } finally {
      small.close();
    }
  }

  private static void deleteRecursively(Path dir) throws java.io.IOException {
    try (var paths = Files.walk(dir)) {
      paths.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }
  }
}
