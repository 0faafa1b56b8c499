package dev.cascade.router.routing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cascade.router.cache.ResponseCache;
import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.learning.LabelledOutcomes;
import dev.cascade.router.learning.RuleResolver;
import dev.cascade.router.policy.DeferralPolicy;
import dev.cascade.router.policy.TargetRateController;
import dev.cascade.router.rules.DeferralRules;
import dev.cascade.schemas.avro.CascadeRequest;
import dev.cascade.schemas.avro.CascadeResponse;
import dev.cascade.schemas.avro.Decision;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.avro.ServedBy;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Load shedding of expired work: a request whose deadline has passed by the router's clock (an
 * injected, fixed one here) is answered {@code deadline_exceeded} without the small model, and the
 * rest of its batch is generated as usual.
 */
class ExpiredRequestsRoutingTest {

  /** The router's clock: every request below is taken at this instant. */
  private static final long NOW = 1_800_000_000_000L;

  private final SmallModelRouterCacheTest.CountingModel model = new SmallModelRouterCacheTest.CountingModel();
  private final List<Scored> decided = new ArrayList<>();
  private final List<RoutingOutcome> answered = new ArrayList<>();
  private final RoutingRecords records = new RoutingRecords(new CostModel(1, 10), String::length,
      new RoutingObserver() {
        @Override
        public void decided(Scored scored) {
          decided.add(scored);
        }

        @Override
        public void answered(RoutingOutcome outcome) {
          answered.add(outcome);
        }

        @Override
        public void shedShort() {
          shedShort++;
        }
      });
  private final ResponseCache cache = ResponseCache.create(100, Duration.ofMinutes(5));
  /** Accepts everything: the counting model's answers score 1 under Chow-Quantile-0. */
  private final DeferralPolicy policy = new DeferralPolicy("chow-quantile", 0, 5, 0, 0, 3, "test", 0, "");

  private int shedShort;

  private SmallModelRouter router(ExpiredRequests expired) {
    return router(expired, new GenerationTimes());
  }

  private SmallModelRouter router(ExpiredRequests expired, GenerationTimes times) {
    return new SmallModelRouter(model, RuleResolver.of(DeferralRules.builtIn()), new TargetRateController(), records,
        48, Clock.fixed(Instant.ofEpochMilli(NOW), ZoneOffset.UTC), cache, true, 4, expired, times);
  }

  /** Five batches of the default token limit (48) took {@code ms} each. */
  private static GenerationTimes generationsTook(double ms) {
    GenerationTimes times = new GenerationTimes();
    for (int i = 0; i < GenerationTimes.MIN_SAMPLES; i++) {
      times.record(48, ms);
    }
    return times;
  }

  /** A request created 30 s before now, received 200 ms before now, due at {@code deadline} (null: none). */
  private static PendingRequest request(String id, String prompt, Long deadline) {
    return new PendingRequest(CascadeRequest.newBuilder().setRequestId(id).setPrompt(prompt).setMaxNewTokens(0)
        .setReference(prompt).setMetadata(Map.of()).setCreatedAtMs(NOW - 30_000).setDeadlineMs(deadline).build(),
        NOW - 200);
  }

  private static CascadeRequest withDeadline(Long deadline) {
    return request("r", "p", deadline).request();
  }

  @Test
  void aRequestIsExpiredOnlyOnceTheRoutersClockIsPastItsDeadlineAndTheGrace() {
    assertThat(ExpiredRequests.SKIP.expired(withDeadline(null), NOW)).as("no deadline").isFalse();
    assertThat(ExpiredRequests.SKIP.expired(withDeadline(NOW), NOW)).as("due now, not passed").isFalse();
    assertThat(ExpiredRequests.SKIP.expired(withDeadline(NOW - 1), NOW)).isTrue();
    assertThat(ExpiredRequests.SKIP.expired(withDeadline(Long.MIN_VALUE), NOW)).isTrue();
    assertThat(ExpiredRequests.SKIP.expired(withDeadline(Long.MAX_VALUE), NOW)).isFalse();
    ExpiredRequests grace = new ExpiredRequests(true, 500);
    assertThat(grace.expired(withDeadline(NOW - 500), NOW)).as("within the grace").isFalse();
    assertThat(grace.expired(withDeadline(NOW - 501), NOW)).isTrue();
    assertThat(ExpiredRequests.GENERATE.expired(withDeadline(NOW - 60_000), NOW)).isFalse();
    assertThatThrownBy(() -> new ExpiredRequests(true, -1)).hasMessageContaining("graceMs");
  }

