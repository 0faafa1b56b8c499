package dev.cascade.models;

/**
 * Whether a model in the key/value-cache layout ({@link CacheLayout}) keeps a cache while it
 * decodes, and how much memory the cache may take. A model without cache inputs ignores both.
 *
 * @param enabled keep a cache (the default); false runs every step over the whole sequence with an
 *     empty past, as a model without a cache does: slower, for comparison
 * @param budgetBytes the most cache bytes the rows of one decoding thread may reserve (each row
 *     reserves its prefix plus its token limit when it joins a batch); 0 bounds the cache only by
 *     the batch size: at most {@code maxBatch} rows of at most the context length each
 */
public record CacheSettings(boolean enabled, long budgetBytes) {

  /** A cache, bounded by the batch size alone. */
  public static final CacheSettings DEFAULT = new CacheSettings(true, 0);

  /** No cache: every step recomputes the whole sequence. */
  public static final CacheSettings DISABLED = new CacheSettings(false, 0);

  public CacheSettings {
    if (budgetBytes < 0) {
      throw new IllegalArgumentException("kv-cache budget: must be 0 (no bound beyond the batch size) or more bytes, got "
          + budgetBytes);
    }
  }

  /** A cache bounded to {@code megabytes} MiB per decoding thread (0: by the batch size alone). */
  public static CacheSettings megabytes(int megabytes) {
    if (megabytes < 0) {
      throw new IllegalArgumentException("kv-cache budget: must be 0 (no bound beyond the batch size) or more MiB, got "
          + megabytes);
    }
    return new CacheSettings(true, megabytes * 1024L * 1024L);
  }
}
