package dev.cascade.router.routing;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.models.TextGenerator;
import dev.cascade.models.TextGenerators;
import dev.cascade.proto.v1.LargeModelGrpc;
import dev.cascade.proto.v1.LargeModelInfo;
import dev.cascade.proto.v1.LargeModelInfoRequest;
import dev.cascade.router.escalation.EscalationClient;
import dev.cascade.router.escalation.EscalationSettings;
import dev.cascade.router.escalation.EscalationTiers;
import dev.cascade.schemas.avro.CascadeRequest;
import io.grpc.Server;
import io.grpc.ServerBuilder;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A prompt that a model after the small one would refuse is refused at the door: the real small
 * model counts its tokens, and a large-model server on loopback says its limit through {@code Info}.
 */
class RequestValidatorTest {

  private static TextGenerator small;

  @BeforeAll
  static void load() {
    small = TextGenerators.load("small", "OnnxRuntime");
  }

  @AfterAll
  static void close() {
    small.close();
  }

  private static CascadeRequest request(String prompt) {
    return CascadeRequest.newBuilder().setRequestId("r").setPrompt(prompt).setMaxNewTokens(0)
        .setReference(null).setMetadata(Map.of()).setCreatedAtMs(0L).build();
  }

  private static EscalationSettings settings() {
    return new EscalationSettings(1, Duration.ofSeconds(5), 0, Duration.ofMillis(1), 50, Duration.ofSeconds(5), 0);
  }

  @Test
  void aConversationWithARoleNoLaterTierTakesIsRefusedNamingTheMessage() {
    RequestValidator validator = new RequestValidator(small);
    CascadeRequest chat = request("cat");
    chat.setMessages(List.of(message("system", "be brief"), message("user", "cat")));
    assertThat(validator.problem(chat)).isEmpty();
    chat.setMessages(List.of(message("user", "cat"), message("tool", "42")));
    assertThat(validator.problem(chat)).hasValue("messages[1].role: must be system, user or assistant (the"
        + " conversation a later tier is sent), was 'tool'");
  }

  private static dev.cascade.schemas.avro.ChatMessage message(String role, String content) {
    return dev.cascade.schemas.avro.ChatMessage.newBuilder().setRole(role).setContent(content).build();
  }

  @Test
  void aPromptOverTheLargeModelsLimitIsRefusedNamingTheFieldTheCountAndTheLimit() throws Exception {
    String sha = small.tokenizerSha256().orElseThrow();
    Server server = ServerBuilder.forPort(0).addService(new Limited(sha, 5)).build().start();
    try (EscalationTiers tiers = EscalationTiers.single(
        EscalationClient.connect("127.0.0.1:" + server.getPort(), settings()), "large", 1.0)) {
      tiers.tier(1).client().serverInfo().get(10, TimeUnit.SECONDS);
      RequestValidator validator = new RequestValidator(small, tiers);
      String longPrompt = "the quick brown fox jumps over the lazy dog";
      int tokens = small.promptTokens(longPrompt).getAsInt();
      assertThat(tokens).isGreaterThan(5);

      assertThat(validator.problem(request(longPrompt))).hasValueSatisfying(p -> assertThat(p)
          .startsWith("prompt: " + tokens + " tokens").contains("'large'").contains("5 prompt tokens")
          .matches(TextGenerator::overTokenLimit, "over the limit: context_length_exceeded on the HTTP door"));
      assertThat(validator.problem(request("cat"))).isEmpty();
      // Without the later tiers, only the small model's own limit applies.
      assertThat(new RequestValidator(small).problem(request(longPrompt))).isEmpty();
      // The small model's own refusal comes first.
      assertThat(validator.problem(request(" "))).hasValue("prompt: must not be empty");
    } finally {
      server.shutdownNow();
    }
  }

  @Test
  void aTierWithAnotherTokenizerOrNoLimitOrNoAnswerYetIsNotCheckedHere() throws Exception {
    String longPrompt = "the quick brown fox jumps over the lazy dog";
    Server otherTokenizer = ServerBuilder.forPort(0).addService(new Limited("0".repeat(64), 5)).build().start();
    Server noLimit = ServerBuilder.forPort(0).addService(new Limited(small.tokenizerSha256().orElseThrow(), 0))
        .build().start();
    int unreachable = noLimit.getPort();
    try (EscalationTiers other = EscalationTiers.single(
            EscalationClient.connect("127.0.0.1:" + otherTokenizer.getPort(), settings()), "large", 1.0);
        EscalationTiers silent = EscalationTiers.single(
            EscalationClient.connect("127.0.0.1:" + noLimit.getPort(), settings()), "large", 1.0)) {
      other.tier(1).client().serverInfo().get(10, TimeUnit.SECONDS);
      silent.tier(1).client().serverInfo().get(10, TimeUnit.SECONDS);
      // Counted by another tokenizer, the small model's count says nothing about the limit.
      assertThat(new RequestValidator(small, other).problem(request(longPrompt))).isEmpty();
      assertThat(new RequestValidator(small, silent).problem(request(longPrompt))).isEmpty();
    } finally {
      otherTokenizer.shutdownNow();
      noLimit.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
    // A server that has not answered (here: gone) is not waited for: the check passes, and the
    // model refuses such a prompt itself if it is ever called.
    try (EscalationTiers down = EscalationTiers.single(
        EscalationClient.connect("127.0.0.1:" + unreachable, settings()), "large", 1.0)) {
      assertThat(new RequestValidator(small, down).problem(request(longPrompt))).isEmpty();
      assertThat(down.tier(1).client().knownServerInfo()).isEmpty();
    }
  }

  /** Answers {@code Info} with a tokenizer hash and a prompt limit (0: none said). */
  private static final class Limited extends LargeModelGrpc.LargeModelImplBase {
    private final String sha;
    private final int maxPromptTokens;

    Limited(String sha, int maxPromptTokens) {
      this.sha = sha;
      this.maxPromptTokens = maxPromptTokens;
    }

    @Override
    public void info(LargeModelInfoRequest request, StreamObserver<LargeModelInfo> out) {
      out.onNext(LargeModelInfo.newBuilder().setModel("limited").setContextLength(96).setMaxNewTokens(48)
          .setTokenizerSha256(sha).setMaxPromptTokens(maxPromptTokens).build());
      out.onCompleted();
    }
  }
}
