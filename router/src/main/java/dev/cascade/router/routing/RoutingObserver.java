package dev.cascade.router.routing;

import dev.cascade.schemas.avro.RoutingOutcome;

/**
 * What the router tells an observer (its metrics) as requests go through: every method is called
 * on the thread that did the work, must be cheap and thread-safe, and must not throw. Every method
 * does nothing by default; {@link #NONE} observes nothing (metrics off).
 */
public interface RoutingObserver {

  /** Observes nothing. */
  RoutingObserver NONE = new RoutingObserver() {};

  /** A record arrived on the requests topic (before it is decoded or checked). */
  default void received() {}

  /** A request went to the dead-letter topic instead of being answered. */
  default void deadLettered() {}

  /**
   * A task that came to this instance (a restart, a rebalance) found {@code count} requests in its
   * batch store that an earlier owner took in but did not answer; they are batched again.
   */
  default void restored(int count) {}

  /** A micro-batch of {@code size} requests was handed to the small model. */
  default void batchRouted(int size) {}

  /** A request was scored and decided (accepted, deferred or explored). */
  default void decided(Scored scored) {}

  /** A request was answered: its outcome record, as written (served small, large or small-degraded). */
  default void answered(RoutingOutcome outcome) {}

  /** An escalation whose large-model call failed is parked, to be tried again. */
  default void escalationParked() {}

  /**
   * The tier above a middle tier whose answer stopped early failed for good, so that middle tier is
   * called once more for its whole answer, to be served degraded.
   */
  default void tierFallback() {}

  /**
   * The middle tier named {@code tier} decided an answer: passed on to the next tier or served,
   * comparing its score with {@code threshold} (the tier's fixed one, or the one its target rate
   * holds); {@code explored}: passed on although the rule would have served it (the tier's
   * exploration rate).
   */
  default void tierDecided(String tier, double threshold, boolean passedOn, boolean explored) {}

  /**
   * An escalation passed over the middle tier named {@code tier}, unavailable, and went on to the
   * next one ({@code escalation.skip-unavailable-tiers}); {@code cause} is one of {@link
   * RoutingRecords#SKIP_CAUSES}.
   */
  default void tierSkipped(String tier, String cause) {}

  /** Requests the small model could not answer (a failed or timed-out batch), escalated without its answer. */
  default void smallModelFailed(int requests) {}

  /**
   * A request was answered deadline_exceeded before its deadline had passed: it was nearer than the
   * small model's recent median generation time ({@link ExpiredRequests#tooShort}).
   */
  default void shedShort() {}

  /** A request skipped small-model decoding: the pre-generation skip rule flagged its prompt. */
  default void pregenSkipped() {}

  /**
   * {@code requests} were decoded as usual because the policy's pre-generation skip rule could not
   * score them (it is missing here or made for another model, or the prompt pass or the rule failed).
   */
  default void pregenSkipFailed(int requests) {}

  /** A request was scored by the policy's fallback rule, because its rule could not be applied. */
  default void ruleFallback(dev.cascade.router.learning.RuleResolver.Problem problem) {}

  /** A rules-topic record was read: loaded, skipped as made for another model, or undecodable. */
  default void ruleRecord(dev.cascade.router.learning.RuleCatalog.Admission admission) {}

  /**
   * A policy was read from the policy topic (or the configured default came back into force): its
   * version, threshold and rule version (null: a closed-form rule), shown until the next decision.
   */
  default void policyRead(long version, double threshold, Long ruleVersion) {}

  /** A large-model call started. */
  default void largeModelCallStarted() {}

  /**
   * A call to the tier named {@code tier} (a model after the small one) ended: {@code error} is
   * null when it succeeded.
   */
  default void largeModelCallEnded(String tier, Throwable error) {}

  /** {@code count} large-model calls still in flight were abandoned (their task closed). */
  default void largeModelCallsAbandoned(int count) {}
}
