package dev.cascade.router.topology;

import java.time.Duration;
import java.util.function.BooleanSupplier;
import java.util.function.LongConsumer;
import java.util.function.LongFunction;
import org.apache.kafka.streams.processor.Cancellable;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.ProcessorContext;

/**
 * A wall-clock punctuator that is scheduled only while its processor has work, and cancelled once
 * it has none.
 *
 * <p>Kafka Streams marks a task as needing a commit after every punctuation, whatever the
 * punctuator did. Under exactly-once that commit is a transaction (its offsets, markers on every
 * partition it wrote). A punctuator that ran every few milliseconds on an idle router made each
 * task commit a transaction every {@code commit.interval.ms}: about nine a second per instance on
 * the embedded default with nothing to route, and a tenth of a core of CPU between the router and
 * the broker. With this, an idle task neither punctuates nor commits; the first record that brings
 * work schedules the punctuator again ({@link #wake()}).
 *
 * <p>A processor whose only pending work is due at a known time (the learner's retraining after
 * {@code learn.retrain-every-ms}) gives a cadence instead: after each punctuation, and whenever it
 * calls {@link #refresh(long)}, the cadence says how long until the punctuator is needed next
 * (the busy interval, a longer wait, or {@code null}: not at all).
 *
 * <p>Where the application has a {@link PollPacer}, a punctuator scheduled at an interval shorter
 * than the pacer's idle poll keeps the stream threads' polls short until it is cancelled or
 * {@link #release() released}, so that it runs on time.
 */
public final class IdleAwarePunctuator {

  private final ProcessorContext<?, ?> context;
  private final Duration interval;
  private final LongConsumer punctuate;
  private final LongFunction<Duration> cadence;
  private final PollPacer pacer;
  private Cancellable scheduled;
  private Duration scheduledEvery;
  /** Whether this punctuator has told the pacer it is busy. */
  private boolean pacing;

  /**
   * @param interval how often it punctuates while the processor has work
   * @param punctuate what runs every {@code interval}, given the wall-clock time
   * @param idle whether the processor has nothing left that needs the punctuator (asked after each
   *     punctuation, on the stream thread)
   */
  public IdleAwarePunctuator(ProcessorContext<?, ?> context, Duration interval, LongConsumer punctuate,
      BooleanSupplier idle) {
    this(context, interval, punctuate, now -> idle.getAsBoolean() ? null : interval);
  }

  /**
   * @param interval how often it punctuates while the processor has work; {@link #wake()} schedules it so
   * @param punctuate what runs, given the wall-clock time
   * @param cadence given the wall-clock time, the wait until the punctuator is needed next: {@code interval}
   *     while busy, a longer wait when the next work is due later (kept once scheduled, so it must be
   *     the wait until one fixed time), or {@code null} when nothing is pending
   */
  public IdleAwarePunctuator(ProcessorContext<?, ?> context, Duration interval, LongConsumer punctuate,
      LongFunction<Duration> cadence) {
    this.context = context;
    this.interval = interval;
    this.punctuate = punctuate;
    this.cadence = cadence;
    this.pacer = PollPacer.of(context.appConfigs());
  }

  /** Schedules the punctuator at the busy interval unless it is scheduled so already. */
  public void wake() {
    schedule(interval);
  }

  /**
   * Schedules, reschedules or cancels the punctuator as the cadence now says: an idle processor's is
   * cancelled, and a later {@link #wake()} schedules it again.
   */
  public void refresh(long now) {
    Duration next = cadence.apply(now);
    if (next == null) {
      cancel();
    } else {
      schedule(next.compareTo(interval) < 0 ? interval : next);
    }
  }

  /**
   * Tells the pacer this punctuator no longer needs short polls, for a processor that closes (its
   * task's punctuators go with the task) with work still pending.
   */
  public void release() {
    pace(false);
  }

  /** Whether the punctuator is scheduled now. */
  boolean awake() {
    return scheduled != null;
  }

  /** The interval it is scheduled at, or null when it is not. */
  Duration every() {
    return scheduledEvery;
  }

  private void schedule(Duration every) {
    if (scheduled != null) {
      boolean same = every.equals(scheduledEvery);
      // A longer wait already scheduled was computed for the same due time: keep it.
      boolean bothWaits = every.compareTo(interval) > 0 && scheduledEvery.compareTo(interval) > 0;
      if (same || bothWaits) {
        return;
      }
      cancel();
    }
    scheduledEvery = every;
    pace(pacer != null && every.compareTo(pacer.idlePoll()) < 0);
    scheduled = context.schedule(every, PunctuationType.WALL_CLOCK_TIME, now -> {
      punctuate.accept(now);
      refresh(now);
    });
  }

  private void cancel() {
    if (scheduled != null) {
      scheduled.cancel();
      scheduled = null;
      scheduledEvery = null;
    }
    pace(false);
  }

  private void pace(boolean busy) {
    if (pacer == null || busy == pacing) {
      return;
    }
    pacing = busy;
    if (busy) {
      pacer.busy();
    } else {
      pacer.done();
    }
  }
}
