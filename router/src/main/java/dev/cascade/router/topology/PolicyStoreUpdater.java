package dev.cascade.router.topology;

import dev.cascade.schemas.avro.DeferralPolicy;
import dev.cascade.schemas.serde.CascadeSerdes;
import dev.cascade.schemas.serde.SchemaDecodingException;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the global policy store (the compacted policy topic, on every instance): each record is
 * decoded here, on the global thread, and put straight into an uncached store, so a stream task
 * sees a new policy version from its next batch. A record that cannot be decoded is logged and
 * skipped; the policy in force stays. Each policy read is shown to the router's metrics at once
 * ({@link PolicyView.Source#read}), not only at the next decision.
 */
final class PolicyStoreUpdater implements Processor<String, byte[], Void, Void> {

  private static final Logger LOG = LoggerFactory.getLogger(PolicyStoreUpdater.class);

  private final String storeName;
  private final PolicyView.Source policies;
  private KeyValueStore<String, DeferralPolicy> store;

  PolicyStoreUpdater(String storeName, PolicyView.Source policies) {
    this.storeName = storeName;
    this.policies = policies;
  }

  @Override
  public void init(ProcessorContext<Void, Void> context) {
    store = context.getStateStore(storeName);
  }

  @Override
  public void process(Record<String, byte[]> record) {
    if (record.key() == null) {
      return;
    }
    if (record.value() == null) {
      store.delete(record.key());
      policies.read(null);
      return;
    }
    try {
      DeferralPolicy policy = CascadeSerdes.policies().decode(record.value());
      store.put(record.key(), policy);
      policies.read(policy);
      LOG.debug("policy version {} read from the policy topic", policy.getVersion());
    } catch (SchemaDecodingException e) {
      LOG.error("a policy-topic record cannot be decoded and is skipped: {}", e.getMessage());
    }
  }
}
