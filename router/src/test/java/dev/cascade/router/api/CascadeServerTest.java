package dev.cascade.router.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cascade.proto.v1.CascadeGrpc;
import dev.cascade.proto.v1.FeedbackRequest;
import dev.cascade.proto.v1.FeedbackResponse;
import dev.cascade.proto.v1.GenerateRequest;
import dev.cascade.proto.v1.GenerateResponse;
import dev.cascade.proto.v1.GetPolicyRequest;
import dev.cascade.proto.v1.Policy;
import dev.cascade.proto.v1.PolicyAdminGrpc;
import dev.cascade.proto.v1.ServedBy;
import dev.cascade.proto.v1.UpdatePolicyRequest;
import dev.cascade.proto.v1.WatchPolicyRequest;
import dev.cascade.router.policy.DeferralPolicy;
import dev.cascade.router.routing.RequestValidator;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The gRPC services' logic over an in-process channel, with Kafka replaced by fakes. */
class CascadeServerTest {

  private static final String TOKEN = "s3cret-token";

  /** The small model refuses empty prompts and the character '#'. */
  private static Optional<String> checkPrompt(String prompt) {
    if (prompt.isEmpty()) {
      return Optional.of("prompt: must not be empty");
    }
    return prompt.contains("#") ? Optional.of("prompt: character '#' is not in the vocabulary") : Optional.empty();
  }

  private FakeKafkaServer server;
  private FakeChannel requests;
  private InMemoryPolicyStore policies;
  private ManagedChannel channel;

  @BeforeEach
  void start() throws Exception {
    String name = InProcessServerBuilder.generateName();
    server = new FakeKafkaServer(InProcessServerBuilder.forName(name), CascadeServerTest::checkPrompt,
        new DeferralPolicy("chow-quantile", 0.0, 2.0, 0.01, 0.0, 4, "config", 0, "configured default"),
        TOKEN, Duration.ofMillis(300));
    requests = server.requests;
    policies = server.policies;
    channel = InProcessChannelBuilder.forName(name).build();
  }

  @AfterEach
  void stop() throws Exception {
    channel.shutdownNow();
    server.stop();
  }

  private CascadeGrpc.CascadeBlockingStub cascade() {
    return CascadeGrpc.newBlockingStub(channel).withDeadlineAfter(5, TimeUnit.SECONDS);
  }

  private PolicyAdminGrpc.PolicyAdminBlockingStub admin(String token) {
    return FakeKafkaServer.admin(channel, token, 5);
  }

  private static UpdatePolicyRequest update(Policy.Builder policy) {
    return UpdatePolicyRequest.newBuilder().setPolicy(policy).build();
  }

  private static Policy.Builder policy(String rule, double threshold) {
    return Policy.newBuilder().setRule(rule).setThreshold(threshold).setReason("test");
  }

  @Test
  void aResponseRecordWithoutATierSaysTierOneForLargeAndZeroOtherwise() {
    var old = FakeChannel.answer(dev.cascade.schemas.avro.CascadeRequest.newBuilder().setRequestId("r").setPrompt("p")
        .setMetadata(java.util.Map.of()).setCreatedAtMs(0).build());
    old.setServedTier(null);
    old.setServedModel(null);
    assertThat(ApiRecords.toProto(old).getServedTier()).isEqualTo(1);
    assertThat(ApiRecords.toProto(old).getServedModel()).isEmpty();
    old.setServedBy(dev.cascade.schemas.avro.ServedBy.SMALL_DEGRADED);
    assertThat(ApiRecords.toProto(old).getServedTier()).isZero();
  }

