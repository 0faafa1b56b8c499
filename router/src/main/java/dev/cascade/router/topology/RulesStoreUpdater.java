package dev.cascade.router.topology;

import dev.cascade.router.learning.RuleCatalog;
import dev.cascade.router.routing.RoutingObserver;
import dev.cascade.schemas.avro.RuleModel;
import dev.cascade.schemas.serde.CascadeSerdes;
import dev.cascade.schemas.serde.SchemaDecodingException;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.ProcessorSupplier;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the global rules store (the rules topic, keyed {@code NAME@VERSION}, raw bytes) and the
 * instance's {@link RuleCatalog} in step: each record is decoded once, here, on the global thread,
 * so stream tasks only look versions up. A record that cannot be decoded, or that was made for
 * another small model, is logged and counted and changes nothing else; a tombstone removes its
 * version. On start the store's contents (restored from the topic) are loaded too, so a restart
 * knows every version before it routes a request. Kafka Streams restores a global store by passing
 * its records through an updater of its own, then starts the one that reads on, whose {@link #init}
 * finds them in the store: the updaters of one {@link #supplier} share what they have seen, so
 * each record is logged and counted once per router.
 */
final class RulesStoreUpdater implements Processor<String, byte[], Void, Void> {

  private static final Logger LOG = LoggerFactory.getLogger(RulesStoreUpdater.class);

  private final String storeName;
  private final RuleCatalog catalog;
  private final RoutingObserver observer;
  /** The records (key and content) loaded by this updater or another of its supplier. */
  private final Set<String> seen;
  private KeyValueStore<String, byte[]> store;

  private RulesStoreUpdater(String storeName, RuleCatalog catalog, RoutingObserver observer, Set<String> seen) {
    this.storeName = storeName;
    this.catalog = catalog;
    this.observer = observer;
    this.seen = seen;
  }

  /** Updaters of the store {@code storeName} that log and count each record once, whichever of them reads it. */
  static ProcessorSupplier<String, byte[], Void, Void> supplier(String storeName, RuleCatalog catalog,
      RoutingObserver observer) {
    Set<String> seen = ConcurrentHashMap.newKeySet();
    return () -> new RulesStoreUpdater(storeName, catalog, observer, seen);
  }

  @Override
  public void init(ProcessorContext<Void, Void> context) {
    store = context.getStateStore(storeName);
    try (KeyValueIterator<String, byte[]> all = store.all()) {
      while (all.hasNext()) {
        KeyValue<String, byte[]> kv = all.next();
        load(kv.key, kv.value);
      }
    }
  }

  @Override
  public void process(Record<String, byte[]> record) {
    if (record.key() == null) {
      LOG.error("a record without a key on the rules topic is ignored (keys are NAME@VERSION)");
      observer.ruleRecord(RuleCatalog.Admission.UNDECODABLE);
      return;
    }
    store.put(record.key(), record.value());
    load(record.key(), record.value());
  }

  private void load(String key, byte[] value) {
    if (value == null) {
      int at = key.lastIndexOf('@');
      if (at > 0) {
        try {
          catalog.remove(key.substring(0, at), Long.parseLong(key.substring(at + 1)));
          LOG.info("rule {} removed (tombstone on the rules topic)", key);
        } catch (NumberFormatException e) {
          LOG.error("tombstone with key '{}' on the rules topic names no version; ignored", key);
        }
      }
      return;
    }
    boolean first = seen.add(key + "#" + java.util.Arrays.hashCode(value));
    RuleModel record;
    try {
      record = CascadeSerdes.ruleModels().decode(value);
      RuleCatalog.Entry entry = catalog.add(record);
      if (!(entry.name() + "@" + entry.version()).equals(key)) {
        LOG.warn("rules topic record with key '{}' holds {}@{}; loaded under the latter", key, entry.name(),
            entry.version());
      }
      if (first) {
        if (entry.applicable()) {
          LOG.info("rule {} v{} loaded ({}, {} features)", entry.name(), entry.version(), entry.rule().info().learner(),
              entry.rule().info().featureNames().size());
          observer.ruleRecord(RuleCatalog.Admission.LOADED);
        } else {
          LOG.warn("rule {} v{} skipped: {}", entry.name(), entry.version(), entry.notApplicableReason());
          observer.ruleRecord(RuleCatalog.Admission.OTHER_MODEL);
        }
      }
    } catch (SchemaDecodingException | IllegalArgumentException e) {
      if (first) {
        LOG.error("rules topic record '{}' is not a usable rule and is skipped: {}", key, e.getMessage());
        observer.ruleRecord(RuleCatalog.Admission.UNDECODABLE);
      }
    }
  }
}
