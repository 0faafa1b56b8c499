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
    RestoreLog log = new RestoreLog(lines::add, nanos::get);
    TopicPartition changelog = new TopicPartition("cascade-learner-learner-examples-changelog", 0);
    log.onRestoreStart(changelog, "learner-examples", 0, 1200);
    log.onBatchRestored(changelog, "learner-examples", 1000, 1000);
    nanos.addAndGet(2_345_000_000L);
    log.onRestoreEnd(changelog, "learner-examples", 1200);
    assertThat(lines).containsExactly(
        "learner: restoring store learner-examples from cascade-learner-learner-examples-changelog-0 (offsets 0 to 1200) ...",
        "learner: restored store learner-examples from cascade-learner-learner-examples-changelog-0: 1200 records in 2345 ms");
  }
}
