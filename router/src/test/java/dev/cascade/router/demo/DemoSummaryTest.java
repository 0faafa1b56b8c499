package dev.cascade.router.demo;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.routing.CostModel;
import dev.cascade.schemas.avro.CascadeResponse;
import dev.cascade.schemas.avro.Decision;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.avro.ServedBy;
import dev.cascade.schemas.avro.StageLatencies;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The demo's summary: escalation latency and drafts come from the escalated outcomes alone. */
class DemoSummaryTest {

  private static RoutingOutcome outcome(String id, ServedBy servedBy, double escalationMs, int draft, int kept) {
    return RoutingOutcome.newBuilder().setRequestId(id).setPrompt("p").setSmallText("s").setFeatures(Map.of())
        .setRule("chow-sum").setScore(1).setThreshold(0).setPolicyVersion(1)
        .setDecision(servedBy == ServedBy.SMALL ? Decision.ACCEPT : Decision.DEFER).setServedBy(servedBy)
        .setLatencies(StageLatencies.newBuilder().setEscalationMs(escalationMs).build()).setCostUnits(1)
        .setCreatedAtMs(0).setCompletedAtMs(1).setLargeDraftTokens(draft).setLargeDraftAccepted(kept).build();
  }

  private static CascadeResponse response(String id, ServedBy servedBy) {
    return CascadeResponse.newBuilder().setRequestId(id).setText("t").setServedBy(servedBy).setDeferralScore(1)
        .setThreshold(0).setPolicyVersion(1).setRule("chow-sum").setLatencies(StageLatencies.newBuilder().build())
        .setCreatedAtMs(0).setCompletedAtMs(1).build();
  }

  @Test
  void escalationLatencyAndDraftsCountOnlyEscalatedOutcomes() {
    List<Example> examples = new ArrayList<>();
    List<CascadeResponse> responses = new ArrayList<>();
    Map<String, RoutingOutcome> outcomes = new HashMap<>();
    for (int i = 0; i < 100; i++) {
      String id = "demo-" + i;
      examples.add(new Example("p" + i, i < 10 ? "t" : null, "word"));
      // Every fourth escalated, taking 10, 20, ..., 250 ms; the accepted ones carry a stray value
      // that must not count.
      boolean escalated = i % 4 == 0;
      ServedBy by = escalated ? ServedBy.LARGE : ServedBy.SMALL;
      responses.add(response(id, by));
      RoutingOutcome o = outcome(id, by, escalated ? 10.0 * (i / 4 + 1) : 5000, escalated ? 6 : 0, escalated ? 4 : 0);
      // Three small tokens each; every eighth stopped early; one in ten answered from the cache (not decoded).
      o.setSmallTokens(List.of(1, 2, 3));
      o.setSmallStop(i % 8 == 0 ? "early-defer" : "eos");
      o.setCacheHit(i % 10 == 5);
      outcomes.put(id, o);
    }
    List<String> texts = examples.stream().map(e -> "t").toList();
    DemoSummary summary = DemoSummary.of("demo", examples,
        new DemoWorkload.Result(Map.of(), Map.of(), responses, outcomes), texts, texts, new int[100],
        new CostModel(1, 10), "chow-sum", 0);

    assertThat(summary.escalated()).isEqualTo(25);
    assertThat(summary.escalationMs().p50()).isBetween(129.0, 131.0);
    assertThat(summary.escalationMs().p99()).isBetween(249.0, 251.0);
    assertThat(summary.largeDraftTokens()).isEqualTo(150);
    assertThat(summary.largeDraftAccepted()).isEqualTo(100);
    assertThat(summary.toText()).contains("escalations         p50 130.0 ms").contains("draft tokens kept 100 of 150");
    // Accuracy is over the requests with a reference, and the summary says how many had one.
    assertThat(summary.scoredRequests()).isEqualTo(10);
    assertThat(summary.accuracySmallOnly()).isEqualTo(1.0);
    assertThat(summary.toText()).contains("accuracy (exact match against the references): the 10 of 100 requests that"
        + " have one");
    assertThat(summary.tierPassOn()).as("two models: no middle tier").isEmpty();
    // Nothing escalated: no latency to give, not 0 ms.
    List<CascadeResponse> small = responses.stream().map(r -> CascadeResponse.newBuilder(r).setServedBy(ServedBy.SMALL)
        .build()).toList();
    Map<String, RoutingOutcome> accepted = new HashMap<>();
    outcomes.forEach((id, o) -> accepted.put(id, RoutingOutcome.newBuilder(o).setServedBy(ServedBy.SMALL).build()));
    DemoSummary none = DemoSummary.of("demo", examples, new DemoWorkload.Result(Map.of(), Map.of(), small, accepted),
        texts, texts, new int[100], new CostModel(1, 10), "chow-sum", 0);
    assertThat(none.escalated()).isZero();
    assertThat(none.toText()).contains("escalations         none").doesNotContain("p50 0.0 ms, p95 0.0 ms, p99 0.0 ms;");
    assertThat(summary.smallEarlyStops()).isEqualTo(13);
    assertThat(summary.smallDecodedTokens()).isEqualTo(3 * 90);
    assertThat(summary.toText()).contains("270 tokens decoded; 13 requests stopped early");
  }

