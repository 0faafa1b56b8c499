package dev.cascade.router.learning;

import dev.cascade.models.Generation;
import dev.cascade.models.ModelDirectory;
import dev.cascade.models.TextGenerator;
import dev.cascade.models.TextGenerators;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;
import java.util.stream.IntStream;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;

/**
 * Runs the small and the large model over a prompt set, in batches, reporting progress; the input
 * of rule training and of the evaluation.
 *
 * <p>With a cache directory, each model's generations for a prompt set are kept in a file keyed by
 * a SHA-256 of the model's files ({@code model.onnx}, its external data files, {@code
 * tokenizer.json}, {@code card.json}), the engine, the token limit and the prompts, so a second run
 * over the same data with the same models loads nothing and generates nothing; a damaged file is
 * generated again. Without one, every run
 * generates afresh.
 */
public final class CascadeAnswers {

  /** Reports progress of one task (e.g. the small model over 3,500 prompts). */
  public interface Progress {
    Progress NONE = new Progress() {
      @Override
      public void begin(String task, long total) {}

      @Override
      public void advance(long steps) {}

      @Override
      public void end() {}
    };

    void begin(String task, long total);

    void advance(long steps);

    void end();
  }

  /**
   * How to run the models.
   *
   * @param smallModel {@code small}, {@code large} or a model directory ({@link TextGenerators#load})
   * @param largeModel likewise
   * @param engine {@code auto}, {@code OnnxRuntime} or {@code TensorRT}
   * @param maxNewTokens the token limit per answer; 0 for each model's own limit
   * @param batchSize prompts per call to the model, and rows per forward pass
   * @param cacheDir where to keep generations, or {@code null} for no cache
   */
  public record Settings(String smallModel, String largeModel, String engine, int maxNewTokens,
      int batchSize, Path cacheDir) {
    public Settings {
      Objects.requireNonNull(smallModel, "smallModel");
      Objects.requireNonNull(largeModel, "largeModel");
      Objects.requireNonNull(engine, "engine");
      if (maxNewTokens < 0) {
        throw new IllegalArgumentException("maxNewTokens must be >= 0, was " + maxNewTokens);
      }
      if (batchSize < 1) {
        throw new IllegalArgumentException("batchSize must be >= 1, was " + batchSize);
      }
    }

    /**
     * The configured models as the router runs them ({@code small.model}, {@code large.model},
     * {@code model.engine}, {@code generation.max-new-tokens}), batches of 64, the user's cache: the
     * generations the router's own features come from.
     */
    public static Settings configured(dev.cascade.router.config.CascadeConfig config) {
      return new Settings(config.get(dev.cascade.router.config.CascadeConfig.SMALL_MODEL),
          config.get(dev.cascade.router.config.CascadeConfig.LARGE_MODEL),
          config.get(dev.cascade.router.config.CascadeConfig.ENGINE),
          config.get(dev.cascade.router.config.CascadeConfig.MAX_NEW_TOKENS), 64, userCacheDir());
    }

    /** The bundled small and large models, engine {@code auto}, their own limits, batches of 256, no cache. */
    public static Settings defaults() {
      return new Settings("small", "large", "auto", 0, 256, null);
    }
  }

  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(CascadeAnswers.class);
  private static final byte[] MAGIC = "CASCGEN1".getBytes(StandardCharsets.US_ASCII);

  private CascadeAnswers() {}

  /** Both models' answers to every item, in the items' order. */
  public static List<AnsweredItem> answer(List<PromptItem> items, Settings settings, Progress progress)
      throws IOException {
    List<String> prompts = items.stream().map(PromptItem::prompt).toList();
    List<Generation> small = generate(settings.smallModel(), prompts, settings, progress);
    List<Generation> large = generate(settings.largeModel(), prompts, settings, progress);
    List<AnsweredItem> answered = new ArrayList<>(items.size());
    for (int i = 0; i < items.size(); i++) {
      answered.add(new AnsweredItem(items.get(i), small.get(i), large.get(i)));
    }
    return answered;
  }

  /**
   * One model's generations for every prompt, in order, from the cache where it has them; the
   * model is loaded only when they must be generated.
   */
  public static List<Generation> generate(String model, List<String> prompts, Settings settings,
      Progress progress) throws IOException {
    return cachedOr(model, prompts, settings, () -> {
      try (TextGenerator generator = TextGenerators.load(model, settings.engine(), settings.batchSize())) {
        return generate(generator, model, prompts, settings, progress);
      }
    });
  }

