package dev.cascade.models;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * The decoding loop: batched greedy decoding over any forward pass, with or without a key/value
 * cache.
 *
 * <p>Without a cache, every step runs all active rows at once over their whole sequences,
 * left-padded to the longest (positions come from the attention mask, so padding changes nothing).
 *
 * <p>With a cache ({@link CacheLayout}), each row keeps its own keys and values. A row's first step
 * is a prefill pass over its prefix (rows that start together share one, left-padded); every later
 * step feeds one token per row, with the rows' caches right-aligned into one past tensor as wide as
 * the longest and the shorter ones masked at the left. Rows therefore join and leave at any step,
 * and a row pays for another row's length only in the attention over masked past positions, not in
 * recomputation. A model in the cache layout can also run without it ({@code useCache} false):
 * every step is then a full pass with an empty past, as without a cache.
 *
 * <p>A row leaves the batch when it produces the end-of-sequence token, reaches its token limit or
 * is stopped by the caller's {@link TextGenerator.EarlyStop}, so later steps only pay for rows
 * still generating. Knows nothing of tokenizers or engines.
 */
public final class GreedyDecoder {

  /** One forward pass. */
  @FunctionalInterface
  public interface ForwardPass {
    NextTokenScores run(DecodeStep step);
  }

  private final long pad;
  private final long eos;
  private final CacheLayout layout;
  private final boolean useCache;

  /** A decoder for a model without a cache. */
  public GreedyDecoder(long padId, long eosId) {
    this(padId, eosId, null, false);
  }

  /**
   * @param layout the model's cache inputs, or null for a model without them
   * @param useCache whether to keep a cache (ignored without a layout)
   */
  public GreedyDecoder(long padId, long eosId, CacheLayout layout, boolean useCache) {
    this.pad = padId;
    this.eos = eosId;
    this.layout = layout;
    this.useCache = layout != null && useCache;
  }

  /** Whether rows keep a key/value cache between steps. */
  boolean cachesKeys() {
    return useCache;
  }

  /** Bytes a row's cache takes at its largest; 0 without a cache. */
  long cacheBytes(DecodingRow row) {
    return useCache ? row.cacheBytes(layout) : 0;
  }

  /**
   * Decodes every prefix (prompt ids followed by the separator) greedily, all rows in one batch.
   *
   * @param maxNewTokens per row, the most tokens to generate
   */
  public List<Generation> decode(List<long[]> prefixes, int[] maxNewTokens, ForwardPass model,
      TextGenerator.Cancellation cancellation, Function<int[], String> detokenizer) {
    return decode(prefixes, maxNewTokens, model, cancellation, TextGenerator.EarlyStop.NEVER, detokenizer);
  }

  /** As above; a row that {@code earlyStop} stops leaves the batch after that step. */
  public List<Generation> decode(List<long[]> prefixes, int[] maxNewTokens, ForwardPass model,
      TextGenerator.Cancellation cancellation, TextGenerator.EarlyStop earlyStop,
      Function<int[], String> detokenizer) {
    List<DecodingRow> rows = new ArrayList<>(prefixes.size());
    for (int i = 0; i < prefixes.size(); i++) {
      rows.add(new DecodingRow(prefixes.get(i), maxNewTokens[i], earlyStop));
    }
    List<DecodingRow> active = new ArrayList<>();
    for (DecodingRow row : rows) {
      if (!row.finished) {
        active.add(row);
      }
    }
    int steps = 0;
    while (!active.isEmpty()) {
      if (cancellation.isCancelled()) {
        throw new GenerationCancelledException(steps);
      }
      step(active, model);
      active.removeIf(row -> row.finished);
      steps++;
    }
    List<Generation> out = new ArrayList<>(rows.size());
    for (DecodingRow row : rows) {
      out.add(row.toGeneration(detokenizer));
    }
    return out;
  }

