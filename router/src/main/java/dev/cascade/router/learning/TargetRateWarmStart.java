package dev.cascade.router.learning;

import dev.cascade.router.policy.TargetRateController;
import dev.cascade.schemas.avro.RoutingOutcome;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Collectors;

/**
 * Seeds a starting router's target-rate controller with the scores of the newest outcomes on the
 * outcomes topic, so that a router added to a running deployment, or restarted after a crash,
 * holds the target escalation rate from its first request instead of deciding its first
 * {@link TargetRateController#DEFAULT_MIN_OBSERVATIONS} requests by the configured threshold.
 *
 * <p>Every instance shares the same traffic (requests are spread over partitions by id), so the
 * scores the other instances logged are a sample of what this one will see. The seed is, per rule
 * key ({@link RuleResolver#key}: rule, level, version), the newest {@code window} outcomes scored
 * under it (no cache hit, no small-model failure, a finite score), by {@code completed_at_ms},
 * oldest first; the controller starts its first window with the seed of the key the policy in
 * force names, which need not be known when the router starts (a new rule version may be taking
 * over just then).
 */
public final class TargetRateWarmStart {

  /**
   * What a seed read and offered.
   *
   * @param scoresByKey per rule key, the scores offered
   * @param outcomesRead outcome records read from the topic
   * @param millis how long the read took
   */
  public record Seeded(Map<String, Integer> scoresByKey, long outcomesRead, long millis) {
    /** All the scores offered. */
    public int scores() {
      return scoresByKey.values().stream().mapToInt(Integer::intValue).sum();
    }
  }

  private TargetRateWarmStart() {}

  /**
   * Reads the newest outcomes on {@code topic} and offers them to {@code controller}.
   *
   * @param window how many scores at most per rule key (the controller's window)
   * @throws IllegalArgumentException if the topic does not exist
   */
  public static Seeded seed(TargetRateController controller, Map<String, Object> clientProperties, String topic,
      int window) {
    long t0 = System.nanoTime();
    List<RoutingOutcome> outcomes = new ArrayList<>();
    OutcomesTopic.Read read = OutcomesTopic.readNewest(clientProperties, topic, outcomes::add, window);
    Map<String, double[]> byKey = choose(outcomes, window);
    controller.seed(byKey);
    Map<String, Integer> counts = new TreeMap<>();
    byKey.forEach((k, v) -> counts.put(k, v.length));
    return new Seeded(counts, read.records(), (System.nanoTime() - t0) / 1_000_000);
  }

  /**
   * Per rule key, the scores to seed from {@code outcomes}, in any order: of the outcomes that
   * were scored, the newest {@code window} under each key, oldest first.
   */
  static Map<String, double[]> choose(List<RoutingOutcome> outcomes, int window) {
    Map<String, List<RoutingOutcome>> byKey = outcomes.stream().filter(TargetRateWarmStart::scored)
        .collect(Collectors.groupingBy(TargetRateWarmStart::keyOf, TreeMap::new, Collectors.toList()));
    Map<String, double[]> scores = new TreeMap<>();
    byKey.forEach((key, list) -> {
      List<RoutingOutcome> sorted = list.stream().sorted(Comparator.comparingLong(RoutingOutcome::getCompletedAtMs))
          .toList();
      scores.put(key, sorted.subList(Math.max(0, sorted.size() - window), sorted.size()).stream()
          .mapToDouble(RoutingOutcome::getScore).toArray());
    });
    return scores;
  }

  private static boolean scored(RoutingOutcome o) {
    return !o.getCacheHit() && o.getSmallFailure() == null && Double.isFinite(o.getScore()) && o.getRule() != null;
  }

  private static String keyOf(RoutingOutcome o) {
    return RuleResolver.key(o.getRule(), o.getAlpha(), o.getRuleVersion());
  }
}
