package dev.cascade.router.it;

import static org.assertj.core.api.Assertions.assertThat;

import com.anthropic.client.okhttp.AnthropicOkHttpClient;
import com.anthropic.models.messages.Message;
import com.anthropic.models.messages.MessageCreateParams;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import dev.cascade.router.CascadeRouter;
import dev.cascade.router.api.FrontDoor;
import dev.cascade.router.config.CascadeConfig;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.avro.ServedBy;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A chat's conversation reaches a later tier that takes one, while the small model answers the
 * door's prompt: a router on the embedded broker with the real bundled models, the door writing
 * chats as transcripts ({@code http.chat-history=transcript}), every request escalated, and the
 * large-model server reached by its chat endpoint ({@code openai://...&api=chat}) or its Messages
 * endpoint ({@code anthropic://}). The large model answers the last user message of the messages
 * it is sent, so its answer to the conversation is its answer to that message alone, and not its
 * answer to the transcript the small model read, which the outcome records.
 */
class ConversationEscalationIT {

  private static final String WORD = "cascade";

  @ParameterizedTest
  @ValueSource(strings = {"openai-chat", "anthropic"})
  void theLargeModelIsSentTheConversationAndTheSmallModelTheTranscript(String protocol) throws Exception {
    try (LocalCascade local = new LocalCascade("small", "large")) {
      int http = local.largeServer.serveHttp("127.0.0.1", 0).httpPort();
      String target = protocol.equals("anthropic") ? "anthropic://127.0.0.1:" + http + "/v1?model=large"
          : "openai://127.0.0.1:" + http + "/v1?model=large&api=chat";
      CascadeConfig config = CascadeConfig.load(null, Map.of(), Map.of(
          "bootstrap.servers", local.kafka.bootstrapServers(),
          "application.id", "conversation-it-" + protocol,
          // Every answer is deferred: chow-quantile scores are never below 0.
          "policy.rule", "chow-quantile", "policy.alpha", "0", "policy.threshold", "-1",
          // Short: the bundled small model reads 47 tokens, about a character each.
          "http.chat-history", "transcript", "http.chat-turn-format", "{content} ;\\s", "http.chat-answer-cue", "",
          "admin.token", "it-token"));
      CascadeRouter router = local.router(config, local.small, target);
      FrontDoor doors = local.door(config, local.small, router);
      doors.healthFollows(() -> router.streams().state().isRunningOrRebalancing());
      String expected = local.large.generate(List.of(WORD), 40).get(0).text();
      String transcript = "be brief ; cat ; k a t ; " + WORD + " ; ";

      String id;
      String text;
      if (protocol.equals("anthropic")) {
        Message m = AnthropicOkHttpClient.builder().baseUrl("http://127.0.0.1:" + doors.httpPort()).apiKey("none")
            .maxRetries(0).timeout(Duration.ofSeconds(60)).build().messages().create(MessageCreateParams.builder()
                .model("cascade").maxTokens(40).system("be brief").addUserMessage("cat")
                .addAssistantMessage("k a t").addUserMessage(WORD).build());
        id = m.id();
        text = m.content().get(0).asText().text();
      } else {
        ChatCompletion c = LocalCascade.openAi(doors, "none").chat().completions().create(
            ChatCompletionCreateParams.builder().model("cascade").maxTokens(40).addSystemMessage("be brief")
                .addUserMessage("cat").addAssistantMessage("k a t").addUserMessage(WORD).build());
        id = c.id();
        text = c.choices().get(0).message().content().orElseThrow();
      }
      RoutingOutcome o = LocalCascade.outcomes(config, List.of(id)).get(id);
      assertThat(o.getPrompt()).as("what the small model read").isEqualTo(transcript);
      assertThat(o.getServedBy()).isEqualTo(ServedBy.LARGE);
      assertThat(text).as("the large model's answer to the conversation's last user message")
          .isEqualTo(o.getLargeText()).isEqualTo(expected);
      String toTranscript = local.large.generate(List.of(transcript), 40).get(0).text();
      assertThat(toTranscript).as("a different answer, had it been sent the transcript").isNotEqualTo(expected);
    }
  }
}
