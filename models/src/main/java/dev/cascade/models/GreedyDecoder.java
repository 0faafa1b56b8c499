package dev.cascade.models;

import java.nio.FloatBuffer;
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
 *
 * <p><b>Drafts</b> (speculative decoding, lossless): a row may start with a draft of its answer,
 * another model's tokens in the same vocabulary. Its first pass runs over prefix and the first
 * tokens of the draft together (with a cache, as its prefill) and scores every draft position, so
 * one pass yields the row's own greedy choice before each draft token it holds and after the last.
 * The row takes its choices in order, exactly as one-token steps would, while each equals the
 * draft token at that place; the first choice that differs (or the one after the whole check) is
 * the row's own next token. The next stretch of the draft ({@link DecodingRow#draftChecked}: on
 * past that token, or resumed where the draft has it) rides along with the row's next pass (with
 * a cache, its last token and that stretch as one multi-token step) and is checked the same way,
 * until none is left; then the row decodes one token per step. How many draft tokens a pass
 * checks adapts to how many the last check kept. The cache keeps the positions of the tokens
 * kept; the rest are not counted and are overwritten. So the answer is the greedy answer without
 * the draft, token for token (up to the float rounding of a wider pass), and every draft token
 * kept saves a step. Without a cache each full pass carries the stretch the same way.
 */
public final class GreedyDecoder {

  /** One forward pass. */
  @FunctionalInterface
  public interface ForwardPass {
    NextTokenScores run(DecodeStep step);

    /**
     * A buffer of {@code values} cache values (position 0, limit {@code values}) for cache tensor
     * {@code i} of the next step's past, which the decoder fills before {@link #run}: a
     * {@code FloatBuffer} when {@code half} is false, else a {@code ByteBuffer} in native order of
     * {@code 2 × values} bytes for the 16-bit values. A pass may hand out the same memory at every
     * step, as its steps run one at a time: a direct buffer in native order, which ONNX Runtime
     * reads where it is, saves a step copying and zeroing the whole past twice over (into a new
     * array, then into native memory). This default is a new buffer (heap for float32; direct for
     * 16 bits, which ONNX Runtime's Java API would otherwise copy as a ShortBuffer).
     */
    default java.nio.Buffer pastBuffer(int i, int values, boolean half) {
      return half ? java.nio.ByteBuffer.allocateDirect(2 * values).order(java.nio.ByteOrder.nativeOrder())
          : FloatBuffer.allocate(values);
    }
  }

  private final long pad;
  /** The tokens that end an answer: end-of-sequence first, then any other the model ends turns with. */
  private final long[] ends;
  private final CacheLayout layout;
  private final boolean useCache;
  private final DraftWindow draftWindow;
  /** Prefills the prompt pass kept, which fresh rows start from; null: none. */
  private final Prefills prefills;

  /** A decoder for a model without a cache. */
  public GreedyDecoder(long padId, long eosId) {
    this(padId, eosId, null, false);
  }

  /**
   * @param layout the model's cache inputs, or null for a model without them
   * @param useCache whether to keep a cache (ignored without a layout)
   */
  public GreedyDecoder(long padId, long eosId, CacheLayout layout, boolean useCache) {
    this(padId, eosId, layout, useCache, DraftWindow.DEFAULT);
  }

  /** As above, {@code draftWindow} saying how many draft tokens each pass checks. */
  public GreedyDecoder(long padId, long eosId, CacheLayout layout, boolean useCache, DraftWindow draftWindow) {
    this(padId, new long[] {eosId}, layout, useCache, draftWindow);
  }

  /** As above, an answer ending at any of {@code endIds} (end-of-sequence first, at least one). */
  public GreedyDecoder(long padId, long[] endIds, CacheLayout layout, boolean useCache, DraftWindow draftWindow) {
    this(padId, endIds, layout, useCache, draftWindow, null);
  }

  /**
   * As above; a fresh row without a draft whose input {@code prefills} holds starts from that
   * prefill (its cache and first token) instead of running its own (ignored without a cache).
   */
  GreedyDecoder(long padId, long[] endIds, CacheLayout layout, boolean useCache, DraftWindow draftWindow,
      Prefills prefills) {
    if (endIds.length == 0) {
      throw new IllegalArgumentException("endIds: at least the end-of-sequence token");
    }
    this.pad = padId;
    this.ends = endIds.clone();
    this.layout = layout;
    this.useCache = layout != null && useCache;
    this.draftWindow = java.util.Objects.requireNonNull(draftWindow, "draftWindow");
    this.prefills = this.useCache ? prefills : null;
  }

