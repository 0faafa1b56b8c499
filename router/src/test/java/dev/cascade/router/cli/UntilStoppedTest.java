package dev.cascade.router.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.streams.KafkaStreams.State;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/** How serve and learn end: 0 after their shutdown hook, 3 when Kafka Streams stopped unasked. */
class UntilStoppedTest {

  private static Future<Integer> waiting(UntilStopped until, CompletableFuture<State> unplanned) {
    return Executors.newSingleThreadExecutor(r -> {
      Thread t = new Thread(r);
      t.setDaemon(true);
      return t;
    }).submit(() -> until.await("serve", "the router", unplanned, LoggerFactory.getLogger(UntilStoppedTest.class)));
  }

  @Test
  void anUnplannedStopEndsTheCommandWithStatus3() throws Exception {
    UntilStopped until = new UntilStopped();
    CompletableFuture<State> unplanned = new CompletableFuture<>();
    Future<Integer> code = waiting(until, unplanned);
    Thread.sleep(50);
    assertThat(code).isNotDone();
    unplanned.complete(State.PENDING_ERROR);
    assertThat(code.get(5, TimeUnit.SECONDS)).isEqualTo(3);
  }

  @Test
  void theShutdownHookEndsItWith0() throws Exception {
    UntilStopped until = new UntilStopped();
    Future<Integer> code = waiting(until, new CompletableFuture<>());
    until.stopping();
    until.stopped();
    assertThat(code.get(5, TimeUnit.SECONDS)).isZero();
  }

  @Test
  void aStopDuringTheShutdownHookIsTheHooksDoing() throws Exception {
    UntilStopped until = new UntilStopped();
    CompletableFuture<State> unplanned = new CompletableFuture<>();
    Future<Integer> code = waiting(until, unplanned);
    until.stopping();
    unplanned.complete(State.NOT_RUNNING);
    assertThat(code.get(5, TimeUnit.SECONDS)).isZero();
  }
}