  /**
   * As {@link #generate(String, List, Settings, Progress)} with the model already loaded:
   * {@code model} names it ({@code small}, {@code large} or its directory) for the cache key.
   */
  public static List<Generation> generateCached(TextGenerator loaded, String model, List<String> prompts,
      Settings settings, Progress progress) throws IOException {
    return cachedOr(model, prompts, settings, () -> generate(loaded, model, prompts, settings, progress));
  }

  /** The generations from the cache file for these inputs, else from {@code make} (then written there). */
  private static List<Generation> cachedOr(String model, List<String> prompts, Settings settings,
      java.util.function.Supplier<List<Generation>> make) throws IOException {
    Path cached = null;
    if (settings.cacheDir() != null) {
      cached = settings.cacheDir().resolve(
          model.replaceAll("[^A-Za-z0-9._-]", "_") + "-" + cacheKey(model, prompts, settings) + ".gen.gz");
      if (Files.isRegularFile(cached)) {
        try {
          List<Generation> generations = readCache(cached);
          if (generations.size() == prompts.size()) {
            return generations;
          }
        } catch (IOException | RuntimeException damaged) {
          LOG.warn("generation cache {} unreadable ({}); generating again", cached, damaged.toString());
        }
      }
    }
    List<Generation> generations = make.get();
    if (cached != null) {
      writeCache(cached, generations);
    }
    return generations;
  }

  /** {@code cascade.cache} system property + {@code /generations}, else {@code ~/.cache/cascade/generations}. */
  public static Path userCacheDir() {
    return Path.of(System.getProperty("cascade.cache",
        Path.of(System.getProperty("user.home"), ".cache", "cascade").toString()), "generations");
  }

  /**
   * A loaded model's generations for every prompt, in order. Prompts are sent in order of length,
   * so a batch pads little.
   */
  public static List<Generation> generate(TextGenerator generator, String label, List<String> prompts,
      Settings settings, Progress progress) {
    return generate(generator, label, prompts, settings, progress, TextGenerator.EarlyStop.NEVER);
  }

  /** As above, each row stopped where {@code earlyStop} says ({@link TextGenerator#generate(List, int,
   * TextGenerator.Cancellation, TextGenerator.EarlyStop)}); never cached. */
  public static List<Generation> generate(TextGenerator generator, String label, List<String> prompts,
      Settings settings, Progress progress, TextGenerator.EarlyStop earlyStop) {
    // Every prompt first, named by its place in the file and its text: the generator's own error
    // would name its place in a batch sorted by length.
    for (int i = 0; i < prompts.size(); i++) {
      java.util.Optional<String> problem = generator.checkPrompt(prompts.get(i));
      if (problem.isPresent()) {
        throw new PromptRefusedException(i, prompts.get(i), label, problem.get());
      }
    }
    int limit = settings.maxNewTokens() == 0
        ? generator.info().maxNewTokensLimit()
        : Math.min(settings.maxNewTokens(), generator.info().maxNewTokensLimit());
    int[] order = IntStream.range(0, prompts.size()).boxed()
        .sorted(Comparator.comparingInt(i -> prompts.get(i).length()))
        .mapToInt(Integer::intValue).toArray();
    Generation[] out = new Generation[prompts.size()];
    progress.begin(label + " model (" + generator.info().engine() + ")", prompts.size());
    try {
      for (int start = 0; start < order.length; start += settings.batchSize()) {
        int end = Math.min(order.length, start + settings.batchSize());
        List<String> batch = new ArrayList<>(end - start);
        for (int p = start; p < end; p++) {
          batch.add(prompts.get(order[p]));
        }
        List<Generation> generations = earlyStop == TextGenerator.EarlyStop.NEVER ? generator.generate(batch, limit)
            : generator.generate(batch, limit, TextGenerator.Cancellation.NONE, earlyStop);
        for (int p = start; p < end; p++) {
          out[order[p]] = generations.get(p - start);
        }
        progress.advance(end - start);
      }
    } finally {
      progress.end();
    }
    return List.of(out);
  }

  /**
   * Names a model by what it is: its name or directory and the first 16 hex digits of its
   * fingerprint ({@link ModelFingerprint#of}: the SHA-256 of its ONNX file when that holds all its
   * weights), e.g. {@code small (sha256 274c7c4a7beed051)}. Recorded with a trained rule.
   */
  public static String fingerprint(String model) throws IOException {
    return model + " (sha256 " + ModelFingerprint.of(model).substring(0, 16) + ")";
  }

