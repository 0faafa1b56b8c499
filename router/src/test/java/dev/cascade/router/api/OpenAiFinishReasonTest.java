package dev.cascade.router.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cascade.models.openai.OpenAiRequest;
import dev.cascade.schemas.avro.CascadeRequest;
import dev.cascade.schemas.avro.CascadeResponse;
import dev.cascade.schemas.avro.ServedBy;
import org.junit.jupiter.api.Test;

/**
 * The HTTP door's {@code finish_reason} for an answer the response record says is unfinished: a
 * degraded answer that is the prefix the small model had when early deferral stopped it is cut
 * short ({@code length}), not complete ({@code stop}), and {@code cascade.stopped_early} says why.
 */
class OpenAiFinishReasonTest {

  private static final ObjectMapper JSON = new ObjectMapper();

  private static CascadeResponse response(String text, ServedBy servedBy, Boolean stoppedEarly) {
    CascadeRequest request = CascadeRequest.newBuilder().setRequestId("cmpl-1").setPrompt("spell: table")
        .setMaxNewTokens(0).setCreatedAtMs(0).build();
    return CascadeResponse.newBuilder(FakeChannel.answer(request)).setText(text).setServedBy(servedBy)
        .setServedTier(0).setServedModel(null).setCacheHit(false).setStoppedEarly(stoppedEarly).build();
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
}
