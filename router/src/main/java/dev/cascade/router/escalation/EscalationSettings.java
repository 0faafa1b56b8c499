package dev.cascade.router.escalation;

import dev.cascade.router.config.CascadeConfig;
import java.time.Duration;

/**
 * How the router calls the large model.
 *
 * @param maxInFlight most calls in flight at once
 * @param deadline deadline of each attempt
 * @param retries retries after an UNAVAILABLE failure
 * @param backoff wait before the first retry, doubled for each next one
 * @param breakerFailureRatePercent failure rate (over the last 20 calls, at least 10 seen) that opens the breaker
 * @param breakerOpen how long the breaker stays open before letting trial calls through
 * @param maxNewTokens the large model's token limit, or 0 to ask the server for it
 * @param maxWait how long an escalation waits for an unavailable large model to come back before it
 *     is answered with the small model's text, marked SMALL_DEGRADED
 * @param draftTokenizerSha256 the tokenizer hash of the model whose answers escalations carry as
 *     drafts (the small model's, {@code TextGenerator.tokenizerSha256()}): a call sends its draft
 *     only to a server whose {@code LargeModel/Info} reports the same hash; empty never sends one
 *     ({@code escalation.speculative=false}, or a small model without a tokenizer hash)
 * @param earlyDefer whether a middle tier of a cascade whose rule's early deferral is exact
 *     (Chow-Sum, Chow-Quantile at level 0) is asked to stop decoding once its answer's score
 *     passes the tier's threshold ({@link EarlyStopSpec}; {@code escalation.early-defer})
 * @param failFastWhenOpen whether an escalation whose call failed (unavailable, slow, busy, or
 *     refused by the breaker) while the tier's breaker is open is answered SMALL_DEGRADED at once
 *     instead of waiting up to {@code maxWait} ({@code escalation.fail-fast-when-open}); while the
 *     breaker is half-open (its trial calls out) it still waits
 * @param skipUnavailableTiers whether an escalation whose wait for a middle tier of a cascade ends
 *     (its breaker open, or {@code maxWait} or the request's deadline reached) with the tier
 *     unavailable (the breaker refusing the call, or UNAVAILABLE after the retries) goes on to the
 *     next tier instead of being answered SMALL_DEGRADED ({@code escalation.skip-unavailable-tiers})
 */
