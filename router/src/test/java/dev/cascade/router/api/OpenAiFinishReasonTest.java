package dev.cascade.router.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cascade.models.TextGenerator;
import dev.cascade.models.TextGenerators;
import dev.cascade.models.openai.OpenAiRequest;
import dev.cascade.proto.v1.LargeModelGrpc;
import dev.cascade.proto.v1.LargeModelInfo;
import dev.cascade.proto.v1.LargeModelInfoRequest;
import dev.cascade.router.escalation.EscalationClient;
import dev.cascade.router.escalation.EscalationSettings;
import dev.cascade.router.escalation.EscalationTiers;
import dev.cascade.router.routing.RequestValidator;
import dev.cascade.schemas.avro.CascadeRequest;
import dev.cascade.schemas.avro.CascadeResponse;
import dev.cascade.schemas.avro.ServedBy;
import io.grpc.Server;
import io.grpc.ServerBuilder;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The HTTP door's {@code finish_reason} for an answer the response record says is unfinished: a
 * degraded answer that is the prefix the small model had when early deferral stopped it is cut
 * short ({@code length}), not complete ({@code stop}), and {@code cascade.stopped_early} says why.
 * An answer as long as the serving model's own limit allowed is {@code length} too, whichever
 * model of the cascade served it.
 */
class OpenAiFinishReasonTest {

  private static final ObjectMapper JSON = new ObjectMapper();

  private static CascadeResponse response(String text, ServedBy servedBy, Boolean stoppedEarly) {
    CascadeRequest request = CascadeRequest.newBuilder().setRequestId("cmpl-1").setPrompt("spell: table")
        .setMaxNewTokens(0).setCreatedAtMs(0).build();
    return CascadeResponse.newBuilder(FakeChannel.answer(request)).setText(text).setServedBy(servedBy)
        .setServedTier(0).setServedModel(null).setCacheHit(false).setStoppedEarly(stoppedEarly)
        .setDecision(servedBy == ServedBy.SMALL ? dev.cascade.schemas.avro.Decision.ACCEPT
            : dev.cascade.schemas.avro.Decision.DEFER).build();
  }

  private static JsonNode body(String requestJson, CascadeResponse response, boolean chat) throws Exception {
    OpenAiRequest request = OpenAiRequest.parse(requestJson, chat, OpenAiServer.LIMITS);
    OpenAiResponses.Answer answer = OpenAiResponses.answer(request, response, TokenCounter.approximate(), 48, 0);
    return JSON.readTree(OpenAiResponses.body(answer, chat));
  }

  @Test
  void aDegradedPrefixStoppedEarlyFinishesForLengthAndSaysSo() throws Exception {
    JsonNode body = body("{\"model\": \"cascade\", \"prompt\": \"spell: table\"}",
        response("t", ServedBy.SMALL_DEGRADED, true), false);
    assertThat(body.path("choices").get(0).path("finish_reason").asText()).isEqualTo("length");
    assertThat(body.path("cascade").path("served_by").asText()).isEqualTo("SMALL_DEGRADED");
    assertThat(body.path("cascade").path("stopped_early").asBoolean()).isTrue();
    assertThat(body.path("cascade").path("decision").asText()).isEqualTo("DEFER");
    // Streamed: the finish chunk says the same.
    OpenAiRequest chat = OpenAiRequest.parse("{\"model\": \"cascade\", \"stream\": true, \"messages\":"
        + " [{\"role\": \"user\", \"content\": \"spell: table\"}]}", true, OpenAiServer.LIMITS);
    String stream = OpenAiResponses.stream(OpenAiResponses.answer(chat, response("t", ServedBy.SMALL_DEGRADED, true),
        TokenCounter.approximate(), 48, 0), true, false);
    assertThat(stream).contains("\"finish_reason\":\"length\"").contains("\"stopped_early\":true");
  }

