package dev.cascade.router.learner;

import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.learning.LabelledOutcomes;
import dev.cascade.router.learning.SyntheticOutcomes;
import dev.cascade.router.policy.DeferralPolicy;
import dev.cascade.router.topology.CascadeTopology;
import dev.cascade.router.topology.PolicyRecords;
import dev.cascade.schemas.serde.CascadeSerdes;
import java.util.Map;
import java.util.SplittableRandom;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.processor.api.MockProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;

/**
 * The trainer's state stores, in memory and unlogged, for a {@link TrainerProcessor} on a mock
 * context; and what the trainer tests share: a configuration whose rounds are quick, the stores
 * with a policy in force, and learnable examples.
 */
final class TrainerStores {

  private TrainerStores() {}

  /** Adds an in-memory store named {@code name} to {@code context} and returns it. */
  static <K, V> KeyValueStore<K, V> add(MockProcessorContext<?, ?> context, String name, Serde<K> keys,
      Serde<V> values) {
    KeyValueStore<K, V> store = Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore(name), keys, values)
        .withLoggingDisabled().build();
    store.init(context.getStateStoreContext(), store);
    context.addStateStore(store);
    return store;
  }

  /**
   * Chow-Sum at 12 configured, a round due after 300 labels, a quick comparison (held-out 30%, at
   * least 80; 300 bootstrap resamples).
   */
  static CascadeConfig quickRounds() {
    return CascadeConfig.load(null, Map.of(), Map.ofEntries(
        Map.entry("policy.rule", "chow-sum"), Map.entry("policy.threshold", "12"),
        Map.entry("learn.min-labels", "300"), Map.entry("learn.retrain-every-labels", "300"),
        Map.entry("learn.min-holdout", "80"), Map.entry("learn.holdout-fraction", "0.3"),
        Map.entry("learn.bootstrap-resamples", "300")));
  }

  /** Adds every store the trainer uses to {@code context}, {@code inForce} the policy its store holds. */
  static void addAll(MockProcessorContext<?, ?> context, DeferralPolicy inForce) {
    add(context, TrainerProcessor.EXAMPLES, Serdes.Long(), Serdes.ByteArray());
    add(context, TrainerProcessor.RULES, Serdes.String(), Serdes.ByteArray());
    add(context, TrainerProcessor.STATE, Serdes.String(), Serdes.String());
    add(context, TrainerProcessor.POLICY, Serdes.String(), Serdes.ByteArray())
        .put(CascadeTopology.POLICY_KEY, CascadeSerdes.policies().encode(PolicyRecords.toAvro(inForce)));
  }

  /** Gives {@code trainer} {@code n} labelled learnable examples (seed 21) from {@code topic}. */
  static void feedLearnable(TrainerProcessor trainer, MockProcessorContext<?, ?> context, String topic, int n) {
    SplittableRandom random = new SplittableRandom(21);
    for (int i = 0; i < n; i++) {
      String id = "a-" + i;
      byte[] bytes = CascadeSerdes.labelledExamples().encode(
          LabelledOutcomes.label(SyntheticOutcomes.learnable(random, id), null, 0).orElseThrow());
      context.setRecordMetadata(topic, 0, i);
      trainer.process(new Record<>(id, bytes, 0L));
    }
  }
}
