package dev.cascade.router.demo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
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

  private static final ObjectMapper JSON = new ObjectMapper();

  private Examples() {}

  /** The bundled split: "train", "validation" or "test". */
  public static List<Example> bundled(String split) {
    String resource = "cascade/data/" + split + ".jsonl";
    try (InputStream in = Examples.class.getClassLoader().getResourceAsStream(resource)) {
      if (in == null) {
        throw new IllegalArgumentException("no bundled split '" + split + "' (resource " + resource + " is missing)");
      }
      return read(new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8)), resource);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + resource, e);
    }
  }

  /** Every line of {@code file}. */
  public static List<Example> read(Path file) {
    try (BufferedReader reader = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      return read(reader, file.toString());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + file, e);
    }
  }

  private static List<Example> read(BufferedReader reader, String source) throws IOException {
    List<Example> out = new ArrayList<>();
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
      } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
        throw new IllegalArgumentException(source + " line " + number + ": not JSON: " + e.getOriginalMessage());
      }
      JsonNode prompt = node.get("prompt");
      if (prompt == null || !prompt.isTextual()) {
        throw new IllegalArgumentException(source + " line " + number + ": field 'prompt' missing or not a string");
      }
      JsonNode reference = node.get("reference");
      JsonNode kind = node.get("kind");
      out.add(new Example(prompt.asText(),
          reference == null || reference.isNull() ? null : reference.asText(),
          kind == null || kind.isNull() ? null : kind.asText()));
    }
    return out;
  }
}
