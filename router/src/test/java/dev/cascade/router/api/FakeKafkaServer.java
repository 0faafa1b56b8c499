package dev.cascade.router.api;

import dev.cascade.models.Generation;
import dev.cascade.models.ModelInfo;
import dev.cascade.models.TextGenerator;
import dev.cascade.router.learning.LearnedRules;
import dev.cascade.router.learning.RuleCatalog;
import dev.cascade.router.learning.RuleResolver;
import dev.cascade.router.policy.DeferralPolicy;
import dev.cascade.router.routing.RequestValidator;
import io.grpc.ServerBuilder;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.function.Function;

/**
 * A started {@link CascadeServer} whose Kafka side is faked: requests go to a {@link FakeChannel},
 * the policy lives in an {@link InMemoryPolicyStore}, rule versions are published into the
 * catalog by an {@link InMemoryRuleStore}, the rules are the built-in and the shipped ones (the
 * catalog's small model is the one the shipped rules were made for), and the small model only
 * checks prompts. Constructing it starts the server; {@link #stop()} stops it.
 */
final class FakeKafkaServer {

  final FakeChannel requests = new FakeChannel();
  final InMemoryPolicyStore policies;
  final RuleCatalog catalog = RuleCatalog.withBundled(bundledModelFingerprint());
  final InMemoryRuleStore rules = new InMemoryRuleStore(catalog);
  final RecordingFeedback feedback = new RecordingFeedback();
  private final CascadeServer server;

  /**
   * @param transport where the server listens (in-process or a socket)
   * @param promptCheck the model's {@link TextGenerator#checkPrompt}: why a prompt is refused, or empty
   * @param policy the policy in force at the start
   */
  FakeKafkaServer(ServerBuilder<?> transport, Function<String, Optional<String>> promptCheck, DeferralPolicy policy,
      String adminToken, Duration defaultDeadline) throws IOException {
    this(transport, promptCheck, policy, adminToken, defaultDeadline, null);
  }

  FakeKafkaServer(ServerBuilder<?> transport, Function<String, Optional<String>> promptCheck, DeferralPolicy policy,
      String adminToken, Duration defaultDeadline, ApiKeys apiKeys) throws IOException {
    this(transport, new RequestValidator(model(promptCheck)), policy, adminToken, defaultDeadline, apiKeys);
  }

  /** As above, checking requests with {@code validator} (which may know the cascade's later tiers). */
  FakeKafkaServer(ServerBuilder<?> transport, RequestValidator validator, DeferralPolicy policy, String adminToken,
      Duration defaultDeadline, ApiKeys apiKeys) throws IOException {
    this(transport, validator, policy, adminToken, defaultDeadline, apiKeys, null);
  }

  /** As above, counting PolicyAdmin's write attempts in {@code registry} (null: not counted). */
  FakeKafkaServer(ServerBuilder<?> transport, RequestValidator validator, DeferralPolicy policy, String adminToken,
      Duration defaultDeadline, ApiKeys apiKeys, io.prometheus.metrics.model.registry.PrometheusRegistry registry)
      throws IOException {
    this(transport, validator, policy, adminToken, defaultDeadline, apiKeys, registry, Duration.ZERO);
  }

  /** As above, a request's {@code deadline_ms} falling {@code deadlineMargin} before its call's wait ends. */
  FakeKafkaServer(ServerBuilder<?> transport, RequestValidator validator, DeferralPolicy policy, String adminToken,
      Duration defaultDeadline, ApiKeys apiKeys, io.prometheus.metrics.model.registry.PrometheusRegistry registry,
      Duration deadlineMargin) throws IOException {
    policies = new InMemoryPolicyStore(policy);
    server = new CascadeServer(transport, requests, policies, rules, validator,
        new RuleResolver(LearnedRules.bundled(), catalog), adminToken, defaultDeadline, apiKeys, feedback, registry,
        deadlineMargin).start();
  }

  /** Feedback "written" to partition 0 of {@code cascade.feedback} at offsets 0, 1, …; or failing, when told to. */
  static final class RecordingFeedback implements FeedbackTopic.Sink {
    final List<dev.cascade.schemas.avro.Feedback> written = new java.util.concurrent.CopyOnWriteArrayList<>();
    volatile RuntimeException failure;

    @Override
    public java.util.concurrent.CompletableFuture<FeedbackTopic.Written> send(dev.cascade.schemas.avro.Feedback f) {
      if (failure != null) {
        return java.util.concurrent.CompletableFuture.failedFuture(failure);
      }
      written.add(f);
      return java.util.concurrent.CompletableFuture.completedFuture(
          new FeedbackTopic.Written("cascade.feedback", 0, written.size() - 1));
    }
  }

  /** The SHA-256 of the small model the shipped rules were made for. */
  static String bundledModelFingerprint() {
    return LearnedRules.bundledRules().get(0).info().modelFingerprint();
  }

  /** See {@link CascadeServer#healthFollows}. */
  void healthFollows(java.util.function.BooleanSupplier ready) {
    server.healthFollows(ready);
  }

  /** The port it listens on ({@link CascadeServer#port()}). */
  int port() {
    return server.port();
  }

  void stop() throws InterruptedException {
    server.stop();
  }

  /** A model that checks prompts with {@code promptCheck} and cannot generate (the server never asks it to). */
  static TextGenerator model(Function<String, Optional<String>> promptCheck) {
    return new TextGenerator() {
      @Override
      public List<Generation> generate(List<String> prompts, int maxNewTokens) {
        throw new UnsupportedOperationException();
      }

      @Override
      public List<Generation> generate(List<String> prompts, int maxNewTokens, Cancellation cancellation) {
        throw new UnsupportedOperationException();
      }

      @Override
      public Optional<String> checkPrompt(String prompt) {
        return promptCheck.apply(prompt);
      }

      @Override
      public ModelInfo info() {
        return new ModelInfo("fake", "none", 0, 64, 48, false);
      }

      @Override
      public void close() {}
    };
  }

  /** A PolicyAdmin stub on {@code channel} with the call deadline, sending {@code token} as the admin bearer (null: none). */
  static dev.cascade.proto.v1.PolicyAdminGrpc.PolicyAdminBlockingStub admin(io.grpc.Channel channel, String token,
      long deadlineSeconds) {
    dev.cascade.proto.v1.PolicyAdminGrpc.PolicyAdminBlockingStub stub = dev.cascade.proto.v1.PolicyAdminGrpc
        .newBlockingStub(channel).withDeadlineAfter(deadlineSeconds, java.util.concurrent.TimeUnit.SECONDS);
    if (token == null) {
      return stub;
    }
    io.grpc.Metadata headers = new io.grpc.Metadata();
    headers.put(AdminTokenInterceptor.AUTHORIZATION, "Bearer " + token);
    return stub.withInterceptors(io.grpc.stub.MetadataUtils.newAttachHeadersInterceptor(headers));
  }
}
