package dev.cascade.router.api;

import dev.cascade.router.CascadeRouter;
import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.routing.RequestValidator;
import dev.cascade.router.learning.RuleResolver;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.Base64;

/**
 * The router's doors for callers, wired to Kafka: the gRPC {@link CascadeServer} and the
 * OpenAI-compatible HTTP door ({@link OpenAiServer}, on {@code http.port}, on {@code http.host} or the
 * gRPC door's interface; none with {@code http.enabled=false}) over one
 * Kafka {@link RequestChannel} (requests topic out, this instance's replies in: from a reply topic of
 * its own by default, {@code front-door.replies}), the policy topic, the rules topic and the
 * feedback topic. Runs beside a {@link CascadeRouter} in the same JVM: it lists and checks rules
 * against that router's rule catalog, and a published rule counts as written once that catalog
 * has read it back. With a reply topic of its own it also deletes the reply topics of front doors
 * no longer running ({@link ReplyTopicReaper}, {@code front-door.reply-topic-reaper.*}).
 */
public final class FrontDoor implements AutoCloseable {

  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(FrontDoor.class);

  private final KafkaRequestChannel requests;
  private final PolicyTopic policies;
  private final RulesTopic ruleVersions;
  private final FeedbackTopic.Sink feedback;
  private final CascadeServer server;
  private final OpenAiServer http;
  private final String adminToken;
  /** Null when off ({@code front-door.reply-topic-reaper.enabled=false}, shared replies) or not started yet. */
  private volatile ReplyTopicReaper reaper;
  /** Stops the API keys' reloading ({@code api.keys-reload-ms}); nothing to stop without keys. */
  private volatile AutoCloseable keysReload = () -> { };

  private FrontDoor(KafkaRequestChannel requests, PolicyTopic policies, RulesTopic ruleVersions,
      FeedbackTopic.Sink feedback, CascadeServer server, OpenAiServer http, String adminToken) {
    this.requests = requests;
    this.feedback = feedback;
    this.http = http;
    this.policies = policies;
    this.ruleVersions = ruleVersions;
    this.server = server;
    this.adminToken = adminToken;
  }

  /**
   * Connects to Kafka and starts the gRPC server on {@code address} (port 0 picks a free one), and
   * the HTTP door (unless {@code http.enabled=false}) on port {@code http.port} of {@code http.host},
   * or of the same interface when that is empty.
   * The admin token is configuration's {@code admin.token}, or a fresh random one when that is
   * empty (read it back with {@link #adminToken()}).
   *
   * @param validator the rules every request obeys (the router's)
   * @param rules the rules a policy may name (the router's: its catalog is what ListRules shows and
   *     what PublishRule waits on)
   */
  public static FrontDoor start(CascadeConfig config, RequestValidator validator, RuleResolver rules,
      InetSocketAddress address) {
    return start(config, validator, rules, address, null);
  }

  /**
   * As above, counting API-key use in {@code registry} (null: not counted) when {@code
   * api.keys-file} is set, PolicyAdmin's write attempts ({@code cascade_admin_requests_total}),
   * whether the policy topic is missing ({@code cascade_policy_topic_missing}), and the doors' health
   * and answers ({@link DoorMetrics}).
   */
  public static FrontDoor start(CascadeConfig config, RequestValidator validator, RuleResolver rules,
      InetSocketAddress address, io.prometheus.metrics.model.registry.PrometheusRegistry registry) {
    // The key stores are opened before Kafka is touched: a wrong password creates no reply topic.
    return start(config, validator, rules, address, registry, Tls.of(config));
  }

  /**
   * The doors' TLS, each door's stores read once.
   *
   * @param grpc the gRPC door's ({@code grpc.tls.key-store}, {@code grpc.tls.client-trust-store})
   * @param http the HTTP door's ({@code http.tls.key-store}, {@code http.tls.client-trust-store})
   */
  public record Tls(dev.cascade.models.server.GrpcTls.Opened grpc, dev.cascade.models.server.GrpcTls.Opened http) {

    /** Both doors plaintext. */
    public static final Tls NONE = new Tls(dev.cascade.models.server.GrpcTls.Opened.NONE,
        dev.cascade.models.server.GrpcTls.Opened.NONE);