  /** A row to decode with this decoder: checking {@code draft} first, by its draft window. */
  DecodingRow newRow(long[] prefix, int limit, int[] draft, TextGenerator.EarlyStop earlyStop) {
    return new DecodingRow(prefix, limit, draft, earlyStop, draftWindow);
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
    return decode(prefixes, java.util.Collections.nCopies(prefixes.size(), new int[0]), maxNewTokens, model,
        cancellation, TextGenerator.EarlyStop.NEVER, detokenizer);
  }

  /** As above; a row that {@code earlyStop} stops leaves the batch after that step. */
  public List<Generation> decode(List<long[]> prefixes, int[] maxNewTokens, ForwardPass model,
      TextGenerator.Cancellation cancellation, TextGenerator.EarlyStop earlyStop,
      Function<int[], String> detokenizer) {
    return decode(prefixes, java.util.Collections.nCopies(prefixes.size(), new int[0]), maxNewTokens, model,
        cancellation, earlyStop, detokenizer);
  }

  /**
   * As {@link #decode(List, int[], ForwardPass, TextGenerator.Cancellation, Function)}, each row
   * checking its draft first (empty: none; at most the row's token limit).
   */
  public List<Generation> decode(List<long[]> prefixes, List<int[]> drafts, int[] maxNewTokens, ForwardPass model,
      TextGenerator.Cancellation cancellation, Function<int[], String> detokenizer) {
    return decode(prefixes, drafts, maxNewTokens, model, cancellation, TextGenerator.EarlyStop.NEVER, detokenizer);
  }

  /** With drafts and an early stop: each row checks its draft, and {@code earlyStop} may end it after any token. */
  public List<Generation> decode(List<long[]> prefixes, List<int[]> drafts, int[] maxNewTokens, ForwardPass model,
      TextGenerator.Cancellation cancellation, TextGenerator.EarlyStop earlyStop,
      Function<int[], String> detokenizer) {
    List<DecodingRow> rows = new ArrayList<>(prefixes.size());
    for (int i = 0; i < prefixes.size(); i++) {
      rows.add(newRow(prefixes.get(i), maxNewTokens[i], drafts.get(i), earlyStop.forRow(i)));
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
      if (row.hasCache()) {
        going.add(row);
      } else if (!startFromPrefill(row)) {
        fresh.add(row);
      }
    }
    if (!fresh.isEmpty()) {
      fullPass(fresh, model, true);
    }
    if (!going.isEmpty()) {
      cachedPass(going, model);
    }
  }

  /**
   * Starts a fresh row without a draft from the prefill the prompt pass kept for its input, if any:
   * its cache, then its first token from the prefill's scores, as its own prefill would give them.
   */
  private boolean startFromPrefill(DecodingRow row) {
    if (prefills == null || row.pendingDraft().length > 0) {
      return false;
    }
    Prefills.Prefill prefill = prefills.take(row.prefix);
    if (prefill == null) {
      return false;
    }
    row.storePrefix(prefill.scores().present(), 0, prefill.length(), layout);
    accept(row, prefill.scores(), 0);
    return true;
  }

  /**
   * One pass over the rows' whole sequences and drafts, left-padded; with a cache layout the past
   * is empty and, when {@code keep}, each row keeps the cache of its positions (a prefill). Scores
   * as many last positions as the longest draft needs.
   */
  private void fullPass(List<DecodingRow> rows, ForwardPass model, boolean keep) {
    int length = 0;
    int scored = 1;
    for (DecodingRow row : rows) {
      length = Math.max(length, row.inputLength());
      scored = Math.max(scored, row.pendingDraft().length + 1);
    }
    int batch = rows.size();
    long[] ids = new long[batch * length];
    long[] mask = new long[batch * length];
    for (int r = 0; r < batch; r++) {
      rows.get(r).fill(ids, mask, r, length, pad);
    }
    DecodeStep step;
    if (layout == null) {
      step = new DecodeStep(ids, mask, batch, length, null, null, null, 0, scored);
    } else {
      long[] positions = new long[batch * length];
      for (int r = 0; r < batch; r++) {
        long next = 0;
        for (int t = 0; t < length; t++) {
          positions[r * length + t] = mask[r * length + t] == 0 ? 0 : next++;
        }
      }
      step = new DecodeStep(ids, mask, batch, length, layout, positions, layout.emptyPast(), 0, scored);
    }
    NextTokenScores scores = model.run(step);
    for (int r = 0; r < batch; r++) {
      if (keep) {
        rows.get(r).storePrefix(requirePresent(scores), r, length, layout);
      }
      accept(rows.get(r), scores, r);
    }
  }

