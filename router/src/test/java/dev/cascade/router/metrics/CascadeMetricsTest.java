package dev.cascade.router.metrics;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.cascade.models.Generation;
import dev.cascade.router.cache.ResponseCache;
import dev.cascade.router.escalation.LargeAnswer;
import dev.cascade.router.features.FeatureExtractor;
import dev.cascade.router.policy.Decision;
import dev.cascade.router.routing.CostModel;
import dev.cascade.router.routing.PendingRequest;
import dev.cascade.router.routing.Routed;
import dev.cascade.router.routing.RoutingRecords;
import dev.cascade.router.routing.Scored;
import dev.cascade.schemas.avro.CascadeRequest;
import io.github.resilience4j.circuitbreaker.CallNotPermittedException;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.grpc.Status;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

class CascadeMetricsTest {

  private static final Generation SMALL = new Generation("abc", new int[] {1, 2, 3}, new float[] {-0.1f, -0.2f, -0.3f},
      new float[] {0.1f, 0.1f, 0.1f}, null);

  private final PrometheusRegistry registry = new PrometheusRegistry();
  private final CascadeMetrics metrics = CascadeMetrics.register(registry, 0.7, 0);
  private final RoutingRecords records = new RoutingRecords(new CostModel(1, 10), String::length, metrics);

  private static PendingRequest request(String id) {
    return new PendingRequest(CascadeRequest.newBuilder().setRequestId(id).setPrompt("word")
        .setMetadata(Map.of()).setCreatedAtMs(0).build(), 1_000);
  }

  private static Scored scored(Decision decision, double score, long version) {
    return new Scored(FeatureExtractor.extract(SMALL.tokenLogprobs(), SMALL.entropies()), "chow-quantile", 0, score,
        0.5, version, decision, 1.0);
  }

  private Scrape scrape() {
    return Scrape.parse(Exposition.of(registry));
  }

  @Test
  void eachAnswerCountsOnceUnderItsOutcomeAndIsTimedPerStage() {
    records.answered(request("a"), SMALL, scored(Decision.ACCEPT, 0.2, 0), 2, 30, 1_040, false);
    records.answered(request("b"), SMALL, scored(Decision.ACCEPT, 0.2, 0), 4, 0, 1_010, true);
    Routed.Escalated large = records.escalated(request("c"), SMALL, scored(Decision.DEFER, 0.9, 0), 2, 30, 1_040);
    Routed.Escalated degraded = records.escalated(request("d"), SMALL, scored(Decision.EXPLORE, 0.1, 0), 2, 30, 1_040);
    records.afterEscalation(large.escalation(), new LargeAnswer("abd", new int[] {1, 2, 4}, new float[3], 50, 1),
        null, 50, 1_100);
    records.afterEscalation(degraded.escalation(), null, "UNAVAILABLE", 20, 1_070);

    Scrape s = scrape();
    assertThat(s.value("cascade_requests_total", "outcome", "served_small")).isEqualTo(1);
    assertThat(s.value("cascade_requests_total", "outcome", "cache_hit")).isEqualTo(1);
    assertThat(s.value("cascade_requests_total", "outcome", "served_large")).isEqualTo(1);
    assertThat(s.value("cascade_requests_total", "outcome", "small_degraded")).isEqualTo(1);
    assertThat(s.value("cascade_escalations_total", "decision", "defer")).isEqualTo(1);
    assertThat(s.value("cascade_escalations_total", "decision", "explore")).isEqualTo(1);
    assertThat(s.value("cascade_deferral_score_count", "rule", "chow-quantile")).isEqualTo(4);
    assertThat(s.value("cascade_stage_duration_seconds_count", "stage", "end_to_end")).isEqualTo(4);
    assertThat(s.value("cascade_stage_duration_seconds_count", "stage", "escalation")).isEqualTo(2);
    assertThat(s.value("cascade_stage_duration_seconds_sum", "stage", "escalation")).isCloseTo(0.070, within(1e-9));
    assertThat(s.value("cascade_stage_duration_seconds_sum", "stage", "queue")).isCloseTo(0.010, within(1e-9));
    // end to end: 40 ms, 10 ms, and the escalated ones 40 ms before escalating plus 60 and 30 ms after.
    assertThat(s.value("cascade_stage_duration_seconds_sum", "stage", "end_to_end")).isCloseTo(0.220, within(1e-9));
    // Prompt "word" (4) + 3 tokens: small 7 units each; large 70. Spent: 7 + 7 + (7 + 70) + 7.
    assertThat(s.value("cascade_cost_units_spent_total")).isEqualTo(98);
    assertThat(s.value("cascade_cost_units_large_only_total")).isEqualTo(280);
    assertThat(s.value("cascade_cost_units_saved")).isEqualTo(182);
  }

