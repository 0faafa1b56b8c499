package dev.cascade.router.cli;

import dev.cascade.models.TextGenerator;
import dev.cascade.models.server.LargeModelServer;
import dev.cascade.router.CascadeRouter;
import dev.cascade.router.api.FrontDoor;
import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.embedded.EmbeddedKafka;
import dev.cascade.router.routing.RequestValidator;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.concurrent.CountDownLatch;

/**
 * {@code cascade demo --serve}: after the demo workload, keeps the embedded cascade running with
 * its doors open, prints one line per door, and tears everything down when the JVM is stopped.
 */
final class DemoDoors {

  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(DemoDoors.class);

  private DemoDoors() {}

  /** The door's TLS stores and API keys, read before the demo's run. */
  record Checked(FrontDoor.Tls tls, dev.cascade.router.api.ApiKeys apiKeys) {}

  /**
   * Reads what the doors will serve with ({@code grpc.tls.*}, {@code http.tls.*}, {@code api.keys-file}) before the
   * demo's run, as {@code serve} does before it starts: a wrong path or password is one line naming
   * the key (exit 2) at once, not after the run.
   */
  static Checked check(CascadeConfig config) {
    return new Checked(dev.cascade.router.api.FrontDoor.Tls.of(config), ServeCommand.apiKeys(config));
  }

  /**
   * Starts the front door on loopback (with what {@link #check} read before the demo ran), prints the doors and blocks until the JVM shuts down, or
   * exits it with status 3 when the router's Kafka Streams stops unasked; never returns.
   */
  static void serveUntilInterrupted(CascadeConfig config, EmbeddedKafka kafka, LargeModelServer largeServer,
      CascadeRouter router, TextGenerator small, TextGenerator large, Checked checked) throws InterruptedException {
    FrontDoor doors = FrontDoor.start(config, new RequestValidator(small, router.tiers()), router.rules(),
        new InetSocketAddress(InetAddress.getLoopbackAddress(), config.get(CascadeConfig.GRPC_PORT)),
        router.metrics().registry().orElse(null), checked.tls(), checked.apiKeys());
    doors.healthFollows(() -> router.streams().state().isRunningOrRebalancing());
    UntilStopped until = new UntilStopped();
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      until.stopping();
      doors.close();
      router.close();
      try {
        largeServer.stop();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      small.close();
      large.close();
      kafka.close();
      until.stopped();
    }, "demo-serve-shutdown"));
    System.out.println("grpc=127.0.0.1:" + doors.port());
    System.out.println(doors.httpPort() < 0 ? "openai=off (http.enabled=false)" : "openai=" + doors.httpScheme() + "://"
        + doors.httpHost().map(dev.cascade.router.metrics.MetricsEndpoint::literal).orElse("127.0.0.1") + ":"
        + doors.httpPort() + "/v1");
    System.out.println("kafka=" + kafka.bootstrapServers());
    System.out.println("admin-token=" + doors.adminToken());
    router.metrics().endpoint().ifPresent(m -> System.out.println("metrics=" + m.url("127.0.0.1")));
    // With API keys on, the commands need one too.
    String key = config.get(CascadeConfig.API_KEYS_FILE).isBlank() ? "" : " --api-key KEY";
    System.out.println("serving until interrupted (Ctrl-C); try: ./cascade ask --target 127.0.0.1:" + doors.port()
        + " --prompt cascade --request-id q-1" + key + ", then ./cascade feedback --target 127.0.0.1:" + doors.port()
        + " --request-id q-1 --correct" + key);
    System.out.flush();
    // As serve: exit 3 once the router's Kafka Streams stops without being asked (say, its global
    // thread died when the policy topic came back), rather than stay up refusing every call.
    int code = until.await("demo --serve", "the router", router.unplannedStop(), LOG);
    if (code != 0) {
      System.exit(code); // the hook above closes everything
    }
    new CountDownLatch(1).await(); // the JVM is exiting: the hook has closed everything
  }
}
