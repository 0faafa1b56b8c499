package dev.cascade.loadtest;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cascade.router.api.PolicyTopic;
import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.learner.TierTuner;
import dev.cascade.router.learning.OutcomeReport;
import dev.cascade.router.learning.TierTuning;
import dev.cascade.router.policy.DeferralPolicy;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.serde.CascadeSerdes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * What the small model's stop threshold changes in the tuner's count of early deferral's saving:
 * the outcomes of a running cascade read once, and the small model's threshold chosen for a right
 * answer worth V ({@link TierTuner#decideSmall}, as the learner and {@code eval --outcomes
 * --answer-value} choose it) twice: as recorded, each answer stopping once its running score passes
 * the threshold weighed plus its margin ({@code small_stop_threshold} less {@code threshold}), and
 * with {@code small_stop_threshold} removed, each stopping at the threshold weighed (what outcomes
 * written before that field give).
 *
 * <pre>
 * java -cp ... dev.cascade.loadtest.StopMarginCompare --bootstrap-servers HOST:PORT [--answer-value V]
 *     [--thresholds T,T,...] [--json]
 * </pre>
 *
 * The policy is the one in force on the policy topic ({@code cascade.policy}); the outcomes are
 * {@code cascade.outcomes}, read to their end ({@code read_committed}). Prints, for each reading,
 * the decision, and the saving counted per request passed on at each threshold given (default: the
 * one chosen and the one in force). With {@code --json}, exactly one JSON object on standard output.
 */
public final class StopMarginCompare {

  private StopMarginCompare() {}

  public static void main(String[] args) throws Exception {
    String bootstrap = null;
    double value = 3000;
    List<Double> thresholds = new ArrayList<>();
    boolean json = false;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--json" -> json = true;
        case "--bootstrap-servers" -> bootstrap = args[++i];
        case "--answer-value" -> value = Double.parseDouble(args[++i]);
        case "--thresholds" -> {
          for (String t : args[++i].split(",")) {
            thresholds.add(Double.parseDouble(t));
          }
        }
        default -> throw new IllegalArgumentException("unknown argument " + args[i]
            + "; usage: StopMarginCompare --bootstrap-servers HOST:PORT [--answer-value V] [--thresholds T,T,...]"
            + " [--json]");
      }
    }
    if (bootstrap == null) {
      throw new IllegalArgumentException("--bootstrap-servers is required");
    }
    CascadeConfig config = CascadeConfig.load(null, Map.of(), Map.of("bootstrap.servers", bootstrap,
        "learn.small-answer-value", Double.toString(value)));
    Map<String, Object> client = Map.of("bootstrap.servers", bootstrap);
    DeferralPolicy policy;
    try (PolicyTopic topic = PolicyTopic.start(client, config.topics().policy(),
        dev.cascade.router.CascadeRouter.configuredPolicy(config))) {
      policy = topic.current();
    }
    List<RoutingOutcome> outcomes = read(bootstrap, config.topics().outcomes());
    OutcomeReport.Collector recorded = new OutcomeReport.Collector();
    OutcomeReport.Collector atThreshold = new OutcomeReport.Collector();
    int withStop = 0;
    double marginSum = 0;
    for (RoutingOutcome o : outcomes) {
      recorded.accept(o);
      atThreshold.accept(RoutingOutcome.newBuilder(o).setSmallStopThreshold(null).build());
      if (o.getSmallStopThreshold() != null && Double.isFinite(o.getThreshold())) {
        withStop++;
        marginSum += Math.max(0, o.getSmallStopThreshold() - o.getThreshold());
      }
    }
    TierTuner.Settings settings = TierTuner.Settings.from(config);
    Map<String, Object> result = new LinkedHashMap<>();
    result.put("outcomes", outcomes.size());
    result.put("with_small_stop_threshold", withStop);
    result.put("mean_margin", withStop == 0 ? null : marginSum / withStop);
    result.put("policy", Map.of("version", policy.version(), "rule", policy.rule(), "threshold", policy.threshold(),
        "target_escalation_rate", policy.targetEscalationRate()));
    for (Map.Entry<String, OutcomeReport.Collector> reading : List.of(Map.entry("recorded_margin", recorded),
        Map.entry("at_threshold", atThreshold))) {
      TierTuning.Decision decision = TierTuner.decideSmall(policy, reading.getValue(), value, settings);
      String spec = reading.getValue().specFor(policy.rule(), policy.alpha(), policy.ruleVersion());
      List<TierTuning.Item> items = reading.getValue().tuningItems(spec, settings.maxWeight(), settings.halfLife());
      List<Double> at = thresholds.isEmpty() ? List.of(decision.threshold(), decision.currentThreshold()) : thresholds;
      Map<String, Object> savings = new LinkedHashMap<>();
      for (double t : at) {
        savings.put(String.format(Locale.ROOT, "%.4f", t), savedPerPassedOn(items, t));
      }
      Map<String, Object> row = new LinkedHashMap<>();
      row.put("result", decision.result().toString());
      row.put("threshold", decision.threshold());
      row.put("threshold_in_force", decision.currentThreshold());
      row.put("gain", decision.gain());
      row.put("gain_low", decision.gainLow());
      row.put("saved_per_request_passed_on", savings);
      result.put(reading.getKey(), row);
      if (!json) {
        System.out.println(reading.getKey() + ": " + decision.result() + " " + decision.reason());
        System.out.println("  saving counted per request passed on, by threshold: " + savings);
      }
    }
    if (json) {
      System.out.println(new ObjectMapper().writeValueAsString(result));
    } else {
      System.out.printf(Locale.ROOT, "%d outcomes, %d with small_stop_threshold, mean margin %.4f%n",
          outcomes.size(), withStop, withStop == 0 ? Double.NaN : marginSum / withStop);
    }
  }

  /** The weighted mean, over the items {@code t} passes on, of what early deferral saves on each. */
  private static double savedPerPassedOn(List<TierTuning.Item> items, double t) {
    double saved = 0;
    double weight = 0;
    for (TierTuning.Item item : items) {
      if (!(item.score() > t)) {
        continue;
      }
      weight += item.weight();
      double[] running = item.running();
      if (running != null) {
        int k = 0;
        while (k < running.length && !(running[k] > t)) {
          k++;
        }
        saved += item.weight() * item.tokenCost() * (running.length - Math.min(running.length, k + 1));
      }
    }
    return weight == 0 ? 0 : saved / weight;
  }

  private static List<RoutingOutcome> read(String bootstrap, String topic) {
    Map<String, Object> props = Map.of("bootstrap.servers", bootstrap, "isolation.level", "read_committed",
        "key.deserializer", ByteArrayDeserializer.class.getName(),
        "value.deserializer", ByteArrayDeserializer.class.getName());
    List<RoutingOutcome> out = new ArrayList<>();
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
      List<TopicPartition> partitions = new ArrayList<>();
      consumer.partitionsFor(topic).forEach(p -> partitions.add(new TopicPartition(topic, p.partition())));
      consumer.assign(partitions);
      consumer.seekToBeginning(partitions);
      Map<TopicPartition, Long> end = consumer.endOffsets(partitions);
      while (partitions.stream().anyMatch(p -> consumer.position(p) < end.get(p))) {
        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(500))) {
          if (r.value() != null) {
            out.add(CascadeSerdes.outcomes().decode(r.value()));
          }
        }
      }
    }
    return out;
  }
}
