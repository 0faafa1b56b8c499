package dev.cascade.router.topology;

import java.time.Duration;
import java.util.function.BooleanSupplier;
import java.util.function.LongConsumer;
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
 */
final class IdleAwarePunctuator {

  private final ProcessorContext<?, ?> context;
  private final Duration interval;
  private final LongConsumer punctuate;
  private final BooleanSupplier idle;
  private Cancellable scheduled;

  /**
   * @param punctuate what runs every {@code interval}, given the wall-clock time
   * @param idle whether the processor has nothing left that needs the punctuator (asked after each
   *     punctuation, on the stream thread)
   */
  IdleAwarePunctuator(ProcessorContext<?, ?> context, Duration interval, LongConsumer punctuate, BooleanSupplier idle) {
    this.context = context;
    this.interval = interval;
    this.punctuate = punctuate;
    this.idle = idle;
  }

  /** Schedules the punctuator unless it is scheduled already. */
  void wake() {
    if (scheduled == null) {
      scheduled = context.schedule(interval, PunctuationType.WALL_CLOCK_TIME, now -> {
        punctuate.accept(now);
        sleepIfIdle();
      });
    }
  }

  /** Cancels the punctuator when the processor is idle; a later {@link #wake()} schedules it again. */
  void sleepIfIdle() {
    if (scheduled != null && idle.getAsBoolean()) {
      scheduled.cancel();
      scheduled = null;
    }
  }

  /** Whether the punctuator is scheduled now. */
  boolean awake() {
    return scheduled != null;
  }
}
