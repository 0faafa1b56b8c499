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

  /**
   * The special token names the card's {@code special_tokens} gives ({@code pad}, {@code sep},
   * {@code eos}, {@code unk}); a name it does not give is null, left to {@link ModelTokenizer}'s
   * default. {@code eos} may be a list: every token in it ends an answer, the first being the
   * end-of-sequence token.
   *
   * @throws IllegalArgumentException when {@code special_tokens} or one of its names is not text
   */
  public ModelTokenizer.SpecialTokens specialTokens() {
    JsonNode tokens = card.map(c -> c.path("special_tokens")).orElse(com.fasterxml.jackson.databind.node.MissingNode
        .getInstance());
    if (tokens.isMissingNode() || tokens.isNull()) {
      return ModelTokenizer.SpecialTokens.UNSET;
    }
    if (!tokens.isObject()) {
      throw new IllegalArgumentException(cardFile() + ": special_tokens: must be an object of token names, was "
          + tokens);
    }
    JsonNode eos = tokens.path("eos");
    java.util.List<String> ends = new java.util.ArrayList<>();
    if (eos.isArray()) {
      if (eos.isEmpty()) {
        throw new IllegalArgumentException(cardFile() + ": special_tokens.eos: an empty list; give the token that"
            + " ends an answer, or a list of them, the first being end-of-sequence");
      }
      for (JsonNode name : eos) {
        if (!name.isTextual() || name.asText().isEmpty()) {
          throw new IllegalArgumentException(cardFile() + ": special_tokens.eos: must be a token's text or a list of"
              + " them, held " + name);
        }
        ends.add(name.asText());
      }
    }
    String first = eos.isArray() ? ends.remove(0) : tokenName(tokens, "eos");
    return new ModelTokenizer.SpecialTokens(tokenName(tokens, "pad"), tokenName(tokens, "sep"), first,
        tokenName(tokens, "unk"), ends);
  }

  private String tokenName(JsonNode tokens, String field) {
    JsonNode name = tokens.path(field);
    if (name.isMissingNode() || name.isNull()) {
      return null;
    }
    if (!name.isTextual() || name.asText().isEmpty()) {
      throw new IllegalArgumentException(cardFile() + ": special_tokens." + field + ": must be a token's text, was "
          + name);
    }
    return name.asText();
  }

  /**
   * The card's {@code prompt_template}: the model's input, with {@code {prompt}} where the prompt
   * goes (a chat model's turn markers around it, say); empty when the card has none.
   *
   * @throws IllegalArgumentException when it is not text
   */
  public Optional<String> promptTemplate() {
    JsonNode template = card.map(c -> c.path("prompt_template")).orElse(com.fasterxml.jackson.databind.node.MissingNode
        .getInstance());
    if (template.isMissingNode() || template.isNull()) {
      return Optional.empty();
    }
    if (!template.isTextual()) {
      throw new IllegalArgumentException(cardFile() + ": prompt_template: must be text holding {prompt}, was "
          + template);
    }
    return Optional.of(template.asText());
  }

  private Path cardFile() {
    return path.resolve("card.json");
  }
}