  @Test
  void theConfigurationSaysWhetherAndWithWhatGrace() {
    assertThat(ExpiredRequests.of(CascadeConfig.defaults())).isEqualTo(ExpiredRequests.SKIP)
        .isEqualTo(new ExpiredRequests(true, 0, false));
    assertThat(ExpiredRequests.of(CascadeConfig.defaults().with(CascadeConfig.SHED_SHORT_REQUESTS, "true")))
        .isEqualTo(new ExpiredRequests(true, 0, true));
    assertThat(ExpiredRequests.of(CascadeConfig.defaults()
        .with(CascadeConfig.EXPIRED_REQUESTS, "generate").with(CascadeConfig.DEADLINE_GRACE_MS, "250")))
        .isEqualTo(new ExpiredRequests(false, 250));
  }

  @Test
  void anExpiredRequestIsAnsweredWithoutTheModelAndTheRestOfItsBatchIsGenerated() {
    List<Routed> out = router(ExpiredRequests.SKIP).route(List.of(
        request("late", "gone", NOW - 1_000),
        request("due", "waiting", NOW + 30_000),
        request("open", "no deadline", null)), policy);

    assertThat(model.generated).as("only the requests someone waits for").containsExactly("waiting", "no deadline");
    assertThat(out).extracting(Routed::requestId).containsExactly("late", "due", "open");
    Routed.Answered late = (Routed.Answered) out.get(0);
    CascadeResponse r = late.response();
    assertThat(r.getDeadlineExceeded()).isTrue();
    assertThat(r.getText()).isEmpty();
    assertThat(r.getServedBy()).isEqualTo(ServedBy.SMALL_DEGRADED);
    assertThat(r.getReplyTo()).isNull();
    RoutingOutcome o = late.outcome();
    assertThat(o.getDeadlineExceeded()).isTrue();
    assertThat(o.getDegraded()).isTrue();
    assertThat(o.getDegradedReason()).isEqualTo("deadline_exceeded: the request's deadline_ms passed 1000 ms before"
        + " the small model would have run (29000 ms after it was created); not generated");
    assertThat(o.getSmallText()).isEmpty();
    assertThat(o.getSmallTokens()).isEmpty();
    assertThat(o.getScore()).isNaN();
    assertThat(o.getDecision()).isEqualTo(Decision.ACCEPT);
    assertThat(o.getPropensity()).isNull();
    assertThat(o.getPolicyVersion()).isEqualTo(3);
    assertThat(o.getSmallCorrect()).as("the reference says nothing of an answer never given").isNull();
    assertThat(o.getLargeText()).isNull();
    assertThat(o.getCostUnits()).isZero();
    assertThat(o.getCostUnitsLargeOnly()).isZero();
    assertThat(o.getLatencies().getQueueMs()).isEqualTo(200);
    assertThat(o.getLatencies().getSmallModelMs()).isZero();
    assertThat(o.getLatencies().getTotalMs()).isEqualTo(200);
    assertThat(LabelledOutcomes.labelOrSkip(o, null, 0).skipReason()).isEqualTo(LabelledOutcomes.DEADLINE_EXCEEDED);

    for (Routed served : out.subList(1, 3)) {
      Routed.Answered a = (Routed.Answered) served;
      assertThat(a.response().getServedBy()).isEqualTo(ServedBy.SMALL);
      assertThat(a.response().getDeadlineExceeded()).isFalse();
      assertThat(a.outcome().getDeadlineExceeded()).isFalse();
    }
    assertThat(decided).as("only generated requests are scored and decided").hasSize(2);
    assertThat(answered).extracting(RoutingOutcome::getRequestId).containsExactlyInAnyOrder("late", "due", "open");
  }

  @Test
  void aBatchOfExpiredRequestsNeverReachesTheModelNorTheCache() {
    SmallModelRouter router = router(ExpiredRequests.SKIP);
    router.route(List.of(request("first", "cached", null)), policy);
    model.generated.clear();

    List<Routed> out = router.route(List.of(request("a", "cached", NOW - 1), request("b", "other", NOW - 5)), policy);

    assertThat(model.generated).isEmpty();
    assertThat(out).allSatisfy(r -> {
      Routed.Answered a = (Routed.Answered) r;
      assertThat(a.response().getDeadlineExceeded()).isTrue();
      assertThat(a.response().getCacheHit()).isFalse();
    });
  }

  @Test
  void withGenerateOrWithinTheGraceAnExpiredRequestIsGeneratedAsBefore() {
    List<Routed> generated = router(ExpiredRequests.GENERATE).route(List.of(request("a", "late", NOW - 1_000)), policy);
    List<Routed> withinGrace = router(new ExpiredRequests(true, 1_000))
        .route(List.of(request("b", "late too", NOW - 1_000)), policy);

    assertThat(model.generated).containsExactly("late", "late too");
    for (Routed r : List.of(generated.get(0), withinGrace.get(0))) {
      Routed.Answered a = (Routed.Answered) r;
      assertThat(a.response().getServedBy()).isEqualTo(ServedBy.SMALL);
      assertThat(a.response().getDeadlineExceeded()).isFalse();
    }
  }

