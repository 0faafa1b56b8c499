package dev.cascade.router.routing;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * How long the small model has recently taken to generate a batch, per token limit: the median of
 * the last {@link #WINDOW} batch generation times of that limit (decoding alone: not the wait for
 * the batch, the cache or the rule). {@link ExpiredRequests} sheds a request whose remaining time is
 * shorter than this. No estimate until {@link #MIN_SAMPLES} batches of the limit have run, so that
 * the first batches (model warm-up, a cold JIT) shed nothing. One per router process, shared by its
 * stream tasks' {@link SmallModelRouter}s as they share the small model; thread-safe, as the tasks'
 * batches in flight run at once, each timed with the others beside it, as its requests wait.
 */
public final class GenerationTimes {

  /** Batches per token limit the median is taken over. */
  public static final int WINDOW = 32;
  /** Batches of a token limit needed before there is an estimate. */
  public static final int MIN_SAMPLES = 5;

  private static final class Window {
    final double[] ms = new double[WINDOW];
    int count;
    int next;
  }

  private final Map<Integer, Window> byLimit = new HashMap<>();

  /** A batch with token limit {@code limit} took {@code ms} to generate. */
  public synchronized void record(int limit, double ms) {
    if (!(ms >= 0)) {
      return; // NaN or negative: a clock that went back, not a time
    }
    Window w = byLimit.computeIfAbsent(limit, k -> new Window());
    w.ms[w.next] = ms;
    w.next = (w.next + 1) % WINDOW;
    w.count = Math.min(w.count + 1, WINDOW);
  }

  /**
   * The median of the recent generation times of token limit {@code limit}, in ms (of an even
   * count, the lower middle one); NaN until {@link #MIN_SAMPLES} batches of it were recorded.
   */
  public synchronized double medianMs(int limit) {
    Window w = byLimit.get(limit);
    if (w == null || w.count < MIN_SAMPLES) {
      return Double.NaN;
    }
    double[] sorted = Arrays.copyOf(w.ms, w.count);
    Arrays.sort(sorted);
    return sorted[(w.count - 1) / 2];
  }

  /** Batches of token limit {@code limit} the median is taken over now (at most {@link #WINDOW}). */
  public synchronized int samples(int limit) {
    Window w = byLimit.get(limit);
    return w == null ? 0 : w.count;
  }
}
