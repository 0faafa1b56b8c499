package dev.cascade.models;

/**
 * Loads {@link TextGenerator}s, the way DJL's {@code Criteria} does: which model, which engine.
 *
 * <pre>{@code
 * try (TextGenerator small = TextGenerators.load("small", "auto")) {
 *   Generation g = small.generate(List.of("cascade"), 48).get(0);
 * }
 * }</pre>
 */
public final class TextGenerators {

  /** Rows per forward pass when the caller does not say: 64. */
  public static final int DEFAULT_MAX_BATCH = DjlTextGenerator.DEFAULT_MAX_BATCH;

  private TextGenerators() {}

  /**
   * Loads a model.
   *
   * @param modelNameOrDir "small" or "large" for the bundled models (copied from the classpath to a
   *     cache directory on first use), or a directory holding {@code model.onnx} and
   *     {@code tokenizer.json} (and optionally {@code card.json})
   * @param engine "OnnxRuntime", "TensorRT" or "auto"
   * @throws EngineUnavailableException when the engine cannot run here (names what is missing)
   * @throws IllegalArgumentException for an unknown model or engine name
   */
  public static TextGenerator load(String modelNameOrDir, String engine) {
    return load(modelNameOrDir, engine, DEFAULT_MAX_BATCH);
  }

  /** As {@link #load(String, String)}, decoding at most {@code maxBatch} rows per forward pass. */
  public static TextGenerator load(String modelNameOrDir, String engine, int maxBatch) {
    return load(modelNameOrDir, engine, maxBatch, CpuThreads.ORT_DEFAULTS);
  }

  /**
   * As {@link #load(String, String, int)}, with the decoding threads and ONNX Runtime's thread pool
   * set by {@code threads} (the other loads use {@link CpuThreads#ORT_DEFAULTS}).
   */
  public static TextGenerator load(String modelNameOrDir, String engine, int maxBatch, CpuThreads threads) {
    return load(modelNameOrDir, engine, maxBatch, threads, CacheSettings.DEFAULT);
  }

  /**
   * As {@link #load(String, String, int, CpuThreads)}, with the key/value cache set by
   * {@code cache} (the other loads keep a cache, bounded by the batch size, for any model whose
   * graph takes one).
   */
  public static TextGenerator load(String modelNameOrDir, String engine, int maxBatch, CpuThreads threads,
      CacheSettings cache) {
    return load(modelNameOrDir, engine, maxBatch, threads, cache, DraftWindow.DEFAULT);
  }

  /**
   * As {@link #load(String, String, int, CpuThreads, CacheSettings)}, checking drafts (speculative
   * decoding) {@code draftWindow} tokens at a time (the other loads use {@link DraftWindow#DEFAULT}).
   */
  public static TextGenerator load(String modelNameOrDir, String engine, int maxBatch, CpuThreads threads,
      CacheSettings cache, DraftWindow draftWindow) {
    if (maxBatch < 1) {
      throw new IllegalArgumentException("maxBatch: must be at least 1, got " + maxBatch);
    }
    String normalisedEngine = ModelLoader.normalise(engine);
    return DjlTextGenerator.load(ModelDirectory.resolve(modelNameOrDir), normalisedEngine, maxBatch,
        java.util.Objects.requireNonNull(threads, "threads"), java.util.Objects.requireNonNull(cache, "cache"),
        java.util.Objects.requireNonNull(draftWindow, "draftWindow"));
  }
}
