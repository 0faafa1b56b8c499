package dev.cascade.router.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.errors.BadRequestException;
import com.openai.models.responses.Response;
import com.openai.models.responses.ResponseCreateParams;
import com.openai.models.responses.ResponseStreamEvent;
import dev.cascade.router.routing.RequestValidator;
import dev.cascade.schemas.avro.CascadeRequest;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@code POST /v1/responses}, OpenAI's Responses API, through OpenAI's own Java client: the answer
 * and its streamed events pass the client's validation of their shape, and what reaches the
 * requests topic is the chat's last user message (Kafka replaced by {@link FakeChannel}, which
 * answers the prompt upper-cased).
 */
class ResponsesApiTest {

  private static final ObjectMapper JSON = new ObjectMapper();

  private final FakeChannel channel = new FakeChannel();
  private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
  private OpenAiServer server;
  private OpenAIClient client;

  @BeforeEach
  void start() {
    server = new OpenAiServer(channel, new RequestValidator(FakeKafkaServer.model(p -> Optional.empty())), null,
        TokenCounter.approximate(), new OpenAiServer.Settings(Duration.ofSeconds(5), 48, 16)).start("127.0.0.1", 0);
    client = OpenAIOkHttpClient.builder().baseUrl("http://127.0.0.1:" + server.port() + "/v1").apiKey("unused")
        .maxRetries(0).build();
  }

  @AfterEach
  void stop() {
    server.stop();
  }

  @Test
  void aResponseAnswersTheLastUserMessageInTheResponsesShape() {
    Response r = client.responses().create(ResponseCreateParams.builder().model("cascade")
        .instructions("you are a phonemizer").input("cascade").maxOutputTokens(30L).build());
    r.validate(); // every field the client requires is there, of its type
    assertThat(r.id()).startsWith("resp_");
    assertThat(r.status()).hasValueSatisfying(s -> assertThat(s.asString()).isEqualTo("completed"));
    assertThat(r.incompleteDetails()).isEmpty();
    assertThat(r.output()).hasSize(1);
    assertThat(r.output().get(0).asMessage().id()).isEqualTo("msg_" + r.id().substring("resp_".length()));
    assertThat(r.output().get(0).asMessage().content().get(0).asOutputText().text()).isEqualTo("CASCADE");
    assertThat(r.usage()).hasValueSatisfying(u -> {
      assertThat(u.outputTokens()).isEqualTo(1);
      assertThat(u.inputTokens()).isEqualTo(7); // the prompt's code points (TokenCounter.approximate)
      assertThat(u.totalTokens()).isEqualTo(8);
    });
    assertThat(r.maxOutputTokens()).hasValue(30L);
    assertThat(r.instructions()).hasValueSatisfying(i -> assertThat(i.asString()).isEqualTo("you are a phonemizer"));
    CascadeRequest sent = channel.submitted.get(0);
    assertThat(sent.getRequestId()).isEqualTo(r.id());
    assertThat(sent.getPrompt()).isEqualTo("cascade");
    assertThat(sent.getMaxNewTokens()).isEqualTo(30);
  }

  @Test
  void anAnswerThatUsedEveryTokenIsIncomplete() throws Exception {
    HttpResponse<String> r = post("{\"model\": \"cascade\", \"max_output_tokens\": 2, \"metadata\": {\"team\": \"a\"},"
        + " \"input\": [{\"role\": \"user\", \"content\": [{\"type\": \"input_text\", \"text\": \"x y\"}]}]}");
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    JsonNode body = JSON.readTree(r.body());
    assertThat(body.path("status").asText()).isEqualTo("incomplete");
    assertThat(body.path("incomplete_details").path("reason").asText()).isEqualTo("max_output_tokens");
    assertThat(body.path("output").get(0).path("status").asText()).isEqualTo("incomplete");
    assertThat(body.path("metadata").path("team").asText()).isEqualTo("a");
    assertThat(body.path("cascade").path("served_by").asText()).isEqualTo("LARGE");
    assertThat(r.headers().firstValue("x-cascade-served-by")).hasValue("LARGE");
  }

  @Test
  void aStreamedResponseIsTheTypedEventsInOrderEndingCompleted() throws Exception {
    HttpResponse<String> raw = post("{\"model\": \"cascade\", \"input\": \"stream me\", \"stream\": true}");
    assertThat(raw.headers().firstValue("content-type")).hasValueSatisfying(t -> assertThat(t)
        .startsWith("text/event-stream"));
    List<String> types = TypedEvents.types(raw.body());
    assertThat(types).containsExactly("response.created", "response.in_progress", "response.output_item.added",
        "response.content_part.added", "response.output_text.delta", "response.output_text.done",
        "response.content_part.done", "response.output_item.done", "response.completed");

    List<ResponseStreamEvent> events = new ArrayList<>();
    try (StreamResponse<ResponseStreamEvent> stream = client.responses().createStreaming(ResponseCreateParams.builder()
        .model("cascade").input("stream me").build())) {
      stream.stream().forEach(events::add);
    }
    assertThat(events).hasSize(types.size());
    StringBuilder text = new StringBuilder();
    events.forEach(e -> e.outputTextDelta().ifPresent(d -> text.append(d.delta())));
    assertThat(text).hasToString("STREAM ME");
    for (int i = 0; i < events.size(); i++) {
      events.get(i).validate();
    }
    Response done = events.get(events.size() - 1).asCompleted().response();
    assertThat(done.output().get(0).asMessage().content().get(0).asOutputText().text()).isEqualTo("STREAM ME");
    assertThat(events.get(0).asCreated().response().status()).hasValueSatisfying(s -> assertThat(s.asString())
        .isEqualTo("in_progress"));
    assertThat(events.get(4).asOutputTextDelta().sequenceNumber()).isEqualTo(4);
  }

  @Test
  void aCallThatContinuesAStoredResponseIsRefusedNamingTheFieldAndNothingIsSent() {
    assertThatThrownBy(() -> client.responses().create(ResponseCreateParams.builder().model("cascade").input("x")
        .previousResponseId("resp_1").build())).isInstanceOf(BadRequestException.class)
        .hasMessageContaining("previous_response_id");
    assertThat(channel.submitted).isEmpty();
  }

  private HttpResponse<String> post(String body) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/v1/responses"))
        .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
        HttpResponse.BodyHandlers.ofString());
  }
}