  @Test
  void withNoReferenceThereIsNoAccuracyRatherThanZero() throws Exception {
    List<Example> examples = new ArrayList<>();
    List<CascadeResponse> responses = new ArrayList<>();
    Map<String, RoutingOutcome> outcomes = new HashMap<>();
    for (int i = 0; i < 4; i++) {
      examples.add(new Example("p" + i, null, "word"));
      responses.add(response("demo-" + i, ServedBy.SMALL));
      outcomes.put("demo-" + i, outcome("demo-" + i, ServedBy.SMALL, 0, 0, 0));
    }
    List<String> texts = examples.stream().map(e -> "t").toList();
    DemoSummary summary = DemoSummary.of("demo", examples,
        new DemoWorkload.Result(Map.of(), Map.of(), responses, outcomes), texts, texts, new int[4],
        new CostModel(1, 10), "chow-sum", 0);
    assertThat(summary.scoredRequests()).isZero();
    assertThat(summary.toText()).contains("accuracy            none: no request has a reference answer to match")
        .doesNotContain("small only");
    com.fasterxml.jackson.databind.JsonNode json = new com.fasterxml.jackson.databind.ObjectMapper()
        .readTree(new com.fasterxml.jackson.databind.ObjectMapper().writeValueAsString(summary));
    assertThat(json.get("accuracy_cascade").isNull()).isTrue();
    assertThat(json.get("accuracy_small_only").isNull()).isTrue();
  }

  @Test
  void aMiddleTiersPassOnShareIsCountedByWindowsOfTheRequestsReachingIt() {
    List<Example> examples = new ArrayList<>();
    List<CascadeResponse> responses = new ArrayList<>();
    Map<String, RoutingOutcome> outcomes = new HashMap<>();
    for (int i = 0; i < 300; i++) {
      String id = "demo-" + i;
      examples.add(new Example("p" + i, null, "word"));
      // Every second request reaches medium: it passes on 1 in 2 of the first 100 that reach it and 1
      // in 4 of the other 50 (one of them stopped early); the last tier's answers are not decisions.
      boolean reaches = i % 2 == 0;
      int reached = i / 2;
      boolean passes = reaches && (reached < 100 ? reached % 2 == 0 : reached % 4 == 0);
      ServedBy by = reaches ? ServedBy.LARGE : ServedBy.SMALL;
      responses.add(response(id, by));
      RoutingOutcome.Builder o = RoutingOutcome.newBuilder(outcome(id, by, 1, 0, 0));
      if (reaches) {
        List<dev.cascade.schemas.avro.TierAnswer> tiers = new ArrayList<>();
        dev.cascade.schemas.avro.TierAnswer middle = tier(1, "medium", "chow-sum", passes, passes && reached == 104);
        middle.setExplored(passes && reached % 10 == 0); // 13 of those passed on were explored (10 + 3)
        tiers.add(middle);
        if (passes) {
          tiers.add(tier(2, "large", null, false, false));
        }
        o.setTierAnswers(tiers);
      }
      outcomes.put(id, o.build());
    }
    List<String> texts = examples.stream().map(e -> "t").toList();
    DemoSummary summary = DemoSummary.of("demo", examples,
        new DemoWorkload.Result(Map.of(), Map.of(), responses, outcomes), texts, texts, new int[300],
        new CostModel(1, 10), "chow-sum", 0, List.of("small", "medium", "large"));

    assertThat(summary.tierPassOn()).containsOnlyKeys("medium");
    DemoSummary.PassOn medium = summary.tierPassOn().get("medium");
    assertThat(medium.reached()).isEqualTo(150);
    assertThat(medium.passedOn()).isEqualTo(63);
    assertThat(medium.share()).isEqualTo(63 / 150.0);
    assertThat(medium.byWindow()).containsExactly(0.5, 0.26);
    assertThat(medium.explored()).isEqualTo(13);
    assertThat(summary.toText()).contains("medium passed on 42.0% of the 150 requests reaching it, 13 of them explored"
        + " (per 100 requests in turn: 50% 26%)");
  }

  private static dev.cascade.schemas.avro.TierAnswer tier(int tier, String model, String rule, boolean deferred,
      boolean stoppedEarly) {
    return dev.cascade.schemas.avro.TierAnswer.newBuilder().setTier(tier).setModel(model).setText("x")
        .setTokens(List.of()).setTokenLogprobs(List.of()).setRule(rule).setScore(rule == null ? null : 1.0)
        .setThreshold(rule == null ? null : 0.5).setDeferred(deferred).setCostUnits(1).setLatencyMs(1)
        .setStoppedEarly(stoppedEarly).build();
  }
}
