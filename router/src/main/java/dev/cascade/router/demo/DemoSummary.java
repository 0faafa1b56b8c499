package dev.cascade.router.demo;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.cascade.router.routing.CostModel;
import dev.cascade.schemas.avro.CascadeResponse;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.avro.ServedBy;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.HdrHistogram.Histogram;

/**
 * What a demo run did, as printed by {@code cascade demo} (and, with {@code --json}, as one JSON
 * object with these property names).
 */
public record DemoSummary(
    @JsonProperty("requests") int requests,
    @JsonProperty("responses") int responses,
    @JsonProperty("duplicate_responses") int duplicateResponses,
    @JsonProperty("escalated") int escalated,
    @JsonProperty("escalated_fraction") double escalatedFraction,
    @JsonProperty("degraded") int degraded,
    @JsonProperty("accuracy_small_only") Double accuracySmallOnly,
    @JsonProperty("accuracy_cascade") Double accuracyCascade,
    @JsonProperty("accuracy_large_only") Double accuracyLargeOnly,
    @JsonProperty("cost_units") double costUnits,
    @JsonProperty("cost_units_large_only") double costUnitsLargeOnly,
    @JsonProperty("cost_saving_pct") double costSavingPct,
    @JsonProperty("latency_ms") Latency latencyMs,
    @JsonProperty("throughput_rps") double throughputRps,
    @JsonProperty("rule") String rule,
    @JsonProperty("threshold") double threshold,
    @JsonProperty("served_by_tier") Map<String, Integer> servedByTier,
    @JsonProperty("escalation_ms") Latency escalationMs,
    @JsonProperty("large_draft_tokens") long largeDraftTokens,
    @JsonProperty("large_draft_accepted") long largeDraftAccepted,
    @JsonProperty("tier_early_stops") int tierEarlyStops,
    @JsonProperty("scored_requests") int scoredRequests,
    @JsonProperty("tier_pass_on") Map<String, PassOn> tierPassOn,
    @JsonProperty("small_early_stops") int smallEarlyStops,
    @JsonProperty("small_decoded_tokens") long smallDecodedTokens) {

  /** How many requests {@link #PASS_ON_WINDOW} consecutive shares of {@link PassOn#byWindow} each cover. */
  public static final int PASS_ON_WINDOW = 100;

  /**
   * What a middle tier did with the requests that reached it (its answers in the outcomes' {@code
   * tier_answers}).
   *
   * @param reached how many it answered and decided (an answer it stopped early counts as passed on)
   * @param passedOn how many it passed on to the next tier
   * @param share {@code passedOn / reached}
   * @param byWindow the share passed on in each run of {@link #PASS_ON_WINDOW} requests reaching it, in
   *     the order they were sent (the last run may be shorter)
   * @param explored how many of those passed on were explored: its rule would have served them
   *     ({@code policy.tier-exploration-rates})
   */
  public record PassOn(@JsonProperty("reached") int reached, @JsonProperty("passed_on") int passedOn,
      @JsonProperty("share") double share, @JsonProperty("by_window") List<Double> byWindow,
      @JsonProperty("explored") int explored) {

    static PassOn of(List<Boolean> decisions, int explored) {
      int passed = (int) decisions.stream().filter(d -> d).count();
      List<Double> windows = new java.util.ArrayList<>();
      for (int from = 0; from < decisions.size(); from += PASS_ON_WINDOW) {
        List<Boolean> w = decisions.subList(from, Math.min(decisions.size(), from + PASS_ON_WINDOW));
        windows.add(Math.round(1000.0 * w.stream().filter(d -> d).count() / w.size()) / 1000.0);
      }
      return new PassOn(decisions.size(), passed, ratio(passed, decisions.size()), windows, explored);
    }
  }

  /**
   * Latency percentiles: end to end (from a request being produced to its response being read), or
   * of the escalations (each escalated outcome's {@code escalation_ms}: from the hand-off to the
   * escalations topic until the last model answered; zeros when nothing was escalated).
   */
  public record Latency(@JsonProperty("p50") double p50, @JsonProperty("p95") double p95,
      @JsonProperty("p99") double p99) {}

  /**
   * Summarises a run.
   *
   * @param examples what was sent; example i has request id {@code prefix-i}
   * @param smallTexts the small model's whole answer to every example, null where it has none (for
   *     the small-only baseline)
   * @param largeTexts the large model's answer to every example (for the large-only baseline)
   * @param largeTokens the number of tokens of each of those answers
   */
  public static DemoSummary of(String prefix, List<Example> examples, DemoWorkload.Result result,
      List<String> smallTexts, List<String> largeTexts, int[] largeTokens, CostModel cost, String rule,
      double threshold) {
    return of(prefix, examples, result, smallTexts, largeTexts, largeTokens, cost, rule, threshold,
        List.of("small", "large"));
  }

  /**
   * As above, for a cascade of these models, smallest first: how many responses each served
   * ({@code served_tier}; a response without one, from before cascades of more than two models, is
   * the small model's when served by SMALL and the second model's otherwise). A degraded response
   * counts for the model whose answer it carries.
   */
  public static DemoSummary of(String prefix, List<Example> examples, DemoWorkload.Result result,
      List<String> smallTexts, List<String> largeTexts, int[] largeTokens, CostModel cost, String rule,
      double threshold, List<String> tierNames) {
    int n = examples.size();
    int[] servedBy = new int[tierNames.size()];
    Map<String, CascadeResponse> byId = new java.util.HashMap<>();
    Set<String> seen = new HashSet<>();
    int duplicates = 0;
    for (CascadeResponse r : result.responses()) {
      if (!seen.add(r.getRequestId())) {
        duplicates++;
      }
      byId.putIfAbsent(r.getRequestId(), r);
    }
    int escalated = 0;
    int degraded = 0;
    int cascadeRight = 0;
    int smallRight = 0;
    int largeRight = 0;
    int scored = 0;
    double costUnits = 0;
    double largeOnlyCost = 0;
    Histogram latency = new Histogram(3_600_000_000L, 3);
    Histogram escalation = new Histogram(3_600_000_000L, 3);
    long draftTokens = 0;
    long draftAccepted = 0;
    int tierEarlyStops = 0;
    int smallEarlyStops = 0;
    long smallDecodedTokens = 0;
    Map<String, List<Boolean>> passOn = new java.util.LinkedHashMap<>();
    Map<String, Integer> explored = new java.util.HashMap<>();
    for (String middle : tierNames.subList(1, Math.max(1, tierNames.size() - 1))) {
      passOn.put(middle, new java.util.ArrayList<>());
    }
    long firstSent = Long.MAX_VALUE;
    long lastAnswered = Long.MIN_VALUE;
    for (int i = 0; i < n; i++) {
      String id = prefix + "-" + i;
      Example e = examples.get(i);
      CascadeResponse r = byId.get(id);
      RoutingOutcome o = result.outcomes().get(id);
      largeOnlyCost += cost.large(CostModel.promptTokens(e.prompt()), largeTokens[i]);
      Long sentAt = result.sentAtNanos().get(id);
      Long answeredAt = result.answeredAtNanos().get(id);
      if (sentAt != null) {
        firstSent = Math.min(firstSent, sentAt);
      }
      if (sentAt != null && answeredAt != null) {
        latency.recordValue(Math.max(0, (answeredAt - sentAt) / 1_000));
        lastAnswered = Math.max(lastAnswered, answeredAt);
      }
      if (r != null && r.getServedBy() != ServedBy.SMALL) {
        escalated++;
      }
      if (r != null) {
        int tier = dev.cascade.router.routing.RoutingRecords.servedTier(r);
        servedBy[Math.min(tier, servedBy.length - 1)]++;
      }
      if (r != null && r.getServedBy() == ServedBy.SMALL_DEGRADED) {
        degraded++;
      }
      if (o != null) {
        costUnits += o.getCostUnits();
        double escalationMs = o.getLatencies().getEscalationMs();
        if (o.getServedBy() != ServedBy.SMALL && escalationMs > 0) {
          escalation.recordValue(Math.round(escalationMs * 1000));
        }
        draftTokens += o.getLargeDraftTokens();
        draftAccepted += o.getLargeDraftAccepted();
        tierEarlyStops += (int) o.getTierAnswers().stream().filter(t -> t.getStoppedEarly()).count();
        if (dev.cascade.router.routing.SmallStop.EARLY_DEFER.equals(o.getSmallStop())) {
          smallEarlyStops++;
        }
        if (!o.getCacheHit()) {
          smallDecodedTokens += o.getSmallTokens().size();
        }
        for (dev.cascade.schemas.avro.TierAnswer t : o.getTierAnswers()) {
          List<Boolean> decisions = passOn.get(t.getModel());
          if (decisions != null && t.getRule() != null) {
            decisions.add(t.getDeferred());
            explored.merge(t.getModel(), t.getExplored() ? 1 : 0, Integer::sum);
          }
        }
      }
      if (e.reference() == null) {
        continue;
      }
      scored++;
      if (r != null && r.getText().equals(e.reference())) {
        cascadeRight++;
      }
      if (e.reference().equals(smallTexts.get(i))) {
        smallRight++;
      }
      if (largeTexts.get(i).equals(e.reference())) {
        largeRight++;
      }
    }
    double seconds = lastAnswered > firstSent ? (lastAnswered - firstSent) / 1e9 : Double.NaN;
    return new DemoSummary(n, byId.size(), duplicates, escalated, n == 0 ? 0 : (double) escalated / n, degraded,
        // Sums of per-request costs: to the cent, not the float's last digits (4264.8099999999995).
        accuracy(smallRight, scored), accuracy(cascadeRight, scored), accuracy(largeRight, scored),
        Math.round(costUnits * 100) / 100.0, Math.round(largeOnlyCost * 100) / 100.0,
        largeOnlyCost == 0 ? 0 : 100.0 * (1 - costUnits / largeOnlyCost),
        percentiles(latency), Double.isNaN(seconds) ? 0 : byId.size() / seconds, rule, threshold,
        servedByTier(tierNames, servedBy), percentiles(escalation), draftTokens, draftAccepted, tierEarlyStops,
        scored, passOn.entrySet().stream().collect(java.util.stream.Collectors.toMap(Map.Entry::getKey,
            e -> PassOn.of(e.getValue(), explored.getOrDefault(e.getKey(), 0)), (a, b) -> a,
            java.util.LinkedHashMap::new)),
        smallEarlyStops, smallDecodedTokens);
  }

  /** p50, p95 and p99 of a histogram of microseconds, in milliseconds. */
  private static Latency percentiles(Histogram micros) {
    return new Latency(micros.getValueAtPercentile(50) / 1000.0, micros.getValueAtPercentile(95) / 1000.0,
        micros.getValueAtPercentile(99) / 1000.0);
  }

  private static Map<String, Integer> servedByTier(List<String> names, int[] counts) {
    Map<String, Integer> served = new java.util.LinkedHashMap<>();
    for (int i = 0; i < names.size(); i++) {
      served.put(names.get(i), counts[i]);
    }
    return served;
  }

  /** Each model's share of the responses: {@code small 62.0% (2170), large 38.0% (1330)}. */
  private String servedText() {
    int total = servedByTier.values().stream().mapToInt(Integer::intValue).sum();
    return servedByTier.entrySet().stream().map(e -> String.format(java.util.Locale.ROOT, "%s %.1f%% (%d)", e.getKey(),
        total == 0 ? 0.0 : 100.0 * e.getValue() / total, e.getValue())).collect(java.util.stream.Collectors.joining(", "))
        + (tierEarlyStops == 0 ? "" : "; middle-tier answers stopped early: " + tierEarlyStops)
        + tierPassOn.entrySet().stream().map(e -> String.format(java.util.Locale.ROOT,
            "%n                    %s passed on %.1f%% of the %d requests reaching it%s (per %d requests in turn: %s)",
            e.getKey(),
            100 * e.getValue().share(), e.getValue().reached(), e.getValue().explored() == 0 ? ""
                : String.format(java.util.Locale.ROOT, ", %d of them explored", e.getValue().explored()),
            PASS_ON_WINDOW, e.getValue().byWindow().stream()
                .map(s -> String.format(java.util.Locale.ROOT, "%.0f%%", 100 * s))
                .collect(java.util.stream.Collectors.joining(" "))))
            .collect(java.util.stream.Collectors.joining());
  }

  /** {@code right / scored}; null (no accuracy to give) when no request has a reference answer. */
  private static Double accuracy(int right, int scored) {
    return scored == 0 ? null : (double) right / scored;
  }

  private static double ratio(int a, int b) {
    return b == 0 ? 0 : (double) a / b;
  }

  /** The human-readable summary. */
  public String toText() {
    String accuracy = scoredRequests == 0
        ? "accuracy            none: no request has a reference answer to match"
        : String.format(java.util.Locale.ROOT, String.join("%n",
            "accuracy (exact match against the references)%s",
            "  small only        %.1f%%",
            "  cascade           %.1f%%",
            "  large only        %.1f%%"),
            scoredRequests == requests ? "" : ": the " + scoredRequests + " of " + requests + " requests that have one",
            100 * accuracySmallOnly, 100 * accuracyCascade, 100 * accuracyLargeOnly);
    return String.format(java.util.Locale.ROOT, String.join("%n",
        "requests            %d",
        "responses           %d%s",
        "escalated           %d (%.1f%%)",
        "served by           %s",
        "degraded            %d",
        "%s",
        "cost units          %.0f (large only: %.0f; saving %.1f%%)",
        "latency end to end  p50 %.1f ms, p95 %.1f ms, p99 %.1f ms",
        "escalations         %s",
        "throughput          %.1f requests/s",
        "small model         %d tokens decoded; %d requests stopped early (early deferral)",
        "policy at start     %s, threshold %.4f"),
        requests, responses, duplicateResponses == 0 ? "" : " (" + duplicateResponses + " duplicates!)",
        escalated, 100 * escalatedFraction, servedText(), degraded,
        accuracy, costUnits, costUnitsLargeOnly, costSavingPct, latencyMs.p50(), latencyMs.p95(), latencyMs.p99(),
        escalated == 0 ? "none" : String.format(java.util.Locale.ROOT,
            "p50 %.1f ms, p95 %.1f ms, p99 %.1f ms; draft tokens kept %d of %d", escalationMs.p50(),
            escalationMs.p95(), escalationMs.p99(), largeDraftAccepted, largeDraftTokens),
        throughputRps, smallDecodedTokens, smallEarlyStops, rule, threshold);
  }
}
