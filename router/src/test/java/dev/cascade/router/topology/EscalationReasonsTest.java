package dev.cascade.router.topology;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.escalation.EscalationClient;
import dev.cascade.router.routing.RoutingRecords;
import dev.cascade.schemas.avro.Decision;
import dev.cascade.schemas.avro.Escalation;
import dev.cascade.schemas.avro.SkippedTier;
import dev.cascade.schemas.avro.StageLatencies;
import dev.cascade.schemas.avro.TierAnswer;
import io.github.resilience4j.circuitbreaker.CallNotPermittedException;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.grpc.Status;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Test;

/**
 * What the escalator decides and says when a tier fails: whether it degrades at once (its breaker
 * open, escalation.fail-fast-when-open) and the degraded reason, which keeps the first and the last
 * underlying failure, not only that the breaker refused.
 */
class EscalationReasonsTest {

  private static CircuitBreaker breakerIn(CircuitBreaker.State state) {
    CircuitBreaker b = CircuitBreaker.ofDefaults("large");
    switch (state) {
      case OPEN -> b.transitionToOpenState();
      case HALF_OPEN -> {
        b.transitionToOpenState();
        b.transitionToHalfOpenState();
      }
      case FORCED_OPEN -> b.transitionToForcedOpenState();
      default -> { }
    }
    return b;
  }

  @Test
  void failsFastOnlyWhenAskedAndTheBreakerRefusesEveryCallNotWhileItTriesTheModelAgain() {
    for (CircuitBreaker.State state : CircuitBreaker.State.values()) {
      boolean open = state == CircuitBreaker.State.OPEN || state == CircuitBreaker.State.FORCED_OPEN;
      assertThat(EscalationProcessor.failFast(true, state)).as(state.name()).isEqualTo(open);
      assertThat(EscalationProcessor.failFast(false, state)).as(state.name()).isFalse();
    }
  }

  @Test
  void aCallTheBreakerRefusedIsDescribedWithTheLastFailureItCounted() {
    String refused = EscalationProcessor.failure(new CompletionException(
        CallNotPermittedException.createCallNotPermittedException(breakerIn(CircuitBreaker.State.HALF_OPEN))),
        Optional.of("StatusRuntimeException: DEADLINE_EXCEEDED: deadline exceeded after 4.99s"));
    assertThat(refused).isEqualTo("CallNotPermittedException: CircuitBreaker 'large' is HALF_OPEN and does not permit"
        + " further calls (its last counted failure: StatusRuntimeException: DEADLINE_EXCEEDED: deadline exceeded"
        + " after 4.99s)");
    assertThat(EscalationProcessor.failure(CallNotPermittedException.createCallNotPermittedException(
        breakerIn(CircuitBreaker.State.FORCED_OPEN)), Optional.empty())).endsWith("(its last counted failure: none)");
    // Any other failure is its own cause.
    assertThat(EscalationProcessor.failure(Status.UNAVAILABLE.withDescription("io exception").asRuntimeException(),
        Optional.of("ignored"))).isEqualTo("StatusRuntimeException: UNAVAILABLE: io exception");
  }

  @Test
  void theReasonKeepsTheFirstAndTheLastFailureOfItsCalls() {
    String timeout = "StatusRuntimeException: DEADLINE_EXCEEDED: deadline exceeded after 4.99s";
    String halfOpen = "CallNotPermittedException: CircuitBreaker 'large' is HALF_OPEN and does not permit further"
        + " calls (its last counted failure: " + timeout + ")";
    EscalationProcessor.Failures f = new EscalationProcessor.Failures(1, 1_000, timeout, timeout);
    assertThat(EscalationProcessor.unavailable("large", f, 1_250, "its circuit breaker is open"
        + " (escalation.fail-fast-when-open)")).isEqualTo("large unavailable for 250 ms; its circuit breaker is open"
            + " (escalation.fail-fast-when-open) after 1 try: " + timeout);
    for (int i = 0; i < 11; i++) {
      f = f.then(halfOpen);
    }
    assertThat(EscalationProcessor.unavailable("large", f, 30_123, "another try would pass the request's deadline_ms"
        + " (30000 ms after it was created)")).isEqualTo("large unavailable for 29123 ms; another try would pass the"
            + " request's deadline_ms (30000 ms after it was created) after 12 tries: first " + timeout + "; last "
            + halfOpen);
    // The same failure every time is said once.
    EscalationProcessor.Failures same = new EscalationProcessor.Failures(1, 0, timeout, timeout).then(timeout);
    assertThat(EscalationProcessor.unavailable("large", same, 10, "past escalation.max-wait-ms (5)"))
        .endsWith("after 2 tries: " + timeout);
  }

