package dev.cascade.router.routing;

import dev.cascade.models.Generation;
import dev.cascade.router.escalation.LargeAnswer;
import dev.cascade.router.policy.DeferralPolicy;
import dev.cascade.router.policy.TierPolicy;
import dev.cascade.schemas.avro.CascadeRequest;
import dev.cascade.schemas.avro.CascadeResponse;
import dev.cascade.schemas.avro.Decision;
import dev.cascade.schemas.avro.Escalation;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.avro.ServedBy;
import dev.cascade.schemas.avro.StageLatencies;
import dev.cascade.schemas.avro.TierAnswer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.function.ToIntFunction;

/**
 * Builds the records the router writes (responses, outcomes, escalations) from what each stage
 * learned. Holds the cost arithmetic so the topology holds none.
 */
public final class RoutingRecords {

  /** The name a cascade of two models gives its second model in responses and outcomes. */
  public static final String LARGE = "large";
  /** How {@code degraded_reason} starts on a {@code deadline_exceeded} outcome. */
  public static final String DEADLINE_EXCEEDED = "deadline_exceeded";
  /**
   * Why a middle tier was skipped (the outcome's {@code skipped_tiers[].cause}, and the {@code reason}
   * label of {@code cascade_tiers_skipped_total}): its breaker was open
   * ({@code escalation.fail-fast-when-open}); {@code escalation.max-wait-ms} ended the wait; another
   * try would have passed the request's deadline, which had not come yet.
   */
  public static final String SKIPPED_BREAKER_OPEN = "breaker_open";
  public static final String SKIPPED_MAX_WAIT = "max_wait";
  public static final String SKIPPED_DEADLINE = "deadline";
  /** Every cause a tier is skipped for. */
  public static final List<String> SKIP_CAUSES = List.of(SKIPPED_BREAKER_OPEN, SKIPPED_MAX_WAIT, SKIPPED_DEADLINE);

  private final CostModel cost;
  private final ToIntFunction<String> promptTokens;
  private final RoutingObserver observer;

  /**
   * @param promptTokens how many tokens a prompt costs (the bundled models tokenize by character)
   */
  public RoutingRecords(CostModel cost, ToIntFunction<String> promptTokens) {
    this(cost, promptTokens, RoutingObserver.NONE);
  }

  /** As above, telling {@code observer} of every decision and every answer these records carry. */
  public RoutingRecords(CostModel cost, ToIntFunction<String> promptTokens, RoutingObserver observer) {
    this.cost = cost;
    this.promptTokens = promptTokens;
    this.observer = observer;
  }

  /** What generations cost. */
  public CostModel costModel() {
    return cost;
  }

  /** Who hears of what the router does (the metrics, or {@link RoutingObserver#NONE}). */
  public RoutingObserver observer() {
    return observer;
  }

  /** The small answer accepted: its response and outcome. */
  public Routed.Answered answered(PendingRequest pending, Generation small, Scored scored, double queueMs,
      double smallMs, long nowMs) {
    return answered(pending, small, scored, queueMs, smallMs, nowMs, false);
  }

  /**
   * As above; {@code cacheHit} when the small generation came from the response cache (the model
   * did not run), which the response and the outcome record.
   */
  public Routed.Answered answered(PendingRequest pending, Generation small, Scored scored, double queueMs,
      double smallMs, long nowMs, boolean cacheHit) {
    return answered(pending, small, scored, queueMs, smallMs, nowMs, cacheHit, null);
  }

  /** As above, recording where the small model's decoding stopped ({@code null}: not known). */
  public Routed.Answered answered(PendingRequest pending, Generation small, Scored scored, double queueMs,
      double smallMs, long nowMs, boolean cacheHit, SmallStop stop) {
    return answered(pending, small, scored, queueMs, smallMs, nowMs, cacheHit, stop, null);
  }

