package dev.cascade.router;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import org.apache.kafka.streams.KafkaStreams.State;
import org.junit.jupiter.api.Test;

/** Which Kafka Streams state changes end {@code serve} and {@code learn} (exit 3), and which do not. */
class StreamsFateTest {

  @Test
  void everyStateButCreatedRebalancingAndRunningIsAStopWhenNoCloseAskedForIt() {
    assertThat(Arrays.stream(State.values()).filter(s -> StreamsFate.isUnplannedStop(s, false)))
        .containsExactlyInAnyOrder(State.PENDING_SHUTDOWN, State.NOT_RUNNING, State.PENDING_ERROR, State.ERROR);
    assertThat(Arrays.stream(State.values()).filter(s -> StreamsFate.isUnplannedStop(s, true))).isEmpty();
  }

  @Test
  void aDeadGlobalThreadsCloseToErrorIsReportedWithItsFirstState() {
    StreamsFate fate = new StreamsFate();
    CompletableFuture<State> stop = fate.unplannedStop();
    fate.onChange(State.REBALANCING, State.CREATED);
    fate.onChange(State.RUNNING, State.REBALANCING);
    fate.onChange(State.REBALANCING, State.RUNNING); // a rebalance, or a stream thread being replaced
    fate.onChange(State.RUNNING, State.REBALANCING);
    assertThat(stop).isNotDone();
    // What KafkaStreams does when the global thread dies: closeToError().
    fate.onChange(State.PENDING_ERROR, State.RUNNING);
    fate.onChange(State.ERROR, State.PENDING_ERROR);
    assertThat(stop).isCompletedWithValue(State.PENDING_ERROR);
    assertThat(fate.unplannedStop()).isCompletedWithValue(State.PENDING_ERROR);
  }

  @Test
  void aStopWithoutErrorNobodyAskedForCountsToo() {
    StreamsFate fate = new StreamsFate();
    fate.onChange(State.RUNNING, State.REBALANCING);
    fate.onChange(State.PENDING_SHUTDOWN, State.RUNNING);
    assertThat(fate.unplannedStop()).isCompletedWithValue(State.PENDING_SHUTDOWN);
  }

  @Test
  void aCloseAskedForIsNoUnplannedStopAndNeitherIsAnErrorAfterIt() {
    StreamsFate fate = new StreamsFate();
    fate.onChange(State.RUNNING, State.REBALANCING);
    fate.closing();
    fate.onChange(State.PENDING_SHUTDOWN, State.RUNNING);
    fate.onChange(State.NOT_RUNNING, State.PENDING_SHUTDOWN);
    fate.onChange(State.ERROR, State.NOT_RUNNING);
    assertThat(fate.unplannedStop()).isNotDone();
  }

  @Test
  void callersCannotCompleteTheStopForOthers() {
    StreamsFate fate = new StreamsFate();
    fate.unplannedStop().complete(State.ERROR);
    assertThat(fate.unplannedStop()).isNotDone();
  }
}
