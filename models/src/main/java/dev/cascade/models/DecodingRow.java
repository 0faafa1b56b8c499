package dev.cascade.models;

import java.util.Arrays;

/** One sequence being decoded: its prefix (prompt and separator), and what has been generated so far. */
final class DecodingRow {
  final long[] prefix;
  final int limit;
  private final int[] tokens;
  private final float[] logprobs;
  private final float[] entropies;
  private int generated;
  private double[] hiddenSum;
  private int hiddenSteps;
  /** Set when the row produced end-of-sequence or reached its limit. */
  boolean finished;

  DecodingRow(long[] prefix, int limit) {
    this.prefix = prefix;
    this.limit = Math.max(0, limit);
    this.tokens = new int[this.limit];
    this.logprobs = new float[this.limit];
    this.entropies = new float[this.limit];
    this.finished = this.limit == 0;
  }

  int length() {
    return prefix.length + generated;
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

  /** Takes one step's result; marks the row finished at end-of-sequence or at its limit. */
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
      return;
    }
    tokens[generated] = choice.token();
    logprobs[generated] = choice.logprob();
    entropies[generated] = choice.entropy();
    generated++;
    finished = generated >= limit;
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
        Arrays.copyOf(entropies, generated), embedding);
  }
}