  /**
   * One step over rows with a cache: each row feeds its last token and the draft it checks (none
   * for most rows, so mostly one token), left-padded to the widest; the rows' caches right-aligned
   * into one past tensor, masked where a row's past is shorter and where its inputs are padding.
   */
  private void cachedPass(List<DecodingRow> rows, ForwardPass model) {
    int batch = rows.size();
    int pastLength = 0;
    int width = 1;
    for (DecodingRow row : rows) {
      pastLength = Math.max(pastLength, row.cached());
      width = Math.max(width, 1 + row.pendingDraft().length);
    }
    long[] ids = new long[batch * width];
    long[] positions = new long[batch * width];
    long[] mask = new long[batch * (pastLength + width)];
    java.nio.Buffer[] past = new java.nio.Buffer[2 * layout.layers()];
    for (int i = 0; i < past.length; i++) {
      past[i] = model.pastBuffer(i, batch * layout.heads(i) * pastLength * layout.headSize(i), layout.halfPrecision());
    }
    int[] inputs = new int[batch];
    for (int r = 0; r < batch; r++) {
      DecodingRow row = rows.get(r);
      int[] draft = row.pendingDraft();
      inputs[r] = 1 + draft.length;
      int base = r * width;
      int padding = width - inputs[r];
      java.util.Arrays.fill(ids, base, base + padding, pad);
      ids[base + padding] = row.lastToken();
      for (int j = 0; j < draft.length; j++) {
        ids[base + padding + 1 + j] = draft[j];
      }
      for (int j = 0; j < inputs[r]; j++) {
        positions[base + padding + j] = row.cached() + j;
      }
      int maskBase = r * (pastLength + width);
      java.util.Arrays.fill(mask, maskBase + pastLength - row.cached(), maskBase + pastLength, 1L);
      java.util.Arrays.fill(mask, maskBase + pastLength + padding, maskBase + pastLength + width, 1L);
      row.writePast(past, r, pastLength, layout);
    }
    NextTokenScores scores = model.run(new DecodeStep(ids, mask, batch, width, layout, positions, past, pastLength,
        width));
    for (int r = 0; r < batch; r++) {
      rows.get(r).appendPositions(requirePresent(scores), r, width, inputs[r], layout);
      accept(rows.get(r), scores, r);
    }
  }

  private Object[] requirePresent(NextTokenScores scores) {
    if (scores.present() == null || scores.present().length != 2 * layout.layers()) {
      throw new IllegalStateException("the model returned " + (scores.present() == null ? 0 : scores.present().length)
          + " present.N.key/value outputs; its " + layout.layers() + " cache inputs need " + 2 * layout.layers());
    }
    return scores.present();
  }

  /**
   * Takes row {@code r}'s greedy choice at its last scored position; for a row with a draft to
   * check, its choices at the position before each draft token and after the last, in order, while
   * each equals the draft token at its place; then the row sets what its next pass checks
   * ({@link DecodingRow#draftChecked}; see the class comment).
   */
  private void accept(DecodingRow row, NextTokenScores scores, int r) {
    int[] draft = row.pendingDraft();
    int first = r * scores.positions() + scores.positions() - (draft.length + 1);
    int kept = 0;
    int own = -1;
    for (int j = 0; j <= draft.length; j++) {
      int at = first + j;
      TokenDistribution.Choice choice = TokenDistribution.greedy(scores.logits(), at * scores.vocab(), scores.vocab());
      row.accept(choice, ends, scores.hidden(), at * scores.width(), scores.width());
      own = choice.token();
      boolean agrees = j < draft.length && choice.token() == draft[j];
      if (agrees) {
        kept++;
      }
      if (!agrees || row.finished) {
        break;
      }
    }
    if (draft.length > 0) {
      row.draftChecked(kept, own);
    }
  }
}
