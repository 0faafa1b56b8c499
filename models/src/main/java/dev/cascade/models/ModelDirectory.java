package dev.cascade.models;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Optional;

/**
 * Where a model's files are: a directory holding {@code model.onnx} and {@code tokenizer.json},
 * and optionally {@code card.json} (context length, output limit, parameters, special tokens).
 *
 * <p>The bundled models ("small", "large") are classpath resources under
 * {@code cascade/models/NAME/}; they are copied once into a cache directory
 * ({@code cascade.models.cache} system property, else {@code ~/.cache/cascade/models}), in a
 * folder named after the model file's sha256, so a changed model never reuses a stale copy.
 */
public record ModelDirectory(String name, Path path, Optional<JsonNode> card) {

  /** The bundled model names. */
  public static final List<String> BUNDLED = List.of("small", "medium", "large");

  /** Files every bundled model carries; extracted together. */
  static final List<String> BUNDLED_FILES = List.of("model.onnx", "tokenizer.json", "card.json");

  public static final String RESOURCE_ROOT = "cascade/models/";

  /** "small" or "large" for a bundled model, otherwise a directory. */
  public static ModelDirectory resolve(String modelNameOrDir) {
    if (BUNDLED.contains(modelNameOrDir)) {
      return bundled(modelNameOrDir);
    }
    Path dir = Path.of(modelNameOrDir);
    for (String file : List.of("model.onnx", "tokenizer.json")) {
      if (!Files.isRegularFile(dir.resolve(file))) {
        throw new ModelNotFoundException("'" + modelNameOrDir + "' is neither a bundled model " + BUNDLED
            + " nor a directory with " + file);
      }
    }
    return new ModelDirectory(dir.getFileName().toString(), dir, readCard(dir.resolve("card.json")));
  }

  /** The bundled model's card, read from the classpath without extracting anything. */
  public static JsonNode bundledCard(String name) {
    try (InputStream in = resource(name, "card.json")) {
      return new ObjectMapper().readTree(in);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the card of bundled model " + name, e);
    }
  }

  /** Opens a bundled model's resource. */
  public static InputStream resource(String name, String file) throws IOException {
    String path = RESOURCE_ROOT + name + "/" + file;
    InputStream in = ModelDirectory.class.getClassLoader().getResourceAsStream(path);
    if (in == null) {
      throw new IOException("classpath resource " + path + " is missing");
    }
    return in;
  }

  private static ModelDirectory bundled(String name) {
    JsonNode card = bundledCard(name);
    String sha = card.path("sha256").asText("unknown");
    Path cache = Path.of(System.getProperty("cascade.models.cache",
        Path.of(System.getProperty("user.home"), ".cache", "cascade", "models").toString()));
    Path dir = cache.resolve(name + "-" + sha.substring(0, Math.min(16, sha.length())));
    try {
      Files.createDirectories(dir);
      for (String file : BUNDLED_FILES) {
        Path target = dir.resolve(file);
        if (Files.isRegularFile(target)) {
          continue;
        }
        Path tmp = Files.createTempFile(dir, file, ".part");
        try (InputStream in = resource(name, file)) {
          Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
        }
        Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot extract bundled model " + name + " to " + dir, e);
    }
    return new ModelDirectory(name, dir, Optional.of(card));
  }

  private static Optional<JsonNode> readCard(Path file) {
    if (!Files.isRegularFile(file)) {
      return Optional.empty();
    }
    try {
      return Optional.of(new ObjectMapper().readTree(file.toFile()));
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IllegalArgumentException(file + ": not valid JSON: " + e.getOriginalMessage(), e);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + file, e);
    }
  }

  public Path modelFile() {
    return path.resolve("model.onnx");
  }

  /** What {@code model.onnx} says about itself (outputs, external data, initializers), read without loading it. */
  public OnnxFile onnxFile() {
    return OnnxFile.read(modelFile());
  }

  public Path tokenizerFile() {
    return path.resolve("tokenizer.json");
  }

  /** An integer field of the card, if the card has it. */
  public Optional<Integer> cardInt(String field) {
    return card.map(c -> c.path(field)).filter(JsonNode::canConvertToInt).map(JsonNode::asInt);
  }

  /** The special token names from the card, or the defaults. */
  public ModelTokenizer.SpecialTokens specialTokens() {
    ModelTokenizer.SpecialTokens d = ModelTokenizer.SpecialTokens.DEFAULT;
    return card.map(c -> c.path("special_tokens"))
        .filter(JsonNode::isObject)
        .map(s -> new ModelTokenizer.SpecialTokens(s.path("pad").asText(d.pad()), s.path("sep").asText(d.sep()),
            s.path("eos").asText(d.eos()), s.path("unk").asText(d.unk())))
        .orElse(d);
  }
}
