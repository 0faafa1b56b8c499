package dev.cascade.router.cli;

import dev.cascade.models.TextGenerator;
import dev.cascade.models.TextGenerators;
import dev.cascade.models.server.GrpcTls;
import dev.cascade.router.CascadeRouter;
import dev.cascade.router.api.AdminTokens;
import dev.cascade.router.api.FrontDoor;
import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.config.ConfigException;
import dev.cascade.router.escalation.EscalationTiers;
import dev.cascade.router.escalation.TierChecks;
import dev.cascade.router.escalation.LargeTarget;
import dev.cascade.router.metrics.MetricsEndpoint;
import dev.cascade.router.routing.RequestValidator;
import dev.cascade.router.topics.BrokerWatch;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/** Production mode: the router alone, against external brokers and a large-model gRPC target. */
@Command(name = "serve", mixinStandardHelpOptions = true,
    description = {"Runs one router instance against external Kafka brokers (bootstrap.servers) and a "
          + "large model (large.target: cascade.v1.LargeModel, KServe v2 or OpenAI-compatible), until interrupted. Start more with the same application.id to scale out.",
        "Also serves the gRPC front door and PolicyAdmin on grpc.port (printed as grpc=HOST:PORT), and the "
          + "OpenAI-compatible HTTP door on http.port (printed as openai=http://HOST:PORT/v1; openai=off with "
          + "http.enabled=false). HOST is the interface grpc.host, http.host or metrics.host names, or this machine's "
          + "name where a door listens on every interface (the default). The HTTP door speaks HTTPS with http.tls.key-store set."})
final class ServeCommand implements Callable<Integer> {

  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(ServeCommand.class);

  @Mixin
  ConfigOptions configOptions;

