package dev.cascade.router.cli;

import dev.cascade.router.demo.Example;
import dev.cascade.router.demo.Examples;
import dev.cascade.router.learning.CascadeAnswers;
import dev.cascade.router.learning.PromptItem;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * Names a prompt a model refuses by the file and line it came from ({@code data.jsonl line 7}), not
 * by its place in the list the model was given ({@code item 4}).
 */
final class PromptFiles {

  /** Work that runs models over prompts read from a file. */
  interface Work<T> {
    T run() throws IOException;
  }

  private PromptFiles() {}

  /**
   * {@code work}'s result; a {@link CascadeAnswers.PromptRefusedException} about one of
   * {@code items} (read from {@code file} by {@link PromptItem#readJsonl}) is thrown again naming
   * the file and the line.
   */
  static <T> T naming(Path file, List<PromptItem> items, Work<T> work) throws IOException {
    try {
      return work.run();
    } catch (CascadeAnswers.PromptRefusedException e) {
      int i = e.index();
      if (i < items.size() && items.get(i).prompt().equals(e.prompt())) {
        throw e.at(file + " " + line(file, i));
      }
      throw e;
    }
  }

  /** {@code line N} of the {@code index}-th item of {@code file}, or {@code item N} should the file have changed. */
  private static String line(Path file, int index) {
    try {
      List<Example> read = Examples.read(file);
      if (index < read.size()) {
        return "line " + read.get(index).line();
      }
    } catch (RuntimeException e) {
      // changed or gone since it was read: its place in the list is what is known
    }
    return "item " + (index + 1);
  }
}
