package dev.cascade.router.learner;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;
import java.util.function.LongSupplier;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.streams.processor.StateRestoreListener;

/**
 * Says what a (re)starting learner does while it restores its stores from their changelogs, which
 * after a {@code kill -9} can take tens of seconds: one line per store partition as it starts (with
 * the records to read) and one as it ends (records restored, milliseconds). A store partition with
 * nothing to restore (its changelog empty, or read to its end already: most of them on a fresh
 * start) gets both lines at DEBUG, so that they do not bury the ones that take time.
 */
final class RestoreLog implements StateRestoreListener {

  private final Consumer<String> log;
  private final Consumer<String> debug;
  private final LongSupplier nanoTime;
  private final Map<TopicPartition, Long> started = new ConcurrentHashMap<>();
  /** The partitions being restored that had nothing to restore when they started. */
  private final java.util.Set<TopicPartition> empty = ConcurrentHashMap.newKeySet();

  /**
   * @param log where the lines go (INFO)
   * @param debug where those about partitions with nothing to restore go (DEBUG)
   */
  RestoreLog(Consumer<String> log, Consumer<String> debug, LongSupplier nanoTime) {
    this.log = log;
    this.debug = debug;
    this.nanoTime = nanoTime;
  }

  @Override
  public void onRestoreStart(TopicPartition partition, String storeName, long startingOffset, long endingOffset) {
    started.put(partition, nanoTime.getAsLong());
    boolean nothing = endingOffset <= startingOffset;
    if (nothing) {
      empty.add(partition);
    } else {
      empty.remove(partition);
    }
    (nothing ? debug : log).accept("learner: restoring store " + storeName + " from " + partition + " (offsets " + startingOffset + " to "
        + endingOffset + ") ...");
  }

  @Override
  public void onBatchRestored(TopicPartition partition, String storeName, long batchEndOffset, long numRestored) {}

  @Override
  public void onRestoreEnd(TopicPartition partition, String storeName, long totalRestored) {
    Long begun = started.remove(partition);
    long ms = begun == null ? 0 : (nanoTime.getAsLong() - begun) / 1_000_000;
    (empty.remove(partition) && totalRestored == 0 ? debug : log).accept("learner: restored store " + storeName + " from " + partition + ": " + totalRestored + " records in "
        + ms + " ms");
  }

  @Override
  public void onRestoreSuspended(TopicPartition partition, String storeName, long totalRestored) {
    started.remove(partition);
    empty.remove(partition);
    log.accept("learner: restoring store " + storeName + " from " + partition + " suspended after " + totalRestored
        + " records (the task moved to another instance)");
  }
}