    /**
     * Reads the stores the configuration names (none: plaintext), each once: a store that cannot be
     * read or opened is a {@link dev.cascade.router.config.ConfigException} naming its key and its
     * password's key.
     */
    public static Tls of(CascadeConfig config) {
      return new Tls(
          new dev.cascade.models.server.GrpcTls.Opened(open(config, CascadeConfig.GRPC_TLS_KEY_STORE,
              CascadeConfig.GRPC_TLS_KEY_STORE_PASSWORD, dev.cascade.models.server.GrpcTls::openKeyStore),
              open(config, CascadeConfig.GRPC_TLS_CLIENT_TRUST_STORE, CascadeConfig.GRPC_TLS_CLIENT_TRUST_STORE_PASSWORD,
                  dev.cascade.models.server.GrpcTls::openTrustStore)),
          new dev.cascade.models.server.GrpcTls.Opened(open(config, CascadeConfig.HTTP_TLS_KEY_STORE,
              CascadeConfig.HTTP_TLS_KEY_STORE_PASSWORD, dev.cascade.models.server.GrpcTls::openKeyStore),
              open(config, CascadeConfig.HTTP_TLS_CLIENT_TRUST_STORE, CascadeConfig.HTTP_TLS_CLIENT_TRUST_STORE_PASSWORD,
                  dev.cascade.models.server.GrpcTls::openTrustStore)));
    }

    /**
     * Opens the store {@code store} names with {@code opener} (null when it names none): one that
     * cannot be read or opened is an error under {@code store}'s name, naming {@code password} too.
     */
    public static <T> T open(CascadeConfig config, dev.cascade.router.config.ConfigKey<String> store,
        dev.cascade.router.config.ConfigKey<String> password,
        java.util.function.Function<dev.cascade.models.server.GrpcTls.Store, T> opener) {
      try {
        return opener.apply(dev.cascade.models.server.GrpcTls.Store.of(config.get(store), config.get(password)));
      } catch (java.io.UncheckedIOException | IllegalArgumentException e) {
        throw new dev.cascade.router.config.ConfigException(store.name(),
            e.getMessage() + " (its password: " + password.name() + ")");
      }
    }
  }

  /**
   * As above, with the doors' TLS already read ({@code tls}: {@code serve} reads the stores once, to
   * check them before anything starts, and serves with what it read).
   */
  public static FrontDoor start(CascadeConfig config, RequestValidator validator, RuleResolver rules,
      InetSocketAddress address, io.prometheus.metrics.model.registry.PrometheusRegistry registry, Tls tls) {
    String keysFile = config.get(CascadeConfig.API_KEYS_FILE);
    return start(config, validator, rules, address, registry, tls,
        keysFile.isBlank() ? null : ApiKeys.load(java.nio.file.Path.of(keysFile), null)
            .limitedTo(config.get(CascadeConfig.API_RATE_LIMIT)));
  }

