package dev.cascade.router.topology;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.learning.LearnedRule;
import dev.cascade.router.learning.LearnedRules;
import dev.cascade.router.learning.RuleArtifacts;
import dev.cascade.router.learning.RuleCatalog;
import dev.cascade.router.routing.RoutingObserver;
import dev.cascade.schemas.avro.RuleModel;
import dev.cascade.schemas.serde.CascadeSerdes;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.processor.api.MockProcessorContext;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorSupplier;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;
import org.junit.jupiter.api.Test;

/**
 * A restarted router's global rules store: Kafka Streams restores it by passing the topic's
 * records through one updater from the supplier, then starts another, whose init finds them in the
 * store. Each record is logged and counted once.
 */
class RulesStoreUpdaterTest {

  @Test
  void aRecordRestoredThenFoundInTheStoreAtInitIsCountedOnce() {
    LearnedRule shipped = LearnedRules.bundledRules().get(0);
    RuleCatalog catalog = new RuleCatalog(shipped.info().modelFingerprint());
    List<RuleCatalog.Admission> counted = new ArrayList<>();
    RoutingObserver observer = new RoutingObserver() {
      @Override
      public void ruleRecord(RuleCatalog.Admission admission) {
        counted.add(admission);
      }
    };
    MockProcessorContext<Void, Void> context = new MockProcessorContext<>();
    KeyValueStore<String, byte[]> store = Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore("rules"),
        Serdes.String(), Serdes.ByteArray()).withLoggingDisabled().build();
    store.init(context.getStateStoreContext(), store);
    context.addStateStore(store);
    ProcessorSupplier<String, byte[], Void, Void> supplier = RulesStoreUpdater.supplier("rules", catalog, observer);

    Processor<String, byte[], Void, Void> restoring = supplier.get();
    restoring.init(context);
    for (long version : new long[] {1, 2}) {
      RuleModel record = RuleModel.newBuilder(RuleArtifacts.toRecord(shipped)).setVersion(version).build();
      restoring.process(new Record<>(record.getName() + "@" + version,
          CascadeSerdes.ruleModels().serializer().serialize("rules", record), 0L));
    }
    restoring.close();
    Processor<String, byte[], Void, Void> reading = supplier.get();
    reading.init(context);

    assertThat(catalog.versions(shipped.info().name())).containsExactly(1L, 2L);
    assertThat(counted).containsExactly(RuleCatalog.Admission.LOADED, RuleCatalog.Admission.LOADED);
  }
}
