package dev.cascade.router.topology;

import dev.cascade.router.policy.DeferralPolicy;
import dev.cascade.router.routing.PendingRequest;
import dev.cascade.router.routing.Routed;
import dev.cascade.router.routing.RoutingObserver;
import dev.cascade.router.routing.RoutingRecords;
import dev.cascade.router.routing.SmallModelRouter;
import dev.cascade.schemas.avro.CascadeRequest;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Gathers requests into micro-batches for the small model: a batch is started when it holds
 * {@code batchSize} requests or its oldest request has waited {@code maxWait}, whichever first.
 *
 * <p><b>Pipelined.</b> A started batch is routed on {@code workers}, not on the stream thread, so
 * that while the model generates one batch the stream thread goes on polling, gathering the next
 * batch, forwarding and committing. Each task has at most {@code maxInFlight} batches in flight
 * ({@code small.batch.in-flight}): only batches still generating count, not finished ones waiting to be
 * forwarded. When the next batch is full and that many are generating, the stream thread waits for
 * any of them to finish, a second at most per record (the back-pressure that keeps the store bounded,
 * without stalling the thread for good). More than one matters because a stream thread works through
 * one task's records at a time, often for hundreds of records: with one batch in flight, the model
 * sat idle whenever that batch finished, until the stream thread had forwarded it and gathered the
 * next (the decoding thread was idle 20% of a {@code bench router} round; with four, 4%). Finished
 * batches are forwarded on the stream thread as they finish (a batch of short answers need not wait
 * behind an older one of long answers), from the next record or from a wall-clock punctuator; the
 * next batch is started before a finished one is forwarded.
 * With a direct executor ({@code Runnable::run}) the batch runs inside the call that starts it and
 * everything is forwarded before that call returns.
 *
 * <p><b>Nothing lost.</b> Waiting and in-flight requests live in a changelogged state store and
 * leave it only in the transaction that forwards their answers: Kafka Streams commits the offsets
 * of records handed to this processor, so a request held only in memory would be lost by a crash
 * after a commit. After a restart the store is restored and its requests are batched again (an
 * in-flight batch is generated twice; its answers are forwarded once). Keys are the receive time
 * and a sequence number, zero-padded, so the store iterates in arrival order.
 */
final class MicroBatchProcessor implements Processor<String, CascadeRequest, Object, Object> {

  private static final Logger LOG = LoggerFactory.getLogger(MicroBatchProcessor.class);
  /** Longest one record waits for the batch in flight before the stream thread goes on. */
  static final Duration MAX_BLOCK = Duration.ofSeconds(1);

  private final Supplier<SmallModelRouter> routerFactory;
  private final PolicyView.Source policies;
  private final int batchSize;
  private final int maxInFlight;
  private final Duration maxWait;
  private final Executor workers;
  private final RoutingObserver observer;
  private final RoutingRecords records;
  private final Duration batchTimeout;
  private final ArrayDeque<KeyValue<String, PendingRequest>> waiting = new ArrayDeque<>();
  private ProcessorContext<Object, Object> context;
  private IdleAwarePunctuator ticker;
  private KeyValueStore<String, CascadeRequest> store;
  private PolicyView policy;
  private SmallModelRouter router;
  private final ArrayDeque<InFlight> inFlight = new ArrayDeque<>();
  private long sequence;

  /** A started batch: its store keys and requests, the policy it runs under, and its result. */
  private record InFlight(List<KeyValue<String, PendingRequest>> batch, DeferralPolicy policy,
      CompletableFuture<List<Routed>> result, long startedAtMs) {}

  MicroBatchProcessor(Supplier<SmallModelRouter> routerFactory, PolicyView.Source policies, int batchSize,
      Duration maxWait, Duration batchTimeout, Executor workers, RoutingRecords records, int maxInFlight) {
    if (maxInFlight < 1) {
      throw new IllegalArgumentException("maxInFlight: must be at least 1, got " + maxInFlight);
    }
    this.maxInFlight = maxInFlight;
    this.observer = records.observer();
    this.records = records;
    this.batchTimeout = batchTimeout;
    this.routerFactory = routerFactory;
    this.policies = policies;
    this.batchSize = batchSize;
    this.maxWait = maxWait;
    this.workers = workers;
  }

