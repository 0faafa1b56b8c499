package dev.cascade.router.api;

import dev.cascade.models.server.GrpcReflection;
import dev.cascade.proto.v1.CascadeGrpc;
import dev.cascade.proto.v1.PolicyAdminGrpc;
import dev.cascade.router.routing.RequestValidator;
import dev.cascade.router.learning.RuleResolver;
import io.grpc.Server;
import io.grpc.ServerBuilder;
import io.grpc.ServerInterceptors;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.protobuf.services.HealthStatusManager;
import java.io.IOException;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The router's gRPC server: {@code cascade.v1.Cascade} (the front door, and feedback on its answers), {@code
 * cascade.v1.PolicyAdmin} (its writes guarded by the admin token), the standard health service
 * and server reflection.
 *
 * <p>Constructed from a {@link ServerBuilder}, so tests hand it an in-process builder; see
 * {@link FrontDoor} for the one wired to Kafka.
 */
public final class CascadeServer {

  private static final Logger LOG = LoggerFactory.getLogger(CascadeServer.class);

  private final Server server;
  private final HealthStatusManager health = new HealthStatusManager();
  private final PolicyAdminService admin;
  private final AdminAudit audit;
  private final RequestChannel requests;
  private volatile java.util.function.BooleanSupplier ready = () -> true;
  private java.util.concurrent.ScheduledExecutorService watcher;
  private volatile ServingStatus serving;
  private final DoorMetrics doorMetrics;

  /**
   * @param requests how requests reach the cascade and their responses come back
   * @param policies where the live policy is read and written
   * @param ruleStore where learned rule versions are published (they show up in {@code rules}' catalog)
   * @param validator the rules every request obeys
   * @param rules the rules a policy may name
   * @param adminToken the bearer token {@code UpdatePolicy} and {@code PublishRule} require; not empty
   * @param defaultDeadline how long {@code Generate} waits when the call sets no shorter deadline
   */
  CascadeServer(ServerBuilder<?> builder, RequestChannel requests, PolicyStore policies, RuleStore ruleStore,
      RequestValidator validator, RuleResolver rules, String adminToken, Duration defaultDeadline) {
    this(builder, requests, policies, ruleStore, validator, rules, adminToken, defaultDeadline, null);
  }

  /** As above; with {@code apiKeys} (null: none), {@code Generate} requires one of them. */
  CascadeServer(ServerBuilder<?> builder, RequestChannel requests, PolicyStore policies, RuleStore ruleStore,
      RequestValidator validator, RuleResolver rules, String adminToken, Duration defaultDeadline, ApiKeys apiKeys) {
    this(builder, requests, policies, ruleStore, validator, rules, adminToken, defaultDeadline, apiKeys, null);
  }

  /**
   * As above; {@code SubmitFeedback} writes to {@code feedback} (null: that call is UNIMPLEMENTED),
   * and with {@code apiKeys} it requires a key as {@code Generate} does.
   */
  CascadeServer(ServerBuilder<?> builder, RequestChannel requests, PolicyStore policies, RuleStore ruleStore,
      RequestValidator validator, RuleResolver rules, String adminToken, Duration defaultDeadline, ApiKeys apiKeys,
      FeedbackTopic.Sink feedback) {
    this(builder, requests, policies, ruleStore, validator, rules, adminToken, defaultDeadline, apiKeys, feedback,
        null);
  }

  /**
   * As above; PolicyAdmin's write attempts are logged ({@link AdminAudit}) and counted in {@code
   * registry}'s {@code cascade_admin_requests_total} (null: logged only), and the doors' health and
   * answers in its {@code cascade_health_serving} and {@code cascade_door_responses_total} ({@link
   * DoorMetrics}).
   */
  CascadeServer(ServerBuilder<?> builder, RequestChannel requests, PolicyStore policies, RuleStore ruleStore,
      RequestValidator validator, RuleResolver rules, String adminToken, Duration defaultDeadline, ApiKeys apiKeys,
      FeedbackTopic.Sink feedback, io.prometheus.metrics.model.registry.PrometheusRegistry registry) {
    this(builder, requests, policies, ruleStore, validator, rules, adminToken, defaultDeadline, apiKeys, feedback,
        registry, Duration.ZERO);
  }

