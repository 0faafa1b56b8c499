package dev.cascade.router.it;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.openai.client.OpenAIClient;
import com.openai.core.http.HttpResponseFor;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionCreateParams;
import dev.cascade.proto.v1.CascadeGrpc;
import dev.cascade.proto.v1.GenerateRequest;
import dev.cascade.proto.v1.GenerateResponse;
import dev.cascade.router.CascadeRouter;
import dev.cascade.router.api.FrontDoor;
import dev.cascade.router.config.CascadeConfig;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The doors' token counts for a model whose tokenizer is a byte-level BPE ({@code rotary-bpe}, the
 * second-architecture fixture), whose answers are not their tokens joined by spaces: a router on the
 * embedded broker with it as the small model and, behind {@code kserve://} (no token ids, the
 * server's counts), as the large one; called through the real HTTP door with the OpenAI Java client
 * and through the gRPC door. Each answer's {@code completion_tokens} is as many tokens as PyTorch's
 * greedy decoding of the fixture generated for that prompt ({@code greedy.json}), and its {@code
 * prompt_tokens} the tokenizer's count of the prompt, whichever model served it and for a cached
 * answer too; counting the answer's space-separated pieces (the door's fallback) gives other numbers.
 */
class OpenAiDoorBpeIT {

  private static final Path MODEL = Path.of("..", "models", "src", "test", "resources", "models", "rotary-bpe")
      .toAbsolutePath().normalize();
  /** The fixture's greedy answers are at most this long (its card's max_new_tokens). */
  private static final int MAX_TOKENS = 48;
  private static final int PROMPTS = 12;

  private static LocalCascade local;
  private static FrontDoor doors;
  private static OpenAIClient client;
  private static JsonNode greedy;

  @BeforeAll
  static void start() throws Exception {
    greedy = new ObjectMapper().readTree(MODEL.resolve("greedy.json").toFile());
    local = new LocalCascade(MODEL.toString(), MODEL.toString());
    CascadeConfig config = CascadeConfig.load(null, Map.of(), Map.of(
        "bootstrap.servers", local.kafka.bootstrapServers(),
        "application.id", "openai-bpe-it",
        "small.model", MODEL.toString(),
        "large.max-new-tokens", Integer.toString(MAX_TOKENS),
        // A threshold between the scores of these prompts, so that each model serves some of them.
        "policy.rule", "chow-sum", "policy.threshold", Double.toString(splittingThreshold()),
        "topic.partitions", "2",
        "admin.token", "it-token"));
    CascadeRouter router = local.router(config, local.small,
        "kserve://" + local.largeAddress() + "/" + local.large.info().name());
    doors = local.door(config, local.small, router);
    doors.healthFollows(() -> router.streams().state().isRunningOrRebalancing());
    client = LocalCascade.openAi(doors, "none");
  }

  @AfterAll
  static void stop() throws Exception {
    if (local != null) {
      local.close();
    }
  }

  /**
   * A Chow-Sum threshold in the widest gap between the middle scores of the first prompts (the
   * model's own, asked directly), so that about half are deferred.
   */
  private static double splittingThreshold() {
    List<String> prompts = new ArrayList<>();
    for (int i = 0; i < PROMPTS; i++) {
      prompts.add(greedy.get(i).get("prompt").asText());
    }
    double[] scores = local.small.generate(prompts, MAX_TOKENS).stream().mapToDouble(g -> {
      double sum = 0;
      for (float lp : g.tokenLogprobs()) {
        sum += lp;
      }
      return -sum;
    }).sorted().toArray();
    int widest = PROMPTS / 4;
    for (int i = PROMPTS / 4; i < 3 * PROMPTS / 4; i++) {
      if (scores[i + 1] - scores[i] > scores[widest + 1] - scores[widest]) {
        widest = i;
      }
    }
    return (scores[widest] + scores[widest + 1]) / 2;
  }

  private static int count(JsonNode item, String field) {
    return item.get(field).size();
  }

  private static int pieces(String text) {
    return (int) Arrays.stream(text.split(" ")).filter(p -> !p.isEmpty()).count();
  }

  @Test
  void usageCountsTheTokensTheServingModelGeneratedNotTheAnswersPieces() {
    List<String> servedBy = new ArrayList<>();
    int piecesDiffer = 0;
    for (int i = 0; i < PROMPTS; i++) {
      JsonNode item = greedy.get(i);
      servedBy.add(completeAndCheck(item).headers().values("x-cascade-served-by").get(0));
      if (pieces(item.get("text").asText()) != count(item, "tokens")) {
        piecesDiffer++;
      }
    }
    // Both paths were taken: the small model's own count, and the large one's as its server reported it.
    assertThat(new HashSet<>(servedBy)).containsExactlyInAnyOrder("SMALL", "LARGE");
    assertThat(piecesDiffer).as("answers whose pieces are not their tokens").isPositive();
    // A prompt the small model answered, again: from the response cache, with the count stored with it.
    HttpResponseFor<Completion> cached = completeAndCheck(greedy.get(servedBy.indexOf("SMALL")));
    assertThat(cached.headers().values("x-cascade-cache-hit")).containsExactly("true");
  }

  /** Asks for the completion of {@code item}'s prompt and checks its text and usage against the fixture. */
  private static HttpResponseFor<Completion> completeAndCheck(JsonNode item) {
    String prompt = item.get("prompt").asText();
    HttpResponseFor<Completion> raw = client.completions().withRawResponse().create(
        CompletionCreateParams.builder().model("cascade").prompt(prompt).maxTokens(MAX_TOKENS).build());
    assertThat(raw.statusCode()).isEqualTo(200);
    Completion c = raw.parse();
    assertThat(c.choices().get(0).text()).as(prompt).isEqualTo(item.get("text").asText());
    int generated = count(item, "tokens");
    assertThat(c.usage()).as(prompt).hasValueSatisfying(u -> {
      assertThat(u.completionTokens()).isEqualTo(generated);
      assertThat(u.promptTokens()).isEqualTo(count(item, "prompt_ids"));
      assertThat(u.totalTokens()).isEqualTo(u.promptTokens() + u.completionTokens());
    });
    // Fewer tokens than asked for: the model ended the answer.
    assertThat(c.choices().get(0).finishReason().toString()).as(prompt)
        .isEqualTo(generated >= MAX_TOKENS ? "length" : "stop");
    return raw;
  }

  @Test
  void theGrpcDoorReportsTheSameCounts() throws Exception {
    ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", doors.port()).usePlaintext().build();
    try {
      for (int i = PROMPTS; i < PROMPTS + 4; i++) {
        JsonNode item = greedy.get(i);
        GenerateResponse r = CascadeGrpc.newBlockingStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS)
            .generate(GenerateRequest.newBuilder().setPrompt(item.get("prompt").asText()).setMaxNewTokens(MAX_TOKENS)
                .build());
        assertThat(r.getText()).isEqualTo(item.get("text").asText());
        assertThat(r.getCompletionTokens()).as(r.getText()).isEqualTo(count(item, "tokens"));
        assertThat(r.getPromptTokens()).isEqualTo(count(item, "prompt_ids"));
      }
    } finally {
      channel.shutdownNow();
    }
  }
}
