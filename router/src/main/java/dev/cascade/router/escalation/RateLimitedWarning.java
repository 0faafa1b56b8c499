package dev.cascade.router.escalation;

import dev.cascade.router.logging.LogLimiter;
import java.time.Duration;
import java.util.function.Consumer;
import java.util.function.LongSupplier;

/**
 * A warning about a tier's repeated failures (requests it degraded, failed askings of its limits),
 * written at most once per interval: the
 * first occurrence is written at once, and the occurrences within the interval after a line are
 * counted and written, with the latest reason, by the first occurrence after it. Thread-safe.
 */
final class RateLimitedWarning {

  private final LogLimiter<String> limiter;
  private final Consumer<String> sink;
  private final String subject;
  private final String one;
  private final String many;
  private final String happened;

  /**
   * @param subject what failed, e.g. the tier's name, at the head of each line
   * @param sink takes each line (a logger's warn, say)
   */
  RateLimitedWarning(String subject, Duration interval, LongSupplier nanoTime, Consumer<String> sink) {
    this(subject, "request", "requests", "degraded", interval, nanoTime, sink);
  }

  /**
   * As above, for events other than degraded requests: each line says "SUBJECT: N {@code many}
   * {@code happened}" ({@code one} when N is 1), e.g. "large: 3 attempts to ask … failed".
   */
  RateLimitedWarning(String subject, String one, String many, String happened, Duration interval,
      LongSupplier nanoTime, Consumer<String> sink) {
    this.subject = subject;
    this.one = one;
    this.many = many;
    this.happened = happened;
    this.limiter = new LogLimiter<>(interval, 1, 1, nanoTime);
    this.sink = sink;
  }

  /** One more degraded request, for {@code reason}; writes a line unless one was written within the interval. */
  void record(String reason) {
    LogLimiter.Pass pass = limiter.admit(subject);
    if (pass == null) {
      return;
    }
    long count = pass.suppressed() + 1;
    sink.accept(subject + ": " + count + " " + (count == 1 ? one : many) + " " + happened
        + (pass.sinceLastNanos() >= 0 ? " in the last " + pass.sinceLastSeconds() + " s" : "")
        + " (at most one line per " + limiter.interval().toSeconds() + " s); latest: " + reason);
  }
}
