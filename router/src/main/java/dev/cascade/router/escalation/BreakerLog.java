package dev.cascade.router.escalation;

import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * What a tier's circuit breaker says in the log: one line when it opens (an outage begins, WARN)
 * and one when it closes again (it ended, INFO, with how long it lasted); the rounds of trial calls
 * in between (OPEN to HALF_OPEN, and back to OPEN when they fail, every {@code
 * escalation.breaker.open-ms} or so) are DEBUG, summed up in the closing line. It also keeps the
 * last failure the breaker counted, which the reason of a call it refused names (the refusal
 * itself says only that the breaker is open). Fed by the breaker's event publisher; thread-safe.
 */
final class BreakerLog {

  /** A line's level. */
  enum Level { WARN, INFO, DEBUG }

  /** Where lines go (a logger, or a test's list). */
  interface Sink {
    void log(Level level, String line);
  }

  private final String subject;
  private final EscalationSettings settings;
  private final LongSupplier nanoTime;
  private final Sink sink;
  private final AtomicLong refused = new AtomicLong();
  private volatile String lastFailure;
  private long openedAtNanos;
  private int failedTrialRounds;
  private long refusedAtOpen;

  /**
   * @param tier the tier's name, as its metrics label it
   * @param target where it is called, for the lines
   */
  BreakerLog(String tier, String target, EscalationSettings settings, LongSupplier nanoTime, Sink sink) {
    this.subject = "tier '" + tier + "' (" + target + "): circuit breaker";
    this.settings = settings;
    this.nanoTime = nanoTime;
    this.sink = sink;
  }

  /** A failure the breaker counted (published before the state change it may cause). */
  void failed(Throwable error) {
    lastFailure = EscalationClient.describe(error);
  }

  /** A call the breaker refused. */
  void refused() {
    refused.incrementAndGet();
  }

  /** The last failure the breaker counted, described ({@link EscalationClient#describe}); empty: none yet. */
  Optional<String> lastFailure() {
    return Optional.ofNullable(lastFailure);
  }

  /**
   * The breaker changed state.
   *
   * @param failureRatePercent its failure rate over the calls it has recorded when it changed
   * @param recordedCalls how many calls that rate is over
   */
  void transition(CircuitBreaker.StateTransition t, float failureRatePercent, int recordedCalls) {
    Level level;
    String line;
    synchronized (this) {
      long now = nanoTime.getAsLong();
      CircuitBreaker.State from = t.getFromState();
      CircuitBreaker.State to = t.getToState();
      if (from == CircuitBreaker.State.CLOSED && to == CircuitBreaker.State.OPEN) {
        openedAtNanos = now;
        failedTrialRounds = 0;
        refusedAtOpen = refused.get();
        level = Level.WARN;
        line = String.format(Locale.ROOT, "%s opened: %.0f%% of its last %d calls failed (the last: %s); it refuses"
            + " calls for %d ms (escalation.breaker.open-ms), then lets %d trial calls through, until they are"
            + " answered; meanwhile %s", subject, failureRatePercent, recordedCalls, lastFailure().orElse("none"),
            settings.breakerOpen().toMillis(), EscalationClient.TRIAL_CALLS, settings.failFastWhenOpen()
                ? (settings.skipUnavailableTiers() ? "escalations are sent on to the next tier (if it is a middle"
                    + " tier: escalation.skip-unavailable-tiers) or else " : "escalations are ")
                    + "answered SMALL_DEGRADED at once while it is open (escalation.fail-fast-when-open)"
                : "escalations wait for it, parked, up to escalation.max-wait-ms (" + settings.maxWait().toMillis()
                    + " ms) or their deadline_ms");
      } else if (from == CircuitBreaker.State.HALF_OPEN && to == CircuitBreaker.State.CLOSED) {
        level = Level.INFO;
        line = String.format(Locale.ROOT, "%s closed: its trial calls were answered, %d ms after it opened (%d %s of"
            + " trial calls failed before; %d calls refused meanwhile)", subject, (now - openedAtNanos) / 1_000_000,
            failedTrialRounds, failedTrialRounds == 1 ? "round" : "rounds", refused.get() - refusedAtOpen);
      } else if (from == CircuitBreaker.State.HALF_OPEN && to == CircuitBreaker.State.OPEN) {
        failedTrialRounds++;
        level = Level.DEBUG;
        line = subject + ": trial calls failed (the last: " + lastFailure().orElse("none") + "); open again";
      } else if (from == CircuitBreaker.State.OPEN && to == CircuitBreaker.State.HALF_OPEN) {
        level = Level.DEBUG;
        line = subject + ": half-open, letting " + EscalationClient.TRIAL_CALLS + " trial calls through";
      } else {
        level = Level.INFO;
        line = subject + ": " + from + " -> " + to;
      }
    }
    sink.log(level, line);
  }
}