  /**
   * As above; a request's {@code deadline_ms} falls {@code deadlineMargin} before its call's wait
   * ends ({@code front-door.deadline-margin-ms}; zero: when it ends).
   */
  CascadeServer(ServerBuilder<?> builder, RequestChannel requests, PolicyStore policies, RuleStore ruleStore,
      RequestValidator validator, RuleResolver rules, String adminToken, Duration defaultDeadline, ApiKeys apiKeys,
      FeedbackTopic.Sink feedback, io.prometheus.metrics.model.registry.PrometheusRegistry registry,
      Duration deadlineMargin) {
    this.admin = new PolicyAdminService(policies, ruleStore, rules, Clock.systemUTC(),
        validator.middleTiers().orElse(-1));
    this.requests = requests;
    this.audit = new AdminAudit(registry);
    CascadeService cascade = new CascadeService(requests, validator, defaultDeadline, deadlineMargin, feedback);
    cascade.refuseWhileNot(() -> serving != ServingStatus.NOT_SERVING);
    this.doorMetrics = DoorMetrics.register(registry, () -> serving == ServingStatus.SERVING);
    // The count outermost (the last is called first): it counts the calls the key check refuses too.
    this.server = builder
        .addService(apiKeys == null ? ServerInterceptors.intercept(cascade, doorMetrics.grpc())
            : ServerInterceptors.intercept(cascade, apiKeys, doorMetrics.grpc()))
        // The audit outermost (the last is called first): it records the calls the token check refuses too.
        .addService(ServerInterceptors.intercept(admin, new AdminTokenInterceptor(adminToken), audit))
        .addService(health.getHealthService())
        .addService(GrpcReflection.v1())
        .addService(GrpcReflection.v1alpha())
        .build();
  }

  /** Starts serving; health turns SERVING. */
  public CascadeServer start() throws IOException {
    server.start();
    health.setStatus(PolicyAdminGrpc.SERVICE_NAME, ServingStatus.SERVING);
    refreshHealth();
    watcher = java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "front-door-health");
      t.setDaemon(true);
      return t;
    });
    watcher.scheduleWithFixedDelay(this::refreshHealth, 500, 500, TimeUnit.MILLISECONDS);
    // The audit's summaries of refused attempts not logged one by one, also once their flood has stopped.
    watcher.scheduleWithFixedDelay(audit::logSuppressed, 5, 5, TimeUnit.SECONDS);
    LOG.info("cascade gRPC server listening on {}", server.getListenSockets());
    return this;
  }

  /** The interface it listens on (after {@link #start()}); empty: every interface, or in-process. */
  public java.util.Optional<java.net.InetAddress> host() {
    return server.getListenSockets().stream()
        .filter(a -> a instanceof java.net.InetSocketAddress i && !i.getAddress().isAnyLocalAddress())
        .map(a -> ((java.net.InetSocketAddress) a).getAddress()).findFirst();
  }

  /**
   * Health of {@code Cascade} (and of the server, service "") follows {@code ready} as well as the
   * reply reader: NOT_SERVING while either says no, SERVING again when both say yes (checked every
   * 500 ms). {@code serve} passes whether its router's stream threads are running.
   */
  public void healthFollows(java.util.function.BooleanSupplier ready) {
    this.ready = ready;
    refreshHealth();
  }

  private synchronized void refreshHealth() {
    boolean ok;
    try {
      ok = requests.healthy() && ready.getAsBoolean();
    } catch (RuntimeException e) {
      ok = false;
    }
    ServingStatus now = ok ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
    if (now != serving) {
      if (serving != null) {
        LOG.warn("health: {} -> {}", serving, now);
      }
      serving = now;
      health.setStatus("", now);
      health.setStatus(CascadeGrpc.SERVICE_NAME, now);
    }
  }

  /** How long {@link #stop()} lets running calls finish (the front door's HTTP calls get the same). */
  public static final Duration DRAIN = Duration.ofSeconds(30);

  /** Stops taking calls, ends policy watches, lets running calls finish for up to {@link #DRAIN} (30 seconds). */
  public void stop() throws InterruptedException {
    stop(DRAIN);
  }

  /** As {@link #stop()}, letting running calls finish for up to {@code drain}. */
  public void stop(Duration drain) throws InterruptedException {
    if (watcher != null) {
      watcher.shutdownNow();
    }
    health.enterTerminalState();
    server.shutdown();
    admin.completeWatches();
    if (!server.awaitTermination(drain.toNanos(), TimeUnit.NANOSECONDS)) {
      server.shutdownNow();
      server.awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  /** Waits until the server has stopped. */
  public void blockUntilShutdown() throws InterruptedException {
    server.awaitTermination();
  }

  /** Where the doors' health and answers are counted (the HTTP door's too, in {@link FrontDoor}). */
  DoorMetrics doorMetrics() {
    return doorMetrics;
  }

  /** The port it listens on (after {@link #start()}; -1 for in-process servers). */
  public int port() {
    return server.getPort();
  }
}
