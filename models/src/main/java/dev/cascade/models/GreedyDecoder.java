package dev.cascade.models;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The decoding loop: batched greedy decoding over any forward pass, without a key/value cache.
 *
 * <p>Every step runs the whole batch once, left-padded to the longest row (positions come from
 * the attention mask, so padding changes nothing). A row leaves the batch when it produces the
 * end-of-sequence token or reaches its token limit, so later steps only pay for rows still
 * generating. Knows nothing of tokenizers or engines.
 */
public final class GreedyDecoder {

  /** One forward pass. */
  @FunctionalInterface
  public interface ForwardPass {
    NextTokenScores run(DecodeStep step);
  }

  private final long pad;
  private final long eos;

  public GreedyDecoder(long padId, long eosId) {
    this.pad = padId;
    this.eos = eosId;
  }

  /**
   * Decodes every prefix (prompt ids followed by the separator) greedily.
   *
   * @param maxNewTokens per row, the most tokens to generate
   */
  public List<Generation> decode(List<long[]> prefixes, int[] maxNewTokens, ForwardPass model,
      TextGenerator.Cancellation cancellation, java.util.function.Function<int[], String> detokenizer) {
    int n = prefixes.size();
    List<Row> rows = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      rows.add(new Row(prefixes.get(i), maxNewTokens[i]));
    }
    List<Row> active = new ArrayList<>();
    for (Row row : rows) {
      if (row.limit > 0) {
        active.add(row);
      }
    }
    int step = 0;
    while (!active.isEmpty()) {
      if (cancellation.isCancelled()) {
        throw new GenerationCancelledException(step);
      }
      int length = 0;
      for (Row row : active) {
        length = Math.max(length, row.length());
      }
      int batch = active.size();
      long[] ids = new long[batch * length];
      long[] mask = new long[batch * length];
      for (int r = 0; r < batch; r++) {
        Row row = active.get(r);
        int padding = length - row.length();
        Arrays.fill(ids, r * length, r * length + padding, pad);
        System.arraycopy(row.prefix, 0, ids, r * length + padding, row.prefix.length);
        for (int t = 0; t < row.generated; t++) {
          ids[r * length + padding + row.prefix.length + t] = row.tokens[t];
        }
        Arrays.fill(mask, r * length + padding, (r + 1) * length, 1L);
      }
      NextTokenScores scores = model.run(new DecodeStep(ids, mask, batch, length));
      List<Row> still = new ArrayList<>(batch);
      for (int r = 0; r < batch; r++) {
        Row row = active.get(r);
        TokenDistribution.Choice choice = TokenDistribution.greedy(scores.logits(), r * scores.vocab(), scores.vocab());
        if (scores.hidden() != null) {
          row.addHidden(scores.hidden(), r * scores.width(), scores.width());
        }
        if (choice.token() == eos) {
          continue;
        }
        row.add(choice);
        if (row.generated < row.limit) {
          still.add(row);
        }
      }
      active = still;
      step++;
    }
    List<Generation> out = new ArrayList<>(n);
    for (Row row : rows) {
      int[] tokens = Arrays.copyOf(row.tokens, row.generated);
      out.add(new Generation(detokenizer.apply(tokens), tokens, Arrays.copyOf(row.logprobs, row.generated),
          Arrays.copyOf(row.entropies, row.generated), row.embedding()));
    }
    return out;
  }

  private static final class Row {
    final long[] prefix;
    final int limit;
    final int[] tokens;
    final float[] logprobs;
    final float[] entropies;
    int generated;
    double[] hiddenSum;
    int hiddenSteps;

    Row(long[] prefix, int limit) {
      this.prefix = prefix;
      this.limit = limit;
      this.tokens = new int[Math.max(0, limit)];
      this.logprobs = new float[Math.max(0, limit)];
      this.entropies = new float[Math.max(0, limit)];
    }

    int length() {
      return prefix.length + generated;
    }

    void add(TokenDistribution.Choice choice) {
      tokens[generated] = choice.token();
      logprobs[generated] = choice.logprob();
      entropies[generated] = choice.entropy();
      generated++;
    }

    void addHidden(float[] hidden, int offset, int width) {
      if (hiddenSum == null) {
        hiddenSum = new double[width];
      }
      for (int i = 0; i < width; i++) {
        hiddenSum[i] += hidden[offset + i];
      }
      hiddenSteps++;
    }

    float[] embedding() {
      if (hiddenSum == null) {
        return null;
      }
      float[] mean = new float[hiddenSum.length];
      for (int i = 0; i < mean.length; i++) {
        mean[i] = (float) (hiddenSum[i] / hiddenSteps);
      }
      return mean;
    }
  }
}
