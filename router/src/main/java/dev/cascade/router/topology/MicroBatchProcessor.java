package dev.cascade.router.topology;

import dev.cascade.router.policy.DeferralPolicy;
import dev.cascade.router.routing.PendingRequest;
import dev.cascade.router.routing.Routed;
import dev.cascade.router.routing.RoutingObserver;
import dev.cascade.router.routing.SmallModelRouter;
import dev.cascade.router.rules.DeferralRules;
import dev.cascade.schemas.avro.CascadeRequest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Gathers requests into micro-batches for the small model: a batch is run when it holds
 * {@code batchSize} requests or its oldest request has waited {@code maxWait}, whichever first.
 *
 * <p>Waiting requests live in a changelogged state store, not only in memory: Kafka Streams
 * commits the offsets of records handed to this processor, so a request held only in a list
 * would be lost by a crash after a commit. After a restart the store is restored and its
 * requests are batched again. Keys are the receive time and a sequence number, zero-padded, so
 * the store iterates in arrival order.
 */
final class MicroBatchProcessor implements Processor<String, CascadeRequest, Object, Object> {

  private static final Logger LOG = LoggerFactory.getLogger(MicroBatchProcessor.class);

  private final Supplier<SmallModelRouter> routerFactory;
  private final DeferralRules rules;
  private final Supplier<DeferralPolicy> fallbackPolicy;
  private final int batchSize;
  private final Duration maxWait;
  private final RoutingObserver observer;
  private final List<KeyValue<String, PendingRequest>> waiting = new ArrayList<>();
  private ProcessorContext<Object, Object> context;
  private KeyValueStore<String, CascadeRequest> store;
  private PolicyView policy;
  private SmallModelRouter router;
  private long sequence;

  MicroBatchProcessor(Supplier<SmallModelRouter> routerFactory, DeferralRules rules,
      Supplier<DeferralPolicy> fallbackPolicy, int batchSize, Duration maxWait) {
    this(routerFactory, rules, fallbackPolicy, batchSize, maxWait, RoutingObserver.NONE);
  }

  MicroBatchProcessor(Supplier<SmallModelRouter> routerFactory, DeferralRules rules,
      Supplier<DeferralPolicy> fallbackPolicy, int batchSize, Duration maxWait, RoutingObserver observer) {
    this.observer = observer;
    this.routerFactory = routerFactory;
    this.rules = rules;
    this.fallbackPolicy = fallbackPolicy;
    this.batchSize = batchSize;
    this.maxWait = maxWait;
  }

  @Override
  public void init(ProcessorContext<Object, Object> context) {
    this.context = context;
    this.store = context.getStateStore(CascadeTopology.BATCH_STORE);
    this.policy = new PolicyView(context.getStateStore(CascadeTopology.POLICY_STORE), fallbackPolicy.get(), rules);
    this.router = routerFactory.get();
    try (KeyValueIterator<String, CascadeRequest> it = store.all()) {
      while (it.hasNext()) {
        KeyValue<String, CascadeRequest> kv = it.next();
        waiting.add(KeyValue.pair(kv.key, new PendingRequest(kv.value, receivedAt(kv.key))));
        sequence = Math.max(sequence, Long.parseLong(kv.key.substring(kv.key.indexOf('-') + 1)) + 1);
      }
    }
    if (!waiting.isEmpty()) {
      LOG.info("task {}: {} requests restored from the batch store", context.taskId(), waiting.size());
    }
    Duration tick = Duration.ofMillis(Math.max(1, maxWait.toMillis() / 2));
    context.schedule(tick, PunctuationType.WALL_CLOCK_TIME, now -> {
      if (!waiting.isEmpty() && now - waiting.get(0).value.receivedAtMs() >= maxWait.toMillis()) {
        flush();
      }
    });
  }

  @Override
  public void process(Record<String, CascadeRequest> record) {
    String key = String.format("%013d-%012d", record.timestamp(), sequence++);
    store.put(key, record.value());
    waiting.add(KeyValue.pair(key, new PendingRequest(record.value(), record.timestamp())));
    if (waiting.size() >= batchSize || maxWait.isZero()) {
      flush();
    }
  }

  private void flush() {
    List<PendingRequest> batch = new ArrayList<>(waiting.size());
    for (KeyValue<String, PendingRequest> kv : waiting) {
      batch.add(kv.value);
    }
    DeferralPolicy current = policy.current();
    observer.batchRouted(batch.size());
    List<Routed> routed;
    try {
      routed = router.route(batch, current);
    } catch (RuntimeException e) {
      LOG.warn("batch of {} failed ({}); routing its requests one by one", batch.size(), e.toString());
      routed = new ArrayList<>();
      for (PendingRequest p : batch) {
        try {
          routed.addAll(router.route(List.of(p), current));
        } catch (RuntimeException single) {
          LOG.error("request {} cannot be routed: {}", p.request().getRequestId(), single.toString());
          observer.deadLettered();
          context.forward(new Record<>((Object) p.request().getRequestId().getBytes(java.nio.charset.StandardCharsets.UTF_8),
              (Object) DeadLetters.ofRequest(p.request(), "small-model", single, context.currentSystemTimeMs()),
              context.currentSystemTimeMs()), CascadeTopology.DEAD_LETTER_SINK);
        }
      }
    }
    long now = context.currentSystemTimeMs();
    for (Routed r : routed) {
      if (r instanceof Routed.Answered a) {
        context.forward(new Record<>((Object) r.requestId(), (Object) a.response(), now), CascadeTopology.RESPONSES_SINK);
        context.forward(new Record<>((Object) r.requestId(), (Object) a.outcome(), now), CascadeTopology.OUTCOMES_SINK);
      } else if (r instanceof Routed.Escalated e) {
        context.forward(new Record<>((Object) r.requestId(), (Object) e.escalation(), now), CascadeTopology.ESCALATIONS_SINK);
      }
    }
    for (KeyValue<String, PendingRequest> kv : waiting) {
      store.delete(kv.key);
    }
    waiting.clear();
  }

  private static long receivedAt(String key) {
    return Long.parseLong(key.substring(0, key.indexOf('-')));
  }
}
