package dev.cascade.router.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.escalation.EscalationClient;
import io.grpc.Status;
import java.util.List;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

class RouterMetricsTest {

  /** The values of {@code label} among the samples of {@code name} with {@code tier}, each asserted to be 0. */
  private static TreeSet<String> atZero(Scrape scrape, String name, String tier, String label) {
    TreeSet<String> values = new TreeSet<>();
    for (Scrape.Sample s : scrape.samples()) {
      if (s.name().equals(name) && tier.equals(s.labels().get("tier"))) {
        assertThat(s.value()).as(s.toString()).isZero();
        values.add(label == null ? "" : s.labels().get(label));
      }
    }
    return values;
  }

  /**
   * A fresh router serves the series of every tier it calls at 0, so that rate() and increase()
   * see the first call, refusal or early deferral after a start (a series first scraped at 1 shows
   * no increase).
   */
  @Test
  void aFreshRegistryServesEveryTiersCallRefusalAndEarlyDeferralSeriesAtZero() {
    RouterMetrics metrics = RouterMetrics.enabled(0.7, 0, List.of("medium", "large"));
    Scrape fresh = Scrape.parse(Exposition.of(metrics.registry().orElseThrow()));

    for (String tier : List.of("medium", "large")) {
      TreeSet<String> calls = atZero(fresh, "cascade_large_model_calls_total", tier, "code");
      assertThat(calls).as(tier).contains("OK", "UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED", "CIRCUIT_OPEN",
          "RESOURCE_EXHAUSTED", "UNKNOWN", "INTERNAL", "INVALID_ARGUMENT");
      // Every code a call can end with: the 17 gRPC status codes and the open breaker's.
      assertThat(calls).as(tier).hasSize(18).containsExactlyInAnyOrderElementsOf(EscalationClient.CODES);
      assertThat(atZero(fresh, "cascade_large_model_refusals_total", tier, "code")).as(tier)
          .containsExactlyInAnyOrder("INVALID_ARGUMENT", "OUT_OF_RANGE", "FAILED_PRECONDITION", "UNAUTHENTICATED",
              "PERMISSION_DENIED", "UNIMPLEMENTED");
    }
    // Only a middle tier's answers are stopped early.
    assertThat(atZero(fresh, "cascade_tier_early_deferrals_total", "medium", null)).hasSize(1);
    assertThat(fresh.value("cascade_early_deferrals_below_threshold_total", "model", "small")).isZero();
    assertThat(fresh.value("cascade_early_deferrals_below_threshold_total", "model", "medium")).isZero();
    assertThat(atZero(fresh, "cascade_tier_early_deferrals_total", "large", null)).isEmpty();

    // The first call then shows as an increase from 0 on a series that was there.
    metrics.observer().largeModelCallEnded("large", Status.DEADLINE_EXCEEDED.asRuntimeException());
    Scrape after = Scrape.parse(Exposition.of(metrics.registry().orElseThrow()));
    assertThat(after.value("cascade_large_model_calls_total", "tier", "large", "code", "DEADLINE_EXCEEDED"))
        .isEqualTo(1);
    assertThat(after.samples().stream().filter(s -> s.name().equals("cascade_large_model_calls_total")).count())
        .isEqualTo(2 * 18);
    assertThat(after.sum("cascade_large_model_refusals_total")).isZero();
  }

  /**
   * Early deferrals whose prefix scored at or below the threshold they were decided by (a target's
   * threshold rose past the stop threshold while they decoded) are counted apart, per model.
   */
  @Test
  void earlyDeferralsBelowTheirDecisionThresholdAreCountedPerModel() {
    RouterMetrics metrics = RouterMetrics.enabled(0.7, 0, List.of("medium", "large"));
    metrics.observer().answered(outcome(2.5, 2.0, null));    // stopped above its threshold
    metrics.observer().answered(outcome(1.9, 2.0, null));    // stopped, the threshold rose past it
    metrics.observer().answered(outcome(2.5, 2.0, tier(1.0, 1.2)));
    Scrape after = Scrape.parse(Exposition.of(metrics.registry().orElseThrow()));
    assertThat(after.value("cascade_small_early_deferrals_total")).isEqualTo(3);
    assertThat(after.value("cascade_early_deferrals_below_threshold_total", "model", "small")).isEqualTo(1);
    assertThat(after.value("cascade_early_deferrals_below_threshold_total", "model", "medium")).isEqualTo(1);
  }

  @Test
  void aMiddleTiersAnswersDecodedWholeByLabelSamplingAreCountedApartFromItsEarlyDeferrals() {
    RouterMetrics metrics = RouterMetrics.enabled(0.7, 0, List.of("medium", "large"));
    Scrape fresh = Scrape.parse(Exposition.of(metrics.registry().orElseThrow()));
    assertThat(fresh.value("cascade_tier_early_deferrals_decoded_for_label_total", "tier", "medium")).isZero();
    dev.cascade.schemas.avro.TierAnswer whole = tier(2.0, 1.2);
    whole.setStoppedEarly(false);
    whole.setStopThreshold(null);
    whole.setLabelPropensity(0.5);
    metrics.observer().answered(outcome(2.5, 2.0, whole));
    metrics.observer().answered(outcome(2.5, 2.0, tier(1.5, 1.2)));
    Scrape after = Scrape.parse(Exposition.of(metrics.registry().orElseThrow()));
    assertThat(after.value("cascade_tier_early_deferrals_decoded_for_label_total", "tier", "medium")).isEqualTo(1);
    assertThat(after.value("cascade_tier_early_deferrals_total", "tier", "medium")).isEqualTo(1);
  }

  private static dev.cascade.schemas.avro.TierAnswer tier(double score, double threshold) {
    return dev.cascade.schemas.avro.TierAnswer.newBuilder().setTier(1).setModel("medium").setText("x")
        .setTokens(List.of()).setTokenLogprobs(List.of()).setRule("chow-sum").setScore(score).setThreshold(threshold)
        .setDeferred(true).setCostUnits(1).setLatencyMs(1).setStoppedEarly(true).setStopThreshold(1.5).build();
  }

  private static dev.cascade.schemas.avro.RoutingOutcome outcome(double score, double threshold,
      dev.cascade.schemas.avro.TierAnswer middle) {
    return dev.cascade.schemas.avro.RoutingOutcome.newBuilder().setRequestId("r").setPrompt("p").setSmallText("s")
        .setFeatures(java.util.Map.of()).setRule("chow-sum").setScore(score).setThreshold(threshold)
        .setPolicyVersion(1).setDecision(dev.cascade.schemas.avro.Decision.DEFER)
        .setServedBy(dev.cascade.schemas.avro.ServedBy.LARGE)
        .setLatencies(dev.cascade.schemas.avro.StageLatencies.newBuilder().build()).setCostUnits(1)
        .setCreatedAtMs(0).setCompletedAtMs(1).setSmallStop("early-defer")
        .setTierAnswers(middle == null ? List.of() : List.of(middle)).build();
  }
}