  @Test
  void aConversationRidesAlongWithThePromptAndABadOneIsInvalidArgumentNamingTheMessage() {
    dev.cascade.proto.v1.ChatMessage system = dev.cascade.proto.v1.ChatMessage.newBuilder().setRole("system")
        .setContent("be brief").build();
    dev.cascade.proto.v1.ChatMessage user = dev.cascade.proto.v1.ChatMessage.newBuilder().setRole("user")
        .setContent("new york").build();
    cascade().generate(GenerateRequest.newBuilder().setPrompt("new york").addMessages(system).addMessages(user).build());
    assertThat(requests.submitted.get(requests.submitted.size() - 1).getMessages())
        .extracting(m -> m.getRole() + ": " + m.getContent()).containsExactly("system: be brief", "user: new york");
    int sent = requests.submitted.size();
    assertThatThrownBy(() -> cascade().generate(GenerateRequest.newBuilder().setPrompt("x").addMessages(user)
        .addMessages(user.toBuilder().setRole("tool")).build()))
        .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
          assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
          assertThat(e.getStatus().getDescription()).startsWith("messages[1].role: must be system, user or assistant");
        });
    assertThatThrownBy(() -> cascade().generate(GenerateRequest.newBuilder().setPrompt("x")
        .addMessages(user.toBuilder().setContent("w".repeat(OpenAiServer.MAX_CONVERSATION_CHARS + 1))).build()))
        .isInstanceOfSatisfying(StatusRuntimeException.class, e -> assertThat(e.getStatus().getDescription())
            .startsWith("messages: more than 200000 characters of content in all (200001)"));
    assertThat(requests.submitted).as("nothing refused was sent").hasSize(sent);
  }

  @Test
  void anUnfinishedPrefixIsMarkedStoppedEarly() {
    // The small model's prefix after early deferral, served degraded: the record's stopped_early.
    requests.reshape = r -> dev.cascade.schemas.avro.CascadeResponse.newBuilder(r).setText("N E W")
        .setServedBy(dev.cascade.schemas.avro.ServedBy.SMALL_DEGRADED).setStoppedEarly(true).build();
    GenerateResponse prefix = cascade().generate(GenerateRequest.newBuilder().setPrompt("new york").build());
    assertThat(prefix.getServedBy()).isEqualTo(ServedBy.SMALL_DEGRADED);
    assertThat(prefix.getStoppedEarly()).isTrue();
    // A whole answer, and a record from a router that predates the field (null): false.
    requests.reshape = r -> dev.cascade.schemas.avro.CascadeResponse.newBuilder(r).setStoppedEarly(false).build();
    assertThat(cascade().generate(GenerateRequest.newBuilder().setPrompt("new york").build()).getStoppedEarly())
        .isFalse();
    requests.reshape = r -> dev.cascade.schemas.avro.CascadeResponse.newBuilder(r).setStoppedEarly(null).build();
    assertThat(cascade().generate(GenerateRequest.newBuilder().setPrompt("new york").build()).getStoppedEarly())
        .isFalse();
  }

  @Test
  void theResponseSaysWhatThePolicyDecided() {
    requests.reshape = r -> dev.cascade.schemas.avro.CascadeResponse.newBuilder(r)
        .setServedBy(dev.cascade.schemas.avro.ServedBy.LARGE).setDecision(dev.cascade.schemas.avro.Decision.EXPLORE)
        .build();
    assertThat(cascade().generate(GenerateRequest.newBuilder().setPrompt("new york").build()).getDecision())
        .isEqualTo(dev.cascade.proto.v1.Decision.EXPLORE);
    // From a router that predates the field: unspecified.
    requests.reshape = r -> dev.cascade.schemas.avro.CascadeResponse.newBuilder(r).setDecision(null).build();
    assertThat(cascade().generate(GenerateRequest.newBuilder().setPrompt("new york").build()).getDecision())
        .isEqualTo(dev.cascade.proto.v1.Decision.DECISION_UNSPECIFIED);
  }

  @Test
  void theResponseCarriesTheLearnedRulesVersionIncludingZeroAndNoneForAClosedFormRule() {
    requests.reshape = r -> dev.cascade.schemas.avro.CascadeResponse.newBuilder(r).setRule("posthoc-quantile")
        .setRuleVersion(0L).build();
    GenerateResponse shipped = cascade().generate(GenerateRequest.newBuilder().setPrompt("new york").build());
    assertThat(shipped.hasRuleVersion()).isTrue();
    assertThat(shipped.getRuleVersion()).isZero();
    requests.reshape = r -> dev.cascade.schemas.avro.CascadeResponse.newBuilder(r).setRuleVersion(null).build();
    assertThat(cascade().generate(GenerateRequest.newBuilder().setPrompt("new york").build()).hasRuleVersion())
        .isFalse();
  }

  @Test
  void theResponseNamesTheTiersSkippedOnTheWayAndWhy() {
    dev.cascade.schemas.avro.SkippedTier medium = dev.cascade.schemas.avro.SkippedTier.newBuilder().setTier(1)
        .setModel("medium").setCause("breaker_open").setReason("medium unavailable for 12 ms; its circuit breaker is open")
        .build();
    requests.reshape = r -> dev.cascade.schemas.avro.CascadeResponse.newBuilder(r).setSkippedTiers(List.of(medium)).build();
    GenerateResponse skipped = cascade().generate(GenerateRequest.newBuilder().setPrompt("new york").build());
    assertThat(skipped.getSkippedTiersList()).singleElement().satisfies(t -> {
      assertThat(t.getTier()).isEqualTo(1);
      assertThat(t.getModel()).isEqualTo("medium");
      assertThat(t.getCause()).isEqualTo("breaker_open");
      assertThat(t.getReason()).isEqualTo("medium unavailable for 12 ms; its circuit breaker is open");
    });
    // Over HTTP, in the response's cascade object.
    var json = OpenAiResponses.cascade(dev.cascade.schemas.avro.CascadeResponse.newBuilder(FakeChannel.answer(
        dev.cascade.schemas.avro.CascadeRequest.newBuilder().setRequestId("r").setPrompt("p").setMetadata(java.util.Map.of())
            .setCreatedAtMs(0).build())).setSkippedTiers(List.of(medium)).build());
    assertThat(json.get("skipped_tiers").toString())
        .isEqualTo("[{\"tier\":1,\"model\":\"medium\",\"cause\":\"breaker_open\",\"reason\":"
            + "\"medium unavailable for 12 ms; its circuit breaker is open\"}]");
    // None skipped: an empty list, in both.
    requests.reshape = r -> r;
    assertThat(cascade().generate(GenerateRequest.newBuilder().setPrompt("new york").build()).getSkippedTiersList()).isEmpty();
    assertThat(OpenAiResponses.cascade(FakeChannel.answer(dev.cascade.schemas.avro.CascadeRequest.newBuilder()
        .setRequestId("r").setPrompt("p").setMetadata(java.util.Map.of()).setCreatedAtMs(0).build()))
        .get("skipped_tiers").isEmpty()).isTrue();
  }

  @Test
  void theResponseCarriesTheServingModelsTokenCountsOrTheDoorsOwn() {
    requests.reshape = r -> dev.cascade.schemas.avro.CascadeResponse.newBuilder(r).setText("a b c d e f g")
        .setCompletionTokens(3).setPromptTokens(4).build();
    GenerateResponse counted = cascade().generate(GenerateRequest.newBuilder().setPrompt("new york").build());
    assertThat(counted.getCompletionTokens()).isEqualTo(3);
    assertThat(counted.getPromptTokens()).isEqualTo(4);
    // A record without counts (an older router's): the answer's pieces, the small model's count of the
    // prompt (this stand-in has no tokenizer: its code points).
    requests.reshape = r -> r;
    GenerateResponse old = cascade().generate(GenerateRequest.newBuilder().setPrompt("new york").build());
    assertThat(old.getText()).isEqualTo("NEW YORK");
    assertThat(old.getCompletionTokens()).isEqualTo(2);
    assertThat(old.getPromptTokens()).isEqualTo(8);
  }

  @Test
  void generateSendsTheRequestIntoTheCascadeAndReturnsItsResponse() {
    GenerateResponse response = cascade().generate(GenerateRequest.newBuilder().setPrompt("cascade")
        .setMaxNewTokens(12).setRequestId("r-1").putMetadata("tenant", "t1").setBypassCache(true).build());

    assertThat(response.getRequestId()).isEqualTo("r-1");
    assertThat(response.getText()).isEqualTo("CASCADE");
    assertThat(response.getServedBy()).isEqualTo(ServedBy.LARGE);
    assertThat(response.getServedTier()).isEqualTo(2);
    assertThat(response.getServedModel()).isEqualTo("large");
    assertThat(response.getCacheHit()).isTrue();
    assertThat(response.getPolicyVersion()).isEqualTo(7);
    assertThat(response.getLatencies().getEscalationMs()).isEqualTo(30);
    var sent = requests.submitted.get(0);
    assertThat(sent.getReplyTo()).isEqualTo("fake-door");
    assertThat(sent.getMaxNewTokens()).isEqualTo(12);
    assertThat(sent.getBypassCache()).isTrue();
    assertThat(sent.getMetadata()).containsEntry("tenant", "t1");
    assertThat(sent.getReference()).as("no reference given").isNull();

    cascade().generate(GenerateRequest.newBuilder().setPrompt("cascade").setReference("CASCADE").build());
    cascade().generate(GenerateRequest.newBuilder().setPrompt("cascade").setReference("").build());
    assertThat(requests.submitted.get(1).getReference()).isEqualTo("CASCADE");
    assertThat(requests.submitted.get(2).getReference()).as("an empty reference is one").isEqualTo("");
  }

  @Test
  void feedbackIsWrittenWithItsFieldsAndABadCallIsRefusedNamingTheField() {
    FeedbackResponse written = cascade().submitFeedback(FeedbackRequest.newBuilder().setRequestId("r-9")
        .setCorrect(false).setCorrectedText("k a s").build());
    assertThat(written.getRequestId()).isEqualTo("r-9");
    assertThat(written.getTopic()).isEqualTo("cascade.feedback");
    dev.cascade.schemas.avro.Feedback f = server.feedback.written.get(0);
    assertThat(f.getCorrect()).isFalse();
    assertThat(f.getCorrectedText()).isEqualTo("k a s");
    assertThat(f.getSource()).as("the default source").isEqualTo("grpc");
    assertThat(f.getCreatedAtMs()).isPositive();
    cascade().submitFeedback(FeedbackRequest.newBuilder().setRequestId("r-10").setCorrectedText("x").build());
    assertThat(server.feedback.written.get(1).getCorrect()).as("no verdict given").isNull();

    FeedbackRequest.Builder ok = FeedbackRequest.newBuilder().setRequestId("r-1").setCorrect(true);
    List<Object[]> cases = List.of(
        new Object[] {ok.clone().clearRequestId(), "request_id"},
        new Object[] {ok.clone().setRequestId("x".repeat(RequestValidator.MAX_REQUEST_ID_LENGTH + 1)), "request_id"},
        new Object[] {ok.clone().setRequestId("r-1\u0000"), "request_id"},
        new Object[] {ok.clone().clearCorrect(), "correct, corrected_text"},
        new Object[] {ok.clone().setCorrectedText(" "), "corrected_text"},
        new Object[] {ok.clone().setCorrectedText("x".repeat(FeedbackTopic.MAX_CORRECTED_TEXT_LENGTH + 1)),
            "corrected_text"},
        new Object[] {ok.clone().setSource("s".repeat(FeedbackTopic.MAX_SOURCE_LENGTH + 1)), "source"});
    for (Object[] c : cases) {
      FeedbackRequest request = ((FeedbackRequest.Builder) c[0]).build();
      assertThatThrownBy(() -> cascade().submitFeedback(request))
          .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
            assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
            assertThat(e.getStatus().getDescription()).startsWith(c[1] + ":");
          });
    }
    assertThat(server.feedback.written).hasSize(2);

    server.feedback.failure = new org.apache.kafka.common.errors.TimeoutException("broker down");
    assertThatThrownBy(() -> cascade().submitFeedback(ok.build()))
        .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
          assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
          // What to do and which request; what Kafka said is logged, not sent.
          assertThat(e.getStatus().getDescription()).isEqualTo("feedback for request r-1 could not be written: the"
              + " router cannot reach Kafka; retry later");
        });
  }

  @Test
  void aRequestWithoutAnIdGetsOne() {
    GenerateResponse response = cascade().generate(GenerateRequest.newBuilder().setPrompt("cascade").build());
    assertThat(response.getRequestId()).isNotBlank().isEqualTo(requests.submitted.get(0).getRequestId());
  }

  @Test
  void aBadRequestIsRefusedWithInvalidArgumentNamingTheFieldAndNothingIsSent() {
    GenerateRequest.Builder ok = GenerateRequest.newBuilder().setPrompt("cascade");
    GenerateRequest.Builder manyEntries = GenerateRequest.newBuilder().setPrompt("cascade");
    for (int i = 0; i < 33; i++) {
      manyEntries.putMetadata("k" + i, "v");
    }
    List<Object[]> cases = List.of(
        new Object[] {ok.clone().setPrompt(""), "prompt"},
        new Object[] {ok.clone().setPrompt("a#b"), "prompt"},
        new Object[] {ok.clone().setMaxNewTokens(-1), "max_new_tokens"},
        new Object[] {ok.clone().setMaxNewTokens(RequestValidator.MAX_NEW_TOKENS_LIMIT + 1), "max_new_tokens"},
        new Object[] {ok.clone().setRequestId("x".repeat(RequestValidator.MAX_REQUEST_ID_LENGTH + 1)), "request_id"},
        new Object[] {ok.clone().setRequestId("a\nb"), "request_id"},
        new Object[] {ok.clone().setRequestId("a\tb"), "request_id"},
        new Object[] {ok.clone().setRequestId("a\u007fb"), "request_id"},
        new Object[] {manyEntries, "metadata"},
        new Object[] {ok.clone().putMetadata("k".repeat(65), "v"), "metadata"},
        new Object[] {ok.clone().putMetadata("k", "v".repeat(1025)), "metadata"},
        new Object[] {ok.clone().setReference("r".repeat(8193)), "reference"});
    for (Object[] c : cases) {
      GenerateRequest request = ((GenerateRequest.Builder) c[0]).build();
      assertThatThrownBy(() -> cascade().generate(request))
          .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
            assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
            assertThat(e.getStatus().getDescription()).startsWith(c[1] + ":");
          });
    }
    assertThat(requests.submitted).isEmpty();
  }

  @Test
  void aCallWhoseDeadlineExpiresGetsDeadlineExceededAndStopsWaiting() {
    requests.silent = true;
    assertThatThrownBy(() -> CascadeGrpc.newBlockingStub(channel).withDeadlineAfter(150, TimeUnit.MILLISECONDS)
        .generate(GenerateRequest.newBuilder().setPrompt("slow").build()))
        .isInstanceOfSatisfying(StatusRuntimeException.class,
            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED));
    CompletableFuture<?> wait = requests.futures.get(0);
    await(wait::isDone);
    assertThat(wait.isCompletedExceptionally()).isTrue();
  }

  @Test
  void aResponseTheRouterMarkedDeadlineExceededIsDeadlineExceededNotAnEmptyAnswer() {
    requests.expired = true;
    assertThatThrownBy(() -> cascade().generate(GenerateRequest.newBuilder().setRequestId("late").setPrompt("a")
        .build()))
        .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
          assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED);
          assertThat(e.getStatus().getDescription())
              .isEqualTo("request late reached the router after its deadline; nothing was generated");
        });
  }

  @Test
  void theRequestsDeadlineFallsTheMarginBeforeTheCallsWaitEndsButNeverBeforeItsMiddle() throws Exception {
    String name = InProcessServerBuilder.generateName();
    FakeKafkaServer withMargin = new FakeKafkaServer(InProcessServerBuilder.forName(name),
        new dev.cascade.router.routing.RequestValidator(FakeKafkaServer.model(CascadeServerTest::checkPrompt)),
        new DeferralPolicy("chow-quantile", 0.0, 2.0, 0.01, 0.0, 4, "config", 0, "configured default"), TOKEN,
        Duration.ofSeconds(30), null, null, Duration.ofSeconds(1));
    ManagedChannel margined = InProcessChannelBuilder.forName(name).build();
    try {
      // The door's own wait (30 s): deadline_ms 1 s before it ends, for the degraded answer's way back.
      CascadeGrpc.newBlockingStub(margined).generate(GenerateRequest.newBuilder().setPrompt("a").build());
      var request = withMargin.requests.submitted.get(0);
      assertThat(request.getDeadlineMs() - request.getCreatedAtMs()).isEqualTo(29_000);
      // A caller's deadline of 1 s: the margin is cut to half of what is left of it.
      CascadeGrpc.newBlockingStub(margined).withDeadlineAfter(1, TimeUnit.SECONDS)
          .generate(GenerateRequest.newBuilder().setPrompt("b").build());
      request = withMargin.requests.submitted.get(1);
      assertThat(request.getDeadlineMs() - request.getCreatedAtMs()).isBetween(1L, 500L);
    } finally {
      margined.shutdownNow();
      withMargin.stop();
    }
  }

  @Test
  void withoutADeadlineOfItsOwnACallWaitsTheConfiguredDefault() {
    requests.silent = true;
    long t0 = System.nanoTime();
    assertThatThrownBy(() -> CascadeGrpc.newBlockingStub(channel).generate(GenerateRequest.newBuilder()
        .setPrompt("slow").build()))
        .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
          assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED);
          // Named, so a caller that asked for longer knows where 300 ms came from.
          assertThat(e.getStatus().getDescription())
              .contains("within 300 ms (grpc.default-deadline-ms, this door's longest wait)");
        });
    assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(5));
  }

  @Test
  void routerRefusalsAndSendFailuresMapToTheirStatus() throws Exception {
    requests.failure = new RefusedRequestException("validate", "request_id: duplicate of a request received at 1 ms");
    assertThat(codeOf(() -> cascade().generate(GenerateRequest.newBuilder().setPrompt("a").build())))
        .isEqualTo(Status.Code.ALREADY_EXISTS);
    requests.failure = new DuplicateRequestException("r");
    assertThat(codeOf(() -> cascade().generate(GenerateRequest.newBuilder().setPrompt("a").build())))
        .isEqualTo(Status.Code.ALREADY_EXISTS);
    requests.failure = new RefusedRequestException("validate", "prompt: too long");
    assertThat(codeOf(() -> cascade().generate(GenerateRequest.newBuilder().setPrompt("a").build())))
        .isEqualTo(Status.Code.INVALID_ARGUMENT);
    // A failure in the router past validation: INTERNAL naming the request, what failed only in the log.
    requests.failure = new RefusedRequestException("escalate", "large model failed: java.io.IOException: 10.0.0.5");
    String log = OpenAiServerTest.stderrOf(() -> assertThatThrownBy(() -> cascade().generate(
        GenerateRequest.newBuilder().setRequestId("r-7").setPrompt("a").build()))
        .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
          assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INTERNAL);
          assertThat(e.getStatus().getDescription())
              .isEqualTo("the router failed to answer request r-7; its log says why");
        }));
    assertThat(log).contains("r-7").contains("escalate").contains("java.io.IOException: 10.0.0.5");
    requests.failure = new IllegalStateException("Cannot perform operation after producer has been closed");
    assertThat(codeOf(() -> cascade().generate(GenerateRequest.newBuilder().setPrompt("a").build())))
        .isEqualTo(Status.Code.UNAVAILABLE);
    assertThatThrownBy(() -> cascade().generate(GenerateRequest.newBuilder().setRequestId("r-8").setPrompt("a")
        .build())).isInstanceOfSatisfying(StatusRuntimeException.class, e -> assertThat(e.getStatus().getDescription())
            .isEqualTo("request r-8 was not answered: the router is shutting down; try another instance or again"
                + " later"));
    // What Kafka said stays in the router's log.
    requests.failure = new org.apache.kafka.common.errors.TimeoutException("Topic cascade.requests not present in"
        + " metadata after 60000 ms.");
    assertThatThrownBy(() -> cascade().generate(GenerateRequest.newBuilder().setRequestId("r-9").setPrompt("a")
        .build())).isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
          assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
          assertThat(e.getStatus().getDescription())
              .isEqualTo("request r-9 could not be sent: the router cannot reach Kafka; retry later");
        });
  }

  private static void await(java.util.function.BooleanSupplier condition) {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("condition not met within 5 s");
      }
      Thread.onSpinWait();
      try {
        Thread.sleep(5);
      } catch (InterruptedException e) {
        throw new AssertionError(e);
      }
    }
  }

  private static Status.Code codeOf(Runnable call) {
    try {
      call.run();
    } catch (StatusRuntimeException e) {
      return e.getStatus().getCode();
    }
    return Status.Code.OK;
  }

  @Test
  void getPolicyIsOpen() {
    Policy p = admin(null).getPolicy(GetPolicyRequest.getDefaultInstance());
    assertThat(p.getRule()).isEqualTo("chow-quantile");
    assertThat(p.getThreshold()).isEqualTo(2.0);
    assertThat(p.getVersion()).isEqualTo(4);
  }

  @Test
  void anUpdateWithoutTheTokenOrWithAWrongOneIsRefusedAndChangesNothing() {
    for (String token : new String[] {null, "wrong", ""}) {
      assertThatThrownBy(() -> admin(token).updatePolicy(update(policy("chow-sum", 3))))
          .isInstanceOfSatisfying(StatusRuntimeException.class,
              e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED));
    }
    assertThat(policies.published).isEmpty();
    assertThat(admin(null).getPolicy(GetPolicyRequest.getDefaultInstance()).getVersion()).isEqualTo(4);
  }

  @Test
  void anUpdateGetsTheNextVersionTheCallerAndTheTimeAndIsPublished() {
    long before = System.currentTimeMillis();
    Policy updated = admin(TOKEN).updatePolicy(update(policy("chow-sum", 3).setExplorationRate(0.05)
        .setVersion(999).setUpdatedBy("mallory")));

    assertThat(updated.getVersion()).isEqualTo(5);
    assertThat(updated.getUpdatedBy()).startsWith("admin@");
    assertThat(updated.getUpdatedAtMs()).isBetween(before, System.currentTimeMillis());
    assertThat(updated.getRule()).isEqualTo("chow-sum");
    assertThat(updated.getExplorationRate()).isEqualTo(0.05);
    assertThat(policies.published).hasSize(1);
    assertThat(policies.current().version()).isEqualTo(5);
    assertThat(policies.current().threshold()).isEqualTo(3);
    assertThat(admin(null).getPolicy(GetPolicyRequest.getDefaultInstance())).isEqualTo(updated);
  }

  @Test
  void aRuleNameMayCarryItsLevel() {
    Policy updated = admin(TOKEN).updatePolicy(update(policy("chow-quantile-0.1", 1)));
    assertThat(updated.getRule()).isEqualTo("chow-quantile");
    assertThat(updated.getAlpha()).isEqualTo(0.1);
  }

  @Test
  void anInvalidPolicyIsRefusedNamingTheFieldAndChangesNothing() {
    List<Object[]> cases = List.of(
        new Object[] {policy("chow-sum", Double.NaN), "policy.threshold"},
        new Object[] {policy("chow-sum", 1).setExplorationRate(1.5), "policy.exploration_rate"},
        new Object[] {policy("chow-sum", 1).setTargetEscalationRate(-0.1), "policy.target_escalation_rate"},
        new Object[] {policy("chow-quantile", 1).setAlpha(2), "policy.alpha"},
        new Object[] {policy("no-such-rule", 1), "policy.rule"},
        new Object[] {policy("", 1), "policy.rule"});
    for (Object[] c : cases) {
      Policy.Builder p = (Policy.Builder) c[0];
      assertThatThrownBy(() -> admin(TOKEN).updatePolicy(update(p)))
          .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
            assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
            assertThat(e.getStatus().getDescription()).startsWith(c[1] + ":");
          });
    }
    // The wire's field name only, not also the record's.
    assertThatThrownBy(() -> admin(TOKEN).updatePolicy(update(policy("chow-sum", 1).setExplorationRate(1.5))))
        .isInstanceOfSatisfying(StatusRuntimeException.class, e -> assertThat(e.getStatus().getDescription())
            .isEqualTo("policy.exploration_rate: must be in [0, 1], was 1.5"));
    // A level out of range in the rule's name is the alpha's problem, said once.
    assertInvalid(() -> admin(TOKEN).updatePolicy(update(policy("chow-quantile-2", 1))),
        "policy.alpha: must be in [0, 1], was 2");
    assertThatThrownBy(() -> admin(TOKEN).updatePolicy(UpdatePolicyRequest.getDefaultInstance()))
        .hasMessageContaining("policy: missing");
    assertThat(policies.published).isEmpty();
  }

  private static void assertInvalid(Runnable call, String description) {
    assertThatThrownBy(call::run).isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
      assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
      assertThat(e.getStatus().getDescription()).startsWith(description);
    });
  }

  @Test
  void aReasonOrShadowListOverItsLimitOrAShadowNamedTwiceIsRefusedNamingTheField() {
    String longest = "r".repeat(PolicyAdminService.MAX_REASON_CHARS);
    assertThat(admin(TOKEN).updatePolicy(update(policy("chow-sum", 3).setReason(longest))).getReason())
        .isEqualTo(longest);
    int published = policies.published.size();

    assertInvalid(() -> admin(TOKEN).updatePolicy(update(policy("chow-sum", 3).setReason(longest + "r"))),
        "policy.reason: at most 1024 characters, was 1025");
    // 2 MB: refused as an argument, not failed as a write the topic cannot take.
    assertInvalid(() -> admin(TOKEN).updatePolicy(update(policy("chow-sum", 3).setReason("x".repeat(2 << 20)))),
        "policy.reason: at most 1024 characters");
    Policy.Builder many = policy("chow-sum", 3);
    for (int i = 0; i < 1000; i++) {
      many.addShadowRules("chow-sum");
    }
    assertInvalid(() -> admin(TOKEN).updatePolicy(update(many)), "policy.shadow_rules: at most 16 rules");
    assertInvalid(() -> admin(TOKEN).updatePolicy(update(policy("chow-sum", 3).addShadowRules("chow-average")
        .addShadowRules("chow-sum").addShadowRules("chow-average"))), "policy.shadow_rules[2]: 'chow-average' is"
        + " already shadow_rules[0]");
    assertInvalid(() -> admin(TOKEN).updatePolicy(update(policy("x".repeat(1 << 20), 3))),
        "policy.rule: a rule name is at most 256 characters");
    assertThat(policies.published).hasSize(published);
  }

  @Test
  void aTargetEscalationRateOfOneIsAcceptedAndAboveOneRefusedSayingTheRange() {
    Policy all = admin(TOKEN).updatePolicy(update(policy("chow-sum", 3).setTargetEscalationRate(1.0)));
    assertThat(all.getTargetEscalationRate()).isEqualTo(1.0);
    assertThat(new dev.cascade.router.policy.TargetRateController().threshold(policies.current(), "k"))
        .isEqualTo(Double.NEGATIVE_INFINITY);
    assertThatThrownBy(() -> admin(TOKEN).updatePolicy(update(policy("chow-sum", 3).setTargetEscalationRate(1.5))))
        .isInstanceOfSatisfying(StatusRuntimeException.class, e -> assertThat(e.getStatus().getDescription())
            .isEqualTo("policy.target_escalation_rate: must be in [0, 1], was 1.5"));
  }

  @Test
  void aSkipThresholdWithoutASkipRuleIsRefusedInTheWiresWords() {
    assertThatThrownBy(() -> admin(TOKEN).updatePolicy(update(policy("chow-sum", 3).setPregenSkipThreshold(0.5))))
        .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
          assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
          assertThat(e.getStatus().getDescription()).startsWith("policy.pregen_skip_rule: must be set when the skip"
              + " threshold is").doesNotContain("pregenSkip").doesNotContain("null");
        });
  }

  @Test
  void moreTierPoliciesThanTheCascadeHasMiddleTiersAreRefused() throws Exception {
    String name = InProcessServerBuilder.generateName();
    dev.cascade.router.escalation.EscalationSettings settings = new dev.cascade.router.escalation.EscalationSettings(
        1, Duration.ofSeconds(5), 0, Duration.ofMillis(1), 50, Duration.ofSeconds(5), 0);
    try (dev.cascade.router.escalation.EscalationTiers twoModels = dev.cascade.router.escalation.EscalationTiers.single(
        dev.cascade.router.escalation.EscalationClient.connect("127.0.0.1:1", settings), "large", 1.0)) {
      FakeKafkaServer tiered = new FakeKafkaServer(InProcessServerBuilder.forName(name),
          new RequestValidator(FakeKafkaServer.model(CascadeServerTest::checkPrompt), twoModels),
          new DeferralPolicy("chow-sum", 0.0, 2.0, 0.0, 0.0, 1, "config", 0, "configured default"), TOKEN,
          Duration.ofMillis(300), null);
      ManagedChannel tieredChannel = InProcessChannelBuilder.forName(name).build();
      try {
        Metadata headers = new Metadata();
        headers.put(AdminTokenInterceptor.AUTHORIZATION, "Bearer " + TOKEN);
        PolicyAdminGrpc.PolicyAdminBlockingStub stub = PolicyAdminGrpc.newBlockingStub(tieredChannel)
            .withDeadlineAfter(5, TimeUnit.SECONDS)
            .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
        Policy.Builder three = policy("chow-sum", 3);
        for (int i = 0; i < 3; i++) {
          three.addTierPolicies(dev.cascade.proto.v1.TierPolicy.newBuilder().setRule("chow-sum").setThreshold(1));
        }
        assertInvalid(() -> stub.updatePolicy(update(three)), "policy.tier_policies: 3 entries, and this router's"
            + " cascade of 2 models has no middle tiers");
        assertThat(tiered.policies.published).isEmpty();
        assertThat(stub.updatePolicy(update(policy("chow-sum", 3))).getTierPoliciesList()).isEmpty();
      } finally {
        tieredChannel.shutdownNow();
        tiered.stop();
      }
    }
  }

  @Test
  void watchPolicySendsTheCurrentPolicyThenEachChangeAndStopsWhenCancelled() throws Exception {
    BlockingQueue<Policy> seen = new LinkedBlockingQueue<>();
    List<ClientCallStreamObserver<WatchPolicyRequest>> calls = new CopyOnWriteArrayList<>();
    PolicyAdminGrpc.newStub(channel).watchPolicy(WatchPolicyRequest.newBuilder().setIncludeCurrent(true).build(),
        observer(seen, calls, -1));
    assertThat(seen.poll(5, TimeUnit.SECONDS).getVersion()).isEqualTo(4);
    admin(TOKEN).updatePolicy(update(policy("chow-sum", 3)));
    Policy change = seen.poll(5, TimeUnit.SECONDS);
    assertThat(change.getVersion()).isEqualTo(5);
    assertThat(change.getRule()).isEqualTo("chow-sum");

    calls.get(0).cancel("done", null);
    await(policies.listeners::isEmpty);
  }

  @Test
  void aWatcherThatIsNotReadyGetsTheLatestPolicyWhenItIsNotABacklog() throws Exception {
    BlockingQueue<Policy> seen = new LinkedBlockingQueue<>();
    List<ClientCallStreamObserver<WatchPolicyRequest>> calls = new CopyOnWriteArrayList<>();
    PolicyAdminGrpc.newStub(channel).watchPolicy(WatchPolicyRequest.newBuilder().setIncludeCurrent(true).build(),
        observer(seen, calls, 0));
    await(() -> policies.listeners.size() == 1);
    for (int t = 1; t <= 3; t++) {
      admin(TOKEN).updatePolicy(update(policy("chow-sum", t)));
    }
    assertThat(seen.poll(200, TimeUnit.MILLISECONDS)).isNull();

    calls.get(0).request(1);
    assertThat(seen.poll(5, TimeUnit.SECONDS).getVersion()).isEqualTo(7);
    calls.get(0).request(1);
    assertThat(seen.poll(200, TimeUnit.MILLISECONDS)).isNull();
    admin(TOKEN).updatePolicy(update(policy("chow-sum", 4)));
    assertThat(seen.poll(5, TimeUnit.SECONDS).getVersion()).isEqualTo(8);
    calls.get(0).cancel("done", null);
  }

  /** A watch observer; {@code initialRequests} below 0 means automatic flow control. */
  private static ClientResponseObserver<WatchPolicyRequest, Policy> observer(BlockingQueue<Policy> seen,
      List<ClientCallStreamObserver<WatchPolicyRequest>> calls, int initialRequests) {
    return new ClientResponseObserver<>() {
      @Override
      public void beforeStart(ClientCallStreamObserver<WatchPolicyRequest> call) {
        calls.add(call);
        if (initialRequests >= 0) {
          call.disableAutoRequestWithInitial(initialRequests);
        }
      }

      @Override
      public void onNext(Policy value) {
        seen.add(value);
      }

      @Override
      public void onError(Throwable t) {}

      @Override
      public void onCompleted() {}
    };
  }

  @Test
  void reflectionListsTheServices() throws Exception {
    BlockingQueue<io.grpc.reflection.v1.ServerReflectionResponse> answers = new LinkedBlockingQueue<>();
    StreamObserver<io.grpc.reflection.v1.ServerReflectionRequest> requestStream =
        io.grpc.reflection.v1.ServerReflectionGrpc.newStub(channel).serverReflectionInfo(new StreamObserver<>() {
          @Override
          public void onNext(io.grpc.reflection.v1.ServerReflectionResponse value) {
            answers.add(value);
          }

          @Override
          public void onError(Throwable t) {}

          @Override
          public void onCompleted() {}
        });
    requestStream.onNext(io.grpc.reflection.v1.ServerReflectionRequest.newBuilder().setListServices("").build());
    var listed = answers.poll(5, TimeUnit.SECONDS).getListServicesResponse().getServiceList().stream()
        .map(io.grpc.reflection.v1.ServiceResponse::getName).toList();
    requestStream.onCompleted();
    assertThat(listed).contains(CascadeGrpc.SERVICE_NAME, PolicyAdminGrpc.SERVICE_NAME, HealthGrpc.SERVICE_NAME);
  }

  @Test
  @SuppressWarnings("deprecation")
  void reflectionIsServedToV1AlphaClientsToo() throws Exception {
    BlockingQueue<io.grpc.reflection.v1alpha.ServerReflectionResponse> answers = new LinkedBlockingQueue<>();
    StreamObserver<io.grpc.reflection.v1alpha.ServerReflectionRequest> requestStream =
        io.grpc.reflection.v1alpha.ServerReflectionGrpc.newStub(channel).serverReflectionInfo(new StreamObserver<>() {
          @Override
          public void onNext(io.grpc.reflection.v1alpha.ServerReflectionResponse value) {
            answers.add(value);
          }

          @Override
          public void onError(Throwable t) {
            answers.add(io.grpc.reflection.v1alpha.ServerReflectionResponse.getDefaultInstance());
          }

          @Override
          public void onCompleted() {}
        });
    requestStream.onNext(io.grpc.reflection.v1alpha.ServerReflectionRequest.newBuilder()
        .setFileContainingSymbol(CascadeGrpc.SERVICE_NAME).build());
    var answer = answers.poll(5, TimeUnit.SECONDS);
    requestStream.onCompleted();
    assertThat(answer.hasFileDescriptorResponse()).as("answered, not UNIMPLEMENTED").isTrue();
    assertThat(answer.getFileDescriptorResponse().getFileDescriptorProtoCount()).isPositive();
  }

  @Test
  void healthSaysNotServingWhileTheRouterOrTheReplyReaderCannotAnswerAndServingOnceBoth() throws Exception {
    java.util.concurrent.atomic.AtomicBoolean routerRunning = new java.util.concurrent.atomic.AtomicBoolean(true);
    server.healthFollows(routerRunning::get);
    routerRunning.set(false);
    awaitHealth(CascadeGrpc.SERVICE_NAME, HealthCheckResponse.ServingStatus.NOT_SERVING);
    awaitHealth("", HealthCheckResponse.ServingStatus.NOT_SERVING);
    routerRunning.set(true);
    awaitHealth(CascadeGrpc.SERVICE_NAME, HealthCheckResponse.ServingStatus.SERVING);
    requests.readerHealthy = false;
    awaitHealth(CascadeGrpc.SERVICE_NAME, HealthCheckResponse.ServingStatus.NOT_SERVING);
    requests.readerHealthy = true;
    awaitHealth(CascadeGrpc.SERVICE_NAME, HealthCheckResponse.ServingStatus.SERVING);
  }

  @Test
  void generateIsRefusedUnavailableWhileNotServingAndAnsweredOnceServingAgain() throws Exception {
    java.util.concurrent.atomic.AtomicBoolean kafkaAnswers = new java.util.concurrent.atomic.AtomicBoolean(false);
    server.healthFollows(kafkaAnswers::get);
    awaitHealth(CascadeGrpc.SERVICE_NAME, HealthCheckResponse.ServingStatus.NOT_SERVING);
    assertThatThrownBy(() -> cascade().generate(GenerateRequest.newBuilder().setPrompt("cascade").build()))
        .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
          assertThat(e.getStatus().getCode()).isEqualTo(io.grpc.Status.Code.UNAVAILABLE);
          assertThat(e.getStatus().getDescription()).contains("health NOT_SERVING").contains("try another instance");
        });
    kafkaAnswers.set(true);
    awaitHealth(CascadeGrpc.SERVICE_NAME, HealthCheckResponse.ServingStatus.SERVING);
    assertThat(cascade().generate(GenerateRequest.newBuilder().setPrompt("cascade").build()).getText()).isNotEmpty();
  }

  private void awaitHealth(String service, HealthCheckResponse.ServingStatus expected) throws InterruptedException {
    HealthGrpc.HealthBlockingStub health = HealthGrpc.newBlockingStub(channel);
    HealthCheckResponse.ServingStatus last = null;
    for (int i = 0; i < 100; i++) {
      last = health.check(HealthCheckRequest.newBuilder().setService(service).build()).getStatus();
      if (last == expected) {
        return;
      }
      Thread.sleep(50);
    }
    assertThat(last).as("health of '" + service + "' after 5 s").isEqualTo(expected);
  }

  @Test
  void healthSaysServingForEachService() {
    HealthGrpc.HealthBlockingStub health = HealthGrpc.newBlockingStub(channel);
    for (String service : new String[] {"", CascadeGrpc.SERVICE_NAME, PolicyAdminGrpc.SERVICE_NAME}) {
      assertThat(health.check(HealthCheckRequest.newBuilder().setService(service).build()).getStatus())
          .isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
    }
  }
}