  @Test
  void onlyATierThatCannotBeReachedOrWhoseBreakerRefusesIsSkippable() {
    assertThat(EscalationProcessor.tierUnavailable(EscalationClient.codeOf(CallNotPermittedException
        .createCallNotPermittedException(breakerIn(CircuitBreaker.State.OPEN))))).isTrue();
    assertThat(EscalationProcessor.tierUnavailable(EscalationClient.codeOf(
        Status.UNAVAILABLE.withDescription("Connection refused").asRuntimeException()))).isTrue();
    assertThat(EscalationProcessor.tierUnavailable(EscalationClient.codeOf(new CompletionException(
        Status.UNAVAILABLE.asRuntimeException())))).as("however wrapped").isTrue();
    for (Status.Code up : new Status.Code[] {Status.Code.RESOURCE_EXHAUSTED, Status.Code.DEADLINE_EXCEEDED,
        Status.Code.INTERNAL, Status.Code.INVALID_ARGUMENT, Status.Code.CANCELLED}) {
      assertThat(EscalationProcessor.tierUnavailable(EscalationClient.codeOf(up.toStatus().asRuntimeException())))
          .as(up.name()).isFalse();
    }
  }

  @Test
  void theNextTierIsTheOneAfterTheHighestThatAnsweredOrWasSkipped() {
    Escalation none = escalation(List.of(), List.of());
    assertThat(EscalationProcessor.nextTier(none)).isEqualTo(1);
    assertThat(EscalationProcessor.nextTier(escalation(List.of(1), List.of()))).isEqualTo(2);
    assertThat(EscalationProcessor.nextTier(escalation(List.of(), List.of(1)))).isEqualTo(2);
    assertThat(EscalationProcessor.nextTier(escalation(List.of(1), List.of(2)))).isEqualTo(3);
    assertThat(EscalationProcessor.nextTier(escalation(List.of(2), List.of(1)))).isEqualTo(3);
    assertThat(EscalationProcessor.skippedBefore(escalation(List.of(), List.of(1, 2)).getSkippedTiers()))
        .isEqualTo("skipped before: t1 (breaker_open), t2 (breaker_open)");
  }

  /** An escalation answered by the tiers {@code answered} and past the tiers {@code skipped}. */
  private static Escalation escalation(List<Integer> answered, List<Integer> skipped) {
    return Escalation.newBuilder().setRequestId("r").setPrompt("p").setSmallText("s").setRule("chow-sum").setScore(1)
        .setThreshold(0).setPolicyVersion(0).setDecision(Decision.DEFER).setCreatedAtMs(0)
        .setLatencies(StageLatencies.newBuilder().setQueueMs(0).setSmallModelMs(0).setRuleMs(0).setEscalationMs(0)
            .setTotalMs(0).build())
        .setTierAnswers(answered.stream().map(t -> TierAnswer.newBuilder().setTier(t).setModel("t" + t).setText("a")
            .setDeferred(true).build()).toList())
        .setSkippedTiers(skipped.stream().map(t -> SkippedTier.newBuilder().setTier(t).setModel("t" + t)
            .setCause(RoutingRecords.SKIPPED_BREAKER_OPEN).setReason("down").build()).toList())
        .build();
  }
}
