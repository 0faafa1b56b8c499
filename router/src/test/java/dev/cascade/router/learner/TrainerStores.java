package dev.cascade.router.learner;

import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.streams.processor.api.MockProcessorContext;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;

/** The trainer's state stores, in memory and unlogged, for a {@link TrainerProcessor} on a mock context. */
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
}
