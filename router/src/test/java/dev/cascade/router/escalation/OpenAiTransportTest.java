package dev.cascade.router.escalation;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.net.httpserver.HttpServer;
import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.config.ConfigException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** openai:// against a scripted HTTP server: the API key, and HTTP statuses as the escalator's codes. */
class OpenAiTransportTest {

  private HttpServer server;
  private final AtomicInteger calls = new AtomicInteger();
  private volatile int status = 200;
  /** What a 200 answers. */
  private volatile String okBody =
      "{\"choices\":[{\"index\":0,\"text\":\"ok\",\"finish_reason\":\"stop\"}],"
      + "\"usage\":{\"completion_tokens\":3,\"prompt_tokens\":5}}";

  @BeforeEach
  void start() throws Exception {
    server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    server.createContext("/v1/completions", exchange -> {
      calls.incrementAndGet();
      String auth = exchange.getRequestHeaders().getFirst("Authorization");
      int code = !"Bearer sk-test-key".equals(auth) ? 401 : status;
      byte[] body = (code == 200
          ? okBody
          : "{\"error\":{\"message\":\"status " + code + "\"}}").getBytes(StandardCharsets.UTF_8);
      exchange.sendResponseHeaders(code, body.length);
      exchange.getResponseBody().write(body);
      exchange.close();
    });
    server.createContext("/v1/chat/completions", exchange -> {
      calls.incrementAndGet();
      chatBody = new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
      byte[] body = chatReply.getBytes(StandardCharsets.UTF_8);
      exchange.sendResponseHeaders(200, body.length);
      exchange.getResponseBody().write(body);
      exchange.close();
    });
    server.createContext("/v1/messages", exchange -> {
      calls.incrementAndGet();
      messagesBody = new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
      messagesHeaders = exchange.getRequestHeaders();
      byte[] body = messagesReply.getBytes(StandardCharsets.UTF_8);
      exchange.sendResponseHeaders(200, body.length);
      exchange.getResponseBody().write(body);
      exchange.close();
    });
    server.start();
  }

  /** What the Messages endpoint was last sent (body and headers), and what it answers. */
  private volatile String messagesBody;
  private volatile com.sun.net.httpserver.Headers messagesHeaders;
  private volatile String messagesReply = "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\","
      + "\"content\":[{\"type\":\"thinking\",\"thinking\":\"hm\"},{\"type\":\"text\",\"text\":\"k a \"},"
      + "{\"type\":\"text\",\"text\":\"t\"}],\"stop_reason\":\"end_turn\","
      + "\"usage\":{\"input_tokens\":2,\"output_tokens\":4}}";

