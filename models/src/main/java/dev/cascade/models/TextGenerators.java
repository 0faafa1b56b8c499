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
    return load(modelNameOrDir, engine, LoadOptions.DEFAULT);
  }

  /** As {@link #load(String, String)}, decoding at most {@code maxBatch} rows per forward pass. */
  public static TextGenerator load(String modelNameOrDir, String engine, int maxBatch) {
    return load(modelNameOrDir, engine, LoadOptions.DEFAULT.withMaxBatch(maxBatch));
  }

  /**
   * The engine {@code name} stands for (case-insensitive; {@code ort} and {@code trt} too), as
   * {@link #load} takes it: {@code OnnxRuntime}, {@code TensorRT} or {@code auto}.
   *
   * @throws IllegalArgumentException naming the three for any other name
   */
  public static String engine(String name) {
    return ModelLoader.normalise(name);
  }

  /**
   * As {@link #load(String, String)}, set up by {@code options}: rows per pass, threads, key/value
   * cache and draft window ({@link LoadOptions#DEFAULT} is what the other loads use).
   */
  public static TextGenerator load(String modelNameOrDir, String engine, LoadOptions options) {
    java.util.Objects.requireNonNull(options, "options");
    return DjlTextGenerator.load(ModelDirectory.resolve(modelNameOrDir), ModelLoader.normalise(engine),
        options.maxBatch(), options.threads(), options.cache(), options.draftWindow(), options.prefillReuse());
  }
}
