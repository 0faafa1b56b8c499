package dev.cascade.router.api;

import dev.cascade.models.Generation;
import dev.cascade.models.ModelInfo;
import dev.cascade.models.TextGenerator;
import dev.cascade.router.policy.DeferralPolicy;
import dev.cascade.router.routing.RequestValidator;
import dev.cascade.router.rules.DeferralRules;
import io.grpc.ServerBuilder;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.function.Function;

/**
 * A started {@link CascadeServer} whose Kafka side is faked: requests go to a {@link FakeChannel},
 * the policy lives in an {@link InMemoryPolicyStore}, the rules are the built-in ones, and the
 * small model only checks prompts. Constructing it starts the server; {@link #stop()} stops it.
 */
final class FakeKafkaServer {

  final FakeChannel requests = new FakeChannel();
  final InMemoryPolicyStore policies;
  private final CascadeServer server;

  /**
   * @param transport where the server listens (in-process or a socket)
   * @param promptCheck the model's {@link TextGenerator#checkPrompt}: why a prompt is refused, or empty
   * @param policy the policy in force at the start
   */
  FakeKafkaServer(ServerBuilder<?> transport, Function<String, Optional<String>> promptCheck, DeferralPolicy policy,
      String adminToken, Duration defaultDeadline) throws IOException {
    policies = new InMemoryPolicyStore(policy);
    server = new CascadeServer(transport, requests, policies, new RequestValidator(model(promptCheck)),
        dev.cascade.router.learning.RuleResolver.of(DeferralRules.builtIn()), adminToken, defaultDeadline).start();
  }

  /** The port it listens on ({@link CascadeServer#port()}). */
  int port() {
    return server.port();
  }

  void stop() throws InterruptedException {
    server.stop();
  }

  /** A model that checks prompts with {@code promptCheck} and cannot generate (the server never asks it to). */
  private static TextGenerator model(Function<String, Optional<String>> promptCheck) {
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
}
