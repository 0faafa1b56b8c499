package dev.cascade.router.learning;

import dev.cascade.router.demo.Example;
import dev.cascade.router.demo.Examples;
import java.io.IOException;
import java.io.UncheckedIOException;
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

  public PromptItem {
    Objects.requireNonNull(prompt, "prompt");
    Objects.requireNonNull(reference, "reference");
  }

  /** Whether {@code answer} is right: equal to the reference, ignoring surrounding whitespace. */
  public boolean isCorrect(String answer) {
    return answer != null && answer.strip().equals(reference.strip());
  }

  /**
   * Reads a JSONL file (through {@link Examples}, the project's one JSONL reader); every item must
   * have a reference.
   *
   * @throws IllegalArgumentException naming the file and item when a line is not a JSON object with
   *     string fields {@code prompt} and {@code reference}, or when the file holds no items
   */
  public static List<PromptItem> readJsonl(Path file) throws IOException {
    List<Example> examples;
    try {
      examples = Examples.read(file);
    } catch (UncheckedIOException e) {
      throw e.getCause();
    }
    List<PromptItem> items = new ArrayList<>(examples.size());
    for (int i = 0; i < examples.size(); i++) {
      Example e = examples.get(i);
      if (e.reference() == null) {
        throw new IllegalArgumentException(file + " line " + e.line() + " (prompt '" + e.prompt()
            + "') has no string field \"reference\"");
      }
      items.add(new PromptItem(e.prompt(), e.reference(), e.kind()));
    }
    if (items.isEmpty()) {
      throw new IllegalArgumentException(file + ": holds no items");
    }
    return items;
  }
}
