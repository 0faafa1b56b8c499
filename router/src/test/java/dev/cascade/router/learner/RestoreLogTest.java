package dev.cascade.router.learner;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

/** What a restarting learner logs while it restores its stores. */
class RestoreLogTest {

  @Test
  void oneLineWhenAStoreStartsRestoringAndOneWithTheRecordsAndTheTimeWhenItIsDone() {
    List<String> lines = new ArrayList<>();
    AtomicLong nanos = new AtomicLong(5_000_000_000L);
    RestoreLog log = new RestoreLog(lines::add, line -> { }, nanos::get);
    TopicPartition changelog = new TopicPartition("cascade-learner-learner-examples-changelog", 0);
    log.onRestoreStart(changelog, "learner-examples", 0, 1200);
    log.onBatchRestored(changelog, "learner-examples", 1000, 1000);
    nanos.addAndGet(2_345_000_000L);
    log.onRestoreEnd(changelog, "learner-examples", 1200);
    assertThat(lines).containsExactly(
        "learner: restoring store learner-examples from cascade-learner-learner-examples-changelog-0 (offsets 0 to 1200) ...",
        "learner: restored store learner-examples from cascade-learner-learner-examples-changelog-0: 1200 records in 2345 ms");
  }

  @Test
  void aStorePartitionWithNothingToRestoreIsLoggedOnlyAtDebug() {
    List<String> lines = new ArrayList<>();
    List<String> debug = new ArrayList<>();
    RestoreLog log = new RestoreLog(lines::add, debug::add, () -> 0L);
    TopicPartition empty = new TopicPartition("cascade-learner-learner-feedback-changelog", 3);
    TopicPartition markers = new TopicPartition("cascade-learner-learner-outcomes-changelog", 1);
    log.onRestoreStart(empty, "learner-feedback", 0, 0);
    log.onRestoreEnd(empty, "learner-feedback", 0);
    // Offsets to read but no record among them (transaction markers): its start was said, so is its end.
    log.onRestoreStart(markers, "learner-outcomes", 4, 6);
    log.onRestoreEnd(markers, "learner-outcomes", 0);
    assertThat(lines).containsExactly(
        "learner: restoring store learner-outcomes from cascade-learner-learner-outcomes-changelog-1 (offsets 4 to 6) ...",
        "learner: restored store learner-outcomes from cascade-learner-learner-outcomes-changelog-1: 0 records in 0 ms");
    assertThat(debug).hasSize(2).allMatch(l -> l.contains("learner-feedback-changelog-3"));
  }
}
