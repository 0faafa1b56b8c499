package dev.cascade.models;

import java.util.Arrays;

/**
 * One sequence being decoded: its prefix (prompt and separator), what has been generated so far,
 * and, for a model with a key/value cache, the keys and values of every position but the last.
 */
final class DecodingRow {
  final long[] prefix;
  final int limit;
  private final int[] tokens;
  private final float[] logprobs;
  private final float[] entropies;
  private int generated;
  private double[] hiddenSum;
  private int hiddenSteps;
  private final TextGenerator.EarlyStop earlyStop;
  /** Set when the row produced end-of-sequence, reached its limit or was stopped early. */
  boolean finished;
  /** Set when {@link #earlyStop} ended the row. */
  private boolean stoppedEarly;
  /** Per cache tensor, [heads][capacity][head_size]; null before the row's first forward pass. */
  private float[][] cache;

  DecodingRow(long[] prefix, int limit) {
    this(prefix, limit, TextGenerator.EarlyStop.NEVER);
  }

  DecodingRow(long[] prefix, int limit, TextGenerator.EarlyStop earlyStop) {
    this.prefix = prefix;
    this.earlyStop = earlyStop;
    this.limit = Math.max(0, limit);
    this.tokens = new int[this.limit];
    this.logprobs = new float[this.limit];
    this.entropies = new float[this.limit];
    this.finished = this.limit == 0;
  }

  int length() {
    return prefix.length + generated;
  }

  /** The most positions this row can hold: its prefix and its token limit. */
  int capacity() {
    return prefix.length + limit;
  }

  /** Bytes this row's cache takes at its largest. */
  long cacheBytes(CacheLayout layout) {
    return 4L * capacity() * layout.floatsPerPosition();
  }

  boolean hasCache() {
    return cache != null;
  }

  /** Positions held in the cache: every one but the last generated token, which is the next input. */
  int cached() {
    return length() - 1;
  }

  /** The last token generated, the input of the row's next step. */
  long lastToken() {
    return tokens[generated - 1];
  }

  /**
   * Keeps the cache of the prefix from a prefill pass: row {@code r} of {@code present} ([rows,
   * heads, {@code stepLength}, head_size] per tensor), whose last {@code prefix.length} positions
   * are this row's (the rest is left padding).
   */
  void storePrefix(float[][] present, int r, int stepLength, CacheLayout layout) {
    int heads = layout.heads();
    int size = layout.headSize();
    int cap = capacity();
    cache = new float[present.length][];
    for (int i = 0; i < present.length; i++) {
      float[] mine = new float[heads * cap * size];
      for (int h = 0; h < heads; h++) {
        System.arraycopy(present[i], ((r * heads + h) * stepLength + stepLength - prefix.length) * size,
            mine, h * cap * size, prefix.length * size);
      }
      cache[i] = mine;
    }
  }

  /**
   * Appends the one new position of row {@code r} of a one-token step's {@code present}: the last
   * generated token's, before the step's own token is accepted.
   */
  void appendPosition(float[][] present, int r, CacheLayout layout) {
    int heads = layout.heads();
    int size = layout.headSize();
    int cap = capacity();
    int at = cached();
    for (int i = 0; i < present.length; i++) {
      for (int h = 0; h < heads; h++) {
        System.arraycopy(present[i], (r * heads + h) * size, cache[i], (h * cap + at) * size, size);
      }
    }
  }

  /** Writes this row's cache, right-aligned, into row {@code r} of {@code past} ([rows, heads, pastLength, head_size]). */
  void writePast(float[][] past, int r, int pastLength, CacheLayout layout) {
    int heads = layout.heads();
    int size = layout.headSize();
    int cap = capacity();
    int cached = cached();
    for (int i = 0; i < past.length; i++) {
      for (int h = 0; h < heads; h++) {
        System.arraycopy(cache[i], h * cap * size, past[i], ((r * heads + h) * pastLength + pastLength - cached) * size,
            cached * size);
      }
    }
  }

  /** Drops the cache (the row is finished or abandoned). */
  void releaseCache() {
    cache = null;
  }

  /** Writes this row, left-padded, into row {@code r} of a {@code length}-wide batch. */
  void fill(long[] ids, long[] mask, int r, int length, long pad) {
    int padding = length - length();
    int base = r * length;
    Arrays.fill(ids, base, base + padding, pad);
    System.arraycopy(prefix, 0, ids, base + padding, prefix.length);
    for (int t = 0; t < generated; t++) {
      ids[base + padding + prefix.length + t] = tokens[t];
    }
    Arrays.fill(mask, base, base + padding, 0L);
    Arrays.fill(mask, base + padding, base + length, 1L);
  }

  /**
   * Takes one step's result; marks the row finished at end-of-sequence, at its limit, or when the
   * early-stop condition says so.
   */
  void accept(TokenDistribution.Choice choice, long eos, float[] hidden, int hiddenOffset, int width) {
    if (hidden != null) {
      if (hiddenSum == null) {
        hiddenSum = new double[width];
      }
      for (int i = 0; i < width; i++) {
        hiddenSum[i] += hidden[hiddenOffset + i];
      }
      hiddenSteps++;
    }
    if (choice.token() == eos) {
      finished = true;
    } else {
      tokens[generated] = choice.token();
      logprobs[generated] = choice.logprob();
      entropies[generated] = choice.entropy();
      generated++;
      finished = generated >= limit;
      if (!finished && earlyStop != TextGenerator.EarlyStop.NEVER && askEarlyStop()) {
        finished = true;
        stoppedEarly = true;
      }
    }
    if (finished) {
      releaseCache();
    }
  }

  private boolean askEarlyStop() {
    try {
      return earlyStop.shouldStop(Arrays.copyOf(logprobs, generated), Arrays.copyOf(entropies, generated));
    } catch (RuntimeException e) {
      return false;
    }
  }

  Generation toGeneration(java.util.function.Function<int[], String> detokenizer) {
    int[] out = Arrays.copyOf(tokens, generated);
    float[] embedding = null;
    if (hiddenSum != null) {
      embedding = new float[hiddenSum.length];
      for (int i = 0; i < embedding.length; i++) {
        embedding[i] = (float) (hiddenSum[i] / hiddenSteps);
      }
    }
    return new Generation(detokenizer.apply(out), out, Arrays.copyOf(logprobs, generated),
        Arrays.copyOf(entropies, generated), embedding, stoppedEarly);
  }
}
