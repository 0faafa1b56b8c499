package dev.cascade.router.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.List;

/** A stream of typed server-sent events, as the Responses and Messages APIs send them. */
final class TypedEvents {

  private static final ObjectMapper JSON = new ObjectMapper();

  private TypedEvents() {}

  /**
   * The event types of a stream's body ({@code event: TYPE} lines), in order, checking that each
   * {@code data:} line's {@code type} is its event's.
   */
  static List<String> types(String body) throws Exception {
    List<String> types = new ArrayList<>();
    for (String line : body.split("\n")) {
      if (line.startsWith("event: ")) {
        types.add(line.substring("event: ".length()));
      } else if (line.startsWith("data: ")) {
        assertThat(types).as("a data line before any event line").isNotEmpty();
        assertThat(JSON.readTree(line.substring("data: ".length())).path("type").asText())
            .as("each data line's type is its event's").isEqualTo(types.get(types.size() - 1));
      }
    }
    return types;
  }
}
