package dev.cascade.router.topology;

import dev.cascade.router.config.TopicNames;
import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.escalation.EscalationClient;
import dev.cascade.router.escalation.EscalationTiers;
import dev.cascade.router.policy.DeferralPolicy;
import dev.cascade.router.routing.RequestValidator;
import dev.cascade.router.routing.RoutingRecords;
import dev.cascade.router.routing.SmallModelRouter;
import dev.cascade.router.learning.RuleResolver;
import dev.cascade.schemas.serde.CascadeSerdes;
import java.time.Duration;
import java.util.concurrent.Executor;
import java.util.concurrent.Semaphore;
import java.util.function.Supplier;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.processor.TopicNameExtractor;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.state.Stores;

/**
 * The router's topology, top to bottom as in the README's data flow ("How it works"):
 *
 * <pre>
 * requests-source ─► validate (refuses duplicate ids) ─bad─► dead-letters-sink
 *                       │
 *                       ▼
 *                  small-model (micro-batched, pipelined; reads policy-store) ─accept─► responses-sink, outcomes-sink
 *                       └─defer/explore─► escalations-sink
 * escalations-source ─► escalate (async large-model calls) ─► responses-sink, outcomes-sink
 * policy topic ─► policy-store (global store, on every instance)
 * rules topic ─► rules-store (global store, on every instance; decoded into the rule catalog)
 * </pre>
 */
public final class CascadeTopology {

  /** The only key on the policy topic: compaction keeps its latest value. */
  public static final String POLICY_KEY = "policy";

  static final String REQUESTS_SOURCE = "requests-source";
  static final String VALIDATE = "validate";
  static final String SMALL_MODEL = "small-model";
  static final String ESCALATIONS_SOURCE = "escalations-source";
  static final String ESCALATE = "escalate";
  static final String RESPONSES_SINK = "responses-sink";
  /**
   * The header every response record carries with its request's {@code reply_to} (when it has
   * one), so a front-door instance can skip other instances' replies without decoding them.
   */
  public static final String REPLY_TO_HEADER = "cascade.reply-to";