  /** As above, with the pre-generation skip rule's verdict on the prompt ({@code null}: none scored it). */
  public Routed.Answered answered(PendingRequest pending, Generation small, Scored scored, double queueMs,
      double smallMs, long nowMs, boolean cacheHit, SmallStop stop, PregenVerdict pregen) {
    Escalation e = handOff(pending, small, scored, queueMs, smallMs, nowMs, stop, pregen);
    CascadeResponse response = response(e, small.text(), ServedBy.SMALL, e.getLatencies(), nowMs, null);
    response.setCacheHit(cacheHit);
    RoutingOutcome outcome = outcome(e, ServedBy.SMALL, List.of(), null, e.getLatencies(), cacheHit, nowMs);
    observer.decided(scored);
    observer.answered(outcome);
    return new Routed.Answered(response, outcome);
  }

  /** Deferred or explored: the record the escalator takes. */
  public Routed.Escalated escalated(PendingRequest pending, Generation small, Scored scored, double queueMs,
      double smallMs, long nowMs) {
    return escalated(pending, small, scored, queueMs, smallMs, nowMs, null);
  }

  /** As above, recording where the small model's decoding stopped ({@code null}: not known). */
  public Routed.Escalated escalated(PendingRequest pending, Generation small, Scored scored, double queueMs,
      double smallMs, long nowMs, SmallStop stop) {
    return escalated(pending, small, scored, queueMs, smallMs, nowMs, stop, null);
  }

  /** As above, with the pre-generation skip rule's verdict on the prompt ({@code null}: none scored it). */
  public Routed.Escalated escalated(PendingRequest pending, Generation small, Scored scored, double queueMs,
      double smallMs, long nowMs, SmallStop stop, PregenVerdict pregen) {
    Escalation escalation = handOff(pending, small, scored, queueMs, smallMs, nowMs, stop, pregen);
    observer.decided(scored);
    return new Routed.Escalated(escalation);
  }

  /**
   * A request the pre-generation skip rule flagged ({@code pregen.skipped()}): escalated without
   * decoding, so the next tier answers it. The record says so ({@code small_stop} pregen-skip, step
   * 0, and the rule's verdict); its small fields are empty, its post-generation score NaN, its
   * decision DEFER with propensity 1. {@code passMs}: its share of the prompt pass.
   */
  public Routed.Escalated skippedBeforeGeneration(PendingRequest pending, DeferralPolicy policy, PregenVerdict pregen,
      double queueMs, double passMs, long nowMs) {
    Escalation escalation = withoutSmallAnswer(pending, policy, nowMs)
        .setLatencies(latencies(queueMs, passMs, 0, 0, nowMs - pending.receivedAtMs()))
        .setSmallStop(SmallStop.PREGEN_SKIP).setSmallStopStep(0)
        .setPregenSkipRule(pregen.rule()).setPregenSkipScore(pregen.score())
        .setPregenSkipThreshold(pregen.threshold())
        .build();
    observer.pregenSkipped();
    return new Routed.Escalated(escalation);
  }

  /**
   * A request the small model could not answer (its batch failed or timed out): escalated without
   * a small answer or a score, so the large model answers it. The record says why ({@code
   * small_failure}); its small fields are empty and its score NaN.
   */
  public Routed.Escalated escalatedWithoutSmall(PendingRequest pending, DeferralPolicy policy, String failure,
      double queueMs, long nowMs) {
    Escalation escalation = withoutSmallAnswer(pending, policy, nowMs)
        .setLatencies(latencies(queueMs, 0, 0, 0, nowMs - pending.receivedAtMs()))
        .setSmallFailure(failure)
        .build();
    observer.smallModelFailed(1);
    return new Routed.Escalated(escalation);
  }

  /**
   * A request whose deadline had passed when the small model would have taken it ({@link
   * ExpiredRequests}): answered at once, without any model, {@code deadline_exceeded}. Its response
   * is empty, served SMALL_DEGRADED; its outcome has no answer, no score (NaN), decision ACCEPT
   * with no propensity (nothing was decided, nothing escalated), cost 0, and {@code degraded_reason}
   * says how late it was. {@code queueMs}: how long it waited for its batch.
   */
  public Routed.Answered deadlineExceeded(PendingRequest pending, DeferralPolicy policy, double queueMs, long nowMs) {
    CascadeRequest request = pending.request();
    return deadlineExceeded(notRun(pending, policy, queueMs, nowMs), "the request's deadline_ms passed "
        + (nowMs - request.getDeadlineMs()) + " ms before the small model would have run ("
        + (request.getDeadlineMs() - request.getCreatedAtMs()) + " ms after it was created); not generated", 0, nowMs);
  }

