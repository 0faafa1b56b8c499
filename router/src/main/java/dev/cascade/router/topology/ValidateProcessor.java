package dev.cascade.router.topology;

import dev.cascade.router.routing.RequestValidator;
import dev.cascade.router.routing.RoutingObserver;
import dev.cascade.schemas.avro.CascadeRequest;
import dev.cascade.schemas.serde.SchemaDecodingException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;

/**
 * Decodes and checks each request. A record that cannot be decoded, or whose request is invalid,
 * goes to the dead-letter sink with its original bytes and the reason; processing goes on. A
 * valid request goes on to the small model, keyed by its request id.
 *
 * <p>A request must be keyed by its id (UTF-8): one keyed otherwise is dead-lettered, since a
 * repeated id is caught only on the partition its key picks. A request id seen in the last
 * {@code dedupeWindow} on this partition is dead-lettered as a duplicate, so a client's retry cannot produce a
 * second response. The ids seen live in a changelogged store, purged of old entries by a
 * wall-clock punctuator.
 */
final class ValidateProcessor implements Processor<byte[], byte[], Object, Object> {

  private final Deserializer<CascadeRequest> deserializer;
  private final RequestValidator validator;
  private final String topic;
  private final Duration dedupeWindow;
  private final RoutingObserver observer;
  private final ReplyTopics replies;
  private ProcessorContext<Object, Object> context;
  private KeyValueStore<String, Long> seen;

  ValidateProcessor(Deserializer<CascadeRequest> deserializer, RequestValidator validator, String topic,
      Duration dedupeWindow) {
    this(deserializer, validator, topic, dedupeWindow, RoutingObserver.NONE, ReplyTopics.sharedOnly(""));
  }

  ValidateProcessor(Deserializer<CascadeRequest> deserializer, RequestValidator validator, String topic,
      Duration dedupeWindow, RoutingObserver observer, ReplyTopics replies) {
    this.observer = observer;
    this.replies = replies;
    this.deserializer = deserializer;
    this.validator = validator;
    this.topic = topic;
    this.dedupeWindow = dedupeWindow;
  }

  @Override
  public void init(ProcessorContext<Object, Object> context) {
    this.context = context;
    this.seen = context.getStateStore(CascadeTopology.SEEN_IDS_STORE);
    Duration purgeEvery = dedupeWindow.dividedBy(10).isZero() ? Duration.ofMillis(1) : dedupeWindow.dividedBy(10);
    context.schedule(purgeEvery, PunctuationType.WALL_CLOCK_TIME, now -> {
      List<String> old = new ArrayList<>();
      try (KeyValueIterator<String, Long> it = seen.all()) {
        while (it.hasNext()) {
          KeyValue<String, Long> kv = it.next();
          if (now - kv.value > dedupeWindow.toMillis()) {
            old.add(kv.key);
          }
        }
      }
      old.forEach(seen::delete);
    });
  }

  @Override
  public void process(Record<byte[], byte[]> record) {
    observer.received();
    CascadeRequest request;
    try {
      request = deserializer.deserialize(topic, record.value());
    } catch (SchemaDecodingException e) {
      deadLetter(record, null, "deserialize", e, e.getMessage());
      return;
    }
    if (request == null) {
      deadLetter(record, null, "deserialize", null, "value: null (a tombstone is not a request)");
      return;
    }
    Optional<String> problem;
    try {
      problem = validator.problem(request);
    } catch (RuntimeException e) {
      problem = Optional.of("prompt: cannot be checked: " + e.getMessage());
    }
    byte[] id = request.getRequestId() == null ? record.key()
        : request.getRequestId().getBytes(java.nio.charset.StandardCharsets.UTF_8);
    if (problem.isPresent()) {
      deadLetter(record, id, request.getReplyTo(), "validate", null, problem.get());
      return;
    }
    // Requests are spread over partitions by key and a repeated id is caught within its partition:
    // a record keyed otherwise could be answered once per partition it lands on.
    String key = record.key() == null ? null : new String(record.key(), java.nio.charset.StandardCharsets.UTF_8);
    if (!request.getRequestId().equals(key)) {
      deadLetter(record, id, request.getReplyTo(), "validate", null, "key: must be the request id \""
          + request.getRequestId() + "\" (UTF-8), was " + (key == null ? "null" : "\"" + key + "\"")
          + " (a request id is checked for duplicates within the partition its key picks)");
      return;
    }
    Long firstSeen = seen.get(request.getRequestId());
    if (firstSeen != null) {
      deadLetter(record, id, request.getReplyTo(), "validate", null, DeadLetters.DUPLICATE_ID + " of a request received at "
          + java.time.Instant.ofEpochMilli(firstSeen) + " (" + firstSeen + " ms; ids must be unique within "
          + dedupeWindow.toSeconds() + " s)");
      return;
    }
    seen.put(request.getRequestId(), context.currentSystemTimeMs());
    context.forward(new Record<>((Object) request.getRequestId(), (Object) request, context.currentSystemTimeMs(),
        record.headers()), CascadeTopology.SMALL_MODEL);
  }

  /** Dead-letters {@code record}; {@code replyTo} is its decoded request's (null when it has none or was not decoded). */
  private void deadLetter(Record<byte[], byte[]> record, String replyTo, String stage, Throwable error, String reason) {
    deadLetter(record, record.key(), replyTo, stage, error, reason);
  }

  /** As above, the dead letter keyed by {@code key}: the request id, once the request is decoded. */
  private void deadLetter(Record<byte[], byte[]> record, byte[] key, String replyTo, String stage, Throwable error,
      String reason) {
    observer.deadLettered();
    CascadeTopology.deadLetter(context, replies, key, DeadLetters.of(context, record, stage, error, reason),
        replyTo, record.timestamp());
  }
}
