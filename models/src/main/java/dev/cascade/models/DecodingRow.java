package dev.cascade.models;

import java.util.Arrays;

/**
 * One sequence being decoded: its prefix (prompt and separator), what has been generated so far,
 * and, for a model with a key/value cache, the keys and values of every position but the last.
 *
 * <p>A row may carry a draft of what follows (another model's tokens): its next forward pass then
 * runs over them too, and {@link GreedyDecoder} keeps the draft's longest prefix that equals the
 * row's own greedy choices. The cache of that pass holds the draft's positions as well; those past
 * the kept prefix are simply not counted ({@link #cached()} follows the row's length) and are
 * overwritten as the row goes on.
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
  /** This row's early-stop check, told each token; null for none, or once it has thrown. */
  private TextGenerator.EarlyStop.Check stopCheck;
  /** Set when the row produced end-of-sequence, reached its limit or was stopped early. */
  boolean finished;
  /** Set when {@link #stopCheck} ended the row. */
  private boolean stoppedEarly;
  /**
   * Per cache tensor, [heads][capacity][head_size], a {@code float[]} or, for a 16-bit cache, a
   * {@code short[]} ({@link NextTokenScores#present()}); null before the row's first forward pass.
   */
  private Object[] cache;
  /** The draft as the row got it; what the row checks next is a stretch of it from {@link #from}. */
  private final int[] draft;
  /** Where in {@link #draft} the next check starts; {@code draft.length} when nothing is left. */
  private int from;
  /** How the check's size changes from pass to pass. */
  private final DraftWindow windows;
  /** The most draft tokens the next check holds ({@link #draftChecked}). */
  private int window;
  /** What the next pass checks: up to {@link #window} tokens of the draft from {@link #from}. */
  private int[] pending;
  /** How many draft tokens the row kept, over all its passes. */
  private int draftAccepted;

  DecodingRow(long[] prefix, int limit) {
    this(prefix, limit, new int[0], TextGenerator.EarlyStop.NEVER, DraftWindow.DEFAULT);
  }

  /** A row whose first forward pass checks {@code draft} (at most {@code limit} tokens). */
  DecodingRow(long[] prefix, int limit, int[] draft) {
    this(prefix, limit, draft, TextGenerator.EarlyStop.NEVER, DraftWindow.DEFAULT);
  }

  DecodingRow(long[] prefix, int limit, TextGenerator.EarlyStop earlyStop) {
    this(prefix, limit, new int[0], earlyStop, DraftWindow.DEFAULT);
  }

  /**
   * A row checking {@code draft} first, {@code windows} saying how much of it each pass holds, and
   * telling a check of its own from {@code earlyStop} each token it keeps (a {@code newCheck} that
   * throws leaves the row unchecked).
   */
  DecodingRow(long[] prefix, int limit, int[] draft, TextGenerator.EarlyStop earlyStop, DraftWindow windows) {
    if (draft.length > Math.max(0, limit)) {
      throw new IllegalArgumentException("draft: " + draft.length + " tokens is over the row's limit of " + limit);
    }
    this.prefix = prefix;
    this.draft = draft;
    this.windows = windows;
    this.window = windows.first();
    this.stopCheck = earlyStop == TextGenerator.EarlyStop.NEVER ? null : newCheck(earlyStop);
    this.limit = Math.max(0, limit);
    this.tokens = new int[this.limit];
    this.logprobs = new float[this.limit];
    this.entropies = new float[this.limit];
    this.finished = this.limit == 0;
    updatePending();
  }

  int length() {
    return prefix.length + generated;
  }

  /** Positions the row's next full pass runs over: its length and the draft it checks. */
  int inputLength() {
    return length() + pendingDraft().length;
  }

  /** The draft tokens the row's next pass checks; empty when none are left. */
  int[] pendingDraft() {
    return pending;
  }

  /**
   * Marks the draft checked: the pass kept {@code accepted} tokens of {@link #pendingDraft()} and
   * then chose {@code own} (its own token where the draft had another, or the one after the whole
   * check). The next check goes on past {@code own} when that was the draft's next token,
   * {@link #resume}s after a disagreement, and there is none once the whole draft was kept. Its
   * window grows or shrinks as {@link DraftWindow} says. Call after the pass's tokens are
   * accepted.
   */
  void draftChecked(int accepted, int own) {
    int checked = pending.length;
    int at = from + accepted;
    boolean goesOn = !finished && accepted == checked && at < draft.length && draft[at] == own;
    draftAccepted += goesOn ? accepted + 1 : accepted;
    if (goesOn) {
      from = at + 1;
    } else {
      from = finished || at >= draft.length ? draft.length : resume(draft, own, generated, at + 1);
    }
    window = windows.next(window, checked, accepted);
    updatePending();
  }

  /**
   * Where a draft goes on once the row chose {@code own} where the draft had another token: just
   * past the occurrence of {@code own} in the draft nearest to the row's place ({@code length}
   * tokens generated, {@code own} the last of them; the earlier one on a tie), as a draft from a
   * smaller model in the same vocabulary usually goes wrong at one token and right again after it,
   * or dropped or added one. Without one, past the token {@code own} replaced ({@code otherwise}).
   * Only a guess: the next check keeps of it only what the row's own greedy choices agree with.
   */
  static int resume(int[] draft, int own, int length, int otherwise) {
    int best = -1;
    for (int j = 1; j <= draft.length; j++) {
      if (draft[j - 1] == own && (best < 0 || Math.abs(j - length) < Math.abs(best - length))) {
        best = j;
      }
    }
    return best < 0 ? Math.min(otherwise, draft.length) : best;
  }

  /** Sets what the next check holds: the window from {@link #from}, cut to what the limit leaves. */
  private void updatePending() {
    int room = finished ? 0 : limit - generated;
    int count = Math.max(0, Math.min(Math.min(window, room), draft.length - from));
    pending = count == draft.length ? draft : Arrays.copyOfRange(draft, from, from + count);
  }

  /** The most positions this row can hold: its prefix and its token limit. */
  int capacity() {
    return prefix.length + limit;
  }

  /** Bytes this row's cache takes at its largest. */
  long cacheBytes(CacheLayout layout) {
    return capacity() * layout.bytesPerPosition();
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
   * Keeps the cache of a prefill pass: row {@code r} of {@code present} ([rows, heads,
   * {@code stepLength}, head_size] per tensor, each tensor's own heads and head size), whose last {@link #inputLength()} positions are this
   * row's prefix and draft (the rest is left padding). Call before the pass's tokens are accepted.
   */
  void storePrefix(Object[] present, int r, int stepLength, CacheLayout layout) {
    int positions = inputLength();
    int cap = capacity();
    cache = new Object[present.length];
    for (int i = 0; i < present.length; i++) {
      int heads = layout.heads(i);
      int size = layout.headSize(i);
      Object mine = present[i] instanceof short[] ? new short[heads * cap * size] : new float[heads * cap * size];
      for (int h = 0; h < heads; h++) {
        System.arraycopy(present[i], ((r * heads + h) * stepLength + stepLength - positions) * size,
            mine, h * cap * size, positions * size);
      }
      cache[i] = mine;
    }
  }

  /**
   * Appends the {@code count} new positions of row {@code r} of a cached step's {@code present}
   * ([rows, heads, {@code stepLength}, head_size] per tensor; the row's inputs are its last
   * {@code count} positions): the last generated token's and those of the draft it checked. Call
   * before the step's tokens are accepted.
   */
  void appendPositions(Object[] present, int r, int stepLength, int count, CacheLayout layout) {
    int cap = capacity();
    int at = cached();
    for (int i = 0; i < present.length; i++) {
      int heads = layout.heads(i);
      int size = layout.headSize(i);
      for (int h = 0; h < heads; h++) {
        System.arraycopy(present[i], ((r * heads + h) * stepLength + stepLength - count) * size, cache[i],
            (h * cap + at) * size, count * size);
      }
    }
  }

  /**
   * Writes this row's cache, right-aligned, into row {@code r} of {@code past} ([rows, heads,
   * pastLength, head_size], from index 0), and zeros before it where a longer row's past lies.
   */
  void writePast(java.nio.Buffer[] past, int r, int pastLength, CacheLayout layout) {
    int cap = capacity();
    int cached = cached();
    for (int i = 0; i < past.length; i++) {
      int heads = layout.heads(i);
      int size = layout.headSize(i);
      int padding = (pastLength - cached) * size;
      if (cache[i] instanceof short[] mine) {
        java.nio.ShortBuffer to = ((java.nio.ByteBuffer) past[i]).asShortBuffer();
        for (int h = 0; h < heads; h++) {
          int at = (r * heads + h) * pastLength * size;
          for (int z = 0; z < padding; z += SHORT_ZEROS.length) {
            to.put(at + z, SHORT_ZEROS, 0, Math.min(SHORT_ZEROS.length, padding - z));
          }
          to.put(at + padding, mine, h * cap * size, cached * size);
        }
      } else {
        float[] mine = (float[]) cache[i];
        java.nio.FloatBuffer to = (java.nio.FloatBuffer) past[i];
        for (int h = 0; h < heads; h++) {
          int at = (r * heads + h) * pastLength * size;
          for (int z = 0; z < padding; z += ZEROS.length) {
            to.put(at + z, ZEROS, 0, Math.min(ZEROS.length, padding - z));
          }
          to.put(at + padding, mine, h * cap * size, cached * size);
        }
      }
    }
  }

  /** Zeros to write the padding of a past from (buffers handed out again keep the last step's values). */
  private static final float[] ZEROS = new float[1024];
  /** The same for a 16-bit past (0 is +0.0 in float16 and bfloat16 alike). */
  private static final short[] SHORT_ZEROS = new short[1024];

  /** Drops the cache (the row is finished or abandoned). */
  void releaseCache() {
    cache = null;
  }

  /** Writes this row and the draft it checks, left-padded, into row {@code r} of a {@code length}-wide batch. */
  void fill(long[] ids, long[] mask, int r, int length, long pad) {
    int padding = length - inputLength();
    int base = r * length;
    Arrays.fill(ids, base, base + padding, pad);
    System.arraycopy(prefix, 0, ids, base + padding, prefix.length);
    for (int t = 0; t < generated; t++) {
      ids[base + padding + prefix.length + t] = tokens[t];
    }
    int[] checked = pendingDraft();
    for (int t = 0; t < checked.length; t++) {
      ids[base + padding + length() + t] = checked[t];
    }
    Arrays.fill(mask, base, base + padding, 0L);
    Arrays.fill(mask, base + padding, base + length, 1L);
  }

  /** Whether {@code token} is one of {@code ends}, the tokens that end an answer. */
  static boolean isEnd(long token, long[] ends) {
    for (long end : ends) {
      if (token == end) {
        return true;
      }
    }
    return false;
  }

  /**
   * Takes one step's result; marks the row finished at end-of-sequence, at its limit, or when the
   * early-stop condition says so.
   */
  void accept(TokenDistribution.Choice choice, long[] ends, float[] hidden, int hiddenOffset, int width) {
    if (hidden != null) {
      if (hiddenSum == null) {
        hiddenSum = new double[width];
      }
      for (int i = 0; i < width; i++) {
        hiddenSum[i] += hidden[hiddenOffset + i];
      }
      hiddenSteps++;
    }
    if (isEnd(choice.token(), ends)) {
      finished = true;
    } else {
      tokens[generated] = choice.token();
      logprobs[generated] = choice.logprob();
      entropies[generated] = choice.entropy();
      generated++;
      finished = generated >= limit;
      if (!finished && stopCheck != null && askEarlyStop(choice.logprob(), choice.entropy())) {
        finished = true;
        stoppedEarly = true;
      }
    }
    if (finished) {
      releaseCache();
    }
  }

  private static TextGenerator.EarlyStop.Check newCheck(TextGenerator.EarlyStop earlyStop) {
    try {
      return earlyStop.newCheck();
    } catch (RuntimeException e) {
      return null;
    }
  }

  /** Tells the check the token just kept; one that throws is dropped, as it may have counted half of it. */
  private boolean askEarlyStop(float logprob, float entropy) {
    try {
      return stopCheck.afterToken(logprob, entropy);
    } catch (RuntimeException e) {
      stopCheck = null;
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
        Arrays.copyOf(entropies, generated), embedding, draftAccepted, stoppedEarly);
  }
}
