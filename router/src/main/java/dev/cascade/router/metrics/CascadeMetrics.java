package dev.cascade.router.metrics;

import dev.cascade.router.cache.ResponseCache;
import dev.cascade.router.escalation.EscalationClient;
import dev.cascade.router.routing.RoutingObserver;
import dev.cascade.router.routing.Scored;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.avro.StageLatencies;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.prometheus.metrics.core.datapoints.CounterDataPoint;
import io.prometheus.metrics.core.datapoints.DistributionDataPoint;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.Locale;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The cascade's own Prometheus metrics: what the router decided, served, spent and waited for.
 * README.md ("Metrics") lists every name with its type, labels and meaning; labels take values
 * from small fixed sets only (never a prompt or a request id). Registered on the registry given
 * to {@link #register}, not the default one, so several routers can share a JVM.
 *
 * <p>Counted where the router builds its records, so a task that is revived and processes a
 * record again (exactly-once aborts its first output, not this count) may count it twice.
 */
public final class CascadeMetrics implements RoutingObserver {

  /** {@code cascade_tier_decisions_total}'s decisions. */
  static final String PASS_ON = "pass_on";
  static final String SERVE = "serve";
  static final String EXPLORE = "explore";

  /** The request outcomes {@code cascade_requests_total} counts; they partition the requests received. */
  public static final String[] OUTCOMES = {"served_small", "served_large", "small_degraded", "cache_hit",
      "dead_lettered", "deadline_exceeded"};
  /** The stages {@code cascade_stage_duration_seconds} times. */
  public static final String[] STAGES = {"queue", "small_model", "features_rule", "escalation", "end_to_end"};

  static final double[] LATENCY_BUCKETS = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
      5, 10, 30};
  static final double[] SCORE_BUCKETS = {0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20, 50,
      100};
  static final double[] BATCH_BUCKETS = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};

  private final CounterDataPoint received;
  private final CounterDataPoint restored;
  private final CounterDataPoint servedSmall;
  private final CounterDataPoint servedLarge;
  private final CounterDataPoint smallDegraded;
  private final CounterDataPoint cacheHit;
  private final CounterDataPoint deadLettered;
  private final CounterDataPoint deadlineExceeded;
  private final CounterDataPoint deferred;
  private final CounterDataPoint explored;
  private final Histogram scores;
  private final Gauge threshold;
  private final Gauge policyVersion;
  private final CounterDataPoint policyUpdates;
  private final AtomicLong highestPolicyVersion;
  private final DistributionDataPoint queue;
  private final DistributionDataPoint smallModel;
  private final DistributionDataPoint featuresRule;
  private final DistributionDataPoint escalation;
  private final DistributionDataPoint endToEnd;
  private final Histogram batchSize;
  private final Counter largeModelCalls;
  private final Counter largeModelRefusals;
  private final Counter smallModelFailures;
  private final Counter earlyDeferrals;
  private final Counter earlyDeferralsDecodedForLabel;
  private final Counter tierEarlyDeferrals;
  private final Counter tierDecodedForLabel;
  private final Counter earlyDeferralsBelowThreshold;
  private final Counter tierDecisions;
  private final Gauge tierThreshold;
  private final Counter pregenSkips;
  private final Counter shedShort;
  private final Counter pregenSkipFailures;
  private final Counter escalationWaits;
  private final Counter tierFallbacks;
  private final Counter tiersSkipped;
  private final Counter ruleFallbacks;
  private final Counter ruleRecords;
  private final Gauge ruleVersion;
  private final Gauge inFlight;
  private final CounterDataPoint costSpent;
  private final CounterDataPoint costLargeOnly;
  private final ConcurrentHashMap<String, DistributionDataPoint> scoreByRule = new ConcurrentHashMap<>();
  private final PrometheusRegistry registry;
  /** Every tier's circuit breaker, by tier name, in the order added. */
  private final java.util.Map<String, CircuitBreaker> breakers =
      java.util.Collections.synchronizedMap(new java.util.LinkedHashMap<>());

  private CascadeMetrics(PrometheusRegistry registry, double startingThreshold, long startingPolicyVersion) {
    this.registry = registry;
    received = Counter.builder().name("cascade_requests_received_total")
        .help("Records that arrived on the requests topic (each ends in exactly one cascade_requests_total outcome)")
        .withoutExemplars().register(registry);
    restored = Counter.builder().name("cascade_requests_restored_total")
        .help("Requests an earlier owner of a task took in but did not answer, found in its batch store and batched again")
        .withoutExemplars().register(registry);
    Counter requests = Counter.builder().name("cascade_requests_total")
        .help("Requests answered or refused, by outcome: served_small, served_large, small_degraded, cache_hit "
            + "(served small from the response cache), dead_lettered, deadline_exceeded (answered without any model:"
            + " its deadline_ms had passed)")
        .labelNames("outcome").withoutExemplars().register(registry);
    servedSmall = requests.labelValues("served_small");
    servedLarge = requests.labelValues("served_large");
    smallDegraded = requests.labelValues("small_degraded");
    cacheHit = requests.labelValues("cache_hit");
    deadLettered = requests.labelValues("dead_lettered");
    deadlineExceeded = requests.labelValues("deadline_exceeded");
    Counter escalations = Counter.builder().name("cascade_escalations_total")
        .help("Requests sent to the large model, by decision: defer (score above threshold) or explore")
        .labelNames("decision").withoutExemplars().register(registry);
    deferred = escalations.labelValues("defer");
    explored = escalations.labelValues("explore");
    scores = Histogram.builder().name("cascade_deferral_score")
        .help("Deferral scores of decided requests, by rule (higher means more likely to defer)")
        .labelNames("rule").classicOnly().classicUpperBounds(SCORE_BUCKETS).withoutExemplars().register(registry);
    threshold = Gauge.builder().name("cascade_policy_threshold")
        .help("Threshold of the latest decision (the target-rate controller's when the policy holds a rate), or of the"
            + " policy read since")
        .withoutExemplars().register(registry);
    threshold.set(startingThreshold);
    policyVersion = Gauge.builder().name("cascade_policy_version")
        .help("Version of the policy of the latest decision, or of the policy read since (0: the configured default)")
        .withoutExemplars().register(registry);
    policyVersion.set(startingPolicyVersion);
    highestPolicyVersion = new AtomicLong(startingPolicyVersion);
    policyUpdates = Counter.builder().name("cascade_policy_updates_applied_total")
        .help("Policy versions newer than any before that came into force on this instance")
        .withoutExemplars().register(registry);
    ruleFallbacks = Counter.builder().name("cascade_rule_fallbacks_total")
        .help("Requests the policy's fallback rule scored because its rule could not: unknown_rule, missing_version, "
            + "pending_version (newer than any this router has, still 30 s after the policy naming it), other_model,"
            + " score_failed")
        .labelNames("reason").withoutExemplars().register(registry);
    for (dev.cascade.router.learning.RuleResolver.Problem p : dev.cascade.router.learning.RuleResolver.Problem.values()) {
      ruleFallbacks.labelValues(p.label()); // every series from 0, so an alert on increase() sees the first
    }
    ruleRecords = Counter.builder().name("cascade_rules_records_total")
        .help("Rules-topic records read: loaded, other_model (made for another small model, skipped), undecodable")
        .labelNames("result").withoutExemplars().register(registry);
    for (dev.cascade.router.learning.RuleCatalog.Admission a : dev.cascade.router.learning.RuleCatalog.Admission.values()) {
      ruleRecords.labelValues(label(a));
    }
    ruleVersion = Gauge.builder().name("cascade_rule_version")
        .help("Version of the learned rule of the latest decision, or of the policy read since (-1: a closed-form rule)")
        .withoutExemplars().register(registry);
    ruleVersion.set(-1);
    Histogram stages = Histogram.builder().name("cascade_stage_duration_seconds")
        .help("Time a request spent per stage: queue, small_model (0 on a cache hit), features_rule, escalation "
            + "(escalated requests only), end_to_end (received to answered)")
        .labelNames("stage").classicOnly().classicUpperBounds(LATENCY_BUCKETS).withoutExemplars().register(registry);
    queue = stages.labelValues("queue");
    smallModel = stages.labelValues("small_model");
    featuresRule = stages.labelValues("features_rule");
    escalation = stages.labelValues("escalation");
    endToEnd = stages.labelValues("end_to_end");
    batchSize = Histogram.builder().name("cascade_microbatch_size")
        .help("Requests per small-model micro-batch")
        .classicOnly().classicUpperBounds(BATCH_BUCKETS).withoutExemplars().register(registry);
    largeModelCalls = Counter.builder().name("cascade_large_model_calls_total")
        .help("Calls to the models after the small one, by tier name and final gRPC status code after retries"
            + " (CIRCUIT_OPEN: refused by the tier's open breaker)")
        .labelNames("tier", "code").withoutExemplars().register(registry);
    escalationWaits = Counter.builder().name("cascade_escalation_waits_total")
        .help("Large-model calls that failed as unavailable, overloaded, slow or breaker-open and were parked to be"
            + " tried again, within escalation.max-wait-ms")
        .withoutExemplars().register(registry);
    tierFallbacks = Counter.builder().name("cascade_tier_fallbacks_total")
        .help("Middle tiers called once more for their whole answer, because the tier above failed for good after"
            + " the middle tier had stopped early (escalation.early-defer); that answer is served SMALL_DEGRADED")
        .withoutExemplars().register(registry);
    tiersSkipped = Counter.builder().name("cascade_tiers_skipped_total")
        .help("Escalations that passed over an unavailable middle tier to the next one (escalation.skip-unavailable-tiers;"
            + " skipped_tiers in the outcome), by tier name and reason: breaker_open, max_wait, deadline")
        .labelNames("tier", "reason").withoutExemplars().register(registry);
    smallModelFailures = Counter.builder().name("cascade_small_model_failures_total")
        .help("Requests the small model did not answer (a failed or timed-out batch), escalated to the large model"
            + " without its answer (small_failure on the outcome)")
        .withoutExemplars().register(registry);
    pregenSkips = Counter.builder().name("cascade_pregen_skips_total")
        .help("Requests escalated without small-model decoding because the policy's pre-generation skip rule"
            + " flagged their prompt (small_stop pregen-skip on the outcome)")
        .withoutExemplars().register(registry);
    shedShort = Counter.builder().name("cascade_requests_shed_short_total")
        .help("Requests answered deadline_exceeded before their deadline_ms had passed, because it was nearer than the"
            + " small model's recent median generation time (small.shed-short-requests); each is also counted in"
            + " cascade_requests_total{outcome=\"deadline_exceeded\"}")
        .withoutExemplars().register(registry);
    pregenSkipFailures = Counter.builder().name("cascade_pregen_skip_failures_total")
        .help("Requests decoded as usual because the policy's pre-generation skip rule could not score them (missing"
            + " or made for another model here, or the prompt pass or the rule failed)")
        .withoutExemplars().register(registry);
    earlyDeferrals = Counter.builder().name("cascade_small_early_deferrals_total")
        .help("Answered requests whose small-model decoding was stopped once their deferral was decided (small_stop"
            + " early-defer on the outcome; small.early-defer, the policy's early_defer_margin)")
        .withoutExemplars().register(registry);
    earlyDeferralsDecodedForLabel = Counter.builder().name("cascade_small_early_deferrals_decoded_for_label_total")
        .help("Answered requests that early deferral would have stopped but that were decoded to their end, so"
            + " that the continuous learner has their whole answers (label_propensity on the outcome;"
            + " small.early-defer-label-share); not counted in cascade_small_early_deferrals_total")
        .withoutExemplars().register(registry);
    tierEarlyDeferrals = Counter.builder().name("cascade_tier_early_deferrals_total")
        .help("Middle-tier answers that the tier's server stopped once the tier's exact rule had decided to pass the"
            + " request on (stopped_early in the outcome's tier_answers; escalation.early-defer), by tier name")
        .labelNames("tier").withoutExemplars().register(registry);
    tierDecodedForLabel = Counter.builder().name("cascade_tier_early_deferrals_decoded_for_label_total")
        .help("Middle-tier answers that the tier's early deferral would have stopped but that were decoded to their"
            + " end, so that eval --outcomes --tier N has their whole answers (label_propensity in the outcome's"
            + " tier_answers; escalation.early-defer-label-share), by tier name; not in cascade_tier_early_deferrals_total")
        .labelNames("tier").withoutExemplars().register(registry);
    earlyDeferralsBelowThreshold = Counter.builder().name("cascade_early_deferrals_below_threshold_total")
        .help("Requests stopped early whose prefix scored at or below the threshold they were then decided by (the"
            + " small model's, or a middle tier's by name): under a target rate the threshold rose past the stop"
            + " threshold while they decoded. Passed on all the same; their whole answers might have been served."
            + " A count rising against the early deferrals says policy.target-early-defer-margin is too small")
        .labelNames("model").withoutExemplars().register(registry);
    earlyDeferralsBelowThreshold.labelValues("small");
    tierDecisions = Counter.builder().name("cascade_tier_decisions_total")
        .help("Answers of a middle tier decided by its rule, by tier name and decision: pass_on (to the next tier),"
            + " explore (passed on although the rule would serve it: policy.tier-exploration-rates) or serve; pass_on"
            + " and explore over all three are the share the tier passes on, which policy.tier-target-rates holds")
        .labelNames("tier", "decision").withoutExemplars().register(registry);
    tierThreshold = Gauge.builder().name("cascade_tier_threshold")
        .help("Threshold of a middle tier's latest decision, by tier name: its fixed one, or the one its target rate"
            + " holds (+Inf or -Inf where the target passes on none or every request)")
        .labelNames("tier").withoutExemplars().register(registry);
    largeModelRefusals = Counter.builder().name("cascade_large_model_refusals_total")
        .help("Calls to the models after the small one refused as wrong or not allowed (INVALID_ARGUMENT,"
            + " FAILED_PRECONDITION, ...), by tier name and code: a router-server contract mismatch to alarm on; each is"
            + " also logged as an error")
        .labelNames("tier", "code").withoutExemplars().register(registry);
    inFlight = Gauge.builder().name("cascade_escalations_in_flight")
        .help("Large-model calls started and not yet answered")
        .withoutExemplars().register(registry);
    costSpent = Counter.builder().name("cascade_cost_units_spent_total")
        .help("Cost units spent on answered requests (small model always, plus the large model when called)")
        .withoutExemplars().register(registry);
    costLargeOnly = Counter.builder().name("cascade_cost_units_large_only_total")
        .help("Cost units the answered requests would have cost sent straight to the large model")
        .withoutExemplars().register(registry);
    GaugeWithCallback.builder().name("cascade_circuit_breaker_state")
        .help("Each tier's circuit breaker, by tier name: 1 for its current state, 0 for the others")
        .labelNames("tier", "state")
        .callback(cb -> {
          java.util.List<java.util.Map.Entry<String, CircuitBreaker>> all;
          synchronized (breakers) {
            all = java.util.List.copyOf(breakers.entrySet());
          }
          for (java.util.Map.Entry<String, CircuitBreaker> t : all) {
            CircuitBreaker.State now = t.getValue().getState();
            for (CircuitBreaker.State s : CircuitBreaker.State.values()) {
              cb.call(s == now ? 1 : 0, t.getKey(), s.name().toLowerCase(Locale.ROOT));
            }
          }
        }).register(registry);
    GaugeWithCallback.builder().name("cascade_cost_units_saved")
        .help("cascade_cost_units_large_only_total minus cascade_cost_units_spent_total (negative when escalations "
            + "cost more than they save)")
        .callback(cb -> cb.call(costLargeOnly.get() - costSpent.get())).register(registry);
  }

  /**
   * Registers the cascade's metrics on {@code registry}.
   *
   * @param startingThreshold the configured default policy's threshold, shown until the first decision
   * @param startingPolicyVersion the configured default policy's version
   */
  public static CascadeMetrics register(PrometheusRegistry registry, double startingThreshold,
      long startingPolicyVersion) {
    return new CascadeMetrics(registry, startingThreshold, startingPolicyVersion);
  }

  /** Adds the response cache's hits, misses and evictions (Caffeine's statistics) and its size. */
  public void observe(ResponseCache cache) {
    CounterWithCallback.builder().name("cascade_cache_hits_total")
        .help("Response-cache lookups that found a generation (Caffeine statistics)")
        .callback(cb -> cb.call(cache.stats().hitCount())).register(registry);
    CounterWithCallback.builder().name("cascade_cache_misses_total")
        .help("Response-cache lookups that found none (Caffeine statistics)")
        .callback(cb -> cb.call(cache.stats().missCount())).register(registry);
    CounterWithCallback.builder().name("cascade_cache_evictions_total")
        .help("Generations evicted from the response cache, by size or expiry (Caffeine statistics)")
        .callback(cb -> cb.call(cache.stats().evictionCount())).register(registry);
    GaugeWithCallback.builder().name("cascade_cache_entries")
        .help("Generations in the response cache (approximate)")
        .callback(cb -> cb.call(cache.size())).register(registry);
  }

  /**
   * Adds what the small model reports of itself: the generations started from the prompt pass's
   * prefill, where it keeps them (a model with a key/value cache and prefill reuse on).
   */
  public void observeSmall(dev.cascade.models.TextGenerator small) {
    if (small.prefillsReused().isPresent()) {
      CounterWithCallback.builder().name("cascade_small_prefills_reused_total")
          .help("Small-model generations started from the prefill of the prompt pass that scored their prompt,"
              + " not from their own")
          .callback(cb -> cb.call(small.prefillsReused().orElse(0))).register(registry);
    }
  }

  /**
   * The models after the small one, by name, cheapest first: their labelled series from 0, so that
   * {@code rate()} and {@code increase()} see each one's first count (a series that first appears
   * at 1 shows no increase): {@code cascade_large_model_calls_total} for every code a call can end
   * with ({@link EscalationClient#CODES}), {@code cascade_large_model_refusals_total} for every
   * refusal code, and {@code cascade_tier_early_deferrals_total}, {@code
   * cascade_early_deferrals_below_threshold_total} and {@code cascade_tier_decisions_total} for each
   * tier but the last.
   */
  public void tiers(java.util.List<String> names) {
    for (int i = 0; i < names.size(); i++) {
      String tier = names.get(i);
      EscalationClient.CODES.forEach(code -> largeModelCalls.labelValues(tier, code));
      EscalationClient.REFUSALS.forEach(code -> largeModelRefusals.labelValues(tier, code));
      if (i < names.size() - 1) {
        tierEarlyDeferrals.labelValues(tier);
        tierDecodedForLabel.labelValues(tier);
        earlyDeferralsBelowThreshold.labelValues(tier);
        tierDecisions.labelValues(tier, PASS_ON);
        tierDecisions.labelValues(tier, SERVE);
        tierDecisions.labelValues(tier, EXPLORE);
      }
    }
  }

  /**
   * Adds tier {@code tier}'s circuit breaker to {@code cascade_circuit_breaker_state}: 1 for the
   * state it is in, 0 for the others, labelled with the tier's name.
   */
  public void observe(String tier, CircuitBreaker breaker) {
    if (breakers.putIfAbsent(tier, breaker) != null) {
      throw new IllegalArgumentException("tier '" + tier + "' has a circuit breaker already");
    }
  }

  @Override
  public void received() {
    received.inc();
  }

  @Override
  public void deadLettered() {
    deadLettered.inc();
  }

  @Override
  public void restored(int count) {
    restored.inc(count);
  }

  @Override
  public void batchRouted(int size) {
    batchSize.observe(size);
  }

  @Override
  public void decided(Scored scored) {
    scoreByRule.computeIfAbsent(scored.rule(), scores::labelValues).observe(scored.score());
    switch (scored.decision()) {
      case DEFER -> deferred.inc();
      case EXPLORE -> explored.inc();
      default -> { }
    }
    threshold.set(scored.threshold());
    ruleVersion.set(scored.ruleVersion() == null ? -1 : scored.ruleVersion());
    long version = scored.policyVersion();
    policyVersion.set(version);
    if (version > highestPolicyVersion.get() && version > highestPolicyVersion.getAndAccumulate(version, Math::max)) {
      policyUpdates.inc();
    }
  }

  @Override
  public void policyRead(long version, double policyThreshold, Long policyRuleVersion) {
    policyVersion.set(version);
    threshold.set(policyThreshold);
    ruleVersion.set(policyRuleVersion == null ? -1 : policyRuleVersion);
  }

  @Override
  public void answered(RoutingOutcome outcome) {
    if (outcome.getDeadlineExceeded()) {
      // No model ran: no stage but the wait before it took any time, and nothing was spent.
      deadlineExceeded.inc();
      queue.observe(outcome.getLatencies().getQueueMs() / 1e3);
      endToEnd.observe(outcome.getLatencies().getTotalMs() / 1e3);
      return;
    }
    switch (outcome.getServedBy()) {
      case SMALL -> (outcome.getCacheHit() ? cacheHit : servedSmall).inc();
      case LARGE -> servedLarge.inc();
      case SMALL_DEGRADED -> smallDegraded.inc();
      default -> throw new IllegalArgumentException("served_by: unknown " + outcome.getServedBy());
    }
    StageLatencies l = outcome.getLatencies();
    queue.observe(l.getQueueMs() / 1e3);
    smallModel.observe(l.getSmallModelMs() / 1e3);
    featuresRule.observe(l.getRuleMs() / 1e3);
    if (outcome.getServedBy() != dev.cascade.schemas.avro.ServedBy.SMALL) {
      escalation.observe(l.getEscalationMs() / 1e3);
    }
    endToEnd.observe(l.getTotalMs() / 1e3);
    costSpent.inc(outcome.getCostUnits());
    costLargeOnly.inc(outcome.getCostUnitsLargeOnly());
    if (dev.cascade.router.routing.SmallStop.EARLY_DEFER.equals(outcome.getSmallStop())) {
      earlyDeferrals.inc();
      if (!(outcome.getScore() > outcome.getThreshold())) {
        earlyDeferralsBelowThreshold.labelValues("small").inc();
      }
    }
    if (outcome.getLabelPropensity() != null) {
      earlyDeferralsDecodedForLabel.inc();
    }
    for (dev.cascade.schemas.avro.TierAnswer t : outcome.getTierAnswers()) {
      if (t.getLabelPropensity() != null) {
        tierDecodedForLabel.labelValues(t.getModel()).inc();
      }
      if (t.getStoppedEarly()) {
        tierEarlyDeferrals.labelValues(t.getModel()).inc();
        if (t.getScore() != null && t.getThreshold() != null && !(t.getScore() > t.getThreshold())) {
          earlyDeferralsBelowThreshold.labelValues(t.getModel()).inc();
        }
      }
    }
  }

  @Override
  public void ruleFallback(dev.cascade.router.learning.RuleResolver.Problem problem) {
    ruleFallbacks.labelValues(problem.label()).inc();
  }

  @Override
  public void ruleRecord(dev.cascade.router.learning.RuleCatalog.Admission admission) {
    ruleRecords.labelValues(label(admission)).inc();
  }

  private static String label(dev.cascade.router.learning.RuleCatalog.Admission admission) {
    return admission.name().toLowerCase(Locale.ROOT);
  }

  @Override
  public void escalationParked() {
    escalationWaits.inc();
  }

  @Override
  public void tierFallback() {
    tierFallbacks.inc();
  }

  /**
   * Serves {@code cascade_tiers_skipped_total} at 0 for the middle tier named {@code tier}, for each
   * reason, before any is counted (an alert on its increase then sees the first skip).
   */
  public void middleTier(String tier) {
    for (String reason : dev.cascade.router.routing.RoutingRecords.SKIP_CAUSES) {
      tiersSkipped.labelValues(tier, reason);
    }
  }

  @Override
  public void tierDecided(String tier, double threshold, boolean passedOn, boolean explored) {
    tierDecisions.labelValues(tier, explored ? EXPLORE : passedOn ? PASS_ON : SERVE).inc();
    tierThreshold.labelValues(tier).set(threshold);
  }

  @Override
  public void tierSkipped(String tier, String cause) {
    tiersSkipped.labelValues(tier, cause).inc();
  }

  @Override
  public void pregenSkipped() {
    pregenSkips.inc();
  }

  @Override
  public void shedShort() {
    shedShort.inc();
  }

  @Override
  public void pregenSkipFailed(int requests) {
    pregenSkipFailures.inc(requests);
  }

  @Override
  public void smallModelFailed(int requests) {
    smallModelFailures.inc(requests);
  }

  @Override
  public void largeModelCallStarted() {
    inFlight.inc();
  }

  @Override
  public void largeModelCallEnded(String tier, Throwable error) {
    inFlight.dec();
    String code = EscalationClient.codeOf(error);
    largeModelCalls.labelValues(tier, code).inc();
    if (EscalationClient.isRefusal(code)) {
      largeModelRefusals.labelValues(tier, code).inc();
    }
  }

  @Override
  public void largeModelCallsAbandoned(int count) {
    inFlight.dec(count);
  }
}