  /**
   * As above, with {@code api.keys-file} already read ({@code keys}; null: no keys, both doors
   * open): {@code serve} reads it with its start checks and serves with what it read.
   */
  public static FrontDoor start(CascadeConfig config, RequestValidator validator, RuleResolver rules,
      InetSocketAddress address, io.prometheus.metrics.model.registry.PrometheusRegistry registry,
      Tls tls, ApiKeys keys) {
    ApiKeys apiKeys = keys == null ? null : keys.counted(registry);
    String token = config.get(CascadeConfig.ADMIN_TOKEN);
    if (token.isBlank()) {
      token = generateToken();
    }
    io.grpc.ServerCredentials credentials = dev.cascade.models.server.GrpcTls.server(tls.grpc());
    var clientProps = CascadeRouter.clientProperties(config);
    boolean ownTopic = config.get(CascadeConfig.FRONT_DOOR_REPLIES).equals(CascadeConfig.REPLIES_OWN_TOPIC);
    KafkaRequestChannel requests = KafkaRequestChannel.start(clientProps, config.topics().requests(),
        config.topics().responses(), config.topics().deadLetters(), ownTopic ? config.replyTopicPrefix() : null);
    PolicyTopic policies;
    try {
      policies = PolicyTopic.start(clientProps, config.topics().policy(), CascadeRouter.configuredPolicy(config),
          registry);
    } catch (RuntimeException e) {
      requests.close();
      throw e;
    }
    RulesTopic ruleVersions;
    try {
      ruleVersions = RulesTopic.start(clientProps, config.topics().rules(), rules.catalog());
    } catch (RuntimeException e) {
      requests.close();
      policies.close();
      throw e;
    }
    FeedbackTopic.Sink feedback;
    try {
      feedback = FeedbackTopic.kafka(clientProps, config.topics().feedback());
    } catch (RuntimeException e) {
      requests.close();
      policies.close();
      ruleVersions.close();
      throw e;
    }
    CascadeServer server;
    try {
      server = new CascadeServer(NettyServerBuilder.forAddress(address, credentials), requests, policies,
          ruleVersions, validator, rules, token, Duration.ofMillis(config.get(CascadeConfig.GRPC_DEFAULT_DEADLINE_MS)),
          apiKeys, feedback, registry, Duration.ofMillis(config.get(CascadeConfig.FRONT_DOOR_DEADLINE_MARGIN_MS)));
      server.start();
    } catch (IOException | RuntimeException e) {
      requests.close();
      policies.close();
      ruleVersions.close();
      feedback.close();
      throw e instanceof IOException io ? new UncheckedIOException("cannot start the gRPC server on " + address, io)
          : (RuntimeException) e;
    }
    if (!config.get(CascadeConfig.HTTP_ENABLED)) {
      LOG.info("the OpenAI-compatible HTTP door is off (http.enabled=false)");
      return new FrontDoor(requests, policies, ruleVersions, feedback, server, null, token)
          .withReaper(config, clientProps, registry).withKeysReload(config, apiKeys);
    }
    OpenAiServer http = new OpenAiServer(requests, validator, apiKeys, TokenCounter.of(validator), new OpenAiServer.Settings(
        Duration.ofMillis(config.get(CascadeConfig.GRPC_DEFAULT_DEADLINE_MS)), config.get(CascadeConfig.MAX_NEW_TOKENS),
        config.get(CascadeConfig.HTTP_MAX_IN_FLIGHT), OpenAiServer.bodyLimits(
            config.get(CascadeConfig.HTTP_BODY_TIMEOUT_MS), config.get(CascadeConfig.HTTP_MIN_BODY_RATE),
            config.get(CascadeConfig.HTTP_MAX_BODY_READS)), config.get(CascadeConfig.HTTP_CORS_ALLOWED_ORIGINS),
        Duration.ofMillis(config.get(CascadeConfig.FRONT_DOOR_DEADLINE_MARGIN_MS)), chatTranscript(config)), feedback)
        .countedBy(server.doorMetrics());
    java.net.InetAddress httpHost = address.getAddress();
    try {
      if (!config.get(CascadeConfig.HTTP_HOST).isEmpty()) {
        httpHost = config.bindAddress(CascadeConfig.HTTP_HOST);
      }
      // A wildcard address means every interface, IPv6 too: Jetty's null host, not "0.0.0.0".
      http.start(httpHost.isAnyLocalAddress() ? null : httpHost.getHostAddress(), config.get(CascadeConfig.HTTP_PORT),
          tls.http());
    } catch (RuntimeException e) {
      try {
        server.stop();
      } catch (InterruptedException interrupted) {
        Thread.currentThread().interrupt();
      }
      requests.close();
      policies.close();
      ruleVersions.close();
      feedback.close();
      if (e instanceof dev.cascade.router.config.ConfigException) {
        throw e;
      }
      throw new IllegalStateException("cannot start the HTTP door on " + httpHost.getHostAddress() + ":"
          + config.get(CascadeConfig.HTTP_PORT) + " (http.port): " + e.getMessage(), e);
    }
    if (tls.grpc().keys() != null && tls.http().keys() == null) {
      LOG.warn("the OpenAI-compatible HTTP door on port {} is plain HTTP: grpc.tls.key-store applies to the gRPC door"
          + " only; http.tls.key-store gives this door HTTPS (see SECURITY.md)", http.port());
    }
    return new FrontDoor(requests, policies, ruleVersions, feedback, server, http, token)
        .withReaper(config, clientProps, registry).withKeysReload(config, apiKeys);
  }

