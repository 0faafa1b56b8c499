package dev.cascade.models;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.zip.GZIPInputStream;

/** The bundled models and the test split, loaded once per test JVM and shared by the test classes. */
final class BundledModels {

  /** One line of a dataset split. */
  record Item(String prompt, String reference, String kind) {}

  /** One line of test-greedy.jsonl.gz: PyTorch's greedy output. */
  record TorchGreedy(String prompt, int[] tokens, String text) {}

  private static final ObjectMapper MAPPER = new ObjectMapper();
  private static final Map<String, TextGenerator> GENERATORS = new ConcurrentHashMap<>();
  private static final Map<String, List<Generation>> TEST_OUTPUTS = new ConcurrentHashMap<>();

  private BundledModels() {}

  static synchronized TextGenerator generator(String name) {
    return GENERATORS.computeIfAbsent(name, n -> TextGenerators.load(n, "OnnxRuntime"));
  }

  /** The model's greedy outputs over the whole test split, computed once. */
  static synchronized List<Generation> testOutputs(String name) {
    List<Generation> cached = TEST_OUTPUTS.get(name);
    if (cached == null) {
      List<String> prompts = testSplit().stream().map(Item::prompt).toList();
      cached = generator(name).generate(prompts, generator(name).info().maxNewTokensLimit());
      TEST_OUTPUTS.put(name, cached);
    }
    return cached;
  }

  static List<Item> testSplit() {
    return readSplit(repoRoot().resolve("models/data/test.jsonl"));
  }

  static List<Item> readSplit(Path file) {
    try {
      List<Item> items = new ArrayList<>();
      for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
        JsonNode n = MAPPER.readTree(line);
        items.add(new Item(n.get("prompt").asText(), n.get("reference").asText(), n.get("kind").asText()));
      }
      return items;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static List<TorchGreedy> torchGreedy(String name) {
    try (BufferedReader reader = new BufferedReader(new InputStreamReader(
        new GZIPInputStream(ModelDirectory.resource(name, "test-greedy.jsonl.gz")), StandardCharsets.UTF_8))) {
      List<TorchGreedy> out = new ArrayList<>();
      String line;
      while ((line = reader.readLine()) != null) {
        JsonNode n = MAPPER.readTree(line);
        int[] tokens = new int[n.get("tokens").size()];
        for (int i = 0; i < tokens.length; i++) {
          tokens[i] = n.get("tokens").get(i).asInt();
        }
        out.add(new TorchGreedy(n.get("prompt").asText(), tokens, n.get("text").asText()));
      }
      return out;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static JsonNode resourceJson(String name, String file) {
    try (var in = ModelDirectory.resource(name, file)) {
      return MAPPER.readTree(in);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The repository root: the test runs in models/. */
  static Path repoRoot() {
    Path dir = Path.of("").toAbsolutePath();
    while (dir != null && !Files.isDirectory(dir.resolve("models/data"))) {
      dir = dir.getParent();
    }
    if (dir == null) {
      throw new IllegalStateException("cannot find models/data above " + Path.of("").toAbsolutePath());
    }
    return dir;
  }
}
