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
 * the records to read) and one as it ends (records restored, milliseconds).
 */
final class RestoreLog implements StateRestoreListener {

  private final Consumer<String> log;
  private final LongSupplier nanoTime;
  private final Map<TopicPartition, Long> started = new ConcurrentHashMap<>();

  RestoreLog(Consumer<String> log, LongSupplier nanoTime) {
    this.log = log;
    this.nanoTime = nanoTime;
  }

  @Override
  public void onRestoreStart(TopicPartition partition, String storeName, long startingOffset, long endingOffset) {
    started.put(partition, nanoTime.getAsLong());
    log.accept("learner: restoring store " + storeName + " from " + partition + " (offsets " + startingOffset + " to "
        + endingOffset + ") ...");
  }

  @Override
  public void onBatchRestored(TopicPartition partition, String storeName, long batchEndOffset, long numRestored) {}

  @Override
  public void onRestoreEnd(TopicPartition partition, String storeName, long totalRestored) {
    Long begun = started.remove(partition);
    long ms = begun == null ? 0 : (nanoTime.getAsLong() - begun) / 1_000_000;
    log.accept("learner: restored store " + storeName + " from " + partition + ": " + totalRestored + " records in "
        + ms + " ms");
  }

  @Override
  public void onRestoreSuspended(TopicPartition partition, String storeName, long totalRestored) {
    started.remove(partition);
    log.accept("learner: restoring store " + storeName + " from " + partition + " suspended after " + totalRestored
        + " records (the task moved to another instance)");
  }
}