  /** Reloads {@code keys} every {@code api.keys-reload-ms} (none: nothing) until this door closes. */
  private FrontDoor withKeysReload(CascadeConfig config, ApiKeys keys) {
    if (keys != null) {
      keysReload = keys.reloadEvery(Duration.ofMillis(config.get(CascadeConfig.API_KEYS_RELOAD_MS)));
    }
    return this;
  }

  /**
   * Starts the reply-topic reaper, with a reply topic of its own and {@code
   * front-door.reply-topic-reaper.enabled}; closes this front door if that fails.
   */
  private FrontDoor withReaper(CascadeConfig config, java.util.Map<String, Object> clientProps,
      io.prometheus.metrics.model.registry.PrometheusRegistry registry) {
    String own = requests.replyTopic();
    if (own == null || !config.get(CascadeConfig.REPLY_TOPIC_REAPER_ENABLED)) {
      return this;
    }
    Duration grace = Duration.ofMillis(config.get(CascadeConfig.REPLY_TOPIC_REAPER_GRACE_MS));
    Duration legacyGrace = Duration.ofMillis(config.get(CascadeConfig.REPLY_TOPIC_REAPER_LEGACY_GRACE_MS));
    // A router writes the last reply to a dead front door's request within the request's deadline
    // and the escalation's wait of taking it: a grace shorter than that may delete a topic a
    // router is about to write to (the reaper sees no write for the grace, and so deletes it).
    long answerMs = (long) config.get(CascadeConfig.GRPC_DEFAULT_DEADLINE_MS)
        + config.get(CascadeConfig.ESCALATION_MAX_WAIT_MS);
    for (var key : java.util.List.of(CascadeConfig.REPLY_TOPIC_REAPER_GRACE_MS,
        CascadeConfig.REPLY_TOPIC_REAPER_LEGACY_GRACE_MS)) {
      long ms = config.get(key);
      if (ms > 0 && ms < answerMs) {
        LOG.warn("{}={} is shorter than {} + {} ({} ms): a router may still answer a request of a killed front door"
            + " after its reply topic was deleted", key.name(), ms, CascadeConfig.GRPC_DEFAULT_DEADLINE_MS.name(),
            CascadeConfig.ESCALATION_MAX_WAIT_MS.name(), answerMs);
      }
    }
    try {
      reaper = ReplyTopicReaper.start(clientProps, config.replyTopicPrefix(), own, requests::recreateReplyTopic,
          new ReplyTopicReaper.Settings(grace, legacyGrace,
              Duration.ofMillis(config.get(CascadeConfig.REPLY_TOPIC_REAPER_INTERVAL_MS))), registry);
    } catch (RuntimeException e) {
      close();
      throw e;
    }
    return this;
  }

  /** A fresh admin token: 32 random bytes, URL-safe Base64. */
  public static String generateToken() {
    byte[] bytes = new byte[32];
    new SecureRandom().nextBytes(bytes);
    return Base64.getUrlEncoder().withoutPadding().encodeToString(bytes);
  }

  /**
   * Health follows {@code ready} as well as the reply reader (see {@link CascadeServer#healthFollows});
   * the HTTP door answers 503 while either says no.
   */
  public void healthFollows(java.util.function.BooleanSupplier ready) {
    server.healthFollows(ready);
    if (http != null) {
      http.healthFollows(ready);
    }
  }

  /**
   * Replies to other front-door instances that this one skipped by their {@code cascade.reply-to}
   * header, without decoding them (only in {@code front-door.replies=shared} mode; with a reply
   * topic of its own it is sent none).
   */
  public long repliesSkipped() {
    return requests.skippedByHeader();
  }

  /** Records this instance's reply reader has fetched, of every kind (its replies, others', dead letters). */
  public long replyRecordsRead() {
    return requests.recordsRead();
  }

  /**
   * This instance's own reply topic ({@code front-door.replies=own-topic}), or empty when it reads
   * the shared responses topic.
   */
  public java.util.Optional<String> replyTopic() {
    return java.util.Optional.ofNullable(requests.replyTopic());
  }

  /** The live policy as this door last read it from the policy topic (the configured default while it holds none). */
  public dev.cascade.router.policy.DeferralPolicy policyInForce() {
    return policies.current();
  }

  /** The gRPC port. */
  public int port() {
    return server.port();
  }