  /** What the {@code degraded_reason} of a request shed short of time ({@link #tooShort}) says, and no other. */
  public static final String SHED_SHORT_REASON = "less than its median generation time";

  /**
   * A request whose deadline had not passed when its batch was about to run, but was nearer than
   * {@code generationMs}, the small model's recent median generation time ({@link
   * ExpiredRequests#tooShort}): answered as {@link #deadlineExceeded(PendingRequest, DeferralPolicy,
   * double, long)} is, and counted ({@link RoutingObserver#shedShort}).
   */
  public Routed.Answered tooShort(PendingRequest pending, DeferralPolicy policy, double queueMs, long nowMs,
      double generationMs) {
    CascadeRequest request = pending.request();
    observer.shedShort();
    return deadlineExceeded(notRun(pending, policy, queueMs, nowMs), "the request's deadline_ms was "
        + (request.getDeadlineMs() - nowMs) + " ms away when the small model would have run, " + SHED_SHORT_REASON
        + " of " + Math.round(generationMs) + " ms (" + (request.getDeadlineMs()
        - request.getCreatedAtMs()) + " ms after it was created); not generated", 0, nowMs);
  }

  /** The escalation record of a request no model ran for: nothing decided, only its wait. */
  private Escalation notRun(PendingRequest pending, DeferralPolicy policy, double queueMs, long nowMs) {
    return withoutSmallAnswer(pending, policy, nowMs)
        .setDecision(Decision.ACCEPT).setPropensity(null)
        .setLatencies(latencies(queueMs, 0, 0, 0, nowMs - pending.receivedAtMs()))
        .build();
  }

  /**
   * An escalation of a request without a small answer (skipped before generation, or the small
   * model failed) whose deadline passed before its call: answered as {@link #deadlineExceeded(
   * PendingRequest, DeferralPolicy, double, long)} is, keeping its decision; {@code why} says when.
   */
  public Routed.Answered deadlineExceeded(Escalation e, String why, double escalationMs, long nowMs) {
    StageLatencies latencies = afterHandOff(e, escalationMs, nowMs);
    String reason = DEADLINE_EXCEEDED + ": " + why;
    CascadeResponse response = response(e, "", ServedBy.SMALL_DEGRADED, latencies, nowMs, null);
    response.setDeadlineExceeded(true);
    RoutingOutcome outcome = RoutingOutcome.newBuilder(
            outcome(e, ServedBy.SMALL_DEGRADED, List.of(), reason, latencies, false, nowMs))
        // No model ran for it: nothing known of the small answer, nothing spent, and nothing that a
        // large-only deployment would have spent either.
        .setSmallCorrect(null).setAgree(null).setCostUnits(0).setCostUnitsLargeOnly(0)
        .setDeadlineExceeded(true)
        .build();
    observer.answered(outcome);
    return new Routed.Answered(response, outcome);
  }

  /**
   * The escalator's result in a cascade of two models: the large answer, or, when {@code large} is
   * null, the small answer marked SMALL_DEGRADED with {@code degradedReason}.
   */
  public Routed.Answered afterEscalation(Escalation e, LargeAnswer large, String degradedReason, double escalationMs,
      long nowMs) {
    TierAnswer answer = large == null ? null : tierAnswer(e, 1, LARGE, cost.largePerToken(), large, null, null, false);
    return afterTiers(e, answer, degradedReason, escalationMs, nowMs);
  }

  /**
   * The answer of tier {@code tier} (1 = the first model after the small one) to an escalation.
   *
   * @param rule the middle tier's rule, or null for the last tier (never scored)
   * @param score the rule's score of this answer; null with no rule
   * @param deferred whether the request goes on to the next tier
   */
  public TierAnswer tierAnswer(Escalation e, int tier, String name, double costPerToken, LargeAnswer answer,
      TierPolicy rule, Double score, boolean deferred) {
    return tierAnswer(e, tier, name, costPerToken, answer, rule, rule == null ? null : rule.threshold(), score, deferred);
  }

