package dev.cascade.router.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cascade.models.openai.ChatTranscript;
import dev.cascade.router.metrics.Scrape;
import dev.cascade.router.routing.RequestValidator;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The HTTP door with {@code http.chat-history=transcript}: what reaches the requests topic (Kafka
 * replaced by {@link FakeChannel}, which answers the prompt upper-cased), which turns a long chat
 * loses to the model's prompt limit, and how a chat that cannot fit is refused.
 */
class ChatTranscriptDoorTest {

  private static final ObjectMapper JSON = new ObjectMapper();
  /** The fake small model's prompt limit, in characters, said as the real ones say theirs. */
  private static final int LIMIT = 80;

  private final FakeChannel channel = new FakeChannel();
  private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
  private final PrometheusRegistry registry = new PrometheusRegistry();
  private OpenAiServer server;

  @BeforeEach
  void start() {
    RequestValidator validator = new RequestValidator(FakeKafkaServer.model(p -> p.contains("#")
        ? Optional.of("prompt: character '#' cannot be encoded")
        : p.length() > LIMIT ? Optional.of("prompt: " + p.length() + " tokens is over the model's limit of " + LIMIT)
            : Optional.empty()));
    server = new OpenAiServer(channel, validator, null, TokenCounter.approximate(), new OpenAiServer.Settings(
        Duration.ofSeconds(5), 48, 16, OpenAiServer.bodyLimits(10_000, 65_536, 256), java.util.List.of(),
        Duration.ZERO, ChatTranscript.of(ChatTranscript.DEFAULT_TURN_FORMAT, ChatTranscript.DEFAULT_ANSWER_CUE)))
        .countedBy(DoorMetrics.register(registry, () -> true)).start("127.0.0.1", 0);
  }

  @AfterEach
  void stop() {
    server.stop();
  }

  private HttpResponse<String> chat(String messages) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/v1/chat/completions"))
        .header("Content-Type", "application/json").timeout(Duration.ofSeconds(30))
        .POST(HttpRequest.BodyPublishers.ofString("{\"model\": \"cascade\", \"messages\": " + messages + "}")).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  private double notSent() throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    PrometheusTextFormatWriter.create().write(out, registry.scrape());
    return Scrape.parse(out.toString(StandardCharsets.UTF_8)).value("cascade_http_chat_messages_not_sent_total");
  }

  @Test
  void theWholeChatIsSentAsOneTranscriptAndAnswered() throws Exception {
    HttpResponse<String> r = chat("""
        [{"role": "system", "content": "be brief"}, {"role": "user", "content": "spell cat"},
         {"role": "assistant", "content": null, "tool_calls": [{"id": "t", "type": "function"}]},
         {"role": "assistant", "content": "c a t"}, {"role": "user", "content": "now dog"}]""");
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    String transcript = "system: be brief\nuser: spell cat\nassistant: c a t\nuser: now dog\nassistant:";
    assertThat(channel.submitted.get(0).getPrompt()).isEqualTo(transcript);
    assertThat(JSON.readTree(r.body()).path("choices").get(0).path("message").path("content").asText())
        .isEqualTo(transcript.toUpperCase(java.util.Locale.ROOT));
    assertThat(notSent()).as("the assistant message without text").isEqualTo(1);
  }

  @Test
  void aChatOverTheLimitLosesItsOldestTurnsAndTheyAreCounted() throws Exception {
    HttpResponse<String> r = chat("""
        [{"role": "system", "content": "be brief"}, {"role": "user", "content": "spell a long word"},
         {"role": "assistant", "content": "l o n g"}, {"role": "user", "content": "spell cat"},
         {"role": "assistant", "content": "c a t"}, {"role": "user", "content": "now dog"}]""");
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    String sent = channel.submitted.get(0).getPrompt();
    assertThat(sent).isEqualTo("system: be brief\nuser: spell cat\nassistant: c a t\nuser: now dog\nassistant:");
    assertThat(sent.length()).isLessThanOrEqualTo(LIMIT);
    assertThat(notSent()).as("the first two turns").isEqualTo(2);
  }

  @Test
  void aChatWhoseLastMessageAloneIsOverTheLimitIsRefusedAsContextLengthExceeded() throws Exception {
    HttpResponse<String> r = chat("[{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"user\", \"content\": \""
        + "w ".repeat(50) + "\"}]");
    assertThat(r.statusCode()).isEqualTo(400);
    JsonNode error = JSON.readTree(r.body()).path("error");
    assertThat(error.path("code").asText()).isEqualTo("context_length_exceeded");
    assertThat(error.path("param").asText()).isEqualTo("messages");
    assertThat(error.path("message").asText()).startsWith("messages: ").contains("over the model's limit of " + LIMIT);
    assertThat(channel.submitted).isEmpty();
    assertThat(notSent()).as("a refused call is not counted").isZero();
  }

  @Test
  void anotherProblemIsNotCuredByDroppingTurnsAndNamesTheMessages() throws Exception {
    HttpResponse<String> r = chat("[{\"role\": \"user\", \"content\": \"x\"}, {\"role\": \"user\", \"content\": \"#\"}]");
    assertThat(r.statusCode()).isEqualTo(400);
    JsonNode error = JSON.readTree(r.body()).path("error");
    assertThat(error.path("code").asText()).isEqualTo("invalid_value");
    assertThat(error.path("message").asText()).isEqualTo("messages: character '#' cannot be encoded");
    assertThat(channel.submitted).isEmpty();
  }

  @Test
  void aResponsesCallIsATranscriptTooWithItsInstructionsFirst() throws Exception {
    HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port()
        + "/v1/responses")).header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString("""
            {"model": "cascade", "instructions": "be brief", "input": [{"role": "user", "content": "spell cat"},
             {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "c a t"}]},
             {"role": "user", "content": "now dog"}]}""")).build(), HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    assertThat(channel.submitted.get(0).getPrompt())
        .isEqualTo("system: be brief\nuser: spell cat\nassistant: c a t\nuser: now dog\nassistant:");
    HttpResponse<String> over = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port()
        + "/v1/responses")).header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(
            "{\"model\": \"cascade\", \"input\": \"" + "w ".repeat(50) + "\"}")).build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(over.statusCode()).isEqualTo(400);
    assertThat(JSON.readTree(over.body()).path("error").path("param").asText()).isEqualTo("input");
  }
}
