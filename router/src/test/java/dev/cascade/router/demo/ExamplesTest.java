package dev.cascade.router.demo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Reading a JSONL dataset: what it accepts, and errors that name the file and the line. */
class ExamplesTest {

  @TempDir
  Path dir;

  private Path file(String name, String text) throws Exception {
    Path f = dir.resolve(name);
    Files.writeString(f, text);
    return f;
  }

  @Test
  void blankLinesCrlfAndAByteOrderMarkAreAcceptedAndEachExampleKnowsItsLine() throws Exception {
    Path f = file("ok.jsonl", "\uFEFF{\"prompt\": \"cat\", \"reference\": \"k a t\"}\r\n\r\n{\"prompt\": \"dog\"}\r\n");
    List<Example> read = Examples.read(f);
    assertThat(read).extracting(Example::prompt).containsExactly("cat", "dog");
    assertThat(read).extracting(Example::line).containsExactly(1, 3);
    assertThat(read.get(1).reference()).isNull();
  }

  @Test
  void badFilesAndLinesAreRefusedNamingThem() throws Exception {
    assertThatThrownBy(() -> Examples.read(dir.resolve("missing.jsonl")))
        .isInstanceOf(IllegalArgumentException.class).hasMessageEndingWith("missing.jsonl: no such file");
    assertThatThrownBy(() -> Examples.read(dir)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("is a directory");
    Path two = file("two.jsonl", "{\"prompt\": \"a\"}\n{\"prompt\": \"cat\"} {\"prompt\": \"dog\"}\n");
    assertThatThrownBy(() -> Examples.read(two)).isInstanceOf(IllegalArgumentException.class)
        .hasMessage(two + " line 2: not valid JSON: more than one JSON value");
    Path open = file("open.jsonl", "{\"prompt\": \"a\"\n");
    assertThatThrownBy(() -> Examples.read(open)).isInstanceOf(IllegalArgumentException.class)
        .hasMessage(open + " line 1: not valid JSON: Unexpected end-of-input: expected close marker for Object");
    Path array = file("array.jsonl", "[\"a\"]\n");
    assertThatThrownBy(() -> Examples.read(array)).hasMessage(array + " line 1: not a JSON object");
    Path kind = file("kind.jsonl", "{\"prompt\": \"a\", \"kind\": 7}\n");
    assertThatThrownBy(() -> Examples.read(kind))
        .hasMessage(kind + " line 1: field 'kind' must be a string (or absent), was number");
    Path number = file("ref.jsonl", "{\"prompt\": \"a\", \"reference\": 5}\n");
    assertThatThrownBy(() -> Examples.read(number)).hasMessageContaining("ref.jsonl line 1: field 'reference' must be a"
        + " non-empty string (or absent), was number");
    Path empty = file("empty-ref.jsonl", "{\"prompt\": \"a\", \"reference\": \"\"}\n");
    assertThatThrownBy(() -> Examples.read(empty)).hasMessageContaining("line 1").hasMessageEndingWith("was empty");
    Path latin1 = dir.resolve("latin1.jsonl");
    Files.write(latin1, ("{\"prompt\": \"a\"}\n{\"prompt\": \"caf" + (char) 0xE9 + "\"}\n")
        .getBytes(StandardCharsets.ISO_8859_1));
    assertThatThrownBy(() -> Examples.read(latin1)).hasMessageContaining("latin1.jsonl line 2: not UTF-8 text");
  }
}
