package dev.cascade.router.learning;

import dev.cascade.router.policy.TargetRateController;
import dev.cascade.schemas.avro.RoutingOutcome;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Seeds a starting router's target-rate controller with the scores of the newest outcomes on the
 * outcomes topic, so that a router added to a running deployment, or restarted after a crash,
 * holds the target escalation rate from its first request instead of deciding its first
 * {@link TargetRateController#DEFAULT_MIN_OBSERVATIONS} requests by the configured threshold.
 *
 * <p>Every instance shares the same traffic (requests are spread over partitions by id), so the
 * scores the other instances logged are a sample of what this one will see. The seed is the
 * newest {@code window} outcomes that were scored (no cache hit, no small-model failure, a finite
 * score), by {@code completed_at_ms}, under the rule key most of them share ({@link
 * RuleResolver#key}: rule, level, version), oldest first. A policy in force under another key
 * starts its own window at its first request, as without the seed.
 */
public final class TargetRateWarmStart {

  /**
   * What a seed read and kept.
   *
   * @param ruleKey the rule key of the seeded window, null when nothing was seeded
   * @param scores scores in the window from the seed
   * @param outcomesRead outcome records read from the topic
   * @param millis how long the read took
   */
  public record Seeded(String ruleKey, int scores, long outcomesRead, long millis) {}

  private TargetRateWarmStart() {}

  /**
   * Reads the newest outcomes on {@code topic} and seeds {@code controller} with them.
   *
   * @param window how many scores at most (the controller's window)
   * @throws IllegalArgumentException if the topic does not exist
   */
  public static Seeded seed(TargetRateController controller, Map<String, Object> clientProperties, String topic,
      int window) {
    long t0 = System.nanoTime();
    List<RoutingOutcome> outcomes = new ArrayList<>();
    OutcomesTopic.Read read = OutcomesTopic.readNewest(clientProperties, topic, outcomes::add, window);
    Optional<Map.Entry<String, double[]>> chosen = choose(outcomes, window);
    int kept = chosen.map(e -> controller.seed(e.getKey(), e.getValue())).orElse(0);
    return new Seeded(kept == 0 ? null : chosen.get().getKey(), kept, read.records(),
        (System.nanoTime() - t0) / 1_000_000);
  }

  /**
   * The rule key and the scores (oldest first) to seed from {@code outcomes}, in any order: of the
   * newest {@code window} that were scored, those under the key most of them share.
   */
  static Optional<Map.Entry<String, double[]>> choose(List<RoutingOutcome> outcomes, int window) {
    List<RoutingOutcome> scored = outcomes.stream().filter(TargetRateWarmStart::scored)
        .sorted(Comparator.comparingLong(RoutingOutcome::getCompletedAtMs).reversed()).limit(window).toList();
    if (scored.isEmpty()) {
      return Optional.empty();
    }
    Map<String, Integer> counts = new HashMap<>();
    for (RoutingOutcome o : scored) {
      counts.merge(keyOf(o), 1, Integer::sum);
    }
    String key = counts.entrySet().stream().max(Map.Entry.<String, Integer>comparingByValue()
        .thenComparing(Map.Entry.comparingByKey())).orElseThrow().getKey();
    double[] scores = scored.stream().filter(o -> keyOf(o).equals(key))
        .sorted(Comparator.comparingLong(RoutingOutcome::getCompletedAtMs)).mapToDouble(RoutingOutcome::getScore)
        .toArray();
    return Optional.of(Map.entry(key, scores));
  }

  private static boolean scored(RoutingOutcome o) {
    return !o.getCacheHit() && o.getSmallFailure() == null && Double.isFinite(o.getScore())
        && o.getRule() != null;
  }

  private static String keyOf(RoutingOutcome o) {
    return RuleResolver.key(o.getRule(), o.getAlpha(), o.getRuleVersion());
  }
}