  /**
   * As above, with the threshold the score was compared with: the rule's own, or the one its
   * target rate held ({@link dev.cascade.router.policy.TierThresholds}).
   */
  public TierAnswer tierAnswer(Escalation e, int tier, String name, double costPerToken, LargeAnswer answer,
      TierPolicy rule, Double threshold, Double score, boolean deferred) {
    return tierAnswer(e, tier, name, costPerToken, answer, rule, threshold, score, deferred, null);
  }

  /**
   * A middle tier's scored answer as {@code rule} {@code decided} it: its threshold, whether it
   * was passed on, explored, and with what propensity; {@code stopThreshold} is the score above
   * which the call asked the tier to stop decoding (null: it asked none).
   */
  public TierAnswer tierAnswer(Escalation e, int tier, String name, double costPerToken, LargeAnswer answer,
      TierPolicy rule, dev.cascade.router.policy.TierThresholds.Decided decided, double score, Double stopThreshold) {
    TierAnswer answered = tierAnswer(e, tier, name, costPerToken, answer, rule, decided.threshold(), score,
        decided.passOn(), stopThreshold);
    answered.setExplored(decided.explored());
    answered.setPropensity(decided.propensity(rule));
    return answered;
  }

  /** As above, with the score above which the call asked the tier to stop decoding (null: it asked none). */
  public TierAnswer tierAnswer(Escalation e, int tier, String name, double costPerToken, LargeAnswer answer,
      TierPolicy rule, Double threshold, Double score, boolean deferred, Double stopThreshold) {
    int prompt = promptTokens.applyAsInt(e.getPrompt());
    return TierAnswer.newBuilder()
        .setTier(tier).setModel(name).setText(answer.text())
        .setTokens(ints(answer.tokens())).setTokenLogprobs(floats(answer.tokenLogprobs()))
        .setRule(rule == null ? null : rule.ruleName()).setScore(score)
        .setThreshold(rule == null ? null : threshold).setDeferred(deferred)
        .setCostUnits(costPerToken * (prompt + outputTokens(answer)))
        .setLatencyMs(answer.millis())
        .setDraftTokens(answer.draftSent()).setDraftAccepted(answer.draftAccepted())
        .setStoppedEarly(answer.stoppedEarly()).setStopThreshold(stopThreshold)
        .setOutputTokens(answer.outputTokens() >= 0 ? answer.outputTokens() : null)
        .setPromptTokens(answer.promptTokens() >= 0 ? answer.promptTokens() : null)
        .build();
  }

  /**
   * The escalator's result: {@code served}, the answer of the tier that ends the cascade for this
   * request (the last, or a middle one whose rule accepted it), after the deferred answers the
   * escalation carries ({@link Escalation#getTierAnswers}). When {@code served} is null no later
   * tier answered: the request is degraded with {@code degradedReason} to the latest answer it
   * has, a middle tier's or else the small model's; a middle tier's that stopped early is a prefix
   * and is passed over. {@code served} with a {@code degradedReason} is a fallback: a middle tier's
   * whole answer, asked again after the tier above it failed, served as SMALL_DEGRADED.
   */
  public Routed.Answered afterTiers(Escalation e, TierAnswer served, String degradedReason, double escalationMs,
      long nowMs) {
    StageLatencies latencies = afterHandOff(e, escalationMs, nowMs);
    List<TierAnswer> tiers = new ArrayList<>(e.getTierAnswers());
    if (served != null) {
      tiers.add(served);
    }
    TierAnswer upper = latestFinished(tiers);
    // A served answer with a reason is a fallback's: a middle tier's whole answer, served because the tier above failed.
    ServedBy servedBy = served == null || degradedReason != null ? ServedBy.SMALL_DEGRADED : ServedBy.LARGE;
    String text = upper == null ? e.getSmallText() : upper.getText();
    CascadeResponse response = response(e, text, servedBy, latencies, nowMs, upper);
    RoutingOutcome outcome = outcome(e, servedBy, tiers, degradedReason, latencies, false, nowMs);
    observer.answered(outcome);
    return new Routed.Answered(response, outcome);
  }

