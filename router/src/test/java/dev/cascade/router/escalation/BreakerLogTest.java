package dev.cascade.router.escalation;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.proto.v1.LargeGenerateRequest;
import dev.cascade.proto.v1.LargeGenerateResponse;
import dev.cascade.proto.v1.LargeModelGrpc;
import io.github.resilience4j.circuitbreaker.CallNotPermittedException;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.circuitbreaker.CircuitBreaker.StateTransition;
import io.grpc.Status;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

/**
 * A tier's breaker in the log: one warning when it opens, one line when it closes with how long it
 * was open, the trial rounds between at DEBUG; the last failure it counted, which a refused call's
 * reason names; and what it does not count.
 */
class BreakerLogTest {

  private record Line(BreakerLog.Level level, String text) {}

  /** A large-model server in-process, started, that hands each call's observer to {@code answer}. */
  private static io.grpc.Server largeModel(String name,
      Consumer<StreamObserver<LargeGenerateResponse>> answer) throws IOException {
    return InProcessServerBuilder.forName(name).addService(new LargeModelGrpc.LargeModelImplBase() {
      @Override
      public void generate(LargeGenerateRequest request, StreamObserver<LargeGenerateResponse> out) {
        answer.accept(out);
      }
    }).build().start();
  }

  /** A real client, with a breaker of its own, of the in-process server {@code name}. */
  private static EscalationClient client(String name) {
    return new EscalationClient(InProcessChannelBuilder.forName(name).build(), true,
        new EscalationSettings(4, Duration.ofSeconds(5), 0, Duration.ofMillis(1), 50, Duration.ofSeconds(30), 8));
  }

  private static EscalationSettings settings(boolean failFast) {
    return new EscalationSettings(4, Duration.ofSeconds(5), 0, Duration.ofMillis(1), 50, Duration.ofMillis(1000), 0,
        Duration.ofSeconds(60)).withFailFastWhenOpen(failFast);
  }

  @Test
  void anOutageIsOneWarningWhenItOpensAndOneLineWhenItClosesWithTheTrialRoundsBetweenAtDebug() {
    AtomicLong nanos = new AtomicLong(5_000_000_000L);
    List<Line> lines = new ArrayList<>();
    BreakerLog log = new BreakerLog("large", "127.0.0.1:9", settings(true), nanos::get,
        (level, text) -> lines.add(new Line(level, text)));
    assertThat(log.lastFailure()).isEmpty();
    log.failed(new CompletionException(Status.DEADLINE_EXCEEDED.withDescription("deadline exceeded after 4.99s")
        .asRuntimeException()));
    log.transition(StateTransition.CLOSED_TO_OPEN, 60f, 10);
    assertThat(lines).singleElement().satisfies(l -> {
      assertThat(l.level()).isEqualTo(BreakerLog.Level.WARN);
      assertThat(l.text()).startsWith("tier 'large' (127.0.0.1:9): circuit breaker opened: 60% of its last 10 calls"
          + " failed (the last: StatusRuntimeException: DEADLINE_EXCEEDED: deadline exceeded after 4.99s)")
          .contains("1000 ms (escalation.breaker.open-ms)").contains("3 trial calls")
          .endsWith("answered SMALL_DEGRADED at once while it is open (escalation.fail-fast-when-open)");
    });
    // Three rounds of trial calls that fail, 25 calls refused meanwhile, then one that is answered.
    for (int round = 0; round < 3; round++) {
      for (int i = 0; i < 25 / 3 + (round == 0 ? 1 : 0); i++) {
        log.refused();
      }
      nanos.addAndGet(1_000_000_000L);
      log.transition(StateTransition.OPEN_TO_HALF_OPEN, 0f, 0);
      log.failed(Status.UNAVAILABLE.withDescription("io exception").asRuntimeException());
      log.transition(StateTransition.HALF_OPEN_TO_OPEN, 100f, 3);
    }
    nanos.addAndGet(1_500_000_000L);
    log.transition(StateTransition.OPEN_TO_HALF_OPEN, 0f, 0);
    log.transition(StateTransition.HALF_OPEN_TO_CLOSED, 0f, 3);
    assertThat(lines.stream().filter(l -> l.level() != BreakerLog.Level.DEBUG)).hasSize(2);
    assertThat(lines.stream().filter(l -> l.level() == BreakerLog.Level.DEBUG)).hasSize(7)
        .anySatisfy(l -> assertThat(l.text()).endsWith("trial calls failed (the last: StatusRuntimeException:"
            + " UNAVAILABLE: io exception); open again"));
    assertThat(lines.get(lines.size() - 1)).satisfies(l -> {
      assertThat(l.level()).isEqualTo(BreakerLog.Level.INFO);
      assertThat(l.text()).isEqualTo("tier 'large' (127.0.0.1:9): circuit breaker closed: its trial calls were"
          + " answered, 4500 ms after it opened (3 rounds of trial calls failed before; 25 calls refused meanwhile)");
    });
    assertThat(log.lastFailure()).contains("StatusRuntimeException: UNAVAILABLE: io exception");
  }

