package dev.cascade.models;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The prefills the prompt pass ({@link PromptPass}) computed, kept for the decoder: a prompt scored
 * before it is generated (the pre-generation skip scores every prompt, then generates those it does
 * not skip) starts decoding from the pass's cache and its first token's scores instead of running
 * its prefill again. Keyed by the model input's token ids, so a prefill serves exactly the sequence
 * it was computed for; taken once. At most {@code capacity} are kept, the least recently stored
 * dropped first (a skipped prompt's is never taken), each one row's cache over its input, outside
 * {@code model.kv-cache-mb}. Thread-safe.
 */
final class Prefills {

  /**
   * One row's prefill: its scores at the input's last position (one row, one position), with its
   * cache in {@link NextTokenScores#present()} ([1, heads, length, head_size] per tensor, the input
   * right-aligned in {@code length} positions).
   */
  record Prefill(NextTokenScores scores, int length) {}

  private record Key(long[] ids) {
    @Override
    public boolean equals(Object o) {
      return o instanceof Key k && Arrays.equals(ids, k.ids);
    }

    @Override
    public int hashCode() {
      return Arrays.hashCode(ids);
    }

    @Override
    public String toString() {
      return Arrays.toString(ids);
    }
  }

  private final Map<Key, Prefill> kept;
  private final AtomicLong taken = new AtomicLong();

  Prefills(int capacity) {
    if (capacity < 1) {
      throw new IllegalArgumentException("capacity: must be at least 1, was " + capacity);
    }
    this.kept = new LinkedHashMap<>(16, 0.75f, false) {
      @Override
      protected boolean removeEldestEntry(Map.Entry<Key, Prefill> eldest) {
        return size() > capacity;
      }
    };
  }

  /** Keeps the prefill of the model input {@code ids} (its array is not copied: do not change it). */
  synchronized void put(long[] ids, Prefill prefill) {
    kept.put(new Key(ids), prefill);
  }

  /** The prefill of the model input {@code ids}, removed; null when none is kept. */
  synchronized Prefill take(long[] ids) {
    Prefill prefill = kept.remove(new Key(ids));
    if (prefill != null) {
      taken.incrementAndGet();
    }
    return prefill;
  }

  /** How many prefills the decoder has taken. */
  long taken() {
    return taken.get();
  }

  synchronized int size() {
    return kept.size();
  }
}