  @Override
  public void init(ProcessorContext<Object, Object> context) {
    this.context = context;
    this.store = context.getStateStore(CascadeTopology.BATCH_STORE);
    this.policy = policies.view(context.getStateStore(CascadeTopology.POLICY_STORE));
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
      observer.restored(waiting.size());
    }
    Duration tick = Duration.ofMillis(Math.max(1, maxWait.toMillis() / 2));
    // Only while requests wait or batches run: an idle task then neither punctuates nor commits.
    this.ticker = new IdleAwarePunctuator(context, tick, this::pump, () -> waiting.isEmpty() && inFlight.isEmpty());
    ticker.wake();
  }

  /**
   * The batch store's key of a request: its arrival time and this task's sequence number,
   * zero-padded (13 and 12 digits) so that keys sort in arrival order; what
   * {@code String.format("%013d-%012d", ...)} gives, without the formatter's cost on every request.
   */
  static String batchKey(long receivedAtMs, long sequence) {
    StringBuilder key = new StringBuilder(26);
    padded(key, receivedAtMs, 13).append('-');
    return padded(key, sequence, 12).toString();
  }

  private static StringBuilder padded(StringBuilder to, long value, int width) {
    String digits = Long.toString(value);
    for (int i = digits.length(); i < width; i++) {
      to.append('0');
    }
    return to.append(digits);
  }

  @Override
  public void process(Record<String, CascadeRequest> record) {
    // Received now, by this instance's clock: the record's own timestamp is the producer's, which
    // may be skewed or old (a replay), and would make the batch wait too long or not at all.
    long receivedAt = context.currentSystemTimeMs();
    String key = batchKey(receivedAt, sequence++);
    store.put(key, record.value());
    waiting.add(KeyValue.pair(key, new PendingRequest(record.value(), receivedAt)));
    if (waiting.size() >= batchSize && generating() >= maxInFlight) {
      awaitAny();
    }
    pump(context.currentSystemTimeMs());
    ticker.wake();
  }

  /**
   * Forwards finished batches, in the order they started among those finished, and starts the next
   * while fewer than {@code maxInFlight} are generating and one is full or has waited long enough. A
   * batch is started before a finished one is forwarded, so the model is not left idle while the
   * stream thread encodes and sends its answers.
   */
  private void pump(long now) {
    while (true) {
      InFlight done = firstFinished();
      if (done != null) {
        inFlight.remove(done);
        if (generating() < maxInFlight && due(now)) {
          start();
        }
        forward(done);
        continue;
      }
      InFlight oldest = inFlight.peekFirst();
      if (oldest != null && now - oldest.startedAtMs() >= batchTimeout.toMillis()) {
        // A hung model: its batch is given up (the generation may still finish, unheard) and its
        // requests go to the large model, so neither they nor the stream thread wait on it.
        LOG.error("small-model batch of {} ran past small.batch.timeout-ms ({} ms); escalating its requests",
            oldest.batch().size(), batchTimeout.toMillis());
        inFlight.pollFirst();
        oldest.result().cancel(true);
        escalateAll(oldest, "small model timed out after " + batchTimeout.toMillis() + " ms");
        continue;
      }
      if (generating() < maxInFlight && due(now)) {
        start();
        continue;
      }
      return;
    }
  }

  /** The earliest started batch that has finished, or null. */
  private InFlight firstFinished() {
    for (InFlight f : inFlight) {
      if (f.result().isDone()) {
        return f;
      }
    }
    return null;
  }

  /** Batches started and not yet finished (finished ones waiting to be forwarded do not count). */
  private int generating() {
    int n = 0;
    for (InFlight f : inFlight) {
      if (!f.result().isDone()) {
        n++;
      }
    }
    return n;
  }

  private boolean due(long now) {
    return !waiting.isEmpty() && (waiting.size() >= batchSize || maxWait.isZero()
        || now - waiting.peekFirst().value.receivedAtMs() >= maxWait.toMillis());
  }

  private void start() {
    List<KeyValue<String, PendingRequest>> batch = new ArrayList<>(Math.min(batchSize, waiting.size()));
    List<PendingRequest> requests = new ArrayList<>(batch.size());
    while (batch.size() < batchSize && !waiting.isEmpty()) {
      KeyValue<String, PendingRequest> kv = waiting.pollFirst();
      batch.add(kv);
      requests.add(kv.value);
    }
    DeferralPolicy current = policy.current();
    observer.batchRouted(requests.size());
    CompletableFuture<List<Routed>> result;
    try {
      result = CompletableFuture.supplyAsync(() -> router.route(requests, current), workers);
    } catch (RuntimeException rejected) {
      result = CompletableFuture.failedFuture(rejected);
    }
    inFlight.addLast(new InFlight(batch, current, result, context.currentSystemTimeMs()));
  }

  /**
   * Blocks the stream thread until a batch in flight finishes, or {@link #MAX_BLOCK} has passed:
   * back-pressure on the input. The bound keeps a stream thread behind a stalled model polling,
   * committing and able to shut down; the request it was processing stays in the store.
   */
  private void awaitAny() {
    try {
      CompletableFuture.anyOf(inFlight.stream().map(InFlight::result).toArray(CompletableFuture[]::new))
          .get(MAX_BLOCK.toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while waiting for the small model", e);
    } catch (ExecutionException | TimeoutException | CancellationException e) {
      // A failure: forward() reports it and routes the batch one by one. A timeout: go on.
    }
  }

  private void forward(InFlight done) {
    List<Routed> routed;
    try {
      routed = done.result().join();
    } catch (CompletionException | java.util.concurrent.CancellationException failed) {
      Throwable cause = failed.getCause() != null ? failed.getCause() : failed;
      LOG.warn("batch of {} failed ({}); routing its requests one by one", done.batch().size(), cause.toString());
      routed = oneByOne(done.batch().stream().map(kv -> kv.value).toList(), done.policy());
    }
    emit(routed, done.batch());
  }

  /** Escalates every request of a batch the small model did not answer. */
  private void escalateAll(InFlight done, String failure) {
    long now = context.currentSystemTimeMs();
    List<Routed> routed = new ArrayList<>(done.batch().size());
    for (KeyValue<String, PendingRequest> kv : done.batch()) {
      routed.add(records.escalatedWithoutSmall(kv.value, done.policy(), failure,
          Math.max(0, done.startedAtMs() - kv.value.receivedAtMs()), now));
    }
    emit(routed, done.batch());
  }

  private void emit(List<Routed> routed, List<KeyValue<String, PendingRequest>> batch) {
    long now = context.currentSystemTimeMs();
    for (Routed r : routed) {
      if (r instanceof Routed.Answered a) {
        context.forward(CascadeTopology.responseRecord(r.requestId(), a.response(), now),
            CascadeTopology.RESPONSES_SINK);
        context.forward(new Record<>((Object) r.requestId(), (Object) a.outcome(), now), CascadeTopology.OUTCOMES_SINK);
      } else if (r instanceof Routed.Escalated e) {
        context.forward(new Record<>((Object) r.requestId(), (Object) e.escalation(), now), CascadeTopology.ESCALATIONS_SINK);
      }
    }
    for (KeyValue<String, PendingRequest> kv : batch) {
      store.delete(kv.key);
    }
  }

  /**
   * After a failed batch: each request alone, so one request the small model cannot run fails only
   * itself; that one is escalated to the large model, marked with the small model's failure.
   */
  private List<Routed> oneByOne(List<PendingRequest> batch, DeferralPolicy current) {
    List<Routed> routed = new ArrayList<>();
    for (PendingRequest p : batch) {
      try {
        routed.addAll(router.route(List.of(p), current));
      } catch (RuntimeException single) {
        LOG.error("the small model failed on request {} ({}); escalating it", p.request().getRequestId(),
            single.toString());
        long now = context.currentSystemTimeMs();
        routed.add(records.escalatedWithoutSmall(p, current, "small model failed: " + single,
            Math.max(0, now - p.receivedAtMs()), now));
      }
    }
    return routed;
  }

  /**
   * The task is leaving this instance (shutdown or rebalance). A batch in flight is not waited
   * for: its requests are still in the store, which the next owner restores and batches again.
   */
  @Override
  public void close() {
    inFlight.clear();
    waiting.clear();
    if (ticker != null) {
      ticker.release();
    }
  }

  private static long receivedAt(String key) {
    return Long.parseLong(key.substring(0, key.indexOf('-')));
  }
}
