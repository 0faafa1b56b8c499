package dev.cascade.models.openai;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** How a chat's messages become one prompt, and which turns a long conversation loses. */
class ChatTranscriptTest {

  private static final OpenAiRequest.Limits LIMITS = new OpenAiRequest.Limits(512, "", 64, 1024);
  private static final ChatTranscript DEFAULT = ChatTranscript.of(ChatTranscript.DEFAULT_TURN_FORMAT,
      ChatTranscript.DEFAULT_ANSWER_CUE);

  private static OpenAiRequest chat(String messages) {
    return OpenAiRequest.parse("{\"model\": \"cascade\", \"messages\": " + messages + "}", true, LIMITS);
  }

  private static final String CONVERSATION = """
      [{"role": "system", "content": "be brief"},
       {"role": "user", "content": "spell cat"},
       {"role": "assistant", "content": "c a t"},
       {"role": "assistant", "content": null, "tool_calls": [{"id": "t"}]},
       {"role": "user", "content": [{"type": "text", "text": "now"}, {"type": "text", "text": "dog"}]}]""";

  @Test
  void everyMessageWithTextIsALineInOrderThenTheCue() {
    OpenAiRequest r = DEFAULT.apply(chat(CONVERSATION), p -> true);
    assertThat(r.prompt()).isEqualTo("system: be brief\nuser: spell cat\nassistant: c a t\nuser: now dog\nassistant:");
    assertThat(r.promptParam()).isEqualTo("messages");
    assertThat(r.messagesNotSent()).as("the assistant message without content").isEqualTo(1);
  }

  @Test
  void theTurnFormatPlacesRoleAndContentAndAnEmptyCueAddsNoLine() {
    ChatTranscript t = ChatTranscript.of("<{role}>{content}</{role}>", "");
    OpenAiRequest r = t.apply(chat("[{\"role\": \"user\", \"content\": \"a {role} b\"}]"), p -> true);
    assertThat(r.prompt()).as("a placeholder inside the content is text").isEqualTo("<user>a {role} b</user>");
    assertThat(r.messagesNotSent()).isZero();
  }

  @Test
  void aLongConversationLosesItsOldestTurnsButKeepsTheSystemMessageAndTheLastUserMessage() {
    List<String> judged = new ArrayList<>();
    OpenAiRequest r = DEFAULT.apply(chat(CONVERSATION), p -> {
      judged.add(p);
      return p.length() <= "system: be brief\nassistant: c a t\nuser: now dog\nassistant:".length();
    });
    assertThat(r.prompt()).isEqualTo("system: be brief\nassistant: c a t\nuser: now dog\nassistant:");
    assertThat(r.messagesNotSent()).as("one turn dropped, one without content").isEqualTo(2);
    assertThat(judged).as("the whole transcript is judged first").first().asString().contains("spell cat");
  }

  @Test
  void whenNothingFitsTheKeptMessagesAreSentForTheCallerToRefuse() {
    OpenAiRequest r = DEFAULT.apply(chat(CONVERSATION), p -> false);
    assertThat(r.prompt()).isEqualTo("system: be brief\nuser: now dog\nassistant:");
    assertThat(r.messagesNotSent()).isEqualTo(3);
    OpenAiRequest single = DEFAULT.apply(chat("[{\"role\": \"user\", \"content\": \"x\"}]"), p -> false);
    assertThat(single.prompt()).isEqualTo("user: x\nassistant:");
  }

  @Test
  void messagesAfterTheLastUserMessageAreKeptAsTheLatestTurns() {
    OpenAiRequest r = DEFAULT.apply(chat("""
        [{"role": "user", "content": "old"}, {"role": "assistant", "content": "a"},
         {"role": "user", "content": "q"}, {"role": "tool", "content": "42"}]"""), p -> !p.contains("old"));
    assertThat(r.prompt()).isEqualTo("assistant: a\nuser: q\ntool: 42\nassistant:");
  }

  @Test
  void anImageInAnEarlierTurnIsRefusedNamingThePartWhileTheLastUserMessageModeNeverReadIt() {
    String messages = """
        [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]},
         {"role": "user", "content": "q"}]""";
    assertThat(chat(messages).prompt()).isEqualTo("q");
    assertThatThrownBy(() -> DEFAULT.apply(chat(messages), p -> true)).isInstanceOf(OpenAiError.class)
        .hasMessageContaining("messages[0].content[0].type");
  }

  @Test
  void aCompletionIsLeftAsItIs() {
    OpenAiRequest c = OpenAiRequest.parse("{\"model\": \"cascade\", \"prompt\": \"p\"}", false, LIMITS);
    assertThat(DEFAULT.apply(c, p -> false)).isSameAs(c);
  }

  @Test
  void aTurnFormatWithoutContentOnceIsRefused() {
    assertThatThrownBy(() -> ChatTranscript.of("{role}:", "")).hasMessageContaining("{content} once");
    assertThatThrownBy(() -> ChatTranscript.of("{content}{content}", "")).hasMessageContaining("{content} once");
  }

  @Test
  void escapesAreReadAndAnUnknownOneIsRefused() {
    assertThat(ChatTranscript.unescape("a\\nb\\tc\\sd\\\\n")).isEqualTo("a\nb\tc d\\n");
    assertThat(ChatTranscript.unescape("{role}: {content}")).isEqualTo("{role}: {content}");
    assertThatThrownBy(() -> ChatTranscript.unescape("a\\q")).hasMessageContaining("escapes 'q'");
    assertThatThrownBy(() -> ChatTranscript.unescape("a\\")).hasMessageContaining("escapes nothing");
  }
}