  /**
   * Names the cache file of one model's generations: a SHA-256 over every file that changes what the
   * model generates ({@link ModelFingerprint#files}: {@code model.onnx}, its external data files,
   * {@code tokenizer.json}, {@code card.json}), the engine, the token limit and the prompts.
   */
  static String cacheKey(String model, List<String> prompts, Settings settings) throws IOException {
    try {
      MessageDigest digest = MessageDigest.getInstance("SHA-256");
      ModelDirectory dir = ModelDirectory.resolve(model);
      for (Path file : ModelFingerprint.files(dir)) {
        digest.update((dir.path().relativize(file) + "=" + ModelFingerprint.ofFile(file) + "\n")
            .getBytes(StandardCharsets.UTF_8));
      }
      digest.update(("engine=" + settings.engine() + "\nmax_new_tokens=" + settings.maxNewTokens() + "\n")
          .getBytes(StandardCharsets.UTF_8));
      for (String prompt : prompts) {
        digest.update(prompt.getBytes(StandardCharsets.UTF_8));
        digest.update((byte) '\n');
      }
      return HexFormat.of().formatHex(digest.digest(), 0, 8);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  static void writeCache(Path file, List<Generation> generations) throws IOException {
    Files.createDirectories(file.toAbsolutePath().getParent());
    Path temporary = file.resolveSibling(file.getFileName() + ".tmp");
    try (DataOutputStream out = new DataOutputStream(new BufferedOutputStream(
        new GZIPOutputStream(Files.newOutputStream(temporary))))) {
      out.write(MAGIC);
      out.writeInt(generations.size());
      for (Generation g : generations) {
        byte[] text = g.text().getBytes(StandardCharsets.UTF_8);
        out.writeInt(text.length);
        out.write(text);
        out.writeInt(g.tokens().length);
        for (int i = 0; i < g.tokens().length; i++) {
          out.writeInt(g.tokens()[i]);
          out.writeFloat(g.tokenLogprobs()[i]);
          out.writeFloat(g.entropies()[i]);
        }
        float[] embedding = g.embedding();
        out.writeInt(embedding == null ? -1 : embedding.length);
        if (embedding != null) {
          for (float v : embedding) {
            out.writeFloat(v);
          }
        }
      }
    }
    Files.move(temporary, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }

  static List<Generation> readCache(Path file) throws IOException {
    try (DataInputStream in = new DataInputStream(new BufferedInputStream(
        new GZIPInputStream(Files.newInputStream(file))))) {
      byte[] magic = in.readNBytes(MAGIC.length);
      if (!java.util.Arrays.equals(magic, MAGIC)) {
        throw new IOException(file + " is not a generation cache");
      }
      int n = in.readInt();
      List<Generation> generations = new ArrayList<>(n);
      for (int k = 0; k < n; k++) {
        String text = new String(in.readNBytes(in.readInt()), StandardCharsets.UTF_8);
        int length = in.readInt();
        int[] tokens = new int[length];
        float[] logprobs = new float[length];
        float[] entropies = new float[length];
        for (int i = 0; i < length; i++) {
          tokens[i] = in.readInt();
          logprobs[i] = in.readFloat();
          entropies[i] = in.readFloat();
        }
        int embeddingLength = in.readInt();
        float[] embedding = null;
        if (embeddingLength >= 0) {
          embedding = new float[embeddingLength];
          for (int i = 0; i < embeddingLength; i++) {
            embedding[i] = in.readFloat();
          }
        }
        generations.add(new Generation(text, tokens, logprobs, entropies, embedding));
      }
      return generations;
    }
  }

  /**
   * A prompt a model cannot answer (empty, too long, a character its tokenizer lacks), named by its
   * place in the list ("item 4"); {@link #at} names it by where it came from instead.
   */
  public static final class PromptRefusedException extends IllegalArgumentException {
    private final int index;
    private final String prompt;
    private final String model;
    private final String problem;

    public PromptRefusedException(int index, String prompt, String model, String problem) {
      super("item " + (index + 1) + " (prompt '" + abbreviate(prompt) + "'), for " + model + ": " + problem);
      this.index = index;
      this.prompt = prompt;
      this.model = model;
      this.problem = problem;
    }

    /** The prompt's index in the list the model was given. */
    public int index() {
      return index;
    }

    /** The whole prompt. */
    public String prompt() {
      return prompt;
    }

    /**
     * The same refusal naming the prompt's origin instead of its index, e.g.
     * {@code data.jsonl line 7 (prompt ''), for small: prompt: must not be empty}.
     */
    public IllegalArgumentException at(String origin) {
      return new IllegalArgumentException(origin + " (prompt '" + abbreviate(prompt) + "'), for " + model + ": "
          + problem, this);
    }
  }

  private static String abbreviate(String prompt) {
    return prompt.length() <= 60 ? prompt : prompt.substring(0, 57) + "...";
  }
}