  /** Runs one step over the given unfinished rows and appends each row's greedy choice. */
  void step(List<DecodingRow> active, ForwardPass model) {
    if (!useCache) {
      fullPass(active, model, false);
      return;
    }
    List<DecodingRow> fresh = new ArrayList<>();
    List<DecodingRow> going = new ArrayList<>();
    for (DecodingRow row : active) {
      (row.hasCache() ? going : fresh).add(row);
    }
    if (!fresh.isEmpty()) {
      fullPass(fresh, model, true);
    }
    if (!going.isEmpty()) {
      oneTokenPass(going, model);
    }
  }

  /**
   * One pass over the rows' whole sequences, left-padded; with a cache layout the past is empty
   * and, when {@code keep}, each row keeps the cache of its positions (a prefill).
   */
  private void fullPass(List<DecodingRow> rows, ForwardPass model, boolean keep) {
    int length = 0;
    for (DecodingRow row : rows) {
      length = Math.max(length, row.length());
    }
    int batch = rows.size();
    long[] ids = new long[batch * length];
    long[] mask = new long[batch * length];
    for (int r = 0; r < batch; r++) {
      rows.get(r).fill(ids, mask, r, length, pad);
    }
    DecodeStep step;
    if (layout == null) {
      step = new DecodeStep(ids, mask, batch, length);
    } else {
      long[] positions = new long[batch * length];
      for (int r = 0; r < batch; r++) {
        long next = 0;
        for (int t = 0; t < length; t++) {
          positions[r * length + t] = mask[r * length + t] == 0 ? 0 : next++;
        }
      }
      step = new DecodeStep(ids, mask, batch, length, layout, positions, layout.emptyPast(), 0);
    }
    NextTokenScores scores = model.run(step);
    for (int r = 0; r < batch; r++) {
      if (keep) {
        rows.get(r).storePrefix(requirePresent(scores), r, length, layout);
      }
      accept(rows.get(r), scores, r);
    }
  }

  /** One token per row, over the rows' caches right-aligned into one past tensor. */
  private void oneTokenPass(List<DecodingRow> rows, ForwardPass model) {
    int batch = rows.size();
    int pastLength = 0;
    for (DecodingRow row : rows) {
      pastLength = Math.max(pastLength, row.cached());
    }
    long[] ids = new long[batch];
    long[] positions = new long[batch];
    long[] mask = new long[batch * (pastLength + 1)];
    float[][] past = new float[2 * layout.layers()][];
    for (int i = 0; i < past.length; i++) {
      past[i] = new float[batch * layout.heads() * pastLength * layout.headSize()];
    }
    for (int r = 0; r < batch; r++) {
      DecodingRow row = rows.get(r);
      ids[r] = row.lastToken();
      positions[r] = row.cached();
      int base = r * (pastLength + 1);
      java.util.Arrays.fill(mask, base + pastLength - row.cached(), base + pastLength + 1, 1L);
      row.writePast(past, r, pastLength, layout);
    }
    NextTokenScores scores = model.run(new DecodeStep(ids, mask, batch, 1, layout, positions, past, pastLength));
    for (int r = 0; r < batch; r++) {
      rows.get(r).appendPosition(requirePresent(scores), r, layout);
      accept(rows.get(r), scores, r);
    }
  }

  private float[][] requirePresent(NextTokenScores scores) {
    if (scores.present() == null || scores.present().length != 2 * layout.layers()) {
      throw new IllegalStateException("the model returned " + (scores.present() == null ? 0 : scores.present().length)
          + " present.N.key/value outputs; its " + layout.layers() + " cache inputs need " + 2 * layout.layers());
    }
    return scores.present();
  }

  private void accept(DecodingRow row, NextTokenScores scores, int r) {
    TokenDistribution.Choice choice = TokenDistribution.greedy(scores.logits(), r * scores.vocab(), scores.vocab());
    row.accept(choice, eos, scores.hidden(), r * scores.width(), scores.width());
  }
}
