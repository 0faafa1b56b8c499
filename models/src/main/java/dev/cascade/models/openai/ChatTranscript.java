package dev.cascade.models.openai;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;

/**
 * A chat's messages written as one prompt, a transcript: each message in a turn format such as
 * {@code {role}: {content}} and a line break, then an answer cue such as {@code assistant:}.
 * This is how a conversation reaches models that take one prompt, as every tier of the cascade does
 * (a model's own {@code prompt_template} then frames the whole transcript as its input).
 *
 * <p>A conversation too long for the models loses its oldest turns first: the system and developer
 * messages it starts with, and the last user message with what follows it, are always kept; of the
 * turns between, the newest that fit are kept ({@code fits} judges a whole transcript). A message
 * without content (an assistant message that only called tools) is left out.
 */
public final class ChatTranscript {

  /** The default turn format: a line per message. */
  public static final String DEFAULT_TURN_FORMAT = "{role}: {content}\n";
  /** The default answer cue. */
  public static final String DEFAULT_ANSWER_CUE = "assistant:";

  private static final String ROLE = "{role}";
  private static final String CONTENT = "{content}";

  /** The turn format before and after {@code {content}}. */
  private final String beforeContent;
  private final String afterContent;
  private final String answerCue;

  private ChatTranscript(String turnFormat, String answerCue) {
    int at = turnFormat.indexOf(CONTENT);
    this.beforeContent = turnFormat.substring(0, at);
    this.afterContent = turnFormat.substring(at + CONTENT.length());
    this.answerCue = answerCue;
  }

  /**
   * A transcript writer.
   *
   * @param turnFormat one message's turn, with whatever ends it (a line break, by default): {@code
   *     {content}} once, where its text goes, and {@code {role}} (any number of times, or none) for its
   *     role as sent ({@code system}, {@code user}...)
   * @param answerCue what follows the messages (empty: nothing)
   * @throws IllegalArgumentException when the format does not hold {@code {content}} exactly once
   */
  public static ChatTranscript of(String turnFormat, String answerCue) {
    String problem = turnFormatProblem(turnFormat);
    if (problem != null) {
      throw new IllegalArgumentException(problem);
    }
    return new ChatTranscript(turnFormat, answerCue == null ? "" : answerCue);
  }

  /** Null when {@code turnFormat} can be a turn format; otherwise what is wrong with it. */
  public static String turnFormatProblem(String turnFormat) {
    int at = turnFormat == null ? -1 : turnFormat.indexOf(CONTENT);
    if (at < 0 || turnFormat.indexOf(CONTENT, at + 1) >= 0) {
      return "must hold " + CONTENT + " once, where a message's text goes (and " + ROLE
          + " where its role goes), was \"" + turnFormat + "\"";
    }
    return null;
  }

  /**
   * {@code request} (a chat) with its prompt made the transcript of its messages, the newest that
   * {@code fits}, named {@code messages} (a Responses API call's: {@code input}) in error messages, and its {@code messagesNotSent} the
   * messages left out. A completion is returned as it is. When not even the messages always kept fit,
   * the prompt is their transcript (which the caller's own check then refuses, naming why).
   */
  public OpenAiRequest apply(OpenAiRequest request, Predicate<String> fits) {
    if (!request.chat()) {
      return request;
    }
    List<OpenAiRequest.Message> messages = request.messages();
    int lastUser = -1;
    for (OpenAiRequest.Message m : messages) {
      if (m.role().equals("user")) {
        lastUser = m.index();
      }
    }
    List<String> head = new ArrayList<>();
    List<String> middle = new ArrayList<>();
    List<String> tail = new ArrayList<>();
    int withoutText = 0;
    boolean leading = true;
    for (OpenAiRequest.Message m : messages) {
      leading &= m.role().equals("system") || m.role().equals("developer");
      java.util.Optional<String> text = m.text();
      if (text.isEmpty()) {
        withoutText++;
        continue;
      }
      String line = turn(m.role(), text.get());
      (leading ? head : m.index() >= lastUser ? tail : middle).add(line);
    }
    // The fewest dropped turns whose transcript fits: dropping more only shortens it.
    int low = 0;
    int high = middle.size();
    if (high > 0 && !fits.test(render(head, middle, tail, 0))) {
      low = 1;
      while (low < high) {
        int mid = (low + high) >>> 1;
        if (fits.test(render(head, middle, tail, mid))) {
          high = mid;
        } else {
          low = mid + 1;
        }
      }
    }
    return request.withPrompt(render(head, middle, tail, low), request.api() == OpenAiRequest.Api.RESPONSES ? "input" : "messages",
        withoutText + low);
  }

  private String render(List<String> head, List<String> middle, List<String> tail, int dropped) {
    StringBuilder prompt = new StringBuilder();
    head.forEach(prompt::append);
    middle.subList(dropped, middle.size()).forEach(prompt::append);
    tail.forEach(prompt::append);
    return prompt.append(answerCue).toString();
  }

  /**
   * {@code text} with its escapes read: {@code \n} a line break, {@code \t} a tab, {@code \s} a
   * space (so that a configuration value, whose ends are trimmed, can end in one), {@code \\} a
   * backslash.
   *
   * @throws IllegalArgumentException for a backslash before anything else, or at the end
   */
  public static String unescape(String text) {
    StringBuilder out = new StringBuilder(text.length());
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (c != '\\') {
        out.append(c);
        continue;
      }
      char next = i + 1 < text.length() ? text.charAt(i + 1) : 0;
      switch (next) {
        case 'n' -> out.append('\n');
        case 't' -> out.append('\t');
        case 's' -> out.append(' ');
        case '\\' -> out.append('\\');
        default -> throw new IllegalArgumentException("a backslash at " + i + " escapes "
            + (next == 0 ? "nothing" : "'" + next + "'") + "; the escapes are \\n, \\t, \\s (a space) and \\\\");
      }
      i++;
    }
    return out.toString();
  }

  /** One message's turn. */
  String turn(String role, String content) {
    return beforeContent.replace(ROLE, role) + content + afterContent.replace(ROLE, role);
  }
}