  @Test
  void anAnthropicTargetAsksTheMessagesEndpointWithItsKeyAndVersionAndReadsTheTextBlocks(@TempDir Path dir)
      throws Exception {
    Path key = dir.resolve("key");
    java.nio.file.Files.writeString(key, "sk-ant-test\n");
    CascadeConfig config = CascadeConfig.load(null, Map.of(), Map.of("large.openai.api-key-file", key.toString()));
    try (EscalationClient client = EscalationClient.connect(LargeTarget.parse("anthropic://127.0.0.1:"
        + server.getAddress().getPort() + "/v1?model=claude-x"), settings(), LargeModelTransports.Options.from(config))) {
      assertThat(client.target()).startsWith("anthropic://").endsWith("/v1?model=claude-x");
      LargeAnswer answer = client.generate("r1", "cat", 7).get(10, TimeUnit.SECONDS);
      assertThat(answer.text()).as("the text blocks, the thinking block left out").isEqualTo("k a t");
      assertThat(answer.outputTokens()).isEqualTo(4);
      assertThat(answer.promptTokens()).isEqualTo(2);
      com.fasterxml.jackson.databind.JsonNode sent = new com.fasterxml.jackson.databind.ObjectMapper()
          .readTree(messagesBody);
      assertThat(sent.path("model").asText()).isEqualTo("claude-x");
      assertThat(sent.path("messages")).hasSize(1);
      assertThat(sent.path("messages").path(0).path("role").asText()).isEqualTo("user");
      assertThat(sent.path("messages").path(0).path("content").asText()).isEqualTo("cat");
      assertThat(sent.path("max_tokens").asInt()).isEqualTo(7);
      assertThat(sent.path("temperature").asInt()).isZero();
      assertThat(sent.has("n")).as("not a Messages API field").isFalse();
      assertThat(messagesHeaders.getFirst("x-api-key")).isEqualTo("sk-ant-test");
      assertThat(messagesHeaders.getFirst("anthropic-version")).isEqualTo("2023-06-01");
      assertThat(messagesHeaders.getFirst("Authorization")).isNull();
      // A chat-shaped reply is a protocol mismatch, refused, not retried.
      messagesReply = "{\"choices\":[{\"index\":0,\"message\":{\"content\":\"ok\"}}]}";
      int before = calls.get();
      assertThatThrownBy(() -> client.generate("r2", "cat", 7).get(10, TimeUnit.SECONDS))
          .satisfies(e -> {
            assertThat(EscalationClient.codeOf(e)).isEqualTo("FAILED_PRECONDITION");
            assertThat(e).hasMessageContaining("the Messages reply has no content array (content is missing)");
          });
      assertThat(calls.get() - before).as("not retried").isEqualTo(1);
    }
  }

  /** What the chat endpoint was last sent, and what it answers. */
  private volatile String chatBody;
  private volatile String chatReply = "{\"object\":\"chat.completion\",\"choices\":[{\"index\":0,\"message\":"
      + "{\"role\":\"assistant\",\"content\":\"k a t\"},\"finish_reason\":\"stop\"}],"
      + "\"usage\":{\"completion_tokens\":4,\"prompt_tokens\":2}}";

  @Test
  void apiChatAsksTheChatEndpointWithThePromptAsTheUserMessage() throws Exception {
    try (EscalationClient client = EscalationClient.connect(LargeTarget.parse("openai://127.0.0.1:"
        + server.getAddress().getPort() + "/v1?model=m&api=chat"), settings(),
        LargeModelTransports.Options.from(CascadeConfig.defaults()))) {
      assertThat(client.target()).endsWith("/v1?model=m&api=chat");
      LargeAnswer answer = client.generate("r1", "cat", 7).get(10, TimeUnit.SECONDS);
      assertThat(answer.text()).isEqualTo("k a t");
      assertThat(answer.outputTokens()).isEqualTo(4);
      assertThat(answer.promptTokens()).isEqualTo(2);
      com.fasterxml.jackson.databind.JsonNode sent = new com.fasterxml.jackson.databind.ObjectMapper().readTree(chatBody);
      assertThat(sent.path("model").asText()).isEqualTo("m");
      assertThat(sent.path("messages")).hasSize(1);
      assertThat(sent.path("messages").path(0).path("role").asText()).isEqualTo("user");
      assertThat(sent.path("messages").path(0).path("content").asText()).isEqualTo("cat");
      assertThat(sent.has("prompt")).isFalse();
      assertThat(sent.path("max_tokens").asInt()).isEqualTo(7);
      assertThat(sent.path("temperature").asInt()).isZero();
      // A completions-shaped reply from the chat endpoint is a protocol mismatch, refused, not retried.
      chatReply = "{\"choices\":[{\"index\":0,\"text\":\"ok\"}]}";
      int before = calls.get();
      assertThatThrownBy(() -> client.generate("r2", "cat", 7).get(10, TimeUnit.SECONDS))
          .satisfies(e -> {
            assertThat(EscalationClient.codeOf(e)).isEqualTo("FAILED_PRECONDITION");
            assertThat(e).hasMessageContaining("protocol mismatch: the chat completion reply has no"
                + " choices[0].message.content (choices[0].message is missing)");
          });
      assertThat(calls.get() - before).as("not retried").isEqualTo(1);
    }
  }