  @Test
  void aRequestWithLessTimeLeftThanTheMedianGenerationIsShedAsAnExpiredOne() {
    assertThat(ExpiredRequests.SHED_SHORT.tooShort(withDeadline(NOW + 299), NOW, 300)).isTrue();
    assertThat(ExpiredRequests.SHED_SHORT.tooShort(withDeadline(NOW + 300), NOW, 300)).as("just enough time").isFalse();
    assertThat(ExpiredRequests.SHED_SHORT.tooShort(withDeadline(NOW + 10), NOW, Double.NaN)).as("no estimate yet").isFalse();
    assertThat(ExpiredRequests.SHED_SHORT.tooShort(withDeadline(null), NOW, 300)).isFalse();
    assertThat(ExpiredRequests.SHED_SHORT.tooShort(withDeadline(Long.MAX_VALUE), NOW, 300)).isFalse();
    assertThat(new ExpiredRequests(true, 200, true).tooShort(withDeadline(NOW + 150), NOW, 300)).as("grace").isFalse();
    assertThat(new ExpiredRequests(true, 0, false).tooShort(withDeadline(NOW + 1), NOW, 300)).isFalse();
    assertThat(ExpiredRequests.GENERATE.tooShort(withDeadline(NOW + 1), NOW, 300)).isFalse();
    assertThatThrownBy(() -> new ExpiredRequests(false, 0, true)).hasMessageContaining("shedShort");

    List<Routed> out = router(ExpiredRequests.SHED_SHORT, generationsTook(1_500)).route(List.of(
        request("short", "no time for it", NOW + 1_000),
        request("due", "waiting", NOW + 30_000),
        request("open", "no deadline", null)), policy);

    assertThat(model.generated).containsExactly("waiting", "no deadline");
    Routed.Answered shed = (Routed.Answered) out.get(0);
    assertThat(shed.response().getDeadlineExceeded()).isTrue();
    assertThat(shed.response().getServedBy()).isEqualTo(ServedBy.SMALL_DEGRADED);
    assertThat(shed.response().getText()).isEmpty();
    RoutingOutcome o = shed.outcome();
    assertThat(o.getDeadlineExceeded()).isTrue();
    assertThat(o.getDegradedReason()).isEqualTo("deadline_exceeded: the request's deadline_ms was 1000 ms away when"
        + " the small model would have run, less than its median generation time of 1500 ms (31000 ms after it was"
        + " created); not generated");
    assertThat(o.getScore()).isNaN();
    assertThat(o.getCostUnits()).isZero();
    assertThat(LabelledOutcomes.labelOrSkip(o, null, 0).skipReason()).isEqualTo(LabelledOutcomes.DEADLINE_EXCEEDED);
    assertThat(shedShort).isEqualTo(1);
    assertThat(decided).hasSize(2);
    assertThat(answered).extracting(RoutingOutcome::getRequestId).containsExactlyInAnyOrder("short", "due", "open");
  }

  @Test
  void aShortRequestIsGeneratedWithoutAnEstimateOrWhenTurnedOffAndAnsweredFromTheCache() {
    SmallModelRouter router = router(ExpiredRequests.SHED_SHORT, generationsTook(1_500));
    router.route(List.of(request("first", "cached", null)), policy);
    model.generated.clear();

    List<Routed> cached = router.route(List.of(request("a", "cached", NOW + 10)), policy);
    List<Routed> noEstimate = router(ExpiredRequests.SKIP).route(List.of(request("b", "fresh", NOW + 10)), policy);
    List<Routed> off = router(new ExpiredRequests(true, 0, false), generationsTook(1_500))
        .route(List.of(request("c", "fresh too", NOW + 10)), policy);

    assertThat(model.generated).containsExactly("fresh", "fresh too");
    assertThat(((Routed.Answered) cached.get(0)).response().getCacheHit()).isTrue();
    for (Routed r : List.of(cached.get(0), noEstimate.get(0), off.get(0))) {
      assertThat(((Routed.Answered) r).response().getDeadlineExceeded()).isFalse();
    }
    assertThat(shedShort).isZero();
  }

  @Test
  void eachGenerationIsTimedIntoTheEstimate() {
    GenerationTimes times = new GenerationTimes();
    SmallModelRouter router = router(ExpiredRequests.SHED_SHORT, times);
    for (int i = 0; i < GenerationTimes.MIN_SAMPLES; i++) {
      router.route(List.of(request("r" + i, "prompt " + i, null)), policy);
    }
    assertThat(times.samples(48)).isEqualTo(GenerationTimes.MIN_SAMPLES);
    assertThat(times.medianMs(48)).isNotNaN().isGreaterThanOrEqualTo(0);
  }
}