  /**
   * The tier whose answer a response record carries: its {@code served_tier}, or, for a record
   * written before cascades of more than two models, 1 when it was served LARGE and 0 otherwise.
   */
  public static int servedTier(CascadeResponse r) {
    if (r.getServedTier() != null) {
      return r.getServedTier();
    }
    return r.getServedBy() == ServedBy.LARGE ? 1 : 0;
  }

  /** The last of {@code tiers} that is a whole answer (not stopped early: a prefix); null if none. */
  private static TierAnswer latestFinished(List<TierAnswer> tiers) {
    for (int i = tiers.size() - 1; i >= 0; i--) {
      if (!tiers.get(i).getStoppedEarly()) {
        return tiers.get(i);
      }
    }
    return null;
  }

  /** A tier's answer length: its token ids, the server's count, or, when it gave neither, estimated from the text. */
  private int outputTokens(LargeAnswer answer) {
    // kserve:// and openai:// answers carry no token ids.
    return answer.outputTokens() >= 0 ? answer.outputTokens() : promptTokens.applyAsInt(answer.text());
  }

  /**
   * How many tokens a tier's answer is, when known: its {@code output_tokens}, or, from a writer
   * before that field, its token ids (none for an empty answer); null for a text without ids or a count.
   */
  public static Integer outputTokens(TierAnswer answer) {
    if (answer.getOutputTokens() != null) {
      return answer.getOutputTokens();
    }
    return answer.getTokens().isEmpty() && !answer.getText().isEmpty() ? null : answer.getTokens().size();
  }

  /** An escalation builder with the request's own fields. */
  private static Escalation.Builder fromRequest(CascadeRequest request) {
    return Escalation.newBuilder()
        .setRequestId(request.getRequestId())
        .setPrompt(request.getPrompt())
        .setMaxNewTokens(request.getMaxNewTokens())
        .setReference(request.getReference())
        .setBypassCache(request.getBypassCache())
        .setReplyTo(request.getReplyTo())
        .setMetadata(new HashMap<>(request.getMetadata()))
        .setCreatedAtMs(request.getCreatedAtMs())
        .setDeadlineMs(request.getDeadlineMs())
        .setMessages(new java.util.ArrayList<>(request.getMessages()));
  }

  /**
   * An escalation of a request the small model gave no answer to (skipped or failed): empty small
   * fields, score NaN, decision DEFER with propensity 1, under {@code policy}.
   */
  private static Escalation.Builder withoutSmallAnswer(PendingRequest pending, DeferralPolicy policy, long nowMs) {
    return fromRequest(pending.request())
        .setSmallText("")
        .setSmallEmbedding(null)
        .setFeatures(new HashMap<>())
        .setRule(policy.rule()).setAlpha(policy.alpha()).setScore(Double.NaN).setThreshold(policy.threshold())
        .setPolicyVersion(policy.version())
        .setDecision(Decision.DEFER)
        .setRuleVersion(policy.ruleVersion())
        .setPropensity(1.0)
        .setShadowScores(new HashMap<>())
        .setEscalatedAtMs(nowMs);
  }

