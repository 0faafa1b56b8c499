package dev.cascade.router.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.openai.client.OpenAIClient;
import com.openai.core.JsonValue;
import com.openai.core.http.HttpResponseFor;
import com.openai.core.http.StreamResponse;
import com.openai.errors.BadRequestException;
import com.openai.errors.NotFoundException;
import com.openai.errors.UnauthorizedException;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionCreateParams;
import com.openai.models.models.Model;
import dev.cascade.models.ModelDirectory;
import dev.cascade.models.ModelTokenizer;
import dev.cascade.router.CascadeRouter;
import dev.cascade.router.api.FrontDoor;
import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.demo.Example;
import dev.cascade.router.demo.Examples;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.avro.ServedBy;
import dev.cascade.schemas.serde.CascadeSerdes;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The OpenAI-compatible HTTP door end to end: the unmodified OpenAI Java client (only its base URL
 * and key set) against a router on the embedded broker with the real bundled models and
 * large-model server, its doors started by {@link FrontDoor} with an API keys file. Each answer is
 * checked against the routing outcome the router logged for its request id: the text of the model
 * that served it, and as many completion tokens as that model generated.
 */
class OpenAiDoorIT {

  private static final String KEY = "k-it-0123456789abcdef";
  private static LocalCascade local;
  private static CascadeConfig config;
  private static FrontDoor doors;
  private static CascadeRouter router;
  private static OpenAIClient client;
  private static ModelTokenizer tokenizer;
  private static List<Example> test;

  @BeforeAll
  static void start() throws Exception {
    local = new LocalCascade("small", "large");
    Path keys = Files.createTempFile("openai-it-keys", "");
    local.closing(() -> Files.deleteIfExists(keys));
    Files.writeString(keys, "it " + KEY + "\n");
    config = CascadeConfig.load(null, Map.of(), Map.of(
        "bootstrap.servers", local.kafka.bootstrapServers(),
        "application.id", "openai-it",
        // A middling threshold, so some prompts are served by each model.
        "policy.rule", "chow-quantile", "policy.alpha", "0", "policy.threshold", "1.0",
        "topic.partitions", "2",
        "api.keys-file", keys.toString(),
        "admin.token", "it-token"));
    router = local.router(config, local.small, local.largeAddress());
    doors = local.door(config, local.small, router);
    doors.healthFollows(() -> router.streams().state().isRunningOrRebalancing());
    client = LocalCascade.openAi(doors, KEY);
    ModelDirectory dir = ModelDirectory.resolve("small");
    tokenizer = local.closing(ModelTokenizer.load(dir.tokenizerFile(), dir.specialTokens(), Integer.MAX_VALUE));
    test = Examples.bundled("test");
  }

  @AfterAll
  static void stop() throws Exception {
    if (local != null) {
      local.close();
    }
  }

  /** The routing outcomes of {@code ids}, read from the outcomes topic (read_committed). */
  private static Map<String, RoutingOutcome> outcomes(List<String> ids) {
    return LocalCascade.outcomes(config, ids);
  }

  private static String servedText(RoutingOutcome o) {
    return o.getServedBy() == ServedBy.LARGE ? o.getLargeText() : o.getSmallText();
  }

  private static int servedTokens(RoutingOutcome o) {
    return o.getServedBy() == ServedBy.LARGE ? o.getLargeTokens().size() : o.getSmallTokens().size();
  }

  @Test
  void completionsAreTheCascadesAnswersWithUsageAndTheCascadeHeaders() {
    List<String> ids = new ArrayList<>();
    List<Completion> completions = new ArrayList<>();
    List<String> servedByHeaders = new ArrayList<>();
    for (Example e : test.subList(0, 8)) {
      HttpResponseFor<Completion> raw = client.completions().withRawResponse().create(
          CompletionCreateParams.builder().model("cascade").prompt(e.prompt()).maxTokens(40).build());
      Completion c = raw.parse();
      assertThat(raw.statusCode()).isEqualTo(200);
      assertThat(raw.headers().values("x-cascade-request-id")).containsExactly(c.id());
      servedByHeaders.add(raw.headers().values("x-cascade-served-by").get(0));
      ids.add(c.id());
      completions.add(c);
    }
    Map<String, RoutingOutcome> outcomes = outcomes(ids);
    for (int i = 0; i < ids.size(); i++) {
      Completion c = completions.get(i);
      RoutingOutcome o = outcomes.get(ids.get(i));
      String prompt = test.get(i).prompt();
      assertThat(o.getPrompt()).isEqualTo(prompt);
      assertThat(o.getMaxNewTokens()).isEqualTo(40);
      assertThat(servedByHeaders.get(i)).isEqualTo(o.getServedBy().name());
      assertThat(c.choices().get(0).text()).isEqualTo(servedText(o));
      assertThat(c.usage()).hasValueSatisfying(u -> {
        assertThat(u.completionTokens()).isEqualTo(servedTokens(o));
        assertThat(u.promptTokens()).isEqualTo(tokenizer.encodePrompt(prompt).length);
        assertThat(u.totalTokens()).isEqualTo(u.promptTokens() + u.completionTokens());
      });
      JsonValue cascade = c._additionalProperties().get("cascade");
      assertThat(cascade).isNotNull();
      assertThat(cascade.toString()).contains(o.getServedBy().name());
    }
  }