  @Test
  void aRequestAnsweredPastItsDeadlineCountsAsDeadlineExceededAndSpendsNothing() {
    PendingRequest late = new PendingRequest(CascadeRequest.newBuilder().setRequestId("late").setPrompt("word")
        .setMetadata(Map.of()).setCreatedAtMs(0).setDeadlineMs(500L).build(), 1_000);
    records.deadlineExceeded(late, new dev.cascade.router.policy.DeferralPolicy("chow-quantile", 0, 0.5, 0, 0, 0,
        "test", 0, ""), 6, 1_010);

    Scrape s = scrape();
    assertThat(s.value("cascade_requests_total", "outcome", "deadline_exceeded")).isEqualTo(1);
    assertThat(s.value("cascade_requests_total", "outcome", "small_degraded")).isZero();
    assertThat(s.sum("cascade_escalations_total")).isZero();
    assertThat(s.value("cascade_stage_duration_seconds_count", "stage", "small_model")).as("no model ran").isZero();
    assertThat(s.value("cascade_stage_duration_seconds_sum", "stage", "queue")).isCloseTo(0.006, within(1e-9));
    assertThat(s.value("cascade_stage_duration_seconds_sum", "stage", "end_to_end")).isCloseTo(0.010, within(1e-9));
    assertThat(s.value("cascade_cost_units_spent_total")).isZero();
    assertThat(s.value("cascade_cost_units_large_only_total")).isZero();
  }

  @Test
  void policyUpdatesCountNewerVersionsOnceAndTheGaugesFollowTheLatestDecision() {
    assertThat(scrape().value("cascade_policy_threshold")).isEqualTo(0.7);
    for (long version : new long[] {0, 3, 3, 2, 5, 5}) {
      metrics.decided(scored(Decision.ACCEPT, 0.1, version));
    }
    Scrape s = scrape();
    assertThat(s.value("cascade_policy_updates_applied_total")).isEqualTo(2);
    assertThat(s.value("cascade_policy_version")).isEqualTo(5);
    assertThat(s.value("cascade_policy_threshold")).isEqualTo(0.5);
  }

  @Test
  void aMiddleTiersSkipsAreServedAtZeroForEveryReasonThenCounted() {
    metrics.middleTier("medium");
    Scrape fresh = scrape();
    for (String reason : RoutingRecords.SKIP_CAUSES) {
      assertThat(fresh.value("cascade_tiers_skipped_total", "tier", "medium", "reason", reason)).as(reason).isZero();
    }
    assertThat(fresh.samples()).noneMatch(sample -> sample.name().equals("cascade_tiers_skipped_total")
        && !sample.labels().get("tier").equals("medium"));
    metrics.tierSkipped("medium", RoutingRecords.SKIPPED_BREAKER_OPEN);
    metrics.tierSkipped("medium", RoutingRecords.SKIPPED_BREAKER_OPEN);
    metrics.tierSkipped("medium", RoutingRecords.SKIPPED_MAX_WAIT);
    Scrape s = scrape();
    assertThat(s.value("cascade_tiers_skipped_total", "tier", "medium", "reason", "breaker_open")).isEqualTo(2);
    assertThat(s.value("cascade_tiers_skipped_total", "tier", "medium", "reason", "max_wait")).isEqualTo(1);
    assertThat(s.value("cascade_tiers_skipped_total", "tier", "medium", "reason", "deadline")).isZero();
  }

