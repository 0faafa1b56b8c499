package dev.cascade.router.learning;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * One line of a prompt set in the models' JSONL format: {@code {"prompt": ..., "reference": ...,
 * "kind": "word"|"phrase"}}.
 *
 * @param prompt the prompt
 * @param reference the reference answer (exact match decides correctness)
 * @param kind what sort of item it is ({@code word}, {@code phrase}), or {@code null} when unsaid
 */
public record PromptItem(String prompt, String reference, String kind) {

  private static final ObjectMapper JSON = new ObjectMapper();

  public PromptItem {
    Objects.requireNonNull(prompt, "prompt");
    Objects.requireNonNull(reference, "reference");
  }

  /** Whether {@code answer} is right: equal to the reference, ignoring surrounding whitespace. */
  public boolean isCorrect(String answer) {
    return answer != null && answer.strip().equals(reference.strip());
  }

  /**
   * Reads a JSONL file; blank lines are skipped.
   *
   * @throws IllegalArgumentException naming the file and line when a line is not a JSON object
   *     with string fields {@code prompt} and {@code reference}
   */
  public static List<PromptItem> readJsonl(Path file) throws IOException {
    List<PromptItem> items = new ArrayList<>();
    try (BufferedReader reader = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      String line;
      int number = 0;
      while ((line = reader.readLine()) != null) {
        number++;
        if (line.isBlank()) {
          continue;
        }
        JsonNode node;
        try {
          node = JSON.readTree(line);
        } catch (IOException e) {
          throw new IllegalArgumentException(file + ":" + number + ": not JSON: " + e.getMessage());
        }
        if (node == null || !node.isObject() || !node.path("prompt").isTextual()
            || !node.path("reference").isTextual()) {
          throw new IllegalArgumentException(
              file + ":" + number + ": needs string fields \"prompt\" and \"reference\"");
        }
        JsonNode kind = node.get("kind");
        items.add(new PromptItem(node.get("prompt").asText(), node.get("reference").asText(),
            kind != null && kind.isTextual() ? kind.asText() : null));
      }
    }
    if (items.isEmpty()) {
      throw new IllegalArgumentException(file + ": holds no items");
    }
    return items;
  }
}
