package dev.cascade.models;

import java.util.Objects;

/**
 * How {@link TextGenerators#load(String, String, LoadOptions)} sets up a model: rows per forward
 * pass, threads, key/value cache and draft window. Start from {@link #DEFAULT} and change what
 * differs:
 *
 * <pre>{@code
 * LoadOptions options = LoadOptions.DEFAULT.withMaxBatch(32).withCache(CacheSettings.DISABLED);
 * }</pre>
 *
 * @param maxBatch rows a forward pass decodes at most (at least 1)
 * @param threads decoding threads and ONNX Runtime's thread pool
 * @param cache the key/value cache, used for any model whose graph takes one
 * @param draftWindow how many draft tokens a pass checks (speculative decoding)
 * @param prefillReuse with a key/value cache, whether a prompt the prompt pass scored decodes from
 *     that pass's prefill ({@link TextGenerator#scorePrompts}); off, it runs its own
 */
public record LoadOptions(int maxBatch, CpuThreads threads, CacheSettings cache, DraftWindow draftWindow,
    boolean prefillReuse) {

  /**
   * {@link TextGenerators#DEFAULT_MAX_BATCH} rows, {@link CpuThreads#ORT_DEFAULTS}, a key/value
   * cache bounded by the batch size ({@link CacheSettings#DEFAULT}), {@link DraftWindow#DEFAULT},
   * the prompt pass's prefills reused.
   */
  public static final LoadOptions DEFAULT = new LoadOptions(DjlTextGenerator.DEFAULT_MAX_BATCH, CpuThreads.ORT_DEFAULTS,
      CacheSettings.DEFAULT, DraftWindow.DEFAULT, true);

  public LoadOptions {
    if (maxBatch < 1) {
      throw new IllegalArgumentException("maxBatch: must be at least 1, got " + maxBatch);
    }
    Objects.requireNonNull(threads, "threads");
    Objects.requireNonNull(cache, "cache");
    Objects.requireNonNull(draftWindow, "draftWindow");
  }

  /** The prompt pass's prefills reused. */
  public LoadOptions(int maxBatch, CpuThreads threads, CacheSettings cache, DraftWindow draftWindow) {
    this(maxBatch, threads, cache, draftWindow, true);
  }

  public LoadOptions withMaxBatch(int rows) {
    return new LoadOptions(rows, threads, cache, draftWindow, prefillReuse);
  }

  public LoadOptions withThreads(CpuThreads cpuThreads) {
    return new LoadOptions(maxBatch, cpuThreads, cache, draftWindow, prefillReuse);
  }

  public LoadOptions withCache(CacheSettings settings) {
    return new LoadOptions(maxBatch, threads, settings, draftWindow, prefillReuse);
  }

  public LoadOptions withDraftWindow(DraftWindow window) {
    return new LoadOptions(maxBatch, threads, cache, window, prefillReuse);
  }

  public LoadOptions withPrefillReuse(boolean reuse) {
    return new LoadOptions(maxBatch, threads, cache, draftWindow, reuse);
  }
}