  @Test
  void largeModelCallsAreCountedByFinalStatusAndLeaveTheInFlightGauge() {
    CircuitBreaker breaker = CircuitBreaker.ofDefaults("test");
    for (int i = 0; i < 4; i++) {
      metrics.largeModelCallStarted();
    }
    metrics.largeModelCallEnded("medium", null);
    metrics.largeModelCallEnded("large", new CompletionException(Status.UNAVAILABLE.asRuntimeException()));
    metrics.largeModelCallEnded("large", CallNotPermittedException.createCallNotPermittedException(breaker));
    Scrape s = scrape();
    assertThat(s.value("cascade_large_model_calls_total", "tier", "medium", "code", "OK")).isEqualTo(1);
    assertThat(s.value("cascade_large_model_calls_total", "tier", "large", "code", "UNAVAILABLE")).isEqualTo(1);
    assertThat(s.value("cascade_large_model_calls_total", "tier", "large", "code", "CIRCUIT_OPEN")).isEqualTo(1);
    assertThat(s.has("cascade_large_model_refusals_total")).isFalse();
    assertThat(s.value("cascade_escalations_in_flight")).isEqualTo(1);
    metrics.largeModelCallsAbandoned(1);
    assertThat(scrape().value("cascade_escalations_in_flight")).isZero();
    assertThat(dev.cascade.router.escalation.EscalationClient.codeOf(new IllegalStateException("x"))).isEqualTo("UNKNOWN");
  }

  @Test
  void refusalsAreCountedByTierAndCode() {
    metrics.largeModelCallStarted();
    metrics.largeModelCallEnded("medium", Status.FAILED_PRECONDITION.asRuntimeException());
    Scrape s = scrape();
    assertThat(s.value("cascade_large_model_refusals_total", "tier", "medium", "code", "FAILED_PRECONDITION"))
        .isEqualTo(1);
    assertThat(s.value("cascade_large_model_calls_total", "tier", "medium", "code", "FAILED_PRECONDITION"))
        .isEqualTo(1);
  }

  @Test
  void everyTiersBreakerIsShownWithItsTierName() {
    CircuitBreaker medium = CircuitBreaker.ofDefaults("medium");
    CircuitBreaker large = CircuitBreaker.ofDefaults("large");
    metrics.observe("medium", medium);
    metrics.observe("large", large);
    medium.transitionToOpenState();
    Scrape s = scrape();
    assertThat(s.value("cascade_circuit_breaker_state", "tier", "medium", "state", "open")).isEqualTo(1);
    assertThat(s.value("cascade_circuit_breaker_state", "tier", "medium", "state", "closed")).isZero();
    assertThat(s.value("cascade_circuit_breaker_state", "tier", "large", "state", "closed")).isEqualTo(1);
    assertThat(s.value("cascade_circuit_breaker_state", "tier", "large", "state", "open")).isZero();
    assertThat(s.sum("cascade_circuit_breaker_state")).isEqualTo(2);
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> metrics.observe("large", large))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void cacheAndBreakerAreReadAtScrapeTime() {
    ResponseCache cache = ResponseCache.create(10, Duration.ofMinutes(1));
    CircuitBreaker breaker = CircuitBreaker.ofDefaults("test");
    metrics.observe(cache);
    metrics.observe("large", breaker);
    cache.get(new ResponseCache.Key("a", 1));
    cache.put(new ResponseCache.Key("a", 1), SMALL);
    cache.get(new ResponseCache.Key("a", 1));
    breaker.transitionToOpenState();
    Scrape s = scrape();
    assertThat(s.value("cascade_cache_hits_total")).isEqualTo(1);
    assertThat(s.value("cascade_cache_misses_total")).isEqualTo(1);
    assertThat(s.value("cascade_cache_entries")).isEqualTo(1);
    assertThat(s.value("cascade_circuit_breaker_state", "tier", "large", "state", "open")).isEqualTo(1);
    assertThat(s.value("cascade_circuit_breaker_state", "tier", "large", "state", "closed")).isZero();
    assertThat(s.sum("cascade_circuit_breaker_state")).isEqualTo(1);
  }

  @Test
  void theExpositionPassesPromtool() throws Exception {
    Optional<Path> promtool = Promtool.find();
    Assumptions.assumeTrue(promtool.isPresent(), "promtool is not installed (Debian package 'prometheus'): not checked");
    metrics.observe(ResponseCache.create(10, Duration.ofMinutes(1)));
    metrics.observe("large", CircuitBreaker.ofDefaults("large"));
    records.answered(request("a"), SMALL, scored(Decision.ACCEPT, 0.2, 0), 2, 30, 1_040, false);
    Promtool.Result result = Promtool.check(promtool.get(), Exposition.of(registry));
    assertThat(result.exitCode()).as(result.output()).isZero();
  }
}