  @Test
  void aChatAnswersItsLastUserMessageAndItsMetadataReachesTheOutcome() {
    Example e = test.get(20);
    ChatCompletion c = client.chat().completions().create(ChatCompletionCreateParams.builder().model("cascade")
        .addSystemMessage("ignored by the cascade").addUserMessage(e.prompt()).safetyIdentifier("it-user")
        .metadata(ChatCompletionCreateParams.Metadata.builder().putAdditionalProperty("team", JsonValue.from("it"))
            .build())
        .build());
    assertThat(c.id()).startsWith("chatcmpl-");
    RoutingOutcome o = outcomes(List.of(c.id())).get(c.id());
    assertThat(o.getPrompt()).isEqualTo(e.prompt());
    assertThat(o.getMetadata()).containsEntry("safety_identifier", "it-user").containsEntry("team", "it");
    assertThat(c.choices().get(0).message().content()).hasValue(servedText(o));
    assertThat(c.usage()).hasValueSatisfying(u -> assertThat(u.completionTokens()).isEqualTo(servedTokens(o)));
  }

  @Test
  void aResponsesCallIsAnsweredWithTheServedModelsTextPlainAndStreamed() {
    Example e = test.get(21);
    com.openai.models.responses.Response r = client.responses().create(
        com.openai.models.responses.ResponseCreateParams.builder().model("cascade").instructions("ignored by the"
            + " cascade").input(e.prompt()).maxOutputTokens(40L).build());
    r.validate();
    assertThat(r.id()).startsWith("resp_");
    RoutingOutcome o = outcomes(List.of(r.id())).get(r.id());
    assertThat(o.getPrompt()).isEqualTo(e.prompt());
    assertThat(o.getMaxNewTokens()).isEqualTo(40);
    assertThat(r.output().get(0).asMessage().content().get(0).asOutputText().text()).isEqualTo(servedText(o));
    assertThat(r.usage()).hasValueSatisfying(u -> {
      assertThat(u.outputTokens()).isEqualTo(servedTokens(o));
      assertThat(u.inputTokens()).isEqualTo(tokenizer.encodePrompt(e.prompt()).length);
    });
    StringBuilder streamed = new StringBuilder();
    try (StreamResponse<com.openai.models.responses.ResponseStreamEvent> stream = client.responses().createStreaming(
        com.openai.models.responses.ResponseCreateParams.builder().model("cascade").input(e.prompt())
            .maxOutputTokens(40L).build())) {
      stream.stream().forEach(ev -> ev.outputTextDelta().ifPresent(d -> streamed.append(d.delta())));
    }
    assertThat(streamed).hasToString(servedText(o));
  }

  @Test
  void anAnthropicMessagesCallIsAnsweredWithTheServedModelsTextPlainAndStreamed() {
    Example e = test.get(22);
    com.anthropic.client.AnthropicClient anthropic = com.anthropic.client.okhttp.AnthropicOkHttpClient.builder()
        .baseUrl("http://127.0.0.1:" + doors.httpPort()).apiKey(KEY).maxRetries(0).timeout(Duration.ofSeconds(60))
        .build();
    com.anthropic.models.messages.MessageCreateParams params = com.anthropic.models.messages.MessageCreateParams
        .builder().model("cascade").maxTokens(40).system("ignored by the cascade").addUserMessage(e.prompt()).build();
    com.anthropic.models.messages.Message m = anthropic.messages().create(params);
    m.validate();
    assertThat(m.id()).startsWith("msg_");
    RoutingOutcome o = outcomes(List.of(m.id())).get(m.id());
    assertThat(o.getPrompt()).isEqualTo(e.prompt());
    assertThat(m.content().get(0).asText().text()).isEqualTo(servedText(o));
    assertThat(m.usage().outputTokens()).isEqualTo(servedTokens(o));
    assertThat(m.usage().inputTokens()).isEqualTo(tokenizer.encodePrompt(e.prompt()).length);
    StringBuilder streamed = new StringBuilder();
    try (com.anthropic.core.http.StreamResponse<com.anthropic.models.messages.RawMessageStreamEvent> stream =
        anthropic.messages().createStreaming(params)) {
      stream.stream().forEach(ev -> ev.contentBlockDelta().flatMap(d -> d.delta().text())
          .ifPresent(t -> streamed.append(t.text())));
    }
    assertThat(streamed).hasToString(servedText(o));
  }