  @Override
  public Integer call() throws Exception {
    CascadeConfig config = configOptions.load();
    String target = config.get(CascadeConfig.LARGE_TARGET);
    if (target.isBlank() && config.get(CascadeConfig.TIERS).isEmpty()) {
      throw new ConfigException(CascadeConfig.LARGE_TARGET.name(),
          "is empty (and so is tiers): serve needs the large model's address, e.g. --set large.target=10.0.0.5:50052 (cascade.v1.LargeModel),"
              + " kserve://triton:8001/ensemble or openai://vllm:8000/v1?model=NAME");
    }
    if (!target.isBlank() && !config.get(CascadeConfig.TIERS).isEmpty()) {
      throw new ConfigException(CascadeConfig.LARGE_TARGET.name(), "is set beside tiers, which names every model after"
          + " the small one (the last is the large model): large.target would be ignored; leave it empty");
    }
    if (config.get(CascadeConfig.BOOTSTRAP_SERVERS).isBlank()) {
      throw new ConfigException(CascadeConfig.BOOTSTRAP_SERVERS.name(),
          "is empty: serve needs Kafka brokers, e.g. --set bootstrap.servers=kafka:9092 (or CASCADE_BOOTSTRAP_SERVERS)");
    }
    // What can be checked without Kafka or the model is checked first: a failed start leaves nothing behind.
    // The models after the small one: costs, parameters and middle-tier rules (policy.tier-rules) against tiers.
    CascadeRouter.checkTiers(config, target);
    // The policy's rules (policy.rule, policy.fallback-rule, policy.shadow-rules), as the router's start would find them.
    CascadeRouter.checkConfiguredPolicy(config);
    for (var door : List.of(List.of(CascadeConfig.GRPC_TLS_CLIENT_TRUST_STORE, CascadeConfig.GRPC_TLS_KEY_STORE),
        List.of(CascadeConfig.HTTP_TLS_CLIENT_TRUST_STORE, CascadeConfig.HTTP_TLS_KEY_STORE))) {
      if (!config.get(door.get(0)).isBlank() && config.get(door.get(1)).isBlank()) {
        throw new ConfigException(door.get(0).name(), "mutual TLS needs the door's own key and certificate too: set "
            + door.get(1).name());
      }
    }
    // The API keys, read once: the doors serve with what the check read.
    dev.cascade.router.api.ApiKeys apiKeys = apiKeys(config);
    // Read once: what the checks read is what the doors and the escalations use.
    Stores stores = checkStores(config);
    // Each door's interface (null: every interface), resolved now: a name that does not resolve is a config error.
    InetAddress grpcHost = config.bindAddress(CascadeConfig.GRPC_HOST);
    boolean httpOn = config.get(CascadeConfig.HTTP_ENABLED);
    InetAddress httpHost = config.get(CascadeConfig.HTTP_HOST).isEmpty() ? grpcHost
        : config.bindAddress(CascadeConfig.HTTP_HOST);
    InetAddress metricsHost = config.bindAddress(CascadeConfig.METRICS_HOST);
    new Ports().add(CascadeConfig.GRPC_PORT.name(), grpcHost, config.get(CascadeConfig.GRPC_PORT))
        .add(CascadeConfig.HTTP_PORT.name(), httpHost, httpOn ? config.get(CascadeConfig.HTTP_PORT) : 0)
        .add(CascadeConfig.METRICS_PORT.name(), metricsHost,
            config.get(CascadeConfig.METRICS_ENABLED) ? config.get(CascadeConfig.METRICS_PORT) : 0)
        .checkFree();
    // The admin token file too (a file someone else could have planted or can read is refused): at
    // worst a generated token file stays behind, which the next start reads back.
    AdminTokens.Resolved token = AdminTokens.resolve(config);
    config = config.with(CascadeConfig.ADMIN_TOKEN, token.token());
    // The effective configuration, secrets masked (CascadeConfig.describe): what this router runs with;
    // after the checks above, so that a start they refuse is one line.
    LOG.info("serve: configuration {}", config.describe());
    TextGenerator small = loadSmall(config);
    CascadeRouter router = CascadeRouter.start(config, small, target, dev.cascade.router.learning.LearnedRules.bundled(),
        dev.cascade.router.escalation.LargeModelTransports.Options.from(config, stores.large()));
    FrontDoor doors;
    try {
      doors = FrontDoor.start(config, new RequestValidator(small, router.tiers()), router.rules(),
          new InetSocketAddress(grpcHost, config.get(CascadeConfig.GRPC_PORT)), router.metrics().registry().orElse(null),
          stores.door(), apiKeys);
    } catch (RuntimeException e) {
      // Leave the group at once, and remove a temporary state directory, as a stop does.
      router.close();
      small.close();
      throw e;
    }
    int kafkaTimeoutMs = config.get(CascadeConfig.HEALTH_KAFKA_TIMEOUT_MS);
    BrokerWatch kafka;
    try {
      kafka = kafkaTimeoutMs == 0 ? null
          : BrokerWatch.start(CascadeRouter.clientProperties(config), Duration.ofMillis(kafkaTimeoutMs));
    } catch (RuntimeException e) {
      doors.close();
      router.close();
      small.close();
      throw e;
    }
    doors.healthFollows(() -> router.streams().state().isRunningOrRebalancing() && (kafka == null || kafka.reachable()));
    List<EscalationTiers.Target> tierTargets = config.get(CascadeConfig.TIERS);
    // Each tier's model, parameters and tokenizer, logged and checked once its server says them (Info),
    // asked in the background until it does (watch, below).
    TierChecks tierChecks = new TierChecks(router.tiers(), small.info().name(), small.info().parameters(),
        small.tokenizerSha256(), !tierTargets.isEmpty(), config.get(CascadeConfig.LARGE_PARAMETERS), (level, line) -> {
          if (level == TierChecks.Level.WARN) {
            LOG.warn("{}", line);
          } else {
            LOG.info("{}", line);
          }
        });
    router.metrics().registry().ifPresent(tierChecks::register);
    UntilStopped until = new UntilStopped();
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      until.stopping();
      long begun = System.nanoTime();
      LOG.info("serve: stopping (a signal or exit): new calls refused, calls in flight answered, stream threads"
          + " closed with a last commit");
      boolean clusterLost = kafka != null && !kafka.reachable();
      Duration wait = UntilStopped.closeTimeout(clusterLost, LOG);
      if (kafka != null) {
        kafka.close();
      }
      doors.close(clusterLost);
      tierChecks.close();
      router.close(wait);
      small.close();
      LOG.info("serve: stopped in {} ms", (System.nanoTime() - begun) / 1_000_000);
      until.stopped();
    }, "serve-shutdown"));
    System.out.println("router=" + config.get(CascadeConfig.APPLICATION_ID) + " bootstrap.servers="
        + config.get(CascadeConfig.BOOTSTRAP_SERVERS) + (tierTargets.isEmpty() ? " large.target=" + target
            : " tiers=" + tierTargets.stream().map(t -> t.name() + "=" + t.target()).collect(Collectors.joining(",")))
        + " engine=" + small.info().engine());
    checkTiers(router.tiers(), tierTargets.isEmpty() ? List.of(new EscalationTiers.Target("large", target))
        : tierTargets);
    tierChecks.watch();
    // Where each door listens: its interface's address, or this machine's name for every interface.
    System.out.println("grpc=" + doors.host().map(MetricsEndpoint::literal).orElse(MetricsEndpoint.machineName()) + ":" + doors.port());
    System.out.println(httpOn ? "openai=" + doors.httpScheme() + "://" + doors.httpHost().map(MetricsEndpoint::literal).orElse(MetricsEndpoint.machineName())
        + ":" + doors.httpPort() + "/v1" : "openai=off (http.enabled=false)");
    router.metrics().endpoint().ifPresent(m -> System.out.println("metrics=" + m.url(MetricsEndpoint.machineName())));
    // Never the token itself: stdout is the pod's log.
    if (token.file() != null) {
      System.out.println("admin-token-file=" + token.file().toAbsolutePath()
          + (token.generated() ? " (generated, owner-only)" : " (read: written before this start)"));
    }
    System.out.flush();
    CascadeRouter.configuredPolicyNotInForce(config, doors.policyInForce()).ifPresent(line -> LOG.warn("{}", line));
    // Exit 3 once the router's Kafka Streams stops without being asked (the shutdown hook closes the rest).
    return until.await("serve", "the router", router.unplannedStop(), LOG);
  }

  /**
   * The doors' stores ({@code grpc.tls.*}, {@code http.tls.*}) and the escalations' ({@code
   * large.tls.*}), each read once.
   */
  record Stores(dev.cascade.router.api.FrontDoor.Tls door, GrpcTls.Opened large) {}

  /**
   * Reads {@code api.keys-file} once, before anything starts (null when none is set): a missing or
   * malformed file stops the start at once, naming the key and where it was set (exit 2), and the
   * doors then serve with what was read. {@code serve} and {@code demo --serve} both read it here.
   */
  static dev.cascade.router.api.ApiKeys apiKeys(CascadeConfig config) {
    String keysFile = config.get(CascadeConfig.API_KEYS_FILE);
    if (keysFile.isBlank()) {
      if (config.get(CascadeConfig.API_RATE_LIMIT).limits()) {
        LOG.warn("api.rate-limit ({}) limits the calls of each API key, and api.keys-file is not set: the doors are"
            + " open and nothing is limited", config.get(CascadeConfig.API_RATE_LIMIT));
      }
      if (config.given(CascadeConfig.API_KEYS_RELOAD_MS)) {
        LOG.warn("api.keys-reload-ms is set (from {}), and api.keys-file is not: there is no keys file to reload, and the"
            + " doors are open", config.sourceOf(CascadeConfig.API_KEYS_RELOAD_MS.name()));
      }
      return null;
    }
    try {
      return dev.cascade.router.api.ApiKeys.load(java.nio.file.Path.of(keysFile), null)
          .limitedTo(config.get(CascadeConfig.API_RATE_LIMIT));
    } catch (IllegalArgumentException | java.io.UncheckedIOException e) {
      String prefix = CascadeConfig.API_KEYS_FILE.name() + " ";
      throw config.invalid(CascadeConfig.API_KEYS_FILE, e.getMessage().startsWith(prefix)
          ? e.getMessage().substring(prefix.length()) : e.getMessage());
    }
  }

  /**
   * Opens every key and trust store configured, with its password, once, before anything touches
   * Kafka: a wrong password or path stops the start at once, naming the key (exit 2). The doors and
   * the escalations are then made from what was read.
   */
  static Stores checkStores(CascadeConfig config) {
    return new Stores(dev.cascade.router.api.FrontDoor.Tls.of(config), new GrpcTls.Opened(
        dev.cascade.router.api.FrontDoor.Tls.open(config, CascadeConfig.LARGE_TLS_KEY_STORE,
            CascadeConfig.LARGE_TLS_KEY_STORE_PASSWORD, GrpcTls::openKeyStore),
        dev.cascade.router.api.FrontDoor.Tls.open(config, CascadeConfig.LARGE_TLS_TRUST_STORE,
            CascadeConfig.LARGE_TLS_TRUST_STORE_PASSWORD, GrpcTls::openTrustStore)));
  }

  /**
   * Logs, without holding up the start, a tier that does not answer its readiness check (its
   * escalations degrade until it does), and a middle tier over KServe or OpenAI, which returns no
   * token log-probabilities: its rule scores every answer 0, so it never passes a request on.
   */
  private static void checkTiers(EscalationTiers tiers, List<EscalationTiers.Target> targets) {
    // connectTiers made tier i + 1 from targets[i].
    for (int i = 0; i < targets.size(); i++) {
      EscalationTiers.Tier tier = tiers.tier(i + 1);
      // As the large model's target is written everywhere else: with its scheme.
      LargeTarget where = LargeTarget.parse(targets.get(i).target());
      if (!tiers.isLast(tier.tier()) && where.protocol() != LargeTarget.Protocol.CASCADE) {
        LOG.warn("tier {} ({}) is a middle tier over a protocol that returns no token log-probabilities: its rule"
            + " scores every answer 0, so it passes no request on to the next tier; serve it over cascade://",
            tier.name(), where);
      }
      tier.client().ready().orTimeout(10, TimeUnit.SECONDS).whenComplete((ready, e) -> {
        if (e != null || !Boolean.TRUE.equals(ready)) {
          LOG.warn("tier {} ({}) is not ready ({}): escalations to it degrade until it is", tier.name(), where,
              e != null ? (e.getCause() != null ? e.getCause() : e).toString() : "its readiness check says no");
        } else {
          LOG.info("tier {} ({}) is ready", tier.name(), where);
        }
      });
    }
  }

  /**
   * The small model {@code small.model} names, run by {@code model.engine}; a model that is not
   * there or an engine this host cannot run is refused under its key, with where the value came from.
   */
  static TextGenerator loadSmall(CascadeConfig config) {
    try {
      return TextGenerators.load(config.get(CascadeConfig.SMALL_MODEL), config.get(CascadeConfig.ENGINE),
          config.loadOptions());
    } catch (dev.cascade.models.EngineUnavailableException e) {
      throw config.invalid(CascadeConfig.ENGINE, e.getMessage());
    } catch (dev.cascade.models.ModelNotFoundException e) {
      throw config.invalid(CascadeConfig.SMALL_MODEL, e.reason());
    }
  }
}
