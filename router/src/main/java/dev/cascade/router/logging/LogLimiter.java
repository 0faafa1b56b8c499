package dev.cascade.router.logging;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * Which occurrences of a repeated event get a log line: per key (a source, a condition), the first
 * {@code burst} occurrences of an interval are written and the rest only counted. The count goes
 * out with the key's next line written, or in a summary from {@link #due} once the interval has
 * passed, so a flood costs at most {@code burst} lines plus one summary per interval and key, and
 * no occurrence goes uncounted. At most {@code maxKeys} keys are followed (the longest idle ones are
 * dropped, then the newest are counted under {@code null}, "the others"). Thread-safe; the clock is
 * injected, so that tests need not sleep.
 *
 * @param <K> what occurrences are counted by
 */
public final class LogLimiter<K> {

  /**
   * An occurrence to write: {@code suppressed} occurrences of its key were counted and not written
   * since its key's last line, which was {@code sinceLastNanos} ago (-1: there was none).
   */
  public record Pass(long suppressed, long sinceLastNanos) {

    /** Seconds since the key's last line, rounded; -1 when there was none. */
    public long sinceLastSeconds() {
      return sinceLastNanos < 0 ? -1 : Math.round(sinceLastNanos / 1e9);
    }
  }

  /** Occurrences of {@code key} (null: keys over the limit) counted over {@code overNanos} and not written. */
  public record Summary<K>(K key, long suppressed, long overNanos) {

    /** {@code overNanos} in seconds, rounded. */
    public long overSeconds() {
      return Math.round(overNanos / 1e9);
    }
  }

  private static final class State {
    long windowStart;
    int written;
    long suppressed;
    long lastWritten = Long.MIN_VALUE;
  }

  private final long intervalNanos;
  private final int burst;
  private final int maxKeys;
  private final LongSupplier nanoTime;
  private final Map<K, State> states = new LinkedHashMap<>(16, 0.75f, true);
  private final State others = new State();

  /**
   * @param interval the span each key's burst is counted over
   * @param burst lines written per key and interval, at least 1
   * @param maxKeys keys followed at once, at least 1
   * @param nanoTime the clock, {@link System#nanoTime} outside tests
   */
  public LogLimiter(Duration interval, int burst, int maxKeys, LongSupplier nanoTime) {
    if (burst < 1 || maxKeys < 1 || interval.isNegative() || interval.isZero()) {
      throw new IllegalArgumentException("burst and maxKeys must be at least 1 and the interval positive");
    }
    this.intervalNanos = interval.toNanos();
    this.burst = burst;
    this.maxKeys = maxKeys;
    this.nanoTime = nanoTime;
  }

  /** At most one line per interval: the first occurrence, then the first after each interval. */
  public static <K> LogLimiter<K> oncePer(Duration interval) {
    return new LogLimiter<>(interval, 1, 1024, System::nanoTime);
  }

  /** The interval, as given. */
  public Duration interval() {
    return Duration.ofNanos(intervalNanos);
  }

  /** Lines per key and interval, as given. */
  public int burst() {
    return burst;
  }

  /**
   * One occurrence of {@code key}: a {@link Pass} when it is to be written, null when it is only
   * counted.
   */
  public synchronized Pass admit(K key) {
    long now = nanoTime.getAsLong();
    State s = state(key, now);
    if (s == others) {
      if (others.suppressed++ == 0) {
        others.windowStart = now;
      }
      return null;
    }
    if (s.written > 0 && now - s.windowStart >= intervalNanos) {
      s.written = 0;
    }
    if (s.written >= burst) {
      s.suppressed++;
      return null;
    }
    if (s.written == 0) {
      s.windowStart = now;
    }
    s.written++;
    Pass pass = new Pass(s.suppressed, s.lastWritten == Long.MIN_VALUE ? -1 : now - s.lastWritten);
    s.suppressed = 0;
    s.lastWritten = now;
    return pass;
  }

  /**
   * The summaries due: every key with occurrences counted and not written whose interval has
   * passed. Each summary counts as that key's line (its next interval starts with it). Keys with
   * nothing counted and their interval passed are forgotten. Call it now and then (each
   * occurrence, a periodic task), so that a flood that stops is still summed up.
   */
  public synchronized List<Summary<K>> due() {
    long now = nanoTime.getAsLong();
    List<Summary<K>> due = new ArrayList<>();
    for (Iterator<Map.Entry<K, State>> i = states.entrySet().iterator(); i.hasNext(); ) {
      Map.Entry<K, State> e = i.next();
      State s = e.getValue();
      if (now - s.windowStart < intervalNanos) {
        continue;
      }
      if (s.suppressed == 0) {
        i.remove();
      } else {
        due.add(summarise(e.getKey(), s, now));
      }
    }
    if (others.suppressed > 0 && now - others.windowStart >= intervalNanos) {
      due.add(summarise(null, others, now));
    }
    return due;
  }

  private Summary<K> summarise(K key, State s, long now) {
    Summary<K> summary = new Summary<>(key, s.suppressed,
        now - (s.lastWritten == Long.MIN_VALUE ? s.windowStart : s.lastWritten));
    s.suppressed = 0;
    s.windowStart = now;
    s.written = burst;
    s.lastWritten = now;
    return summary;
  }

  private State state(K key, long now) {
    State s = states.get(key);
    if (s != null) {
      return s;
    }
    if (states.size() >= maxKeys) {
      // Least recently seen first: drop one whose interval has passed with nothing counted.
      Iterator<Map.Entry<K, State>> i = states.entrySet().iterator();
      Map.Entry<K, State> eldest = i.next();
      if (eldest.getValue().suppressed == 0 && now - eldest.getValue().windowStart >= intervalNanos) {
        i.remove();
      } else {
        return others; // never written one by one: summed up by due()
      }
    }
    s = new State();
    states.put(key, s);
    return s;
  }
}