  @AfterEach
  void stop() {
    server.stop(0);
  }

  private static EscalationSettings settings() {
    return new EscalationSettings(4, Duration.ofSeconds(10), 2, Duration.ofMillis(1), 50, Duration.ofSeconds(60), 16);
  }

  private EscalationClient client(CascadeConfig config) {
    return EscalationClient.connect(LargeTarget.parse("openai://127.0.0.1:" + server.getAddress().getPort()
        + "/v1?model=m"), settings(), LargeModelTransports.Options.from(config));
  }

  @Test
  void theApiKeyFromItsFileIsSentAndAnswersCarryTheServersTokenCount(@TempDir Path dir) throws Exception {
    Path key = Files.writeString(dir.resolve("key"), "sk-test-key\n");
    try (EscalationClient client = client(CascadeConfig.load(null, Map.of(),
        Map.of("large.openai.api-key-file", key.toString())))) {
      // logs name the target as it is written, and no info call the protocol lacks
      assertThat(client.target()).isEqualTo("openai://127.0.0.1:" + server.getAddress().getPort() + "/v1?model=m");
      assertThat(client.infoCall()).isEmpty();
      LargeAnswer answer = client.generate("r1", "p", 4).get(10, TimeUnit.SECONDS);
      assertThat(answer.text()).isEqualTo("ok");
      assertThat(answer.outputTokens()).isEqualTo(3);
      assertThat(answer.promptTokens()).isEqualTo(5);
      assertThat(answer.tokens()).isEmpty();
      // A server that counts nothing: both unknown.
      okBody = "{\"choices\":[{\"index\":0,\"text\":\"ok\",\"finish_reason\":\"stop\"}]}";
      LargeAnswer uncounted = client.generate("r2", "p", 4).get(10, TimeUnit.SECONDS);
      assertThat(uncounted.outputTokens()).isEqualTo(-1);
      assertThat(uncounted.promptTokens()).isEqualTo(-1);
    }
  }

  @Test
  void withoutTheKeyItIsARefusalNotRetried() throws Exception {
    try (EscalationClient client = client(CascadeConfig.defaults())) {
      assertThatThrownBy(() -> client.generate("r1", "p", 4).get(10, TimeUnit.SECONDS))
          .isInstanceOf(ExecutionException.class)
          .satisfies(e -> assertThat(EscalationClient.codeOf(e)).isEqualTo("UNAUTHENTICATED"));
      assertThat(EscalationClient.isRefusal("UNAUTHENTICATED")).isTrue();
      assertThat(calls.get()).isEqualTo(1);
    }
  }

  @Test
  void aReplyThatIsNotJsonOrHasNoChoicesIsAProtocolMismatchRefusedNotRetried(@TempDir Path dir) throws Exception {
    Path key = Files.writeString(dir.resolve("key"), "sk-test-key");
    try (EscalationClient client = client(CascadeConfig.load(null, Map.of(),
        Map.of("large.openai.api-key-file", key.toString())))) {
      okBody = "<html><body>Welcome to nginx!</body></html>";
      assertThatThrownBy(() -> client.generate("r1", "p", 4).get(10, TimeUnit.SECONDS))
          .satisfies(e -> {
            assertThat(EscalationClient.codeOf(e)).isEqualTo("FAILED_PRECONDITION");
            assertThat(EscalationClient.isRefusal(EscalationClient.codeOf(e))).isTrue();
            assertThat(e).hasMessageContaining("protocol mismatch: the reply is not JSON: Unexpected character")
                .hasMessageNotContaining("[Source:").hasMessageNotContaining("StreamReadFeature");
          });
      assertThat(calls.get()).as("not retried").isEqualTo(1);
      okBody = "{\"id\":\"x\",\"choices\":[]}";
      assertThatThrownBy(() -> client.generate("r2", "p", 4).get(10, TimeUnit.SECONDS))
          .satisfies(e -> {
            assertThat(EscalationClient.codeOf(e)).isEqualTo("FAILED_PRECONDITION");
            assertThat(e).hasMessageContaining("protocol mismatch: the completions reply has no choices[0].text"
                + " (choices is empty)");
          });
      assertThat(calls.get()).as("not retried").isEqualTo(2);
    }
  }