  /** The request with its small generation and verdict: what every later record is built from. */
  private static Escalation handOff(PendingRequest pending, Generation small, Scored scored, double queueMs,
      double smallMs, long nowMs, SmallStop stop, PregenVerdict pregen) {
    return fromRequest(pending.request())
        .setSmallText(small.text())
        .setSmallTokens(ints(small.tokens()))
        .setSmallTokenLogprobs(floats(small.tokenLogprobs()))
        .setSmallEntropies(floats(small.entropies()))
        .setSmallEmbedding(small.embedding() == null ? null : floats(small.embedding()))
        .setFeatures(new HashMap<>(scored.features().asMap()))
        .setRule(scored.rule()).setAlpha(scored.alpha()).setScore(scored.score()).setThreshold(scored.threshold())
        .setPolicyVersion(scored.policyVersion())
        .setDecision(Decision.valueOf(scored.decision().name()))
        .setRuleVersion(scored.ruleVersion())
        .setPropensity(scored.propensity())
        .setShadowScores(new HashMap<>(scored.shadowScores()))
        .setRuleFallbackReason(scored.fallbackReason())
        .setEscalatedAtMs(nowMs)
        .setLatencies(latencies(queueMs, smallMs, scored.ruleMs(), 0, nowMs - pending.receivedAtMs()))
        .setSmallStop(stop == null ? null : stop.where())
        .setSmallStopStep(stop == null ? null : stop.step())
        .setLabelPropensity(stop == null ? null : stop.labelPropensity())
        .setSmallStopThreshold(stop == null ? null : stop.stopThreshold())
        .setPregenSkipRule(pregen == null ? null : pregen.rule())
        .setPregenSkipScore(pregen == null ? null : pregen.score())
        .setPregenSkipThreshold(pregen == null ? null : pregen.threshold())
        .build();
  }

  /**
   * The outcome record of a finished request. {@code tiers} are the answers of the models after
   * the small one, in order (empty when only the small one answered); the last of them is the one
   * recorded as the large answer ({@code large_text}: the served answer, or, when degraded, the
   * latest there was). Cost: the small model always ran; each tier's cost is added when it
   * answered. The large-only cost is the last model's per-token cost over the large answer's
   * length, or the small one's when no tier answered.
   */
  private RoutingOutcome outcome(Escalation e, ServedBy servedBy, List<TierAnswer> tiers, String degradedReason,
      StageLatencies latencies, boolean cacheHit, long nowMs) {
    String reference = e.getReference();
    int prompt = promptTokens.applyAsInt(e.getPrompt());
    int smallOut = e.getSmallTokens().size();
    TierAnswer large = latestFinished(tiers);
    Integer largeCount = large == null ? Integer.valueOf(smallOut) : outputTokens(large);
    int largeOut = largeCount != null ? largeCount : promptTokens.applyAsInt(large.getText());
    double tierCosts = tiers.stream().mapToDouble(TierAnswer::getCostUnits).sum();
    boolean smallFailed = e.getSmallFailure() != null;
    // An answer stopped early is an unfinished prefix: whether the small model would have been
    // right is not known, so neither is its correctness or agreement.
    boolean smallUnfinished = smallFailed || SmallStop.unfinished(e.getSmallStop());
    return RoutingOutcome.newBuilder()
        .setRequestId(e.getRequestId())
        .setPrompt(e.getPrompt())
        .setMaxNewTokens(e.getMaxNewTokens())
        .setSmallText(e.getSmallText())
        .setSmallTokens(e.getSmallTokens())
        .setSmallTokenLogprobs(e.getSmallTokenLogprobs())
        .setSmallEntropies(e.getSmallEntropies())
        .setSmallEmbedding(e.getSmallEmbedding())
        .setFeatures(e.getFeatures())
        .setRule(e.getRule()).setAlpha(e.getAlpha()).setScore(e.getScore()).setThreshold(e.getThreshold())
        .setPolicyVersion(e.getPolicyVersion())
        .setDecision(e.getDecision())
        .setRuleVersion(e.getRuleVersion())
        .setPropensity(e.getPropensity())
        .setShadowScores(e.getShadowScores())
        .setRuleFallbackReason(e.getRuleFallbackReason())
        .setServedBy(servedBy)
        .setLargeText(large == null ? null : large.getText())
        .setLargeTokens(large == null ? null : large.getTokens())
        .setLargeTokenLogprobs(large == null ? null : large.getTokenLogprobs())
        .setAgree(large == null || smallUnfinished ? null : e.getSmallText().equals(large.getText()))
        .setReference(reference)
        .setSmallCorrect(reference == null || smallUnfinished ? null : e.getSmallText().equals(reference))
        .setLargeCorrect(reference == null || large == null ? null : large.getText().equals(reference))
        .setLatencies(latencies)
        .setCostUnits(cost.small(prompt, smallOut) + tierCosts)
        .setCostUnitsLargeOnly(cost.large(prompt, largeOut))
        .setDegraded(servedBy == ServedBy.SMALL_DEGRADED)
        .setDegradedReason(degradedReason)
        .setCacheHit(cacheHit)
        .setMetadata(e.getMetadata())
        .setCreatedAtMs(e.getCreatedAtMs())
        .setCompletedAtMs(nowMs)
        .setSmallFailure(e.getSmallFailure())
        .setSmallStop(e.getSmallStop())
        .setSmallStopStep(e.getSmallStopStep())
        .setTierAnswers(tiers)
        .setServedTier(large == null ? 0 : large.getTier())
        .setLargeDraftTokens(large == null ? 0 : large.getDraftTokens())
        .setLargeDraftAccepted(large == null ? 0 : large.getDraftAccepted())
        .setPregenSkipRule(e.getPregenSkipRule())
        .setPregenSkipScore(e.getPregenSkipScore())
        .setPregenSkipThreshold(e.getPregenSkipThreshold())
        .setSkippedTiers(e.getSkippedTiers())
        .setLabelPropensity(e.getLabelPropensity())
        .setSmallStopThreshold(e.getSmallStopThreshold())
        .build();
  }

