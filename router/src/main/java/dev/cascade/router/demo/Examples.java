package dev.cascade.router.demo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads datasets in the project's JSONL form: one object per line with at least {@code prompt}
 * (and {@code reference} for scoring). The bundled splits are classpath resources
 * {@code cascade/data/<split>.jsonl}.
 */
public final class Examples {

  // A second value after the object on a line is an error, not silently dropped.
  private static final ObjectMapper JSON = new ObjectMapper()
      .enable(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

  private Examples() {}

  /** The bundled split: "train", "validation" or "test". */
  public static List<Example> bundled(String split) {
    String resource = "cascade/data/" + split + ".jsonl";
    try (InputStream in = Examples.class.getClassLoader().getResourceAsStream(resource)) {
      if (in == null) {
        throw new IllegalArgumentException("no bundled split '" + split + "' (resource " + resource + " is missing)");
      }
      return parse(lines(in.readAllBytes(), resource), resource);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + resource, e);
    }
  }

  /**
   * Every line of {@code file}.
   *
   * @throws IllegalArgumentException naming the file (and the line) when it is missing, a directory,
   *     not UTF-8, or a line is not one JSON object with a string {@code prompt}
   */
  public static List<Example> read(Path file) {
    return parse(readLines(file), file.toString());
  }

  /**
   * The lines of a JSONL file, each decoded as UTF-8.
   *
   * @throws IllegalArgumentException naming the file (and the line) when it is missing, a
   *     directory, or not UTF-8
   * @throws UncheckedIOException when it cannot be read otherwise
   */
  public static List<String> readLines(Path file) {
    if (!Files.exists(file)) {
      throw new IllegalArgumentException(file + ": no such file");
    }
    if (Files.isDirectory(file)) {
      throw new IllegalArgumentException(file + ": is a directory, not a JSONL file");
    }
    try {
      return lines(Files.readAllBytes(file), file.toString());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + file, e);
    }
  }

  /** The lines of {@code bytes}, each decoded as UTF-8 on its own, so that text that is not is reported with its line. */
  private static List<String> lines(byte[] bytes, String source) {
    List<String> lines = new ArrayList<>();
    java.nio.charset.CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder();
    int start = 0;
    for (int i = 0; i <= bytes.length; i++) {
      if (i == bytes.length ? i > start : bytes[i] == '\n') {
        try {
          lines.add(utf8.decode(java.nio.ByteBuffer.wrap(bytes, start, i - start)).toString());
        } catch (java.nio.charset.CharacterCodingException e) {
          throw new IllegalArgumentException(source + " line " + (lines.size() + 1) + ": not UTF-8 text");
        }
        start = i + 1;
      }
    }
    return lines;
  }

  private static List<Example> parse(List<String> lines, String source) {
    List<Example> out = new ArrayList<>();
    int number = 0;
    for (String line : lines) {
      number++;
      if (number == 1 && line.startsWith("\uFEFF")) {
        line = line.substring(1); // a byte-order mark, as some editors write
      }
      if (line.isBlank()) {
        continue;
      }
      JsonNode node;
      try {
        node = JSON.readTree(line);
      } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
        throw new IllegalArgumentException(source + " line " + number + ": not valid JSON: " + dev.cascade.models.JsonProblem.of(e));
      }
      if (!node.isObject()) {
        throw new IllegalArgumentException(source + " line " + number + ": not a JSON object");
      }
      JsonNode prompt = node.get("prompt");
      if (prompt == null || !prompt.isTextual()) {
        throw new IllegalArgumentException(source + " line " + number + ": field 'prompt' missing or not a string");
      }
      JsonNode reference = node.get("reference");
      if (reference != null && !reference.isNull() && (!reference.isTextual() || reference.asText().isEmpty())) {
        throw new IllegalArgumentException(source + " line " + number + ": field 'reference' must be a non-empty string"
            + " (or absent), was " + (reference.isTextual() ? "empty" : reference.getNodeType().toString().toLowerCase(
                java.util.Locale.ROOT)));
      }
      JsonNode kind = node.get("kind");
      if (kind != null && !kind.isNull() && !kind.isTextual()) {
        throw new IllegalArgumentException(source + " line " + number + ": field 'kind' must be a string (or absent),"
            + " was " + kind.getNodeType().toString().toLowerCase(java.util.Locale.ROOT));
      }
      out.add(new Example(prompt.asText(),
          reference == null || reference.isNull() ? null : reference.asText(),
          kind == null || kind.isNull() ? null : kind.asText(), number));
    }
    return out;
  }
}