  @Test
  void streamedChatAndCompletionCarryTheSameAnswerThenAFinishReason() {
    Example e = test.get(30);
    List<ChatCompletionChunk> chunks = new ArrayList<>();
    try (StreamResponse<ChatCompletionChunk> stream = client.chat().completions().createStreaming(
        ChatCompletionCreateParams.builder().model("cascade").addUserMessage(e.prompt())
            .streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build()).build())) {
      stream.stream().forEach(chunks::add);
    }
    StringBuilder chatText = new StringBuilder();
    chunks.forEach(ch -> ch.choices().forEach(choice -> choice.delta().content().ifPresent(chatText::append)));
    String id = chunks.get(0).id();
    RoutingOutcome chatOutcome = outcomes(List.of(id)).get(id);
    assertThat(chatText).hasToString(servedText(chatOutcome));
    assertThat(chunks.stream().flatMap(ch -> ch.choices().stream()).filter(ch -> ch.finishReason().isPresent()))
        .singleElement().satisfies(ch -> assertThat(ch.finishReason().get().toString()).isIn("stop", "length"));
    assertThat(chunks.get(chunks.size() - 1).usage()).hasValueSatisfying(u -> assertThat(u.completionTokens())
        .isEqualTo(servedTokens(chatOutcome)));