  /** A response record, with the {@link #REPLY_TO_HEADER} header when the response has a reply_to. */
  static Record<Object, Object> responseRecord(String requestId, dev.cascade.schemas.avro.CascadeResponse response,
      long now) {
    Record<Object, Object> record = new Record<>(requestId, response, now);
    if (response.getReplyTo() != null) {
      record.headers().add(REPLY_TO_HEADER, response.getReplyTo().getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }
    return record;
  }

  /**
   * The header that marks a record on a front door's reply topic as a {@link
   * dev.cascade.schemas.avro.DeadLetter} (its request was refused), not a response.
   */
  public static final String DEAD_LETTER_HEADER = "cascade.dead-letter";

  /**
   * Forwards {@code letter} to the dead-letter sink and, when {@code replyTo} names a front door
   * with a reply topic, a copy to that topic (so the waiting call fails with the reason at once).
   * Both are written in the task's transaction.
   */
  static void deadLetter(org.apache.kafka.streams.processor.api.ProcessorContext<Object, Object> context,
      ReplyTopics replies, Object key, dev.cascade.schemas.avro.DeadLetter letter, String replyTo, long timestamp) {
    context.forward(new Record<>(key, (Object) letter, timestamp), DEAD_LETTER_SINK);
    if (replies.ownTopic(replyTo).isPresent()) {
      Record<Object, Object> copy = new Record<>(key, (Object) letter, timestamp);
      copy.headers().add(REPLY_TO_HEADER, replyTo.getBytes(java.nio.charset.StandardCharsets.UTF_8));
      copy.headers().add(DEAD_LETTER_HEADER, new byte[] {1});
      context.forward(copy, REPLY_DEAD_LETTERS_SINK);
    }
  }
  static final String OUTCOMES_SINK = "outcomes-sink";
  static final String ESCALATIONS_SINK = "escalations-sink";
  static final String DEAD_LETTER_SINK = "dead-letters-sink";
  static final String REPLY_DEAD_LETTERS_SINK = "reply-dead-letters-sink";
  static final String BATCH_STORE = "small-model-batch";
  static final String ESCALATION_STORE = "escalations-pending";
  static final String POLICY_STORE = "policy-store";
  static final String RULES_STORE = "rules-store";
  static final String SEEN_IDS_STORE = "request-ids-seen";
  /** How long a request id is remembered to refuse a duplicate. */
  public static final Duration DEDUPE_WINDOW = Duration.ofMinutes(10);

  /**
   * What the topology is built from.
   *
   * @param topics topic names
   * @param routers makes the accept-or-defer step, one per stream task
   * @param validator checks requests before the small model
   * @param rules the rules a policy may name (built-in, and learned ones by version: the catalog the
   *     rules topic keeps up to date)
   * @param defaultPolicy the policy while the policy topic has none
   * @param batchSize most requests in one small-model batch
   * @param batchWait longest a request waits for its batch to fill
   * @param escalations calls the large model
   * @param records builds the escalator's output records
   * @param maxInFlight most large-model calls in flight in this instance, all tasks together
   * @param defaultMaxNewTokens token limit of a request that sets none
   * @param smallModelWorkers runs the small-model batches off the stream threads (at most
   *     {@code batchesInFlight} per task at a time); {@code Runnable::run} runs them on the stream
   *     thread instead
   * @param batchTimeout longest a small-model batch may run before its requests are escalated without it
   * @param tiers the models after the small one; tier 1's client is {@code escalations}
   * @param batchesInFlight most small-model batches of one task in flight at once
   */
  public record Parts(TopicNames topics, Supplier<SmallModelRouter> routers, RequestValidator validator,
      RuleResolver rules, DeferralPolicy defaultPolicy, int batchSize, Duration batchWait, EscalationClient escalations,
      RoutingRecords records, int maxInFlight, int defaultMaxNewTokens, Executor smallModelWorkers,
      Duration batchTimeout, EscalationTiers tiers, int batchesInFlight) {

    public Parts {
      if (tiers.tier(1).client() != escalations) {
        throw new IllegalArgumentException("tier 1's client must be the escalations client");
      }
      if (batchesInFlight < 1) {
        throw new IllegalArgumentException("batchesInFlight: must be at least 1, got " + batchesInFlight);
      }
    }

    /** Parts with the default number of small-model batches in flight per task ({@code small.batch.in-flight}). */
    public Parts(TopicNames topics, Supplier<SmallModelRouter> routers, RequestValidator validator,
        RuleResolver rules, DeferralPolicy defaultPolicy, int batchSize, Duration batchWait,
        EscalationClient escalations, RoutingRecords records, int maxInFlight, int defaultMaxNewTokens,
        Executor smallModelWorkers, Duration batchTimeout, EscalationTiers tiers) {
      this(topics, routers, validator, rules, defaultPolicy, batchSize, batchWait, escalations, records, maxInFlight,
          defaultMaxNewTokens, smallModelWorkers, batchTimeout, tiers,
          CascadeConfig.defaults().get(CascadeConfig.BATCH_IN_FLIGHT));
    }

    /** Parts of a cascade of two models: the small one, and {@code escalations}' as the large one. */
    public Parts(TopicNames topics, Supplier<SmallModelRouter> routers, RequestValidator validator,
        RuleResolver rules, DeferralPolicy defaultPolicy, int batchSize, Duration batchWait,
        EscalationClient escalations, RoutingRecords records, int maxInFlight, int defaultMaxNewTokens,
        Executor smallModelWorkers, Duration batchTimeout) {
      this(topics, routers, validator, rules, defaultPolicy, batchSize, batchWait, escalations, records, maxInFlight,
          defaultMaxNewTokens, smallModelWorkers, batchTimeout,
          EscalationTiers.single(escalations, RoutingRecords.LARGE, records.costModel().largePerToken()));
    }

    /** These parts with at most {@code n} small-model batches of one task in flight. */
    public Parts withBatchesInFlight(int n) {
      return new Parts(topics, routers, validator, rules, defaultPolicy, batchSize, batchWait, escalations, records,
          maxInFlight, defaultMaxNewTokens, smallModelWorkers, batchTimeout, tiers, n);
    }

    /** Parts with the default small-model batch timeout ({@code small.batch.timeout-ms}). */
    public Parts(TopicNames topics, Supplier<SmallModelRouter> routers, RequestValidator validator,
        RuleResolver rules, DeferralPolicy defaultPolicy, int batchSize, Duration batchWait,
        EscalationClient escalations, RoutingRecords records, int maxInFlight, int defaultMaxNewTokens,
        Executor smallModelWorkers) {
      this(topics, routers, validator, rules, defaultPolicy, batchSize, batchWait, escalations, records, maxInFlight,
          defaultMaxNewTokens, smallModelWorkers,
          Duration.ofMillis(CascadeConfig.defaults().get(CascadeConfig.BATCH_TIMEOUT_MS)));
    }
  }

  private CascadeTopology() {}

  /** The topology with every response on the shared responses topic (no per-instance reply topics). */
  public static Topology build(Parts parts) {
    return build(parts, ReplyTopics.sharedOnly(parts.topics().responses()));
  }

  /**
   * The topology, writing each response where {@code replies} says: the reply topic of the front
   * door that waits for it, or the shared responses topic.
   */
  public static Topology build(Parts parts, ReplyTopics replies) {
    Semaphore callPermits = new Semaphore(parts.maxInFlight());
    PolicyView.Source policies = new PolicyView.Source(parts.rules(), parts.defaultPolicy(),
        parts.records().observer());
    TopicNames topics = parts.topics();
    StreamsBuilder builder = new StreamsBuilder();
    builder.addGlobalStore(Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore(POLICY_STORE),
            Serdes.String(), CascadeSerdes.policies()).withLoggingDisabled(),
        topics.policy(), Consumed.with(Serdes.String(), Serdes.ByteArray()).withName("policy-source"),
        () -> new PolicyStoreUpdater(POLICY_STORE, policies));
    builder.addGlobalStore(Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore(RULES_STORE),
            Serdes.String(), Serdes.ByteArray()).withLoggingDisabled(),
        topics.rules(), Consumed.with(Serdes.String(), Serdes.ByteArray()).withName("rules-source"),
        RulesStoreUpdater.supplier(RULES_STORE, parts.rules().catalog(), parts.records().observer()));
    Topology topology = builder.build();