  /**
   * The response; {@code upper} is the answer of the tier served, null when the small model's is
   * (then, after an early deferral, the unfinished prefix: {@code stopped_early}).
   * Its token counts are the serving model's: the small model's tokens (a cached generation's too),
   * or the tier's counts as its server gave them.
   */
  private static CascadeResponse response(Escalation e, String text, ServedBy servedBy, StageLatencies latencies,
      long nowMs, TierAnswer upper) {
    return CascadeResponse.newBuilder()
        .setStoppedEarly(upper == null && SmallStop.EARLY_DEFER.equals(e.getSmallStop()))
        .setRequestId(e.getRequestId()).setText(text).setServedBy(servedBy).setDeferralScore(e.getScore())
        .setThreshold(e.getThreshold()).setPolicyVersion(e.getPolicyVersion()).setRule(e.getRule())
        .setLatencies(latencies).setCacheHit(false).setReplyTo(e.getReplyTo()).setCreatedAtMs(e.getCreatedAtMs())
        .setCompletedAtMs(nowMs)
        .setServedTier(upper == null ? 0 : upper.getTier())
        .setServedModel(upper == null ? null : upper.getModel())
        .setCompletionTokens(upper == null ? Integer.valueOf(e.getSmallTokens().size()) : outputTokens(upper))
        .setPromptTokens(upper == null ? null : upper.getPromptTokens())
        .setSkippedTiers(e.getSkippedTiers())
        // No decision was made for a request taken after its deadline (recorded ACCEPT, no propensity).
        .setDecision(e.getPropensity() == null ? null : e.getDecision())
        .setRuleVersion(e.getRuleVersion())
        .build();
  }

  /** An escalation's latencies once the escalator is done: {@code escalationMs} in it, up to {@code nowMs} in all. */
  private static StageLatencies afterHandOff(Escalation e, double escalationMs, long nowMs) {
    StageLatencies before = e.getLatencies();
    return latencies(before.getQueueMs(), before.getSmallModelMs(), before.getRuleMs(), escalationMs,
        before.getTotalMs() + Math.max(0, nowMs - e.getEscalatedAtMs()));
  }

  private static StageLatencies latencies(double queue, double small, double rule, double escalation, double total) {
    return StageLatencies.newBuilder().setQueueMs(queue).setSmallModelMs(small).setRuleMs(rule)
        .setEscalationMs(escalation).setTotalMs(total).build();
  }

  static List<Integer> ints(int[] values) {
    List<Integer> out = new ArrayList<>(values.length);
    for (int v : values) {
      out.add(v);
    }
    return out;
  }

  static List<Float> floats(float[] values) {
    List<Float> out = new ArrayList<>(values.length);
    for (float v : values) {
      out.add(v);
    }
    return out;
  }
}