    List<Completion> pieces = new ArrayList<>();
    try (StreamResponse<Completion> stream = client.completions().createStreaming(
        CompletionCreateParams.builder().model("cascade").prompt(e.prompt()).build())) {
      stream.stream().forEach(pieces::add);
    }
    StringBuilder text = new StringBuilder();
    pieces.forEach(p -> p.choices().forEach(choice -> text.append(choice.text())));
    // The same prompt and limit: the same greedy answer (or the cache's), whichever model serves it.
    RoutingOutcome completionOutcome = outcomes(List.of(pieces.get(0).id())).get(pieces.get(0).id());
    assertThat(text).hasToString(servedText(completionOutcome));
    assertThat(pieces.get(pieces.size() - 1).choices().get(0).finishReason().toString()).isIn("stop", "length");
  }

  /** POST {@code body} to {@code door}'s {@code /v1/completions} with the API key and {@code idempotencyKey}. */
  private static java.net.http.HttpResponse<String> complete(FrontDoor door, String idempotencyKey, String body)
      throws Exception {
    return java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest.newBuilder(
            java.net.URI.create("http://127.0.0.1:" + door.httpPort() + "/v1/completions"))
        .header("Authorization", "Bearer " + KEY).header("Content-Type", "application/json")
        .header("Idempotency-Key", idempotencyKey).timeout(Duration.ofSeconds(60))
        .POST(java.net.http.HttpRequest.BodyPublishers.ofString(body)).build(),
        java.net.http.HttpResponse.BodyHandlers.ofString());
  }

  /** How many outcomes the outcomes topic holds for {@code id} (read_committed, after a few seconds' reading). */
  private static int outcomeCount(String id) {
    Map<String, Object> props = new HashMap<>(CascadeRouter.clientProperties(config));
    props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    props.put(ConsumerConfig.GROUP_ID_CONFIG, "openai-it-count-" + System.nanoTime());
    int count = 0;
    try (KafkaConsumer<String, RoutingOutcome> consumer = new KafkaConsumer<>(props, new StringDeserializer(),
        CascadeSerdes.outcomes().deserializer())) {
      consumer.subscribe(List.of(config.topics().outcomes()));
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
      while (System.nanoTime() < deadline) {
        for (ConsumerRecord<String, RoutingOutcome> r : consumer.poll(Duration.ofMillis(200))) {
          count += id.equals(r.key()) ? 1 : 0;
        }
      }
    }
    return count;
  }

  @Test
  void aRetryWithTheSameIdempotencyKeyIsAnsweredOnceAndNeverGeneratedAgain() throws Exception {
    String body = "{\"model\": \"cascade\", \"prompt\": " + com.fasterxml.jackson.databind.json.JsonMapper.builder()
        .build().writeValueAsString(test.get(40).prompt()) + ", \"max_tokens\": 40}";
    var first = complete(doors, "order-7f3a", body);
    assertThat(first.statusCode()).as(first.body()).isEqualTo(200);
    String id = first.headers().firstValue("x-request-id").orElseThrow();
    assertThat(first.headers().firstValue("Idempotent-Replayed")).isEmpty();
    // The retry: the same answer, not generated again.
    var retry = complete(doors, "order-7f3a", body);
    assertThat(retry.statusCode()).isEqualTo(200);
    assertThat(retry.headers().firstValue("x-request-id")).contains(id);
    assertThat(retry.headers().firstValue("Idempotent-Replayed")).contains("true");
    var mapper = new com.fasterxml.jackson.databind.ObjectMapper();
    assertThat(mapper.readTree(retry.body()).get("choices")).isEqualTo(mapper.readTree(first.body()).get("choices"));
    // The same key with another body: refused, naming the header.
    var other = complete(doors, "order-7f3a", body.replace("\"max_tokens\": 40", "\"max_tokens\": 41"));
    assertThat(other.statusCode()).isEqualTo(400);
    assertThat(other.body()).contains("idempotency_key_reused").contains("Idempotency-Key");
    // Through another door (another router instance's, with its own reply topic): the router
    // refuses the repeated id at once, and the door says why instead of generating it again.
    FrontDoor second = local.door(config, local.small, router);
    var elsewhere = complete(second, "order-7f3a", body);
    assertThat(elsewhere.statusCode()).as(elsewhere.body()).isEqualTo(409);
    assertThat(elsewhere.body()).contains("idempotency_key_used");
    assertThat(elsewhere.headers().firstValue("x-should-retry")).contains("false");
    assertThat(outcomeCount(id)).as("generated once").isEqualTo(1);
    // A key that is not visible ASCII.
    var bad = complete(doors, "order 7f3a", body);
    assertThat(bad.statusCode()).isEqualTo(400);
    assertThat(bad.body()).contains("Idempotency-Key: must be visible ASCII characters");
  }

  @Test
  void modelsListTheCascade() {
    assertThat(client.models().list().data()).extracting(Model::id).containsExactly("cascade");
  }

  @Test
  void badRequestsAreRefusedNamingTheFieldAndUnknownModelsAre404() {
    // A character the small model's tokenizer cannot encode: the router's own validation.
    assertThatThrownBy(() -> client.completions().create(CompletionCreateParams.builder().model("cascade")
        .prompt("日本").build()))
        .isInstanceOfSatisfying(BadRequestException.class, ex -> {
          assertThat(ex.statusCode()).isEqualTo(400);
          assertThat(ex.type()).hasValue("invalid_request_error");
          assertThat(ex.param()).hasValue("prompt");
        });
    assertThatThrownBy(() -> client.chat().completions().create(ChatCompletionCreateParams.builder().model("cascade")
        .addUserMessage(test.get(0).prompt()).n(2).build()))
        .isInstanceOfSatisfying(BadRequestException.class, ex -> assertThat(ex.param()).hasValue("n"));
    assertThatThrownBy(() -> client.completions().create(CompletionCreateParams.builder().model("gpt-4o-mini")
        .prompt(test.get(0).prompt()).build()))
        .isInstanceOfSatisfying(NotFoundException.class, ex -> assertThat(ex.code()).hasValue("model_not_found"));
  }

  @Test
  void aWrongKeyIs401() {
    OpenAIClient wrongKey = LocalCascade.openAi(doors, "k-not-a-key-0123456789");
    assertThatThrownBy(() -> wrongKey.completions().create(CompletionCreateParams.builder()
        .model("cascade").prompt(test.get(0).prompt()).build()))
        .isInstanceOfSatisfying(UnauthorizedException.class, ex -> {
          assertThat(ex.statusCode()).isEqualTo(401);
          assertThat(ex.code()).hasValue("invalid_api_key");
        });
    assertThatThrownBy(() -> wrongKey.models().list())
        .isInstanceOf(UnauthorizedException.class);
  }
}