    topology.addSource(REQUESTS_SOURCE, new ByteArrayDeserializer(), new ByteArrayDeserializer(), topics.requests())
        .addProcessor(VALIDATE, () -> new ValidateProcessor(CascadeSerdes.requests().deserializer(),
            parts.validator(), topics.requests(), DEDUPE_WINDOW, parts.records().observer(), replies), REQUESTS_SOURCE)
        .addStateStore(Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore(SEEN_IDS_STORE),
            Serdes.String(), Serdes.Long()), VALIDATE)
        .addProcessor(SMALL_MODEL, () -> new MicroBatchProcessor(parts.routers(), policies, parts.batchSize(),
            parts.batchWait(), parts.batchTimeout(), parts.smallModelWorkers(), parts.records(), parts.batchesInFlight()), VALIDATE)
        .addStateStore(Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore(BATCH_STORE),
            Serdes.String(), CascadeSerdes.requests()), SMALL_MODEL)
        .addSink(ESCALATIONS_SINK, topics.escalations(), new StringSerializer(),
            CascadeSerdes.escalations().serializer(), SMALL_MODEL)

        .addSource(ESCALATIONS_SOURCE, new StringDeserializer(), CascadeSerdes.escalations().deserializer(),
            topics.escalations())
        .addProcessor(ESCALATE, () -> new EscalationProcessor(parts.tiers(), policies, parts.records(),
            callPermits, parts.defaultMaxNewTokens(), Duration.ofMillis(5), replies), ESCALATIONS_SOURCE)
        .addStateStore(Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore(ESCALATION_STORE),
            Serdes.String(), CascadeSerdes.escalations()), ESCALATE)

        // The reply topic of the front door the response's reply_to names, when it has one; else the
        // shared responses topic. Both are written in the task's exactly-once transaction.
        .addSink(RESPONSES_SINK, (TopicNameExtractor<String, dev.cascade.schemas.avro.CascadeResponse>)
                (key, response, context) -> replies.responsesTopic(response.getReplyTo()), new StringSerializer(),
            CascadeSerdes.responses().serializer(), SMALL_MODEL, ESCALATE)
        .addSink(OUTCOMES_SINK, topics.outcomes(), new StringSerializer(),
            CascadeSerdes.outcomes().serializer(), SMALL_MODEL, ESCALATE)
        .addSink(DEAD_LETTER_SINK, topics.deadLetters(), new ByteArraySerializer(),
            CascadeSerdes.deadLetters().serializer(), VALIDATE, SMALL_MODEL, ESCALATE)
        // Only what deadLetter(...) forwards, after it found the reply topic: named from the header.
        .addSink(REPLY_DEAD_LETTERS_SINK, (TopicNameExtractor<byte[], dev.cascade.schemas.avro.DeadLetter>)
                (key, letter, context) -> ReplyTopics.topicName(replies.prefix(), new String(
                    context.headers().lastHeader(REPLY_TO_HEADER).value(), java.nio.charset.StandardCharsets.UTF_8)),
            new ByteArraySerializer(), CascadeSerdes.deadLetters().serializer(), VALIDATE, ESCALATE);
    return topology;
  }

}
