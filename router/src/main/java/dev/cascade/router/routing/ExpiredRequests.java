package dev.cascade.router.routing;

import dev.cascade.router.config.CascadeConfig;
import dev.cascade.schemas.avro.CascadeRequest;

/**
 * Load shedding of expired work: whether a request whose caller has stopped waiting is still run
 * through the cascade ({@code small.expired-requests}, {@code small.deadline-grace-ms}).
 *
 * <p>A request's {@code deadline_ms} is the caller's wall-clock time (the front door's, or a Kafka
 * client's), compared here with the router's own clock. The two are assumed to agree to within
 * {@code graceMs}: a request is expired only once the router's clock is more than {@code graceMs}
 * past its deadline. A router whose clock runs ahead of the caller's by more than that answers
 * some requests {@code deadline_exceeded} while their caller still waits for up to the excess; one
 * whose clock runs behind generates requests already given up by up to its lag.
 *
 * <p>With {@code shedShort}, a request whose deadline has not passed but is nearer than the small
 * model's recent median generation time ({@link GenerationTimes}) is shed too: generated, its
 * answer would most likely come after its caller stopped waiting.
 *
 * @param skip whether an expired request is answered without any model ({@code skip}), rather
 *     than generated as any other ({@code generate})
 * @param graceMs how long past its deadline a request is still generated
 * @param shedShort whether (with {@code skip}) a request with less time left than a generation
 *     takes is answered as an expired one ({@code small.shed-short-requests})
 */
public record ExpiredRequests(boolean skip, long graceMs, boolean shedShort) {

  /** Every request generated, whatever its deadline: the deadline only bounds the escalation. */
  public static final ExpiredRequests GENERATE = new ExpiredRequests(false, 0);
  /** The default: a request past its deadline is not generated. */
  public static final ExpiredRequests SKIP = new ExpiredRequests(true, 0);
  /** {@link #SKIP}, and a request with less time left than a generation takes is not generated either. */
  public static final ExpiredRequests SHED_SHORT = new ExpiredRequests(true, 0, true);

  public ExpiredRequests {
    if (graceMs < 0) {
      throw new IllegalArgumentException("graceMs: must be >= 0, was " + graceMs);
    }
    if (shedShort && !skip) {
      throw new IllegalArgumentException("shedShort: only with skip");
    }
  }

  /** Only requests whose deadline has passed are shed (the default): short ones are generated. */
  public ExpiredRequests(boolean skip, long graceMs) {
    this(skip, graceMs, false);
  }

  /**
   * What {@code small.expired-requests}, {@code small.deadline-grace-ms} and {@code
   * small.shed-short-requests} say.
   */
  public static ExpiredRequests of(CascadeConfig config) {
    boolean skip = CascadeConfig.EXPIRED_SKIP.equals(config.get(CascadeConfig.EXPIRED_REQUESTS));
    return new ExpiredRequests(skip, config.get(CascadeConfig.DEADLINE_GRACE_MS),
        skip && config.get(CascadeConfig.SHED_SHORT_REQUESTS));
  }

  /**
   * Whether {@code request}, not {@link #expired}, is not to be generated at {@code nowMs} either:
   * it has a deadline, and less time is left to it (with the grace) than {@code generationMs}, the
   * small model's recent median generation time of its token limit (NaN: none yet, nothing shed).
   */
  public boolean tooShort(CascadeRequest request, long nowMs, double generationMs) {
    Long deadline = request.getDeadlineMs();
    // In doubles: no overflow for any deadline, and exact to well under a millisecond.
    return shedShort && deadline != null && !Double.isNaN(generationMs)
        && (double) deadline + graceMs - nowMs < generationMs;
  }

  /**
   * Whether {@code request} is not to be generated at {@code nowMs} (the router's clock): it has a
   * deadline, and {@code nowMs} is more than the grace past it.
   */
  public boolean expired(CascadeRequest request, long nowMs) {
    Long deadline = request.getDeadlineMs();
    return skip && deadline != null && deadline < nowMs - graceMs; // no overflow for any deadline
  }
}
