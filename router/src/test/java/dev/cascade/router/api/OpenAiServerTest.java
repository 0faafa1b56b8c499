package dev.cascade.router.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.JsonValue;
import com.openai.core.http.StreamResponse;
import com.openai.errors.BadRequestException;
import com.openai.errors.NotFoundException;
import com.openai.errors.OpenAIServiceException;
import com.openai.errors.UnauthorizedException;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionCreateParams;
import dev.cascade.models.openai.OpenAiRequest;
import dev.cascade.router.routing.RequestValidator;
import dev.cascade.schemas.avro.CascadeRequest;
import dev.cascade.schemas.avro.CascadeResponse;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
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
 * The HTTP door over a real loopback Javalin server with Kafka replaced by {@link FakeChannel}
 * (which answers the prompt upper-cased, served by LARGE, score 2.5, threshold 1.5, policy 7), called
 * with the OpenAI Java client and with plain HTTP. The same door on a real router: {@code OpenAiDoorIT}.
 */
class OpenAiServerTest {

  private static final String KEY = "k-team-0123456789abcdef";
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir
  Path dir;

  private FakeChannel channel;
  private OpenAiServer server;
  private PrometheusRegistry registry;
  private OpenAIClient client;
  private final HttpClient http = HttpClient.newHttpClient();
  private FakeKafkaServer.RecordingFeedback feedback;

  @BeforeEach
  void start() throws Exception {
    start(Duration.ofSeconds(5), 16);
  }

  private void start(Duration wait, int maxInFlight) throws Exception {
    start(wait, maxInFlight, Duration.ZERO);
  }

  private void start(Duration wait, int maxInFlight, Duration deadlineMargin) throws Exception {
    if (server != null) {
      server.stop();
    }
    Path keys = dir.resolve("keys");
    Files.writeString(keys, "team " + KEY + "\n");
    registry = new PrometheusRegistry();
    channel = new FakeChannel();
    // The fake small model refuses '#'; the door counts prompt tokens as code points.
    RequestValidator validator = new RequestValidator(FakeKafkaServer.model(
        p -> p.contains("#") ? Optional.of("prompt: character '#' cannot be encoded") : Optional.empty()));
    feedback = new FakeKafkaServer.RecordingFeedback();
    server = new OpenAiServer(channel, validator, ApiKeys.load(keys, registry), TokenCounter.approximate(),
        new OpenAiServer.Settings(wait, 48, maxInFlight, OpenAiServer.bodyLimits(10_000, 65_536, 256),
            java.util.List.of(), deadlineMargin),
        feedback).start("127.0.0.1", 0);
    client = client(KEY);
  }

  private OpenAIClient client(String key) {
    return OpenAIOkHttpClient.builder().baseUrl(base()).apiKey(key).maxRetries(0).build();
  }

  private String base() {
    return "http://127.0.0.1:" + server.port() + "/v1";
  }

  @AfterEach
  void stop() {
    server.stop();
  }