public record EscalationSettings(int maxInFlight, Duration deadline, int retries, Duration backoff,
    double breakerFailureRatePercent, Duration breakerOpen, int maxNewTokens, Duration maxWait,
    String draftTokenizerSha256, boolean earlyDefer, boolean failFastWhenOpen, boolean skipUnavailableTiers) {

  /** Settings that skip an unavailable middle tier ({@code escalation.skip-unavailable-tiers}'s default). */
  public EscalationSettings(int maxInFlight, Duration deadline, int retries, Duration backoff,
      double breakerFailureRatePercent, Duration breakerOpen, int maxNewTokens, Duration maxWait,
      String draftTokenizerSha256, boolean earlyDefer, boolean failFastWhenOpen) {
    this(maxInFlight, deadline, retries, backoff, breakerFailureRatePercent, breakerOpen, maxNewTokens, maxWait,
        draftTokenizerSha256, earlyDefer, failFastWhenOpen,
        CascadeConfig.defaults().get(CascadeConfig.ESCALATION_SKIP_UNAVAILABLE_TIERS));
  }

  /** Settings that degrade at once while the breaker is open ({@code escalation.fail-fast-when-open}'s default). */
  public EscalationSettings(int maxInFlight, Duration deadline, int retries, Duration backoff,
      double breakerFailureRatePercent, Duration breakerOpen, int maxNewTokens, Duration maxWait,
      String draftTokenizerSha256, boolean earlyDefer) {
    this(maxInFlight, deadline, retries, backoff, breakerFailureRatePercent, breakerOpen, maxNewTokens, maxWait,
        draftTokenizerSha256, earlyDefer, CascadeConfig.defaults().get(CascadeConfig.ESCALATION_FAIL_FAST_WHEN_OPEN));
  }

  /** Settings whose middle tiers stop early ({@code escalation.early-defer}'s default). */
  public EscalationSettings(int maxInFlight, Duration deadline, int retries, Duration backoff,
      double breakerFailureRatePercent, Duration breakerOpen, int maxNewTokens, Duration maxWait,
      String draftTokenizerSha256) {
    this(maxInFlight, deadline, retries, backoff, breakerFailureRatePercent, breakerOpen, maxNewTokens, maxWait,
        draftTokenizerSha256, CascadeConfig.defaults().get(CascadeConfig.ESCALATION_EARLY_DEFER));
  }

  /** Settings that never send a draft. */
  public EscalationSettings(int maxInFlight, Duration deadline, int retries, Duration backoff,
      double breakerFailureRatePercent, Duration breakerOpen, int maxNewTokens, Duration maxWait) {
    this(maxInFlight, deadline, retries, backoff, breakerFailureRatePercent, breakerOpen, maxNewTokens, maxWait, "");
  }

  /** Settings with the default wait for an unavailable large model. */
  public EscalationSettings(int maxInFlight, Duration deadline, int retries, Duration backoff,
      double breakerFailureRatePercent, Duration breakerOpen, int maxNewTokens) {
    this(maxInFlight, deadline, retries, backoff, breakerFailureRatePercent, breakerOpen, maxNewTokens,
        Duration.ofMillis(CascadeConfig.defaults().get(CascadeConfig.ESCALATION_MAX_WAIT_MS)));
  }

  /** Settings that ask the server for its token limit. */
  public EscalationSettings(int maxInFlight, Duration deadline, int retries, Duration backoff,
      double breakerFailureRatePercent, Duration breakerOpen) {
    this(maxInFlight, deadline, retries, backoff, breakerFailureRatePercent, breakerOpen, 0);
  }

  /**
   * These settings, sending drafts of a model with tokenizer hash {@code sha256} (empty: never).
   */
  public EscalationSettings withDraftTokenizer(String sha256) {
    return new EscalationSettings(maxInFlight, deadline, retries, backoff, breakerFailureRatePercent, breakerOpen,
        maxNewTokens, maxWait, sha256, earlyDefer, failFastWhenOpen, skipUnavailableTiers);
  }

  /** These settings, degrading at once while the breaker is open or not ({@code escalation.fail-fast-when-open}). */
  public EscalationSettings withFailFastWhenOpen(boolean failFast) {
    return new EscalationSettings(maxInFlight, deadline, retries, backoff, breakerFailureRatePercent, breakerOpen,
        maxNewTokens, maxWait, draftTokenizerSha256, earlyDefer, failFast, skipUnavailableTiers);
  }

  /** These settings, skipping an unavailable middle tier or not ({@code escalation.skip-unavailable-tiers}). */
  public EscalationSettings withSkipUnavailableTiers(boolean skip) {
    return new EscalationSettings(maxInFlight, deadline, retries, backoff, breakerFailureRatePercent, breakerOpen,
        maxNewTokens, maxWait, draftTokenizerSha256, earlyDefer, failFastWhenOpen, skip);
  }

  /** From the configuration; sends no drafts until {@link #withDraftTokenizer} names the small model's tokenizer. */
  public static EscalationSettings from(CascadeConfig config) {
    return new EscalationSettings(
        config.get(CascadeConfig.ESCALATION_MAX_IN_FLIGHT),
        Duration.ofMillis(config.get(CascadeConfig.ESCALATION_DEADLINE_MS)),
        config.get(CascadeConfig.ESCALATION_RETRIES),
        Duration.ofMillis(config.get(CascadeConfig.ESCALATION_BACKOFF_MS)),
        config.get(CascadeConfig.BREAKER_FAILURE_RATE),
        Duration.ofMillis(config.get(CascadeConfig.BREAKER_OPEN_MS)),
        config.get(CascadeConfig.LARGE_MAX_NEW_TOKENS),
        Duration.ofMillis(config.get(CascadeConfig.ESCALATION_MAX_WAIT_MS)), "",
        config.get(CascadeConfig.ESCALATION_EARLY_DEFER),
        config.get(CascadeConfig.ESCALATION_FAIL_FAST_WHEN_OPEN),
        config.get(CascadeConfig.ESCALATION_SKIP_UNAVAILABLE_TIERS));
  }
}