  /**
   * The port of the OpenAI-compatible HTTP door (its base URL is {@code http://HOST:PORT/v1}, or
   * https: {@link #httpScheme}); -1
   * when it is off ({@code http.enabled=false}).
   */
  public int httpPort() {
    return http == null ? -1 : http.port();
  }

  /** The HTTP door's scheme: {@code https} with {@code http.tls.key-store}, else {@code http}. */
  public String httpScheme() {
    return http != null && http.secure() ? "https" : "http";
  }

  /** The interface the HTTP door listens on; empty when it listens on every interface or is off. */
  public java.util.Optional<java.net.InetAddress> httpHost() {
    return http == null ? java.util.Optional.empty() : http.host();
  }

  /** The interface the gRPC door listens on; empty when it listens on every interface (or is in-process). */
  public java.util.Optional<java.net.InetAddress> host() {
    return server.host();
  }

  /** The bearer token {@code UpdatePolicy} and {@code PublishRule} require. */
  public String adminToken() {
    return adminToken;
  }

  /** This instance's id, which its requests carry as {@code reply_to}. */
  public String instanceId() {
    return requests.instanceId();
  }

  /** Responses addressed to this instance that arrived after their caller stopped waiting (delivered to nobody). */
  public long unclaimedResponses() {
    return requests.unclaimed();
  }

  /** Responses handed to a waiting caller. */
  public long deliveredResponses() {
    return requests.delivered();
  }

  /** Waits until the server has stopped. */
  public void blockUntilShutdown() throws InterruptedException {
    server.blockUntilShutdown();
  }

  /**
   * New calls on either door are refused (gRPC: the server stops accepting them; HTTP: 503
   * {@code shutting_down}); the calls in flight on both doors are answered, for up to {@link
   * CascadeServer#DRAIN} (30 seconds) together; HTTP calls still waiting after it are answered 503
   * when the Kafka side closes. Last, this instance's reply topic is deleted when every request it
   * sent has had its reply (see {@link KafkaRequestChannel#close()}).
   */
  @Override
  public void close() {
    close(false);
  }

  /**
   * As {@link #close()}; with {@code clusterLost} (the Kafka cluster is known not to answer), the
   * Kafka side waits for no reply and deletes no reply topic ({@link RequestChannel#closeClusterLost}).
   */
  public void close(boolean clusterLost) {
    try {
      keysReload.close();
    } catch (Exception e) {
      LOG.warn("stopping the API keys' reload: {}", e.toString());
    }
    if (reaper != null) {
      reaper.close(); // before the reply topic goes: the reaper re-creates its own topic when it finds it gone
    }
    try {
      drain(server, http, CascadeServer.DRAIN);
    } finally {
      // Fails what still waits: those HTTP calls are answered 503.
      if (clusterLost) {
        requests.closeClusterLost();
      } else {
        requests.close();
      }
      if (http != null) {
        try {
          http.awaitCalls(Duration.ofSeconds(2));
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
        http.stop();
      }
      policies.close();
      ruleVersions.close();
      feedback.close();
    }
  }

  /**
   * Both doors stop taking calls at once, then the calls in flight on either get until {@code bound}
   * (from now) to be answered: the gRPC server's, then the HTTP door's in what is left of it.
   */
  static void drain(CascadeServer server, OpenAiServer http, Duration bound) {
    long deadline = System.nanoTime() + bound.toNanos();
    if (http != null) {
      http.refuseNew();
    }
    try {
      server.stop(bound);
      if (http != null && !http.awaitCalls(Duration.ofNanos(Math.max(0, deadline - System.nanoTime())))) {
        LOG.warn("HTTP door: {} call(s) still in flight {} s after the doors closed; answered 503 as Kafka closes",
            http.callsInFlight(), bound.toSeconds());
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** How the HTTP door makes a chat's prompt ({@code http.chat-history}): null for the last user message alone. */
  static dev.cascade.models.openai.ChatTranscript chatTranscript(CascadeConfig config) {
    return config.get(CascadeConfig.HTTP_CHAT_HISTORY).equals(CascadeConfig.CHAT_TRANSCRIPT)
        ? dev.cascade.models.openai.ChatTranscript.of(config.get(CascadeConfig.HTTP_CHAT_TURN_FORMAT),
            config.get(CascadeConfig.HTTP_CHAT_ANSWER_CUE))
        : null;
  }
}