  @Test
  void aWholeAnswerDegradedOrNotStillStopsAndAStopStringStillSaysStop() throws Exception {
    for (CascadeResponse whole : new CascadeResponse[] {response("t a b l e", ServedBy.SMALL_DEGRADED, false),
        response("t a b l e", ServedBy.SMALL, null)}) {
      JsonNode body = body("{\"model\": \"cascade\", \"prompt\": \"spell: table\"}", whole, false);
      assertThat(body.path("choices").get(0).path("finish_reason").asText()).as(whole.getServedBy().name())
          .isEqualTo("stop");
      assertThat(body.path("cascade").path("stopped_early").asBoolean()).isFalse();
    }
    JsonNode cut = body("{\"model\": \"cascade\", \"prompt\": \"spell: table\", \"stop\": \"a\"}",
        response("t a", ServedBy.SMALL_DEGRADED, true), false);
    assertThat(cut.path("choices").get(0).path("text").asText()).isEqualTo("t ");
    assertThat(cut.path("choices").get(0).path("finish_reason").asText()).isEqualTo("stop");
  }

  @Test
  void anAnswerAsLongAsTheServingTiersOwnLimitFinishesForLength() throws Exception {
    // Three models: the small one (its own limit 48), "medium" whose server says 30, "large" whose
    // server says none (called unclamped).
    Server medium = ServerBuilder.forPort(0).addService(new SaysLimit(30)).build().start();
    Server large = ServerBuilder.forPort(0).addService(new SaysLimit(0)).build().start();
    EscalationSettings settings = new EscalationSettings(1, Duration.ofSeconds(5), 0, Duration.ofMillis(1), 50,
        Duration.ofSeconds(5), 0);
    try (TextGenerator small = TextGenerators.load("small", "OnnxRuntime");
        EscalationTiers tiers = new EscalationTiers(List.of(
            new EscalationTiers.Tier(1, "medium", EscalationClient.connect("127.0.0.1:" + medium.getPort(), settings), 1),
            new EscalationTiers.Tier(2, "large", EscalationClient.connect("127.0.0.1:" + large.getPort(), settings), 2)))) {
      for (EscalationTiers.Tier t : tiers.all()) {
        t.client().serverInfo().get(10, TimeUnit.SECONDS);
      }
      TokenCounter counter = TokenCounter.of(new RequestValidator(small, tiers));
      // Cut at medium's 30 of the 48 asked: length; one token short of it: stop.
      assertThat(finish(48, tierAnswer(1, "medium", 30), counter)).isEqualTo("length");
      assertThat(finish(48, tierAnswer(1, "medium", 29), counter)).isEqualTo("stop");
      // The small model's limit says nothing of another model's answer: 50 of the 64 asked of a
      // model without a limit is a finished answer.
      assertThat(finish(64, tierAnswer(2, "large", 50), counter)).isEqualTo("stop");
      assertThat(finish(64, tierAnswer(2, "large", 64), counter)).isEqualTo("length");
      // The small model's own answer is clamped by its own limit.
      assertThat(finish(64, tierAnswer(0, null, 48), counter)).isEqualTo("length");
    } finally {
      medium.shutdownNow();
      large.shutdownNow();
    }
  }

  private static CascadeResponse tierAnswer(int tier, String model, int tokens) {
    return CascadeResponse.newBuilder(response(String.join(" ", java.util.Collections.nCopies(tokens, "a")),
        tier == 0 ? ServedBy.SMALL : ServedBy.LARGE, false)).setServedTier(tier).setServedModel(model)
        .setCompletionTokens(tokens).build();
  }

  private static String finish(int maxTokens, CascadeResponse response, TokenCounter counter) throws Exception {
    OpenAiRequest request = OpenAiRequest.parse("{\"model\": \"cascade\", \"prompt\": \"spell: table\", \"max_tokens\": "
        + maxTokens + "}", false, OpenAiServer.LIMITS);
    JsonNode body = JSON.readTree(OpenAiResponses.body(OpenAiResponses.answer(request, response, counter, 16, 0), false));
    assertThat(body.path("usage").path("completion_tokens").asInt()).isEqualTo(response.getCompletionTokens());
    return body.path("choices").get(0).path("finish_reason").asText();
  }

  /** Answers {@code Info} with a token limit (0: none said). */
  private static final class SaysLimit extends LargeModelGrpc.LargeModelImplBase {
    private final int maxNewTokens;

    SaysLimit(int maxNewTokens) {
      this.maxNewTokens = maxNewTokens;
    }

    @Override
    public void info(LargeModelInfoRequest request, StreamObserver<LargeModelInfo> out) {
      out.onNext(LargeModelInfo.newBuilder().setModel("limited").setContextLength(96).setMaxNewTokens(maxNewTokens)
          .build());
      out.onCompleted();
    }
  }
}
