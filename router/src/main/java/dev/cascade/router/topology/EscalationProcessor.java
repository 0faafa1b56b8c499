package dev.cascade.router.topology;

import dev.cascade.router.escalation.EarlyStopSpec;
import dev.cascade.router.escalation.EscalationClient;
import dev.cascade.router.escalation.EscalationTiers;
import dev.cascade.router.escalation.LargeAnswer;
import dev.cascade.router.policy.EarlyDeferral;
import dev.cascade.router.policy.TierPolicy;
import dev.cascade.router.policy.TierThresholds;
import dev.cascade.router.rules.ChowQuantileRule;
import dev.cascade.router.rules.DeferralRules;
import dev.cascade.router.routing.Routed;
import dev.cascade.router.routing.RoutingObserver;
import dev.cascade.router.routing.RoutingRecords;
import dev.cascade.router.routing.SmallStop;
import dev.cascade.schemas.avro.Escalation;
import dev.cascade.schemas.avro.SkippedTier;
import dev.cascade.schemas.avro.TierAnswer;
import dev.cascade.schemas.avro.TierWait;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Semaphore;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The escalator: calls the large model for each escalated request without ever waiting on it.
 *
 * <p>An escalation is first written to a changelogged store of pending work; calls are started
 * while the instance's budget of calls in flight (shared by all its tasks) allows; completions land in a queue that a
 * wall-clock punctuator (and every new record) drains on the stream thread, forwarding the
 * response and outcome and deleting the pending entry in the same transaction. So an escalation
 * whose input offset is committed is either answered or still in the store, and a restart
 * restores the store and calls again (a repeated large-model call is possible; a lost or doubled
 * response is not).
 *
 * <p>A call that fails because the large model is unavailable, overloaded or slow, or because the
 * circuit breaker is open, is parked and tried again (after 100 ms, doubling to 2 s, jittered, or as soon as
 * that model answers any call: it is back) while the wait
 * since its first failed call stays within {@code escalation.max-wait-ms}; only past that bound is the
 * request answered with the small model's text, marked SMALL_DEGRADED with the reason. With {@code
 * escalation.fail-fast-when-open} (the default), such a failure while the tier's breaker is open (the
 * model known to be down; not while it is half-open, trying it again) is answered so at once. The
 * reason names the first and the last failure of its calls; a call the breaker refused names the
 * last failure the breaker counted. A refusal
 * (the call itself is wrong: see {@link EscalationClient#isRefusal}) is not retried: it is logged
 * as an error and degraded at once. A request the small model could not answer has no text to
 * degrade to: it is dead-lettered instead, unless its deadline ended the wait (its caller had
 * stopped waiting), when it is answered {@code deadline_exceeded} without an answer.
 *
 * <p>In a cascade of more than two models the escalation climbs: the answer of a middle tier is
 * scored by that tier's rule ({@link TierPolicy}, from the policy in force, else the configured
 * one); above its threshold the answer is added to the pending escalation (in the same
 * transaction) and the next tier is called, else it is served. A tier that stays unavailable past
 * the bounds above degrades the request to the latest answer it has: the previous tier's, or the
 * small model's; unless it is a middle tier, unavailable ({@link #tierUnavailable}: its breaker
 * refused the call, or the call failed UNAVAILABLE after its retries) and the request's deadline has
 * not come: with {@code escalation.skip-unavailable-tiers} (the default) the request then skips it
 * (recorded in {@link Escalation#getSkippedTiers}, in the same transaction as the next call is
 * queued) and calls the next tier, with the latest answer it has as its draft and its fallback.
 */
final class EscalationProcessor implements Processor<String, Escalation, Object, Object> {

  private static final Logger LOG = LoggerFactory.getLogger(EscalationProcessor.class);
  /** First wait of a parked escalation before its next try; doubled per try up to {@link #MAX_PARK_MS}. */
  static final long MIN_PARK_MS = 100;
  static final long MAX_PARK_MS = 2_000;

  private final ReplyTopics replies;
  private final EscalationTiers tiers;
  private final PolicyView.Source policies;
  private PolicyView policy;
  private final RoutingRecords records;
  private final Semaphore callPermits;
  private final int defaultMaxNewTokens;
  private final Duration tick;
  private final RoutingObserver observer;
  private final ArrayDeque<String> notStarted = new ArrayDeque<>();
  private final Map<String, CompletableFuture<LargeAnswer>> inFlight = new HashMap<>();
  private final Queue<Completion> completed = new ConcurrentLinkedQueue<>();
  /** Parked escalations, earliest next try first. */
  private final java.util.PriorityQueue<Parked> parked =
      new java.util.PriorityQueue<>(java.util.Comparator.comparingLong(Parked::retryAtMs));

  /** An escalation's failed calls so far: how many, since when, and the first and the last one's reason. */
  record Failures(int tries, long sinceMs, String firstError, String lastError) {

    /** One more failed call, for {@code error}. */
    Failures then(String error) {
      return new Failures(tries + 1, sinceMs, firstError, error);
    }
  }

  /** A parked escalation: when to try again, and how many calls its tier had answered when it was parked. */
  private record Parked(long retryAtMs, String requestId, int tier, long answeredBefore) {}

  /** The tiers' answered calls, summed, when the parked escalations were last checked against them. */
  private long answeredSeen;
  private ProcessorContext<Object, Object> context;
  private IdleAwarePunctuator ticker;
  private KeyValueStore<String, Escalation> pending;

  /**
   * A call's end; {@code tier}: the tier it called (or would have called); {@code stopThreshold}: the
   * early stop it asked of a middle tier (null: none); {@code sampledStop}: the early stop it would
   * have asked had label sampling not let it decode to its end (null: not sampled).
   */
  private record Completion(String requestId, String tier, LargeAnswer answer, Throwable error, double millis,
      Double stopThreshold, Double sampledStop) {

    Completion(String requestId, String tier, LargeAnswer answer, Throwable error, double millis) {
      this(requestId, tier, answer, error, millis, null, null);
    }
  }

  /**
   * @param callPermits the instance's budget of large-model calls in flight, shared by the
   *     escalator of every task in this instance
   */
  EscalationProcessor(EscalationTiers tiers, PolicyView.Source policies, RoutingRecords records, Semaphore callPermits,
      int defaultMaxNewTokens, Duration tick, ReplyTopics replies) {
    this.replies = replies;
    this.tiers = tiers;
    this.policies = policies;
    this.records = records;
    this.callPermits = callPermits;
    this.defaultMaxNewTokens = defaultMaxNewTokens;
    this.tick = tick;
    this.observer = records.observer();
  }

  @Override
  public void init(ProcessorContext<Object, Object> context) {
    this.context = context;
    this.pending = context.getStateStore(CascadeTopology.ESCALATION_STORE);
    this.policy = policies.view(context.getStateStore(CascadeTopology.POLICY_STORE));
    try (KeyValueIterator<String, Escalation> it = pending.all()) {
      while (it.hasNext()) {
        KeyValue<String, Escalation> kv = it.next();
        notStarted.add(kv.key);
      }
    }
    // Only while escalations wait, run or are parked: an idle task then neither punctuates nor commits.
    this.ticker = new IdleAwarePunctuator(context, tick, now -> pump(),
        () -> notStarted.isEmpty() && inFlight.isEmpty() && parked.isEmpty() && completed.isEmpty());
    ticker.wake();
    startCalls();
  }

  @Override
  public void process(Record<String, Escalation> record) {
    String id = record.value().getRequestId();
    if (pending.get(id) == null) {
      pending.put(id, record.value());
      notStarted.add(id);
    }
    pump();
    ticker.wake();
  }

  private void pump() {
    drain();
    unpark(context.currentSystemTimeMs());
    startCalls();
  }

  private void unpark(long now) {
    if (!parked.isEmpty()) {
      long answered = 0;
      for (EscalationTiers.Tier t : tiers.all()) {
        answered += t.client().answeredCalls();
      }
      if (answered != answeredSeen) {
        // Some model answered a call since the last look: the escalations parked on it go now,
        // not when their backoff ends (it is back, or was never wholly down).
        answeredSeen = answered;
        parked.removeIf(p -> {
          if (tiers.tier(p.tier()).client().answeredCalls() > p.answeredBefore()) {
            notStarted.add(p.requestId());
            return true;
          }
          return false;
        });
      }
    }
    while (!parked.isEmpty() && parked.peek().retryAtMs() <= now) {
      notStarted.add(parked.poll().requestId());
    }
  }

  private void startCalls() {
    while (!notStarted.isEmpty()) {
      String id = notStarted.peek();
      Escalation e = pending.get(id);
      if (e == null || inFlight.containsKey(id)) {
        notStarted.poll();
        continue;
      }
      Long until = e.getDeadlineMs();
      long now = context.currentSystemTimeMs();
      if (until != null && now >= until) {
        // Its caller stopped waiting while it waited for a call: calling now would spend the
        // model on an answer nobody reads, so it is answered at once with what it has.
        notStarted.poll();
        completed.add(new Completion(id, tierOf(e).name(), null, new DeadlinePassed("the request's deadline_ms passed "
            + (now - until) + " ms before " + tierOf(e).name() + " was called (" + (until - e.getCreatedAtMs())
            + " ms after it was created); not called"), 0));
        continue;
      }
      if (!callPermits.tryAcquire()) {
        return;
      }
      notStarted.poll();
      int max = e.getMaxNewTokens() > 0 ? e.getMaxNewTokens() : defaultMaxNewTokens;
      long t0 = System.nanoTime();
      CompletableFuture<LargeAnswer> call;
      EscalationTiers.Tier tier = tierOf(e);
      EarlyStopSpec stop = e.getDegradeFallback() != null ? null : earlyStopOf(tier);
      // Label sampling: a drawn share of the calls that could stop decode to their end, so that the
      // tier's rule can be evaluated on whole answers (escalation.early-defer-label-share).
      EarlyStopSpec sampled = stop != null && tiers.labelSampled(id, tier.tier()) ? stop : null;
      if (sampled != null) {
        stop = null;
      }
      try {
        // The latest answer (the small model's, or the last tier's that passed it on) as a draft:
        // the client sends it when the tier shares the small model's tokenizer.
        // A middle tier whose rule's deferral is certain before the answer ends stops there.
        // Every attempt ends by the request's deadline, when it has one. A tier that takes a
        // conversation is sent the request's, when it has one.
        call = tier.client().generate(id, e.getPrompt(), dev.cascade.router.escalation.ChatTurn.of(e.getMessages()), max,
            draftOf(e), stop, until);
      } catch (RuntimeException failure) {
        call = CompletableFuture.failedFuture(failure);
      }
      inFlight.put(id, call);
      observer.largeModelCallStarted();
      if (e.getDegradeFallback() != null) {
        // Counted when the call is made: one whose request's deadline passed first is not.
        observer.tierFallback();
      }
      String tierName = tier.name();
      Double stopThreshold = stop == null ? null : stop.threshold();
      Double sampledStop = sampled == null ? null : sampled.threshold();
      call.whenComplete((answer, error) -> completed.add(
          new Completion(id, tierName, answer, error, (System.nanoTime() - t0) / 1e6, stopThreshold, sampledStop)));
    }
  }

  /** The latest answer's tokens: the last tier's that answered, else the small model's (a skipped tier has none). */
  private static int[] draftOf(Escalation e) {
    List<Integer> tokens = e.getTierAnswers().isEmpty() ? e.getSmallTokens()
        : e.getTierAnswers().get(e.getTierAnswers().size() - 1).getTokens();
    return tokens.stream().mapToInt(Integer::intValue).toArray();
  }

  /**
   * What a call to {@code tier} asks of its decoding: a middle tier whose rule in force is exact
   * ({@link EarlyDeferral#isExact}: Chow-Sum, Chow-Quantile at α = 0) stops once its answer's score
   * passes the tier's threshold, since the answer would be passed on whatever followed
   * ({@code escalation.early-defer}); under a target rate, once its score passes the tier
   * controller's stop threshold, a margin above the threshold that moves with every decision
   * ({@link dev.cascade.router.policy.TierThresholds#stopThreshold}). Null for the last tier, every
   * other rule, and a target's warm-up.
   */
  private EarlyStopSpec earlyStopOf(EscalationTiers.Tier tier) {
    if (tiers.isLast(tier.tier()) || !tier.client().settings().earlyDefer()) {
      return null;
    }
    return policy.current().tierPolicy(tier.tier(), policies.configured().tierPolicies())
        .filter(p -> mayStopEarly(tier, p))
        .map(p -> {
          double stop = tiers.thresholds().stopThreshold(tier.tier(), p);
          return Double.isFinite(stop) ? new EarlyStopSpec(ChowQuantileRule.NAME.equals(p.rule()), stop) : null;
        })
        .orElse(null);
  }

  /** Whether a middle tier's answers under {@code rule} may stop early: its rule is exact and early deferral is on. */
  private static boolean mayStopEarly(EscalationTiers.Tier tier, TierPolicy rule) {
    return tier.client().settings().earlyDefer() && EarlyDeferral.isExact(DeferralRules.of(rule.rule(), rule.alpha()));
  }

  /**
   * The tier an escalation calls next: the one after the last that answered it or was skipped; for
   * a fallback ({@link Escalation#getDegradeFallback}), the last that answered, whose answer stopped early.
   */
  private EscalationTiers.Tier tierOf(Escalation e) {
    if (e.getDegradeFallback() != null) {
      return tiers.tier(e.getTierAnswers().get(e.getTierAnswers().size() - 1).getTier());
    }
    return tiers.tier(Math.min(nextTier(e), tiers.count()));
  }

  /** The tier after the highest one that answered an escalation or that it skipped: 1 when none did. */
  static int nextTier(Escalation e) {
    int reached = 0;
    for (TierAnswer answer : e.getTierAnswers()) {
      reached = Math.max(reached, answer.getTier());
    }
    for (SkippedTier skipped : e.getSkippedTiers()) {
      reached = Math.max(reached, skipped.getTier());
    }
    return reached + 1;
  }

  /** Whether the latest answer an escalation has is a middle tier's prefix (it stopped early). */
  private static boolean endsInAPrefix(Escalation e) {
    List<TierAnswer> answers = e.getTierAnswers();
    return !answers.isEmpty() && answers.get(answers.size() - 1).getStoppedEarly();
  }

  /**
   * The answer of {@code tier}, scored when it is a middle tier with a rule; deferred when the
   * score passes the threshold.
   */
  private TierAnswer scored(Escalation e, EscalationTiers.Tier tier, LargeAnswer answer, Double stopThreshold,
      Double sampledStop) {
    dev.cascade.router.policy.DeferralPolicy inForce = policy.current();
    java.util.Optional<TierPolicy> rule = tiers.isLast(tier.tier()) ? java.util.Optional.empty()
        : inForce.tierPolicy(tier.tier(), policies.configured().tierPolicies());
    if (rule.isEmpty()) {
      return records.tierAnswer(e, tier.tier(), tier.name(), tier.costPerToken(), answer, null, null, false);
    }
    double score = rule.get().score(answer.tokenLogprobs());
    TierThresholds.Decided decided = tiers.thresholds().decide(e.getRequestId(), tier.tier(), rule.get(), score,
        answer.stoppedEarly());
    boolean defers = decided.passOn();
    if (answer.stoppedEarly() && !(score > decided.threshold())) {
      // The server stopped where its running score passed the threshold the call gave, so the
      // prefix scores above it here too, unless the rule changed while the call ran, a target's
      // threshold moved up past the stop threshold the call was given, or the server reads
      // log-probs otherwise. A prefix is never served: it is passed on all the same.
      if (!rule.get().holdsTargetRate()) {
        LOG.warn("request {}: tier {} stopped early, but its prefix scores {} under {} (threshold {}); passed on",
            e.getRequestId(), tier.name(), score, rule.get().ruleName(), decided.threshold());
      }
    }
    observer.tierDecided(tier.name(), decided.threshold(), defers, decided.explored());
    TierAnswer scoredAnswer = records.tierAnswer(e, tier.tier(), tier.name(), tier.costPerToken(), answer, rule.get(),
        decided, score, stopThreshold);
    scoredAnswer.setPolicyVersion(inForce.version());
    if (sampledStop != null && score > sampledStop) {
      // Decoded whole by label sampling where early deferral would have stopped it: it stands for those.
      scoredAnswer.setLabelPropensity(tiers.labelShare());
    }
    return scoredAnswer;
  }

  private void drain() {
    Completion c;
    while ((c = completed.poll()) != null) {
      if (inFlight.remove(c.requestId()) != null) {
        callPermits.release();
        observer.largeModelCallEnded(c.tier(), c.error());
      }
      Escalation e = pending.get(c.requestId());
      if (e == null) {
        continue;
      }
      long now = context.currentSystemTimeMs();
      if (e.getDegradeFallback() != null) {
        // The fallback call: its whole answer is served as SMALL_DEGRADED, for the reason the tier
        // above failed; should it fail too, the request is degraded at once (no second wait) to the
        // latest whole answer.
        String reason = e.getDegradeFallback();
        EscalationTiers.Tier tier = tierOf(e);
        Escalation before = Escalation.newBuilder(e).setDegradeFallback(null).build();
        TierAnswer whole = c.error() == null ? records.tierAnswer(before, tier.tier(), tier.name(),
            tier.costPerToken(), c.answer(), null, null, false) : null;
        String why = c.error() == null ? reason
            : unwrap(c.error()) instanceof DeadlinePassed passed ? reason + "; then " + passed.getMessage()
            : reason + "; then calling " + tier.name() + " again for its whole answer failed: "
                + EscalationClient.describe(c.error());
        finish(before, c, whole, why);
        continue;
      }
      String degradedReason = null;
      // Whether the tier failing (unavailable, overloaded, slow, breaker open) is why it is degraded.
      boolean tierFailed = false;
      Failures before = failuresOf(e, tierOf(e).tier());
      boolean deadlineFirst = unwrap(c.error()) instanceof DeadlinePassed || EscalationClient.isRequestDeadline(c.error());
      if (deadlineFirst && before != null) {
        // The deadline came while it waited for a model that kept failing: that is the reason.
        tierFailed = true;
        degradedReason = unavailable(c.tier(), before, now, "past the request's deadline_ms ("
            + (e.getDeadlineMs() - e.getCreatedAtMs()) + " ms after it was created)");
      } else if (unwrap(c.error()) instanceof DeadlinePassed passed) {
        degradedReason = passed.getMessage();
      } else if (deadlineFirst) {
        // The caller's deadline ended the call (or came before an attempt): no use waiting on.
        degradedReason = "the request's deadline_ms (" + (e.getDeadlineMs() - e.getCreatedAtMs())
            + " ms after it was created) came before " + tierOf(e).name() + " answered: "
            + EscalationClient.describe(c.error());
      } else if (c.error() != null) {
        String code = EscalationClient.codeOf(c.error());
        boolean refused = EscalationClient.isRefusal(code);
        if (refused) {
          LOG.error("{} refused request {} ({}): router and server disagree on the call's contract;"
              + " not retried", c.tier(), c.requestId(), EscalationClient.describe(c.error()));
          degradedReason = c.tier() + " refused: " + EscalationClient.describe(c.error());
        } else {
          // Unavailable, overloaded, too slow, or the breaker is open: wait for it to come back,
          // within escalation.max-wait-ms of this escalation's first failed call (its time in a
          // backlog before that is not the large model's doing), instead of degrading at once;
          // unless the breaker is open and escalation.fail-fast-when-open says not to wait.
          long failedAt = now - (long) c.millis();
          EscalationTiers.Tier tier = tierOf(e);
          String error = failure(c.error(), tier.client().lastCountedFailure());
          Failures f = before == null ? new Failures(1, failedAt, error, error) : before.then(error);
          // Parked, jittered (half to all of the backoff), so parked calls do not come back as one burst.
          boolean openNow = failFast(tier.client().settings().failFastWhenOpen(), tier.client().breakerState());
          long backoff = Math.min(MAX_PARK_MS, MIN_PARK_MS << Math.min(5, f.tries() - 1));
          long retryAt = now + backoff / 2 + java.util.concurrent.ThreadLocalRandom.current().nextLong(backoff / 2 + 1);
          long maxWait = tier.client().settings().maxWait().toMillis();
          Long deadline = e.getDeadlineMs();
          boolean pastDeadline = deadline != null && retryAt > deadline;
          if (!openNow && retryAt - f.sinceMs() <= maxWait && !pastDeadline) {
            // The wait so far goes into the store with the escalation (this transaction), so that a
            // router restarted before the next try goes on counting max-wait from the first failure.
            pending.put(c.requestId(), Escalation.newBuilder(e).setTierWait(TierWait.newBuilder().setTier(tier.tier())
                .setSinceMs(f.sinceMs()).setTries(f.tries()).setFirstError(f.firstError()).setLastError(f.lastError())
                .build()).build());
            parked.add(new Parked(retryAt, c.requestId(), tier.tier(), tier.client().answeredCalls()));
            observer.escalationParked();
            continue;
          }
          // Which bound ended the wait: the open breaker; else the caller's deadline when it came
          // first, else max-wait; passed already, or passed by the next try (whose backoff would end beyond it).
          boolean byDeadline = pastDeadline && retryAt - f.sinceMs() <= maxWait;
          boolean passedAlready = byDeadline ? now >= deadline : now - f.sinceMs() >= maxWait;
          String bound = openNow ? "its circuit breaker is open (escalation.fail-fast-when-open)"
              : (passedAlready ? "past " : "another try would pass ") + (byDeadline
                  ? "the request's deadline_ms (" + (deadline - e.getCreatedAtMs()) + " ms after it was created)"
                  : "escalation.max-wait-ms (" + maxWait + ")");
          tierFailed = true;
          degradedReason = unavailable(c.tier(), f, now, bound);
          if (skips(tier, c.error(), deadline, now)) {
            skip(e, tier, openNow ? RoutingRecords.SKIPPED_BREAKER_OPEN
                : byDeadline ? RoutingRecords.SKIPPED_DEADLINE : RoutingRecords.SKIPPED_MAX_WAIT,
                degradedReason);
            continue;
          }
        }
      }
      boolean timeLeft = e.getDeadlineMs() == null || now < e.getDeadlineMs();
      if (degradedReason != null && endsInAPrefix(e) && !timeLeft) {
        degradedReason += "; no time was left before the request's deadline_ms to call "
            + tiers.tier(e.getTierAnswers().get(e.getTierAnswers().size() - 1).getTier()).name()
            + " again for its whole answer";
      } else if (degradedReason != null && endsInAPrefix(e)) {
        // The tier above a middle tier that stopped early is out of reach: that middle tier's whole
        // answer is the one to degrade to, so it is asked once more, without the early stop.
        Escalation fallback = Escalation.newBuilder(e).setDegradeFallback(degradedReason).build();
        LOG.warn("request {}: {}; calling {} again for its whole answer", c.requestId(), degradedReason,
            tierOf(fallback).name());
        pending.put(c.requestId(), fallback);
        notStarted.add(c.requestId());
        continue;
      }
      boolean noSmallAnswer = e.getSmallFailure() != null || SmallStop.PREGEN_SKIP.equals(e.getSmallStop());
      if (c.error() != null && noSmallAnswer && e.getTierAnswers().isEmpty()) {
        // Neither model answered: there is no small answer to degrade to.
        String why = e.getSmallFailure() != null ? e.getSmallFailure()
            : "the pre-generation skip sent it on without a small-model answer (" + e.getPregenSkipRule() + ")";
        if (deadlineFirst) {
          // Its caller stopped waiting first: answered deadline_exceeded, like a request the small
          // model took too late. Nothing failed, so it is no dead letter.
          answer(c.requestId(), records.deadlineExceeded(e, why + "; then " + degradedReason, c.millis(), now), now);
          continue;
        }
        RuntimeException both = new IllegalStateException(why + "; then " + c.tier() + " failed: " + degradedReason);
        LOG.error("request {}: {}", c.requestId(), both.getMessage());
        observer.deadLettered();
        CascadeTopology.deadLetter(context, replies, c.requestId().getBytes(java.nio.charset.StandardCharsets.UTF_8),
            DeadLetters.ofEscalation(e, DeadLetters.ESCALATION_STAGE, both, now), e.getReplyTo(), now);
        pending.delete(c.requestId());
        continue;
      }
      TierAnswer answer = c.error() == null ? scored(e, tierOf(e), c.answer(), c.stopThreshold(), c.sampledStop()) : null;
      if (answer != null && answer.getDeferred()) {
        // On to the next tier, this answer kept with the pending escalation (same transaction).
        Escalation next = Escalation.newBuilder(e).setTierAnswers(append(e.getTierAnswers(), answer)).build();
        pending.put(c.requestId(), next);
        notStarted.add(c.requestId());
        continue;
      }
      if (tierFailed) {
        // Refusals and dead letters log each request; a failing tier's degraded requests are
        // summed up, at most a line per tier every 10 s.
        tierOf(e).client().degraded("request " + c.requestId() + ": " + degradedReason);
      }
      finish(e, c, answer, degradedReason);
    }
  }

  /**
   * The failed calls of {@code e}'s wait for the tier it calls next, as stored with the escalation
   * when it was last parked (by this instance, or by one that has since stopped), else null (it has
   * not waited for that tier: a wait for an earlier tier does not count).
   */
  private static Failures failuresOf(Escalation e, int tier) {
    TierWait stored = e.getTierWait();
    if (stored == null || stored.getTier() != tier) {
      return null;
    }
    return new Failures(stored.getTries(), stored.getSinceMs(), stored.getFirstError(), stored.getLastError());
  }

  /**
   * Whether an escalation whose wait for {@code tier} just ended with {@code error} goes on to the
   * next tier instead of being degraded: {@code escalation.skip-unavailable-tiers} is on, the tier is
   * not the last (whose answer would be served: there is nothing to skip to), the tier is unavailable
   * ({@link #tierUnavailable}), and the request's deadline has not come (a call to the next tier
   * could still be answered in time).
   */
  private boolean skips(EscalationTiers.Tier tier, Throwable error, Long deadline, long now) {
    return tier.client().settings().skipUnavailableTiers() && !tiers.isLast(tier.tier())
        && tierUnavailable(EscalationClient.codeOf(error)) && (deadline == null || now < deadline);
  }

  /**
   * Whether a call that ended with gRPC code {@code code} ({@link EscalationClient#codeOf}) says its
   * tier is unavailable, so that a request may skip it: the breaker refused the call (CIRCUIT_OPEN:
   * open, or half-open with its trial calls out, after failures it counted), or the server could not
   * be reached or answered UNAVAILABLE after the client's retries (connection refused or reset, a
   * server shutting down). Not RESOURCE_EXHAUSTED (the tier is up and busy: its overflow is not sent
   * to a dearer tier unasked) nor DEADLINE_EXCEEDED (slow: once such failures open its breaker, the
   * calls it refuses are CIRCUIT_OPEN and skip it).
   */
  static boolean tierUnavailable(String code) {
    return EscalationClient.CIRCUIT_OPEN.equals(code) || io.grpc.Status.Code.UNAVAILABLE.name().equals(code);
  }

  /**
   * Skips middle tier {@code tier}: the escalation, with the skip recorded, is queued for the next
   * tier (its draft and fallback still the latest answer it has), in the same transaction as the skip.
   */
  private void skip(Escalation e, EscalationTiers.Tier tier, String cause, String reason) {
    SkippedTier skipped = SkippedTier.newBuilder().setTier(tier.tier()).setModel(tier.name()).setCause(cause)
        .setReason(reason).build();
    Escalation next = Escalation.newBuilder(e).setSkippedTiers(append(e.getSkippedTiers(), skipped)).build();
    pending.put(e.getRequestId(), next);
    notStarted.add(e.getRequestId());
    observer.tierSkipped(tier.name(), cause);
    tier.client().skipped("request " + e.getRequestId() + ": " + reason + "; sent on to " + tierOf(next).name());
  }

  /**
   * Answers an escalation: with {@code served}, the answer of the tier that ends the cascade (with
   * {@code degradedReason} too: a fallback's whole answer, served as SMALL_DEGRADED), or, when null,
   * degraded to the latest whole answer it has.
   */
  private void finish(Escalation e, Completion c, TierAnswer served, String degradedReason) {
    long now = context.currentSystemTimeMs();
    double escalationMs = e.getTierAnswers().stream().mapToDouble(TierAnswer::getLatencyMs).sum() + c.millis();
    String reason = degradedReason == null || e.getSkippedTiers().isEmpty() ? degradedReason
        : degradedReason + "; " + skippedBefore(e.getSkippedTiers());
    answer(c.requestId(), records.afterTiers(e, served, reason, escalationMs, now), now);
  }

  /** What a degraded reason adds about the tiers a request skipped, e.g. "skipped before: medium (breaker_open)". */
  static String skippedBefore(List<SkippedTier> skipped) {
    StringBuilder text = new StringBuilder("skipped before: ");
    for (int i = 0; i < skipped.size(); i++) {
      text.append(i == 0 ? "" : ", ").append(skipped.get(i).getModel()).append(" (")
          .append(skipped.get(i).getCause()).append(')');
    }
    return text.toString();
  }

  /** Forwards an escalation's response and outcome, and deletes it from the pending store (one transaction). */
  private void answer(String requestId, Routed.Answered answered, long now) {
    context.forward(CascadeTopology.responseRecord(requestId, answered.response(), now),
        CascadeTopology.RESPONSES_SINK);
    context.forward(new Record<>((Object) requestId, (Object) answered.outcome(), now), CascadeTopology.OUTCOMES_SINK);
    pending.delete(requestId);
  }

  /**
   * Why an escalation whose calls to {@code tier} kept failing is degraded, once {@code bound}
   * ended its wait (e.g. "another try would pass escalation.max-wait-ms (3000)").
   */
  static String unavailable(String tier, Failures f, long now, String bound) {
    String errors = f.tries() == 1 || f.firstError().equals(f.lastError()) ? f.lastError()
        : "first " + f.firstError() + "; last " + f.lastError();
    return String.format(java.util.Locale.ROOT, "%s unavailable for %d ms; %s after %d %s: %s",
        tier, now - f.sinceMs(), bound, f.tries(), f.tries() == 1 ? "try" : "tries", errors);
  }

  /**
   * Whether a call that failed as unavailable, overloaded, slow or refused by the breaker is
   * answered degraded at once instead of parked: {@code escalation.fail-fast-when-open} is on and
   * the tier's breaker is open now ({@link EscalationClient#isOpen}: refusing every call; not
   * half-open, whose trial calls may find the model back).
   */
  static boolean failFast(boolean failFastWhenOpen, io.github.resilience4j.circuitbreaker.CircuitBreaker.State breaker) {
    return failFastWhenOpen && EscalationClient.isOpen(breaker);
  }

  /**
   * A failed call's reason: its kind and message ({@link EscalationClient#describe}); for a call the
   * breaker refused, which says only that it is open or half-open, with the last failure the
   * breaker counted against the model: the cause an operator needs.
   */
  static String failure(Throwable error, java.util.Optional<String> lastCounted) {
    String described = EscalationClient.describe(error);
    if (!EscalationClient.CIRCUIT_OPEN.equals(EscalationClient.codeOf(error))) {
      return described;
    }
    return described + " (its last counted failure: " + lastCounted.orElse("none") + ")";
  }

  /** A call not made because the request's deadline had passed (its caller had stopped waiting). */
  private static final class DeadlinePassed extends RuntimeException {
    DeadlinePassed(String message) {
      super(message, null, false, false);
    }
  }

  private static <T> java.util.List<T> append(java.util.List<T> items, T item) {
    java.util.List<T> more = new java.util.ArrayList<>(items);
    more.add(item);
    return more;
  }

  private static Throwable unwrap(Throwable error) {
    return error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
  }

  @Override
  public void close() {
    inFlight.values().forEach(f -> f.cancel(true));
    observer.largeModelCallsAbandoned(inFlight.size());
    callPermits.release(inFlight.size());
    inFlight.clear();
    if (ticker != null) {
      ticker.release();
    }
  }
}
