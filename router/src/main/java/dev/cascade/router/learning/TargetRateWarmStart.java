package dev.cascade.router.learning;

import dev.cascade.router.policy.TargetRateController;
import dev.cascade.router.policy.TierPolicy;
import dev.cascade.router.policy.TierThresholds;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.avro.TierAnswer;
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
 *
 * <p>The middle tiers of a longer cascade are seeded from the same outcomes ({@link
 * #chooseTiers}): per tier and rule, the scores of the tiers' answers in {@code tier_answers},
 * for the windows their target rates are read from ({@link TierThresholds}).
 */
public final class TargetRateWarmStart {

  /**
   * What a seed read and offered.
   *
   * @param scoresByKey per rule key, the scores offered
   * @param outcomesRead outcome records read from the topic
   * @param millis how long the read took
   */
  public record Seeded(Map<String, Integer> scoresByKey, long outcomesRead, long millis,
      Map<String, Integer> tierScores) {

    public Seeded(Map<String, Integer> scoresByKey, long outcomesRead, long millis) {
      this(scoresByKey, outcomesRead, millis, Map.of());
    }

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
    return seed(controller, null, clientProperties, topic, window);
  }

  /**
   * As above, also offering the middle tiers' scores to {@code tiers} (null: none).
   */
  public static Seeded seed(TargetRateController controller, TierThresholds tiers,
      Map<String, Object> clientProperties, String topic, int window) {
    long t0 = System.nanoTime();
    List<RoutingOutcome> outcomes = new ArrayList<>();
    TopicSnapshot.Read read = TopicSnapshot.readNewest(clientProperties, topic, outcomes::add, window);
    Map<String, double[]> byKey = choose(outcomes, window);
    controller.seed(byKey);
    Map<String, Integer> counts = new TreeMap<>();
    byKey.forEach((k, v) -> counts.put(k, v.length));
    Map<String, Integer> tierCounts = new TreeMap<>();
    long records = read.records();
    if (tiers != null) {
      Map<Integer, Map<String, double[]>> byTier = chooseTiers(outcomes, window);
      long further = furtherBack(byTier, outcomes.size(), window);
      if (further > window) {
        // Fewer requests reach a middle tier than the small model: read further back for its window.
        List<RoutingOutcome> more = new ArrayList<>();
        records += TopicSnapshot.readNewest(clientProperties, topic, more::add, further).records();
        byTier = chooseTiers(more, window);
      }
      tiers.seed(byTier);
      byTier.forEach((tier, keys) -> keys.forEach((k, v) -> tierCounts.put("tier " + tier + " " + k, v.length)));
    }
    return new Seeded(counts, records, (System.nanoTime() - t0) / 1_000_000, tierCounts);
  }

  /** At most this many times the small model's read is read again for the middle tiers. */
  static final int MAX_TIER_READ_FACTOR = 8;

  /**
   * How many of the newest outcomes to read for the middle tiers' windows: {@code window} when every
   * tier and rule found in the first read has a full window (or none was found, or the first read
   * held the whole topic); else as many more as the scarcest one's share of the {@code read}
   * outcomes suggests, at most {@link #MAX_TIER_READ_FACTOR} times {@code window}.
   */
  static long furtherBack(Map<Integer, Map<String, double[]>> byTier, int read, int window) {
    int fewest = byTier.values().stream().flatMap(m -> m.values().stream()).mapToInt(v -> v.length).min()
        .orElse(window);
    if (fewest >= window || read < window) {
      return window;
    }
    double perOutcome = Math.max(fewest, 1) / (double) read;
    return Math.min((long) MAX_TIER_READ_FACTOR * window, (long) Math.ceil(1.25 * window / perOutcome));
  }

  /**
   * Per middle tier and rule ({@link TierPolicy#ruleName}), the scores to seed from the tiers'
   * answers in {@code outcomes}: the newest {@code window}, oldest first. Answers stopped early
   * (only exact rules stop) are kept: a prefix's score is above the threshold it stopped at and at
   * most its whole answer's, so a target read from them lies between that threshold and the right
   * one, nearer the target than a cold window's configured threshold ({@link TierThresholds}).
   */
  static Map<Integer, Map<String, double[]>> chooseTiers(List<RoutingOutcome> outcomes, int window) {
    record Scored(long at, double score) {}
    Map<Integer, Map<String, List<Scored>>> byTier = new TreeMap<>();
    for (RoutingOutcome o : outcomes) {
      for (TierAnswer t : o.getTierAnswers()) {
        if (t.getRule() != null && t.getScore() != null && Double.isFinite(t.getScore())) {
          byTier.computeIfAbsent(t.getTier(), k -> new TreeMap<>()).computeIfAbsent(t.getRule(), k -> new ArrayList<>())
              .add(new Scored(o.getCompletedAtMs(), t.getScore()));
        }
      }
    }
    Map<Integer, Map<String, double[]>> scores = new TreeMap<>();
    byTier.forEach((tier, rules) -> rules.forEach((rule, list) ->
        scores.computeIfAbsent(tier, k -> new TreeMap<>()).put(rule, newest(list, window, Scored::at, Scored::score))));
    return scores;
  }

  /**
   * Per rule key, the scores to seed from {@code outcomes}, in any order: of the outcomes that
   * were scored, the newest {@code window} under each key, oldest first.
   */
  static Map<String, double[]> choose(List<RoutingOutcome> outcomes, int window) {
    Map<String, List<RoutingOutcome>> byKey = outcomes.stream().filter(TargetRateWarmStart::scored)
        .collect(Collectors.groupingBy(TargetRateWarmStart::keyOf, TreeMap::new, Collectors.toList()));
    Map<String, double[]> scores = new TreeMap<>();
    byKey.forEach((key, list) -> scores.put(key,
        newest(list, window, RoutingOutcome::getCompletedAtMs, RoutingOutcome::getScore)));
    return scores;
  }

  /** The scores of the newest {@code window} of {@code items}, by {@code at}, oldest first. */
  private static <T> double[] newest(List<T> items, int window, java.util.function.ToLongFunction<T> at,
      java.util.function.ToDoubleFunction<T> score) {
    List<T> sorted = items.stream().sorted(Comparator.comparingLong(at)).toList();
    return sorted.subList(Math.max(0, sorted.size() - window), sorted.size()).stream().mapToDouble(score).toArray();
  }

  private static boolean scored(RoutingOutcome o) {
    return !o.getCacheHit() && o.getSmallFailure() == null && Double.isFinite(o.getScore()) && o.getRule() != null;
  }

  private static String keyOf(RoutingOutcome o) {
    return RuleResolver.key(o.getRule(), o.getAlpha(), o.getRuleVersion());
  }
}
