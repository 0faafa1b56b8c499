package dev.cascade.router.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.anthropic.client.AnthropicClient;
import com.anthropic.client.okhttp.AnthropicOkHttpClient;
import com.anthropic.core.http.StreamResponse;
import com.anthropic.errors.BadRequestException;
import com.anthropic.errors.NotFoundException;
import com.anthropic.errors.UnauthorizedException;
import com.anthropic.models.messages.Message;
import com.anthropic.models.messages.MessageCreateParams;
import com.anthropic.models.messages.RawMessageStreamEvent;
import com.anthropic.models.messages.StopReason;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cascade.router.routing.RequestValidator;
import dev.cascade.schemas.avro.CascadeRequest;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code POST /v1/messages}, Anthropic's Messages API, through Anthropic's own Java client (its key
 * sent as {@code x-api-key}): the answer and its streamed events pass the client's validation of
 * their shape, errors come in Anthropic's shape, and what reaches the requests topic is the last
 * user message (Kafka replaced by {@link FakeChannel}, which answers the prompt upper-cased).
 */
class AnthropicMessagesTest {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String KEY = "k-anthropic-0123456789";

  @TempDir
  Path dir;

  private final FakeChannel channel = new FakeChannel();
  private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
  private OpenAiServer server;
  private AnthropicClient client;

  @BeforeEach
  void start() throws Exception {
    Path keys = dir.resolve("keys");
    Files.writeString(keys, "team " + KEY + "\n");
    server = new OpenAiServer(channel, new RequestValidator(FakeKafkaServer.model(p -> p.contains("#")
        ? Optional.of("prompt: character '#' cannot be encoded") : Optional.empty())),
        ApiKeys.load(keys, new PrometheusRegistry()), TokenCounter.approximate(),
        new OpenAiServer.Settings(Duration.ofSeconds(5), 48, 16)).start("127.0.0.1", 0);
    client = client(KEY);
  }

  private AnthropicClient client(String key) {
    return AnthropicOkHttpClient.builder().baseUrl("http://127.0.0.1:" + server.port()).apiKey(key).maxRetries(0)
        .build();
  }

  @AfterEach
  void stop() {
    server.stop();
  }

  @Test
  void aMessageAnswersTheLastUserMessageInTheMessagesShape() {
    Message m = client.messages().create(MessageCreateParams.builder().model("cascade").maxTokens(30)
        .system("you are a phonemizer").addUserMessage("first").addAssistantMessage("FIRST").addUserMessage("cascade")
        .build());
    m.validate(); // every field the client requires is there, of its type
    assertThat(m.id()).startsWith("msg_");
    assertThat(m.content()).hasSize(1);
    assertThat(m.content().get(0).asText().text()).isEqualTo("CASCADE");
    assertThat(m.stopReason()).hasValue(StopReason.END_TURN);
    assertThat(m.stopSequence()).isEmpty();
    assertThat(m.usage().outputTokens()).isEqualTo(1);
    assertThat(m.usage().inputTokens()).isEqualTo(7); // the prompt's code points (TokenCounter.approximate)
    CascadeRequest sent = channel.submitted.get(0);
    assertThat(sent.getRequestId()).isEqualTo(m.id());
    assertThat(sent.getPrompt()).isEqualTo("cascade");
    assertThat(sent.getMaxNewTokens()).isEqualTo(30);
  }

  @Test
  void stopSequencesAndTheTokenLimitGiveTheirStopReasons() {
    Message cut = client.messages().create(MessageCreateParams.builder().model("cascade").maxTokens(30)
        .addUserMessage("new york city").stopSequences(List.of("CITY", "YORK")).build());
    assertThat(cut.content().get(0).asText().text()).isEqualTo("NEW ");
    assertThat(cut.stopReason()).hasValue(StopReason.STOP_SEQUENCE);
    assertThat(cut.stopSequence()).as("the one found first").hasValue("YORK");
    Message full = client.messages().create(MessageCreateParams.builder().model("cascade").maxTokens(2)
        .addUserMessage("x y").build());
    assertThat(full.stopReason()).hasValue(StopReason.MAX_TOKENS);
  }

  @Test
  void aStreamedMessageIsTheTypedEventsInOrder() throws Exception {
    HttpResponse<String> raw = post("{\"model\": \"cascade\", \"max_tokens\": 20, \"stream\": true,"
        + " \"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"stream me\"}]}]}", KEY);
    assertThat(raw.statusCode()).as(raw.body()).isEqualTo(200);
    List<String> types = TypedEvents.types(raw.body());
    assertThat(types).containsExactly("message_start", "content_block_start", "ping", "content_block_delta",
        "content_block_stop", "message_delta", "message_stop");

    List<RawMessageStreamEvent> events = new ArrayList<>();
    try (StreamResponse<RawMessageStreamEvent> stream = client.messages().createStreaming(MessageCreateParams.builder()
        .model("cascade").maxTokens(20).addUserMessage("stream me").build())) {
      stream.stream().forEach(events::add);
    }
    events.forEach(RawMessageStreamEvent::validate);
    StringBuilder text = new StringBuilder();
    events.forEach(e -> e.contentBlockDelta().flatMap(d -> d.delta().text()).ifPresent(t -> text.append(t.text())));
    assertThat(text).hasToString("STREAM ME");
    assertThat(events.stream().flatMap(e -> e.messageDelta().stream()).findFirst().orElseThrow().delta().stopReason())
        .hasValue(StopReason.END_TURN);
    assertThat(events.get(events.size() - 1).isMessageStop()).isTrue();
  }

  @Test
  void errorsComeInAnthropicsShapeNamingTheField() throws Exception {
    HttpResponse<String> missing = post("{\"model\": \"cascade\", \"messages\": [{\"role\": \"user\", \"content\":"
        + " \"x\"}]}", KEY);
    assertThat(missing.statusCode()).isEqualTo(400);
    JsonNode body = JSON.readTree(missing.body());
    assertThat(body.path("type").asText()).isEqualTo("error");
    assertThat(body.path("error").path("type").asText()).isEqualTo("invalid_request_error");
    assertThat(body.path("error").path("message").asText()).startsWith("max_tokens:");

    assertThatThrownBy(() -> client.messages().create(MessageCreateParams.builder().model("cascade").maxTokens(5)
        .addUserMessage("#").build())).isInstanceOf(BadRequestException.class)
        .hasMessageContaining("messages[0].content: character '#' cannot be encoded");
    assertThatThrownBy(() -> client.messages().create(MessageCreateParams.builder().model("claude-sonnet-4-5")
        .maxTokens(5).addUserMessage("x").build())).isInstanceOf(NotFoundException.class)
        .hasMessageContaining("claude-sonnet-4-5");
    assertThatThrownBy(() -> client("wrong").messages().create(MessageCreateParams.builder().model("cascade")
        .maxTokens(5).addUserMessage("x").build())).isInstanceOf(UnauthorizedException.class);
    HttpResponse<String> image = post("{\"model\": \"cascade\", \"max_tokens\": 5, \"messages\": [{\"role\": \"user\","
        + " \"content\": [{\"type\": \"image\", \"source\": {\"type\": \"url\", \"url\": \"u\"}}]}]}", KEY);
    assertThat(JSON.readTree(image.body()).path("error").path("message").asText())
        .startsWith("messages[0].content[0].type: only text parts are accepted");
    assertThat(channel.submitted).isEmpty();
  }

  private HttpResponse<String> post(String body, String key) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/v1/messages"))
        .header("Content-Type", "application/json").header("x-api-key", key).header("anthropic-version", "2023-06-01")
        .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
  }
}