  private HttpResponse<String> post(String path, String body, String key) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base() + path))
        .POST(HttpRequest.BodyPublishers.ofString(body)).header("Content-Type", "application/json");
    if (key != null) {
      b.header("Authorization", "Bearer " + key);
    }
    return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  private static JsonNode error(HttpResponse<String> response) throws Exception {
    assertThat(response.headers().firstValue("content-type")).hasValueSatisfying(t -> assertThat(t).startsWith(
        "application/json"));
    return JSON.readTree(response.body()).path("error");
  }

  @Test
  void feedbackOnACompletionIsWrittenAndABadOneIsRefusedNamingTheField() throws Exception {
    HttpResponse<String> ok = post("/feedback", "{\"id\": \"cmpl-1\", \"correct\": false, \"corrected_text\": \"k a s\"}",
        KEY);
    assertThat(ok.statusCode()).as(ok.body()).isEqualTo(200);
    JsonNode body = JSON.readTree(ok.body());
    assertThat(body.path("object").asText()).isEqualTo("feedback");
    assertThat(body.path("id").asText()).isEqualTo("cmpl-1");
    assertThat(body.path("topic").asText()).isEqualTo("cascade.feedback");
    dev.cascade.schemas.avro.Feedback written = feedback.written.get(0);
    assertThat(written.getRequestId()).isEqualTo("cmpl-1");
    assertThat(written.getCorrect()).isFalse();
    assertThat(written.getCorrectedText()).isEqualTo("k a s");
    assertThat(written.getSource()).isEqualTo("http");

    String[][] bad = {
        {"{\"correct\": true}", "id", "missing_required_parameter"},
        {"{\"id\": null, \"correct\": true}", "id", "missing_required_parameter"},
        {"{\"id\": \" \", \"correct\": true}", "id", "invalid_value"},
        {"{\"id\": \"cmpl-1\\r\\nx\", \"correct\": true}", "id", "invalid_value"},
        {"{\"id\": 7, \"correct\": true}", "id", "invalid_type"},
        {"{\"id\": \"cmpl-2\", \"correct\": \"yes\"}", "correct", "invalid_type"},
        {"{\"id\": \"cmpl-2\", \"corrected_text\": \"  \"}", "corrected_text", "invalid_value"},
        {"{\"id\": \"cmpl-2\", \"correct\": true, \"source\": \"" + "s".repeat(200) + "\"}", "source", "invalid_value"},
        {"{\"id\": \"cmpl-2\"}", "correct, corrected_text", "missing_required_parameter"},
        {"not json", null, "invalid_json"}};
    for (String[] c : bad) {
      HttpResponse<String> refused = post("/feedback", c[0], KEY);
      assertThat(refused.statusCode()).as(c[0]).isEqualTo(400);
      JsonNode error = error(refused);
      assertThat(error.path("type").asText()).isEqualTo("invalid_request_error");
      assertThat(error.path("code").asText()).as(c[0]).isEqualTo(c[2]);
      if (c[1] == null) {
        assertThat(error.path("param").isNull()).as(c[0]).isTrue();
      } else {
        assertThat(error.path("param").asText()).as(c[0]).isEqualTo(c[1]);
        assertThat(error.path("message").asText()).startsWith(c[1] + ":");
      }
    }
    assertThat(post("/feedback", "{\"id\": \"cmpl-3\", \"correct\": true}", null).statusCode())
        .as("the API key is needed").isEqualTo(401);
    assertThat(feedback.written).hasSize(1);

    feedback.failure = new IllegalStateException("broker down at 10.0.0.7:9092");
    String log = stderrOf(() -> {
      HttpResponse<String> down = post("/feedback", "{\"id\": \"cmpl-4\", \"correct\": true}", KEY);
      assertThat(down.statusCode()).isEqualTo(503);
      // What to do, and which completion; what Kafka said is in the log, not the answer.
      assertThat(error(down).path("message").asText()).isEqualTo("feedback for cmpl-4 could not be written: the router"
          + " cannot reach Kafka; retry later");
    });
    assertThat(log).contains("cmpl-4").contains("broker down at 10.0.0.7:9092");
  }

  /** What the door logs (slf4j-simple writes to {@code System.err}) while {@code call} runs. */
  static String stderrOf(ThrowingRunnable call) throws Exception {
    java.io.PrintStream stderr = System.err;
    java.io.ByteArrayOutputStream log = new java.io.ByteArrayOutputStream();
    System.setErr(new java.io.PrintStream(log, true, java.nio.charset.StandardCharsets.UTF_8));
    try {
      call.run();
    } finally {
      System.setErr(stderr);
    }
    return log.toString(java.nio.charset.StandardCharsets.UTF_8);
  }

  interface ThrowingRunnable {
    void run() throws Exception;
  }

  @Test
  void aCompletionIsTheCascadesAnswerWithUsageAndTheCascadesDetails() {
    Completion c = client.completions().create(CompletionCreateParams.builder().model("cascade").prompt("new york")
        .maxTokens(20).user("u-7").build());
    assertThat(c.choices()).hasSize(1);
    assertThat(c.choices().get(0).text()).isEqualTo("NEW YORK");
    assertThat(c.choices().get(0).finishReason().toString()).isEqualTo("stop");
    assertThat(c.model()).isEqualTo("cascade");
    assertThat(c.id()).startsWith("cmpl-");
    assertThat(c.usage()).hasValueSatisfying(u -> {
      assertThat(u.promptTokens()).isEqualTo(8); // code points: TokenCounter.approximate
      assertThat(u.completionTokens()).isEqualTo(2); // "NEW" "YORK"
      assertThat(u.totalTokens()).isEqualTo(10);
    });
    JsonValue cascade = c._additionalProperties().get("cascade");
    assertThat(cascade).isNotNull();
    assertThat(cascade.toString()).contains("LARGE").contains("chow-quantile");
    CascadeRequest sent = channel.submitted.get(0);
    assertThat(sent.getRequestId()).isEqualTo(c.id());
    assertThat(sent.getPrompt()).isEqualTo("new york");
    assertThat(sent.getMaxNewTokens()).isEqualTo(20);
    assertThat(sent.getMetadata()).containsEntry("user", "u-7");
    assertThat(sent.getReplyTo()).isEqualTo("fake-door");
  }

  @Test
  void aChatAnswersTheLastUserMessageAndPassesMetadata() {
    ChatCompletion c = client.chat().completions().create(ChatCompletionCreateParams.builder().model("cascade")
        .addSystemMessage("you are a phonemizer").addUserMessage("first").addUserMessage("cascade")
        .maxCompletionTokens(30).temperature(0.8)
        .metadata(ChatCompletionCreateParams.Metadata.builder().putAdditionalProperty("team", JsonValue.from("search"))
            .build())
        .build());
    assertThat(c.id()).startsWith("chatcmpl-");
    assertThat(c.choices().get(0).message().content()).hasValue("CASCADE");
    assertThat(c.choices().get(0).finishReason().toString()).isEqualTo("stop");
    assertThat(c.usage()).hasValueSatisfying(u -> assertThat(u.promptTokens()).isEqualTo(7));
    CascadeRequest sent = channel.submitted.get(0);
    assertThat(sent.getPrompt()).isEqualTo("cascade");
    assertThat(sent.getMaxNewTokens()).isEqualTo(30);
    assertThat(sent.getMetadata()).containsEntry("team", "search");
    // The whole conversation rides along, for a later tier that takes one.
    assertThat(sent.getMessages()).extracting(m -> m.getRole() + ": " + m.getContent())
        .containsExactly("system: you are a phonemizer", "user: first", "user: cascade");
  }

  @Test
  void aConversationKeepsItsSystemMessagesAndItsNewestTurnsWithinItsSizeAndLeavesToolMessagesOut() {
    String big = "w".repeat(90_000);
    OpenAiRequest chat = OpenAiRequest.parse("{\"model\": \"cascade\", \"messages\": ["
        + "{\"role\": \"developer\", \"content\": \"be brief\"},"
        + "{\"role\": \"user\", \"content\": \"a" + big + "\"},"
        + "{\"role\": \"assistant\", \"content\": null, \"tool_calls\": [{\"id\": \"t\"}]},"
        + "{\"role\": \"tool\", \"content\": \"42\", \"tool_call_id\": \"t\"},"
        + "{\"role\": \"user\", \"content\": [{\"type\": \"image_url\", \"image_url\": {\"url\": \"u\"}}]},"
        + "{\"role\": \"assistant\", \"content\": \"b" + big + "\"},"
        + "{\"role\": \"user\", \"content\": \"c" + big + "\"}]}", true, OpenAiServer.LIMITS);
    List<String> kept = OpenAiServer.conversation(chat).stream().map(m -> m.getRole() + ":"
        + m.getContent().charAt(0)).toList();
    assertThat(kept).containsExactly("system:b", "assistant:b", "user:c");
    assertThat(OpenAiServer.conversation(OpenAiRequest.parse("{\"model\": \"cascade\", \"prompt\": \"p\"}",
        false, OpenAiServer.LIMITS))).isEmpty();
  }

  @Test
  void aStreamedChatCarriesTheWholeTextThenTheFinishReasonThenUsage() {
    List<ChatCompletionChunk> chunks = new ArrayList<>();
    try (StreamResponse<ChatCompletionChunk> stream = client.chat().completions().createStreaming(
        ChatCompletionCreateParams.builder().model("cascade").addUserMessage("stream me")
            .streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build()).build())) {
      stream.stream().forEach(chunks::add);
    }
    assertThat(chunks).hasSize(3);
    StringBuilder text = new StringBuilder();
    chunks.forEach(ch -> ch.choices().forEach(choice -> choice.delta().content().ifPresent(text::append)));
    assertThat(text).hasToString("STREAM ME");
    assertThat(chunks.get(0).choices().get(0).delta().role()).isPresent();
    assertThat(chunks.get(1).choices().get(0).finishReason()).hasValueSatisfying(f -> assertThat(f.toString())
        .isEqualTo("stop"));
    assertThat(chunks.get(2).choices()).isEmpty();
    assertThat(chunks.get(2).usage()).hasValueSatisfying(u -> assertThat(u.completionTokens()).isEqualTo(2));
    assertThat(chunks).allSatisfy(ch -> assertThat(ch.id()).isEqualTo(chunks.get(0).id()));
  }

  @Test
  void aStreamedCompletionIsServerSentEventsEndingWithDone() throws Exception {
    List<Completion> chunks = new ArrayList<>();
    try (StreamResponse<Completion> stream = client.completions().createStreaming(
        CompletionCreateParams.builder().model("cascade").prompt("abc").build())) {
      stream.stream().forEach(chunks::add);
    }
    assertThat(chunks).hasSize(2);
    assertThat(chunks.get(0).choices().get(0).text()).isEqualTo("ABC");
    assertThat(chunks.get(1).choices().get(0).finishReason().toString()).isEqualTo("stop");

    HttpResponse<String> raw = post("/completions", "{\"model\": \"cascade\", \"prompt\": \"abc\", \"stream\": true}",
        KEY);
    assertThat(raw.statusCode()).isEqualTo(200);
    assertThat(raw.headers().firstValue("content-type")).hasValueSatisfying(t -> assertThat(t)
        .startsWith("text/event-stream"));
    String[] events = raw.body().split("\n\n");
    assertThat(events).hasSize(3);
    assertThat(events).allSatisfy(e -> assertThat(e).startsWith("data: "));
    assertThat(JSON.readTree(events[0].substring(6)).path("object").asText()).isEqualTo("text_completion");
    assertThat(JSON.readTree(events[1].substring(6)).path("cascade").path("served_by").asText()).isEqualTo("LARGE");
    assertThat(events[2]).isEqualTo("data: [DONE]");
    assertThat(List.of(events).subList(0, 2)).allSatisfy(e -> assertThat(JSON.readTree(e.substring(6)).has("usage"))
        .isFalse());

    // With include_usage, as OpenAI: "usage": null on every chunk before the usage chunk.
    String[] withUsage = post("/completions", "{\"model\": \"cascade\", \"prompt\": \"abc\", \"stream\": true,"
        + " \"stream_options\": {\"include_usage\": true}}", KEY).body().split("\n\n");
    assertThat(withUsage).hasSize(4);
    for (int i = 0; i < 2; i++) {
      JsonNode chunk = JSON.readTree(withUsage[i].substring(6));
      assertThat(chunk.has("usage")).as(withUsage[i]).isTrue();
      assertThat(chunk.path("usage").isNull()).as(withUsage[i]).isTrue();
    }
    assertThat(JSON.readTree(withUsage[2].substring(6)).path("usage").path("completion_tokens").asInt()).isEqualTo(1);
  }

  @Test
  void theCascadesDetailsAreInHeadersAndTheBody() throws Exception {
    HttpResponse<String> r = post("/chat/completions",
        "{\"model\": \"cascade\", \"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}", KEY);
    assertThat(r.statusCode()).isEqualTo(200);
    String id = JSON.readTree(r.body()).path("id").asText();
    assertThat(r.headers().firstValue("x-cascade-request-id")).hasValue(id);
    assertThat(r.headers().firstValue("x-cascade-served-by")).hasValue("LARGE");
    assertThat(r.headers().firstValue("x-cascade-served-tier")).hasValue("2");
    assertThat(r.headers().firstValue("x-cascade-served-model")).hasValue("large");
    assertThat(r.headers().firstValue("x-cascade-score")).hasValue("2.5");
    assertThat(r.headers().firstValue("x-cascade-threshold")).hasValue("1.5");
    assertThat(r.headers().firstValue("x-cascade-policy-version")).hasValue("7");
    assertThat(r.headers().firstValue("x-cascade-rule")).hasValue("chow-quantile");
    JsonNode cascade = JSON.readTree(r.body()).path("cascade");
    assertThat(cascade.path("request_id").asText()).isEqualTo(id);
    assertThat(cascade.path("deferral_score").asDouble()).isEqualTo(2.5);
    assertThat(cascade.path("served_tier").asInt()).isEqualTo(2);
    assertThat(cascade.path("served_model").asText()).isEqualTo("large");
    assertThat(cascade.path("latency_ms").path("escalation").asDouble()).isEqualTo(30.0);
    assertThat(JSON.readTree(r.body()).path("object").asText()).isEqualTo("chat.completion");
  }

  @Test
  void theCascadeObjectNamesTheTiersSkippedOnTheWayPlainAndStreamed() throws Exception {
    channel.reshape = r -> CascadeResponse.newBuilder(r).setSkippedTiers(List.of(
        dev.cascade.schemas.avro.SkippedTier.newBuilder().setTier(1).setModel("medium").setCause("breaker_open")
            .setReason("medium unavailable for 3 ms; its circuit breaker is open").build())).build();
    String expected = "[{\"tier\":1,\"model\":\"medium\",\"cause\":\"breaker_open\","
        + "\"reason\":\"medium unavailable for 3 ms; its circuit breaker is open\"}]";
    HttpResponse<String> plain = post("/completions", "{\"model\": \"cascade\", \"prompt\": \"x\"}", KEY);
    assertThat(plain.statusCode()).isEqualTo(200);
    assertThat(JSON.readTree(plain.body()).path("cascade").path("skipped_tiers").toString()).isEqualTo(expected);
    // Streamed: on the chunk with the finish reason, the one that carries the cascade object.
    String[] events = post("/chat/completions", "{\"model\": \"cascade\", \"stream\": true,"
        + " \"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}", KEY).body().split("\n\n");
    assertThat(events).hasSize(3);
    assertThat(JSON.readTree(events[1].substring(6)).path("cascade").path("skipped_tiers").toString())
        .isEqualTo(expected);
    // None skipped: an empty list, as from a router that predates the field.
    channel.reshape = r -> r;
    JsonNode none = JSON.readTree(post("/completions", "{\"model\": \"cascade\", \"prompt\": \"x\"}", KEY)
        .body()).path("cascade").path("skipped_tiers");
    assertThat(none.isArray()).isTrue();
    assertThat(none.isEmpty()).isTrue();
  }

  @Test
  void anAnswerWithoutAScoreSaysNullNotTheStringNaN() throws Exception {
    // Skipped before generation (or the small model failed): the record's score is NaN; a target
    // escalation rate of 1 defers at threshold -Infinity. Neither is a JSON number.
    channel.reshape = r -> CascadeResponse.newBuilder(r).setDeferralScore(Double.NaN)
        .setThreshold(Double.NEGATIVE_INFINITY).build();
    HttpResponse<String> r = post("/completions", "{\"model\": \"cascade\", \"prompt\": \"x\"}", KEY);
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.headers().firstValue("x-cascade-score")).isEmpty();
    assertThat(r.headers().firstValue("x-cascade-threshold")).hasValue("-Infinity");
    JsonNode cascade = JSON.readTree(r.body()).path("cascade");
    assertThat(cascade.has("deferral_score")).isTrue();
    assertThat(cascade.path("deferral_score").isNull()).as(r.body()).isTrue();
    assertThat(cascade.path("threshold").isNull()).as(r.body()).isTrue();
    assertThat(r.body()).doesNotContain("NaN").doesNotContain("Infinity");
    String stream = post("/completions", "{\"model\": \"cascade\", \"prompt\": \"x\", \"stream\": true}", KEY)
        .body();
    assertThat(stream).contains("\"deferral_score\":null").doesNotContain("NaN");
  }

  @Test
  void stopStringsCutTheAnswerEchoPrependsThePromptAndAFullAnswerFinishesForLength() {
    Completion stopped = client.completions().create(CompletionCreateParams.builder().model("cascade")
        .prompt("a b c d").stop("C").build());
    assertThat(stopped.choices().get(0).text()).isEqualTo("A B ");
    assertThat(stopped.usage().orElseThrow().completionTokens()).isEqualTo(2);
    Completion echoed = client.completions().create(CompletionCreateParams.builder().model("cascade")
        .prompt("ab").echo(true).build());
    assertThat(echoed.choices().get(0).text()).isEqualTo("abAB");
    Completion full = client.completions().create(CompletionCreateParams.builder().model("cascade")
        .prompt("a b c").maxTokens(3).build());
    assertThat(full.choices().get(0).finishReason().toString()).isEqualTo("length");
  }

  @Test
  void usageIsTheServingModelsOwnCountWhereTheResponseHasIt() {
    // A subword tokenizer's answer: 3 tokens for 7 space-separated pieces, a prompt of 4 tokens.
    channel.reshape = r -> CascadeResponse.newBuilder(r).setText("a b c d e f g").setCompletionTokens(3)
        .setPromptTokens(4).build();
    Completion c = client.completions().create(CompletionCreateParams.builder().model("cascade").prompt("new york")
        .build());
    assertThat(c.choices().get(0).text()).isEqualTo("a b c d e f g");
    assertThat(c.usage()).hasValueSatisfying(u -> {
      assertThat(u.completionTokens()).isEqualTo(3);
      assertThat(u.promptTokens()).isEqualTo(4);
      assertThat(u.totalTokens()).isEqualTo(7);
    });
    // A stop string cuts the text, not what the model generated; the count decides "length".
    Completion stopped = client.completions().create(CompletionCreateParams.builder().model("cascade")
        .prompt("x").stop("c").build());
    assertThat(stopped.choices().get(0).text()).isEqualTo("a b ");
    assertThat(stopped.usage().orElseThrow().completionTokens()).isEqualTo(3);
    assertThat(client.completions().create(CompletionCreateParams.builder().model("cascade").prompt("x").maxTokens(3)
        .build()).choices().get(0).finishReason().toString()).isEqualTo("length");
    assertThat(client.completions().create(CompletionCreateParams.builder().model("cascade").prompt("x").maxTokens(4)
        .build()).choices().get(0).finishReason().toString()).isEqualTo("stop");
    // The same counts in a streamed chat's usage chunk.
    List<ChatCompletionChunk> chunks = new ArrayList<>();
    try (StreamResponse<ChatCompletionChunk> stream = client.chat().completions().createStreaming(
        ChatCompletionCreateParams.builder().model("cascade").addUserMessage("stream me")
            .streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build()).build())) {
      stream.stream().forEach(chunks::add);
    }
    assertThat(chunks.get(chunks.size() - 1).usage()).hasValueSatisfying(u -> {
      assertThat(u.completionTokens()).isEqualTo(3);
      assertThat(u.promptTokens()).isEqualTo(4);
    });
  }

  @Test
  void aServerOnEveryInterfaceAnswersOnLoopback() throws Exception {
    OpenAiServer everywhere = new OpenAiServer(new FakeChannel(), new RequestValidator(FakeKafkaServer.model(
        p -> Optional.empty())), null, TokenCounter.approximate(), new OpenAiServer.Settings(Duration.ofSeconds(5), 48,
        4)).start(null, 0);
    try {
      HttpResponse<String> models = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + everywhere.port()
          + "/v1/models")).build(), HttpResponse.BodyHandlers.ofString());
      assertThat(models.statusCode()).isEqualTo(200); // and no key needed: none configured
      assertThat(JSON.readTree(models.body()).path("data").get(0).path("id").asText()).isEqualTo("cascade");
    } finally {
      everywhere.stop();
    }
  }

  @Test
  void modelsListTheCascade() {
    assertThat(client.models().list().data()).extracting(m -> m.id()).containsExactly("cascade");
    assertThat(client.models().retrieve("cascade").ownedBy()).isEqualTo("cascade");
    assertThatThrownBy(() -> client.models().retrieve("gpt-4o")).isInstanceOf(NotFoundException.class);
  }

  @Test
  void headIsAnsweredAsGetWithoutTheBody() throws Exception {
    for (String path : List.of("/models", "/models/cascade")) {
      HttpResponse<String> get = http.send(HttpRequest.newBuilder(URI.create(base() + path))
          .header("Authorization", "Bearer " + KEY).build(), HttpResponse.BodyHandlers.ofString());
      HttpResponse<String> head = http.send(HttpRequest.newBuilder(URI.create(base() + path))
          .method("HEAD", HttpRequest.BodyPublishers.noBody()).header("Authorization", "Bearer " + KEY).build(),
          HttpResponse.BodyHandlers.ofString());
      assertThat(head.statusCode()).as(path).isEqualTo(200);
      assertThat(head.headers().firstValue("content-type")).as(path).isEqualTo(get.headers().firstValue("content-type"))
          .hasValueSatisfying(t -> assertThat(t).startsWith("application/json"));
      assertThat(head.body()).isEmpty();
    }
    HttpResponse<String> unknown = http.send(HttpRequest.newBuilder(URI.create(base() + "/models/gpt-4o"))
        .method("HEAD", HttpRequest.BodyPublishers.noBody()).header("Authorization", "Bearer " + KEY).build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(unknown.statusCode()).isEqualTo(404);
    HttpResponse<String> keyless = http.send(HttpRequest.newBuilder(URI.create(base() + "/models"))
        .method("HEAD", HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
    assertThat(keyless.statusCode()).isEqualTo(401);
  }

  @Test
  void badRequestsAre400NamingTheField() throws Exception {
    assertThatThrownBy(() -> client.chat().completions().create(ChatCompletionCreateParams.builder().model("cascade")
        .addUserMessage("x").n(2).build()))
        .isInstanceOfSatisfying(BadRequestException.class, e -> {
          assertThat(e.statusCode()).isEqualTo(400);
          assertThat(e.type()).hasValue("invalid_request_error");
          assertThat(e.param()).hasValue("n");
        });
    assertThatThrownBy(() -> client.chat().completions().create(ChatCompletionCreateParams.builder().model("cascade")
        .addUserMessage("a # b").build()))
        .isInstanceOfSatisfying(BadRequestException.class, e -> assertThat(e.param()).hasValue("messages[0].content"));
    assertThat(channel.submitted).isEmpty();

    HttpResponse<String> malformed = post("/completions", "{\"model\": \"cascade\", \"prompt\": ", KEY);
    assertThat(malformed.statusCode()).isEqualTo(400);
    assertThat(error(malformed).path("code").asText()).isEqualTo("invalid_json");
    assertThat(error(malformed).path("type").asText()).isEqualTo("invalid_request_error");
    assertThat(error(malformed).has("param")).isTrue();
    // OpenAI's clients retry only what the door says may pass: the same body fails the same way.
    assertThat(malformed.headers().firstValue("x-should-retry")).hasValue("false");
  }

  @Test
  void whatJettyRefusesBeforeARouteIsAnOpenAiErrorToo() throws Exception {
    try (java.net.Socket socket = new java.net.Socket("127.0.0.1", server.port())) {
      socket.setSoTimeout(10_000);
      socket.getOutputStream().write("GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nNot a header line\r\n\r\n"
          .getBytes(java.nio.charset.StandardCharsets.US_ASCII));
      String answer = new String(socket.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
      assertThat(answer).startsWith("HTTP/1.1 400 ").containsIgnoringCase("Content-Type: application/json");
      com.fasterxml.jackson.databind.JsonNode error = new com.fasterxml.jackson.databind.ObjectMapper()
          .readTree(answer.substring(answer.indexOf("\r\n\r\n") + 4)).path("error");
      assertThat(error.path("code").asText()).isEqualTo("bad_request");
    }
  }

  @Test
  void aBodyOverTheLimitIs413InOpenAisShape() throws Exception {
    HttpResponse<String> big = post("/completions", "{\"model\": \"cascade\", \"prompt\": \"" + "a".repeat(1_100_000)
        + "\"}", KEY);
    assertThat(big.statusCode()).isEqualTo(413);
    assertThat(big.headers().firstValue("content-type")).hasValueSatisfying(t -> assertThat(t).startsWith("application/json"));
    assertThat(error(big).path("type").asText()).isEqualTo("invalid_request_error");
    assertThat(error(big).path("code").asText()).isEqualTo("request_too_large");
    assertThat(error(big).path("message").asText()).contains("limit of 1000000 bytes");
    // Announced with "Expect: 100-continue": refused from the header, before the client sends the body.
    try (java.net.Socket socket = new java.net.Socket("127.0.0.1", server.port())) {
      socket.setSoTimeout(10_000);
      socket.getOutputStream().write(("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1100000\r\n"
          + "Expect: 100-continue\r\n\r\n").getBytes(java.nio.charset.StandardCharsets.US_ASCII));
      assertThat(new java.io.BufferedReader(new java.io.InputStreamReader(socket.getInputStream(),
          java.nio.charset.StandardCharsets.US_ASCII)).readLine()).isEqualTo("HTTP/1.1 413 Payload Too Large");
    }
    // Without Expect, a client sends the whole body before it reads the answer: the door reads (and
    // drops) the body first, so the client gets the 413 and a clean close, not a reset connection.
    for (int i = 0; i < 5; i++) {
      String body = "{\"model\": \"cascade\", \"prompt\": \"" + "a".repeat(1_100_000) + "\"}";
      try (java.net.Socket socket = new java.net.Socket("127.0.0.1", server.port())) {
        socket.setSoTimeout(10_000);
        socket.getOutputStream().write(("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + KEY
            + "\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: " + body.length() + "\r\n\r\n"
            + body).getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        String answer = new String(socket.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertThat(answer).startsWith("HTTP/1.1 413 ").contains("request_too_large");
      }
    }
    assertThat(channel.submitted).isEmpty();
  }

  @Test
  void anUnknownModelOrPathIs404() throws Exception {
    assertThatThrownBy(() -> client.completions().create(CompletionCreateParams.builder().model("gpt-3.5-turbo-instruct")
        .prompt("x").build()))
        .isInstanceOfSatisfying(NotFoundException.class, e -> {
          assertThat(e.code()).hasValue("model_not_found");
          assertThat(e.param()).hasValue("model");
        });
    HttpResponse<String> path = post("/embeddings", "{}", KEY);
    assertThat(path.statusCode()).isEqualTo(404);
    assertThat(error(path).path("code").asText()).isEqualTo("unknown_url");
  }

  @Test
  void aServedPathWithAnotherMethodIs405NamingTheMethodsItServes() throws Exception {
    String[][] cases = {{"PUT", "/models", "GET, HEAD"}, {"DELETE", "/models/cascade", "GET, HEAD"}, {"GET", "/completions", "POST"},
        {"PUT", "/chat/completions", "POST"}, {"PATCH", "/feedback", "POST"}};
    for (String[] c : cases) {
      HttpResponse<String> refused = http.send(HttpRequest.newBuilder(URI.create(base() + c[1]))
          .method(c[0], HttpRequest.BodyPublishers.ofString("{}")).header("Authorization", "Bearer " + KEY).build(),
          HttpResponse.BodyHandlers.ofString());
      assertThat(refused.statusCode()).as(c[0] + " " + c[1]).isEqualTo(405);
      assertThat(refused.headers().firstValue("Allow")).as(c[0] + " " + c[1]).hasValue(c[2]);
      JsonNode error = error(refused);
      assertThat(error.path("type").asText()).isEqualTo("invalid_request_error");
      assertThat(error.path("code").asText()).isEqualTo("method_not_allowed");
      assertThat(error.path("message").asText()).contains(c[0], c[2]);
    }
    HttpResponse<String> unknown = http.send(HttpRequest.newBuilder(URI.create(base() + "/embeddings"))
        .method("PUT", HttpRequest.BodyPublishers.ofString("{}")).header("Authorization", "Bearer " + KEY).build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(unknown.statusCode()).isEqualTo(404);
  }

  @Test
  void aMissingOrWrongKeyIs401AndCallsAreCountedByTheKeysName() throws Exception {
    assertThatThrownBy(() -> client("k-wrong-0123456789abcdef").completions().create(CompletionCreateParams.builder()
        .model("cascade").prompt("x").build()))
        .isInstanceOfSatisfying(UnauthorizedException.class, e -> assertThat(e.code()).hasValue("invalid_api_key"));
    HttpResponse<String> none = post("/completions", "{\"model\": \"cascade\", \"prompt\": \"x\"}", null);
    assertThat(none.statusCode()).isEqualTo(401);
    assertThat(error(none).path("code").asText()).isEqualTo("missing_api_key");
    assertThat(error(none).path("message").asText()).contains("'Authorization: Bearer KEY' or 'x-api-key: KEY'");
    HttpResponse<String> basic = http.send(HttpRequest.newBuilder(URI.create(base() + "/models"))
        .header("Authorization", "Basic " + KEY).build(), HttpResponse.BodyHandlers.ofString());
    assertThat(basic.statusCode()).isEqualTo(401);
    assertThat(error(basic).path("message").asText()).contains("scheme is 'Basic', not 'Bearer'")
        .doesNotContain(KEY);
    assertThat(channel.submitted).isEmpty();
    // Both headers (a gateway adds its own x-api-key; the client sends its Bearer key): either valid key does.
    String wrong = "k-gateway-0123456789abcdef";
    for (String[] keys : new String[][] {{wrong, KEY}, {KEY, wrong}}) {
      HttpResponse<String> both = http.send(HttpRequest.newBuilder(URI.create(base() + "/models"))
          .header("x-api-key", keys[0]).header("Authorization", "Bearer " + keys[1]).build(),
          HttpResponse.BodyHandlers.ofString());
      assertThat(both.statusCode()).as("x-api-key " + keys[0]).isEqualTo(200);
    }
    HttpResponse<String> neither = http.send(HttpRequest.newBuilder(URI.create(base() + "/models"))
        .header("x-api-key", wrong).header("Authorization", "Bearer " + wrong).build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(neither.statusCode()).isEqualTo(401);
    assertThat(error(neither).path("code").asText()).isEqualTo("invalid_api_key");

    client.completions().create(CompletionCreateParams.builder().model("cascade").prompt("x").build());
    client.models().list(); // not a generation call: not counted
    CounterSnapshot counter = (CounterSnapshot) registry.scrape().stream()
        .filter(s -> s.getMetadata().getName().equals("cascade_api_requests")).findFirst().orElseThrow();
    assertThat(counter.getDataPoints()).singleElement().satisfies(p -> {
      assertThat(p.getLabels().get("key")).isEqualTo("team");
      assertThat(p.getValue()).isEqualTo(1.0);
    });
  }

  @Test
  void theHealthPathsNeedNoKeyAndSayWhetherTheRouterServes() throws Exception {
    HttpResponse<String> ready = get("/health");
    assertThat(ready.statusCode()).isEqualTo(200);
    assertThat(ready.body()).isEqualTo("{\"status\":\"SERVING\"}");
    channel.readerHealthy = false; // the reply reader is down: no answer would come back
    HttpResponse<String> notReady = get("/health");
    assertThat(notReady.statusCode()).isEqualTo(503);
    assertThat(notReady.body()).isEqualTo("{\"status\":\"NOT_SERVING\"}");
    assertThat(notReady.headers().firstValue("Retry-After")).hasValue("1");
    HttpResponse<String> live = get("/health/live");
    assertThat(live.statusCode()).isEqualTo(200);
    assertThat(live.body()).isEqualTo("{\"status\":\"LIVE\"}");
    channel.readerHealthy = true;
    server.healthFollows(() -> false); // the stream threads are not running
    assertThat(get("/health").statusCode()).isEqualTo(503);
    server.healthFollows(() -> true);
    assertThat(get("/health").statusCode()).isEqualTo(200);
    // Another method: 405, and nothing was sent to the router.
    assertThat(http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/health"))
        .POST(HttpRequest.BodyPublishers.ofString("{}")).build(), HttpResponse.BodyHandlers.ofString()).statusCode())
        .isEqualTo(405);
    assertThat(channel.submitted).isEmpty();
  }

  private HttpResponse<String> get(String path) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path)).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void aKeyOverItsLimitIs429WithTheWaitUntilItsNextWindow() throws Exception {
    server.stop();
    Path keys = dir.resolve("limited-keys");
    Files.writeString(keys, "team " + KEY + " 2/min\n");
    long[] now = {15_000_000_000L};
    registry = new PrometheusRegistry();
    server = new OpenAiServer(channel, new RequestValidator(FakeKafkaServer.model(p -> Optional.empty())),
        ApiKeys.load(keys, null).limitedTo(dev.cascade.router.config.RateLimit.NONE, () -> now[0]).counted(registry),
        TokenCounter.approximate(), new OpenAiServer.Settings(Duration.ofSeconds(5), 48, 16), feedback)
        .start("127.0.0.1", 0);
    String body = "{\"model\": \"cascade\", \"prompt\": \"x\"}";
    assertThat(post("/completions", body, KEY).statusCode()).isEqualTo(200);
    assertThat(post("/chat/completions", "{\"model\": \"cascade\", \"messages\": [{\"role\": \"user\","
        + " \"content\": \"y\"}]}", KEY).statusCode()).isEqualTo(200);
    now[0] += 20_000_000_000L; // 20 s into the window: 40 s to go
    HttpResponse<String> over = post("/completions", body, KEY);
    assertThat(over.statusCode()).isEqualTo(429);
    assertThat(over.headers().firstValue("Retry-After")).hasValue("40");
    assertThat(error(over).path("code").asText()).isEqualTo("rate_limit_exceeded");
    assertThat(error(over).path("message").asText()).isEqualTo("API key 'team' is over its limit of 2/min generation"
        + " calls on this router (its line in api.keys-file); retry in 40000 ms");
    assertThat(channel.submitted).hasSize(2);
    // Not generation calls: not limited.
    assertThat(http.send(HttpRequest.newBuilder(URI.create(base() + "/models")).header("Authorization", "Bearer " + KEY)
        .build(), HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(200);
    // The OpenAI client sees its RateLimitException.
    assertThatThrownBy(() -> client(KEY).completions().create(CompletionCreateParams.builder().model("cascade")
        .prompt("x").build())).isInstanceOf(com.openai.errors.RateLimitException.class);
    now[0] += 40_000_000_000L;
    assertThat(post("/completions", body, KEY).statusCode()).isEqualTo(200);
    assertThat(channel.submitted).hasSize(3);
  }

  @Test
  void theRequestsDeadlineFallsTheMarginBeforeTheAnswerWaitEndsButNeverBeforeItsMiddle() throws Exception {
    start(Duration.ofSeconds(5), 16, Duration.ofSeconds(1));
    assertThat(post("/completions", "{\"model\": \"cascade\", \"prompt\": \"x\"}", KEY).statusCode()).isEqualTo(200);
    assertThat(channel.submitted.get(0).getDeadlineMs() - channel.submitted.get(0).getCreatedAtMs()).isEqualTo(4_000);
    start(Duration.ofMillis(1_500), 16, Duration.ofSeconds(1));
    assertThat(post("/completions", "{\"model\": \"cascade\", \"prompt\": \"x\"}", KEY).statusCode()).isEqualTo(200);
    assertThat(channel.submitted.get(0).getDeadlineMs() - channel.submitted.get(0).getCreatedAtMs()).isEqualTo(750);
  }

  @Test
  void noAnswerInTimeIs408AndTooManyWaitingIs429() throws Exception {
    start(Duration.ofMillis(300), 1);
    channel.silent = true;
    HttpResponse<String> late = post("/completions", "{\"model\": \"cascade\", \"prompt\": \"x\"}", KEY);
    assertThat(late.statusCode()).isEqualTo(408);
    assertThat(error(late).path("code").asText()).isEqualTo("request_timeout");
    // The router took it past its deadline and generated nothing: a timeout too, never an empty 200.
    channel.silent = false;
    channel.expired = true;
    HttpResponse<String> expired = post("/chat/completions",
        "{\"model\": \"cascade\", \"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}", KEY);
    assertThat(expired.statusCode()).isEqualTo(408);
    assertThat(error(expired).path("code").asText()).isEqualTo("request_timeout");
    assertThat(error(expired).path("message").asText()).endsWith("reached the router after its deadline; nothing was"
        + " generated");
    channel.expired = false;

    start(Duration.ofSeconds(30), 1);
    channel.silent = true;
    var first = http.sendAsync(HttpRequest.newBuilder(URI.create(base() + "/completions"))
        .POST(HttpRequest.BodyPublishers.ofString("{\"model\": \"cascade\", \"prompt\": \"x\"}"))
        .header("Authorization", "Bearer " + KEY).build(), HttpResponse.BodyHandlers.ofString());
    while (channel.futures.isEmpty()) {
      Thread.sleep(10);
    }
    assertThatThrownBy(() -> client.completions().create(CompletionCreateParams.builder().model("cascade").prompt("y")
        .build()))
        .isInstanceOfSatisfying(OpenAIServiceException.class, e -> {
          assertThat(e.statusCode()).isEqualTo(429);
          assertThat(e.code()).hasValue("rate_limit_exceeded");
        });
    HttpResponse<String> full = post("/completions", "{\"model\": \"cascade\", \"prompt\": \"z\"}", KEY);
    assertThat(full.statusCode()).isEqualTo(429);
    assertThat(full.headers().firstValue("Retry-After")).hasValue("1");
    assertThat(full.headers().firstValue("x-should-retry")).hasValue("true");
    channel.futures.get(0).complete(FakeChannel.answer(channel.submitted.get(0)));
    assertThat(first.get().statusCode()).isEqualTo(200);
  }

  @Test
  void aRouterThatIsNotReadyOrStoppingIs503AndARefusalByTheRouterIsReported() throws Exception {
    channel.readerHealthy = false;
    HttpResponse<String> notReady = post("/completions", "{\"model\": \"cascade\", \"prompt\": \"x\"}", KEY);
    assertThat(notReady.statusCode()).isEqualTo(503);
    assertThat(error(notReady).path("code").asText()).isEqualTo("not_ready");
    assertThat(notReady.headers().firstValue("Retry-After")).hasValue("1");
    assertThat(notReady.headers().firstValue("x-should-retry")).hasValue("true");
    channel.readerHealthy = true;

    channel.failure = new RefusedRequestException("validate", "prompt: 60 tokens is over the model's limit of 47");
    HttpResponse<String> refused = post("/chat/completions",
        "{\"model\": \"cascade\", \"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}", KEY);
    assertThat(refused.statusCode()).isEqualTo(400);
    assertThat(error(refused).path("param").asText()).isEqualTo("messages[0].content");
    assertThat(error(refused).path("code").asText()).isEqualTo("context_length_exceeded"); // OpenAI's code
    // A failure in the router is 500 naming the request, not saying what failed (that is logged).
    channel.failure = new RefusedRequestException("escalation", "large model failed: java.io.IOException: 10.0.0.5");
    HttpResponse<String> failed = post("/completions", "{\"model\": \"cascade\", \"prompt\": \"x\"}", KEY);
    assertThat(failed.statusCode()).isEqualTo(500);
    assertThat(error(failed).path("code").asText()).isEqualTo("internal_error");
    assertThat(error(failed).path("message").asText()).contains(channel.submitted.get(channel.submitted.size() - 1)
        .getRequestId()).doesNotContain("large model", "10.0.0.5", "Exception");
    // A model server down may be back for a retry: the client's own rule (OpenAI's retries 5xx) decides.
    assertThat(failed.headers().firstValue("x-should-retry")).isEmpty();
    channel.failure = new RefusedRequestException("processing", "java.lang.IllegalStateException: a bug");
    HttpResponse<String> deterministic = post("/completions", "{\"model\": \"cascade\", \"prompt\": \"x\"}", KEY);
    assertThat(deterministic.statusCode()).isEqualTo(500);
    assertThat(deterministic.headers().firstValue("x-should-retry")).hasValue("false");
    channel.failure = null;
    channel.submitThrows = new IllegalArgumentException("secret detail of the door");
    HttpResponse<String> broken = post("/completions", "{\"model\": \"cascade\", \"prompt\": \"x\"}", KEY);
    assertThat(broken.statusCode()).isEqualTo(500);
    assertThat(error(broken).path("message").asText()).startsWith("the router failed to answer request cmpl-")
        .doesNotContain("secret", "Exception").contains(broken.headers().firstValue("x-request-id").orElseThrow());
    channel.submitThrows = null;
    channel.failure = new org.apache.kafka.common.errors.TimeoutException(
        "Topic cascade.requests not present in metadata after 60000 ms.");
    String log = stderrOf(() -> {
      HttpResponse<String> unsent = post("/completions", "{\"model\": \"cascade\", \"prompt\": \"x\"}", KEY);
      assertThat(unsent.statusCode()).isEqualTo(503);
      assertThat(error(unsent).path("code").asText()).isEqualTo("unavailable");
      assertThat(unsent.headers().firstValue("Retry-After")).hasValue("1");
      String id = unsent.headers().firstValue("x-request-id").orElseThrow();
      assertThat(error(unsent).path("message").asText()).isEqualTo("request " + id + " could not be sent: the router"
          + " cannot reach Kafka; retry later");
    });
    String id = channel.submitted.get(channel.submitted.size() - 1).getRequestId();
    assertThat(log).contains(id).contains("Topic cascade.requests not present in metadata");
    channel.failure = new IllegalStateException("Cannot perform operation after producer has been closed");
    HttpResponse<String> closed = post("/completions", "{\"model\": \"cascade\", \"prompt\": \"x\"}", KEY);
    assertThat(closed.statusCode()).isEqualTo(503);
    assertThat(error(closed).path("code").asText()).isEqualTo("shutting_down");
    assertThat(error(closed).path("message").asText()).contains(closed.headers().firstValue("x-request-id")
        .orElseThrow()).doesNotContain("producer");
    channel.failure = null;

    server.refuseNew();
    HttpResponse<String> stopping = post("/completions", "{\"model\": \"cascade\", \"prompt\": \"x\"}", KEY);
    assertThat(stopping.statusCode()).isEqualTo(503);
    assertThat(error(stopping).path("code").asText()).isEqualTo("shutting_down");
    assertThat(stopping.headers().firstValue("Retry-After")).hasValue("1");
  }

  @Test
  void aCallRefusedWhileStoppingClosesItsKeptAliveConnection() throws Exception {
    // What a client's connection pool does: a second call on the connection the first one used.
    // The door says it closes that connection and closes it, so a retry opens a new connection,
    // which a load balancer sends to another instance.
    try (java.net.Socket socket = new java.net.Socket("127.0.0.1", server.port())) {
      socket.setSoTimeout(10_000);
      String call = "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + KEY + "\r\n\r\n";
      java.io.InputStream in = socket.getInputStream();
      socket.getOutputStream().write(call.getBytes(java.nio.charset.StandardCharsets.US_ASCII));
      String first = readResponse(in);
      assertThat(first).startsWith("HTTP/1.1 200 ").doesNotContainIgnoringCase("Connection: close");

      server.refuseNew();
      socket.getOutputStream().write(call.getBytes(java.nio.charset.StandardCharsets.US_ASCII));
      String refused = readResponse(in);
      assertThat(refused).startsWith("HTTP/1.1 503 ").containsIgnoringCase("Connection: close")
          .containsIgnoringCase("Retry-After: 1").contains("shutting_down");
      assertThat(in.read()).as("the connection is closed after the 503").isEqualTo(-1);
    }
  }

  /** One HTTP/1.1 response with a Content-Length, read from {@code in}: its head and body. */
  private static String readResponse(java.io.InputStream in) throws java.io.IOException {
    StringBuilder head = new StringBuilder();
    while (head.indexOf("\r\n\r\n") < 0) {
      int b = in.read();
      assertThat(b).as("the connection closed in the response head: " + head).isNotEqualTo(-1);
      head.append((char) b);
    }
    java.util.regex.Matcher length = java.util.regex.Pattern.compile("(?i)content-length: *(\\d+)").matcher(head);
    assertThat(length.find()).as(head.toString()).isTrue();
    return head + new String(in.readNBytes(Integer.parseInt(length.group(1))), java.nio.charset.StandardCharsets.UTF_8);
  }
}
