package dev.cascade.router.escalation;

/**
 * One message of a request's conversation, as an escalation sends it to a tier that takes a
 * conversation (an {@code openai://} target with {@code api=chat}, an {@code anthropic://} target).
 *
 * @param role {@code system}, {@code user} or {@code assistant}
 * @param content its text
 */
public record ChatTurn(String role, String content) {

  /** The turns of {@code messages}, the request's conversation as its record carries it. */
  public static java.util.List<ChatTurn> of(java.util.List<dev.cascade.schemas.avro.ChatMessage> messages) {
    return messages == null ? java.util.List.of()
        : messages.stream().map(m -> new ChatTurn(m.getRole(), m.getContent())).toList();
  }
}
