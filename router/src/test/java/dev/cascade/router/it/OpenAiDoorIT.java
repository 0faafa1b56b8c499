package dev.cascade.router.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
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
import dev.cascade.models.TextGenerator;
import dev.cascade.models.TextGenerators;
import dev.cascade.models.server.LargeModelServer;
import dev.cascade.models.server.ServerLimits;
import dev.cascade.router.CascadeRouter;
import dev.cascade.router.api.FrontDoor;
import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.demo.Example;
import dev.cascade.router.demo.Examples;
import dev.cascade.router.embedded.EmbeddedKafka;
import dev.cascade.router.routing.RequestValidator;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.avro.ServedBy;
import dev.cascade.schemas.serde.CascadeSerdes;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.net.InetAddress;
import java.net.InetSocketAddress;
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
  private static EmbeddedKafka kafka;
  private static TextGenerator small;
  private static TextGenerator large;
  private static LargeModelServer largeServer;
  private static CascadeConfig config;
  private static CascadeRouter router;
  private static FrontDoor doors;
  private static OpenAIClient client;
  private static ModelTokenizer tokenizer;
  private static List<Example> test;
  private static Path keys;

  @BeforeAll
  static void start() throws Exception {
    kafka = EmbeddedKafka.start();
    small = TextGenerators.load("small", "OnnxRuntime");
    large = TextGenerators.load("large", "OnnxRuntime");
    largeServer = new LargeModelServer(
        NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)), large,
        new ServerLimits(2, 512)).start();
    keys = Files.createTempFile("openai-it-keys", "");
    Files.writeString(keys, "it " + KEY + "\n");
    config = CascadeConfig.load(null, Map.of(), Map.of(
        "bootstrap.servers", kafka.bootstrapServers(),
        "application.id", "openai-it",
        // A middling threshold, so some prompts are served by each model.
        "policy.rule", "chow-quantile", "policy.alpha", "0", "policy.threshold", "1.0",
        "topic.partitions", "2",
        "api.keys-file", keys.toString(),
        "admin.token", "it-token"));
    router = CascadeRouter.start(config, small, "127.0.0.1:" + largeServer.port());
    doors = FrontDoor.start(config, new RequestValidator(small), router.rules(),
        new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
    doors.healthFollows(() -> router.streams().state().isRunningOrRebalancing());
    client = client(KEY);
    ModelDirectory dir = ModelDirectory.resolve("small");
    tokenizer = ModelTokenizer.load(dir.tokenizerFile(), dir.specialTokens(), Integer.MAX_VALUE);
    test = Examples.bundled("test");
  }

  @AfterAll
  static void stop() throws Exception {
    for (AutoCloseable c : new AutoCloseable[] {doors, router}) {
      if (c != null) {
        c.close();
      }
    }
    if (largeServer != null) {
      largeServer.stop();
    }
    for (AutoCloseable c : new AutoCloseable[] {tokenizer, small, large, kafka}) {
      if (c != null) {
        c.close();
      }
    }
    if (keys != null) {
      Files.deleteIfExists(keys);
    }
  }

  private static OpenAIClient client(String key) {
    return OpenAIOkHttpClient.builder().baseUrl("http://127.0.0.1:" + doors.httpPort() + "/v1").apiKey(key)
        .maxRetries(0).timeout(Duration.ofSeconds(60)).build();
  }

  /** The routing outcomes of {@code ids}, read from the outcomes topic (read_committed). */
  private static Map<String, RoutingOutcome> outcomes(List<String> ids) {
    Map<String, Object> props = new HashMap<>(CascadeRouter.clientProperties(config));
    props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    props.put(ConsumerConfig.GROUP_ID_CONFIG, "openai-it-outcomes-" + System.nanoTime());
    Map<String, RoutingOutcome> found = new HashMap<>();
    try (KafkaConsumer<String, RoutingOutcome> consumer = new KafkaConsumer<>(props, new StringDeserializer(),
        CascadeSerdes.outcomes().deserializer())) {
      consumer.subscribe(List.of(config.topics().outcomes()));
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      while (!found.keySet().containsAll(ids) && System.nanoTime() < deadline) {
        for (ConsumerRecord<String, RoutingOutcome> r : consumer.poll(Duration.ofMillis(200))) {
          if (ids.contains(r.key())) {
            found.put(r.key(), r.value());
          }
        }
      }
    }
    assertThat(found.keySet()).containsExactlyInAnyOrderElementsOf(ids);
    return found;
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
    assertThatThrownBy(() -> client("k-not-a-key-0123456789").completions().create(CompletionCreateParams.builder()
        .model("cascade").prompt(test.get(0).prompt()).build()))
        .isInstanceOfSatisfying(UnauthorizedException.class, ex -> {
          assertThat(ex.statusCode()).isEqualTo(401);
          assertThat(ex.code()).hasValue("invalid_api_key");
        });
    assertThatThrownBy(() -> client("k-not-a-key-0123456789").models().list())
        .isInstanceOf(UnauthorizedException.class);
  }
}