  @Test
  void unavailableIsRetriedAndBusyIsNot(@TempDir Path dir) throws Exception {
    Path key = Files.writeString(dir.resolve("key"), "sk-test-key");
    try (EscalationClient client = client(CascadeConfig.load(null, Map.of(),
        Map.of("large.openai.api-key-file", key.toString())))) {
      status = 503;
      assertThatThrownBy(() -> client.generate("r1", "p", 4).get(10, TimeUnit.SECONDS))
          .satisfies(e -> assertThat(EscalationClient.codeOf(e)).isEqualTo("UNAVAILABLE"));
      assertThat(calls.get()).as("the call and its 2 retries").isEqualTo(3);
      status = 429;
      assertThatThrownBy(() -> client.generate("r2", "p", 4).get(10, TimeUnit.SECONDS))
          .satisfies(e -> assertThat(EscalationClient.codeOf(e)).isEqualTo("RESOURCE_EXHAUSTED"));
      assertThat(calls.get()).isEqualTo(4);
    }
  }

  @Test
  void aMissingKeyFileIsAConfigurationError(@TempDir Path dir) {
    CascadeConfig config = CascadeConfig.load(null, Map.of(),
        Map.of("large.openai.api-key-file", dir.resolve("absent").toString()));
    assertThatThrownBy(() -> LargeModelTransports.Options.from(config))
        .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.key()).isEqualTo("large.openai.api-key-file"));
  }

  @Test
  void aConversationIsSentAsItsMessagesToTheChatAndMessagesEndpointsAndThePromptToCompletions() throws Exception {
    java.util.List<ChatTurn> conversation = java.util.List.of(new ChatTurn("system", "be brief"),
        new ChatTurn("user", "spell cat"), new ChatTurn("assistant", "c a t"), new ChatTurn("system", "and kind"),
        new ChatTurn("user", "now dog"));
    com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
    java.net.URI base = java.net.URI.create("http://127.0.0.1:1/v1");
    try (OpenAiTransport chat = new OpenAiTransport(base, "m", "", null, OpenAiTransport.Api.CHAT);
        OpenAiTransport messages = new OpenAiTransport(base, "m", "", null, OpenAiTransport.Api.MESSAGES);
        OpenAiTransport completions = new OpenAiTransport(base, "m", "", null, OpenAiTransport.Api.COMPLETIONS)) {
      com.fasterxml.jackson.databind.JsonNode c = json.readTree(chat.body("now dog", conversation, 9));
      assertThat(c.path("messages")).hasSize(5);
      assertThat(c.path("messages").path(0).path("role").asText()).isEqualTo("system");
      assertThat(c.path("messages").path(4).path("content").asText()).isEqualTo("now dog");
      com.fasterxml.jackson.databind.JsonNode m = json.readTree(messages.body("now dog", conversation, 9));
      assertThat(m.path("system").asText()).as("Anthropic's system prompt is a field").isEqualTo("be brief\n\nand kind");
      assertThat(m.path("messages")).hasSize(3);
      assertThat(m.path("messages").path(0).path("role").asText()).isEqualTo("user");
      assertThat(m.path("messages").path(2).path("content").asText()).isEqualTo("now dog");
      com.fasterxml.jackson.databind.JsonNode p = json.readTree(completions.body("the transcript", conversation, 9));
      assertThat(p.path("prompt").asText()).isEqualTo("the transcript");
      assertThat(p.has("messages")).isFalse();
      // Without a conversation, the prompt is the one user message.
      assertThat(json.readTree(messages.body("cat", java.util.List.of(), 9)).path("messages").path(0).path("content")
          .asText()).isEqualTo("cat");
    }
  }
}