  @Test
  void withoutFailFastTheOpeningLineSaysEscalationsWait() {
    List<Line> lines = new ArrayList<>();
    BreakerLog log = new BreakerLog("medium", "m:1", settings(false), () -> 0L,
        (level, text) -> lines.add(new Line(level, text)));
    log.transition(StateTransition.CLOSED_TO_OPEN, 50f, 20);
    assertThat(lines).singleElement().extracting(Line::text).asString()
        .contains("(the last: none)")
        .endsWith("escalations wait for it, parked, up to escalation.max-wait-ms (60000 ms) or their deadline_ms");
    log.transition(StateTransition.CLOSED_TO_FORCED_OPEN, 0f, 0);
    assertThat(lines.get(1)).isEqualTo(new Line(BreakerLog.Level.INFO,
        "tier 'medium' (m:1): circuit breaker: CLOSED -> FORCED_OPEN"));
  }

  @Test
  void aFailureIsDescribedByItsKindAndMessageCutToALength() {
    assertThat(EscalationClient.describe(new ExecutionException(new CompletionException(
        Status.UNAVAILABLE.withDescription("io exception").asRuntimeException()))))
        .isEqualTo("StatusRuntimeException: UNAVAILABLE: io exception");
    assertThat(EscalationClient.describe(CallNotPermittedException.createCallNotPermittedException(
        CircuitBreaker.ofDefaults("large")))).isEqualTo(
            "CallNotPermittedException: CircuitBreaker 'large' is CLOSED and does not permit further calls");
    String longOne = EscalationClient.describe(Status.DEADLINE_EXCEEDED.withDescription("x".repeat(1000))
        .asRuntimeException());
    assertThat(longOne).hasSize(EscalationClient.MAX_FAILURE_CHARS).endsWith("…")
        .startsWith("StatusRuntimeException: DEADLINE_EXCEEDED: xxx");
  }

  @Test
  void aClientsBreakerReportsTheFailuresItCountsAndOpensOnThem() throws Exception {
    // A real client and breaker against an in-process server that fails every call.
    String name = InProcessServerBuilder.generateName();
    io.grpc.Server server = largeModel(name,
        out -> out.onError(Status.UNAVAILABLE.withDescription("model down").asRuntimeException()));
    try (EscalationClient client = client(name)) {
      assertThat(client.lastCountedFailure()).isEmpty();
      for (int i = 0; i < 10; i++) {
        try {
          client.generate("r" + i, "x", 4).get(10, TimeUnit.SECONDS);
        } catch (ExecutionException expected) {
          // counted by the breaker
        }
      }
      assertThat(client.breakerState()).isEqualTo(CircuitBreaker.State.OPEN);
      assertThat(EscalationClient.isOpen(client.breakerState())).isTrue();
      assertThat(client.lastCountedFailure()).contains("StatusRuntimeException: UNAVAILABLE: model down");
      ExecutionException refused = org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class,
          () -> client.generate("r-open", "x", 4).get(10, TimeUnit.SECONDS));
      assertThat(EscalationClient.codeOf(refused)).isEqualTo("CIRCUIT_OPEN");
    } finally {
      server.shutdownNow();
    }
    assertThat(EscalationClient.isOpen(CircuitBreaker.State.HALF_OPEN)).isFalse();
    assertThat(EscalationClient.isOpen(CircuitBreaker.State.CLOSED)).isFalse();
    assertThat(EscalationClient.isOpen(CircuitBreaker.State.FORCED_OPEN)).isTrue();
  }

  @Test
  void trialCallsCutByTheirRequestsDeadlinesNeitherCloseNorOpenTheBreaker() throws Exception {
    // A model that never answers; each call's request gives up after 200 ms, before the call's own deadline.
    String name = InProcessServerBuilder.generateName();
    io.grpc.Server server = largeModel(name, out -> { }); // never answered
    try (EscalationClient client = client(name)) {
      client.breaker().transitionToOpenState();
      client.breaker().transitionToHalfOpenState();
      for (int i = 0; i < 5; i++) {
        ExecutionException cut = org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class,
            () -> client.generate("r", "x", 4, new int[0], null, System.currentTimeMillis() + 200)
                .get(10, TimeUnit.SECONDS));
        assertThat(EscalationClient.isRequestDeadline(cut)).isTrue();
      }
      // Counted as successes, three of them closed the breaker while the model was still down.
      assertThat(client.breakerState()).isEqualTo(CircuitBreaker.State.HALF_OPEN);
      assertThat(client.breaker().getMetrics().getNumberOfSuccessfulCalls()).isZero();
      assertThat(client.breaker().getMetrics().getNumberOfFailedCalls()).isZero();
    } finally {
      server.shutdownNow();
    }
  }
}
