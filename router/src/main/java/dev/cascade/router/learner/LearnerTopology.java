package dev.cascade.router.learner;

import dev.cascade.router.config.TopicNames;
import dev.cascade.schemas.serde.CascadeSerdes;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.state.Stores;

/**
 * The continuous learner's topology, top to bottom:
 *
 * <pre>
 * outcomes-source, feedback-source ─► label-join (outcomes ⋈ feedback by request id, windowed) ─► examples-sink
 *                                          └─undecodable─► dead-letters-sink
 * examples-source, rules-source, policy-source ─► trainer (one task: examples, rules, policy, state)
 *                                          ├─► rules-sink   (a challenger that beat the champion)
 *                                          ├─► policy-sink  (the policy naming it)
 *                                          └─undecodable rule─► dead-letters-sink
 * </pre>
 *
 * The examples topic has one partition, as the rules and policy topics do, so one task holds every
 * example and decides alone; the label join scales with the outcomes topic's partitions.
 */
public final class LearnerTopology {

  static final String OUTCOMES_SOURCE = "outcomes-source";
  static final String FEEDBACK_SOURCE = "feedback-source";
  static final String LABEL_JOIN = "label-join";
  static final String EXAMPLES_SINK = "examples-sink";
  static final String EXAMPLES_SOURCE = "examples-source";
  static final String RULES_SOURCE = "rules-source";
  static final String POLICY_SOURCE = "policy-source";
  static final String TRAINER = "trainer";
  static final String RULES_SINK = "rules-sink";
  static final String POLICY_SINK = "policy-sink";
  static final String DEAD_LETTERS_SINK = "dead-letters-sink";

  private LearnerTopology() {}

  /** The examples topic of a learner application: its own, one partition. */
  public static String examplesTopic(String applicationId) {
    return applicationId + ".examples";
  }

  public static Topology build(TopicNames topics, String examplesTopic, LearnerSettings settings,
      LearnerMetrics metrics) {
    return build(topics, examplesTopic, settings, metrics, new PolicyWrites(), RulesOnTopic.NONE);
  }

  /**
   * As above, its trainer writing policies through {@code writes}, which the process's tier tuner
   * shares, and reading what the rules topic holds with {@code rulesOnTopic} when its task starts.
   */
  static Topology build(TopicNames topics, String examplesTopic, LearnerSettings settings, LearnerMetrics metrics,
      PolicyWrites writes, java.util.function.Supplier<java.util.Set<String>> rulesOnTopic) {
    Topology t = new Topology();
    t.addSource(OUTCOMES_SOURCE, new StringDeserializer(), new ByteArrayDeserializer(), topics.outcomes())
        .addSource(FEEDBACK_SOURCE, new StringDeserializer(), new ByteArrayDeserializer(), topics.feedback())
        .addProcessor(LABEL_JOIN, () -> new LabelJoinProcessor(settings.feedbackWindow(), topics.feedback(), metrics,
            EXAMPLES_SINK, DEAD_LETTERS_SINK), OUTCOMES_SOURCE, FEEDBACK_SOURCE)
        .addStateStore(Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore(LabelJoinProcessor.OUTCOMES_WAITING),
            Serdes.String(), Serdes.ByteArray()), LABEL_JOIN)
        .addStateStore(Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore(LabelJoinProcessor.FEEDBACK_WAITING),
            Serdes.String(), Serdes.ByteArray()), LABEL_JOIN)
        .addStateStore(Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore(LabelJoinProcessor.REFERENCED),
            Serdes.String(), Serdes.ByteArray()), LABEL_JOIN)
        .addSink(EXAMPLES_SINK, examplesTopic, new StringSerializer(),
            CascadeSerdes.labelledExamples().serializer(), LABEL_JOIN)

        .addSource(EXAMPLES_SOURCE, new StringDeserializer(), new ByteArrayDeserializer(), examplesTopic)
        .addSource(RULES_SOURCE, new StringDeserializer(), new ByteArrayDeserializer(), topics.rules())
        .addSource(POLICY_SOURCE, new StringDeserializer(), new ByteArrayDeserializer(), topics.policy())
        .addProcessor(TRAINER, () -> new TrainerProcessor(settings, examplesTopic, topics.rules(), topics.policy(),
            metrics, RULES_SINK, POLICY_SINK, DEAD_LETTERS_SINK, writes, rulesOnTopic), EXAMPLES_SOURCE, RULES_SOURCE,
            POLICY_SOURCE)
        .addStateStore(Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore(TrainerProcessor.EXAMPLES),
            Serdes.Long(), Serdes.ByteArray()), TRAINER)
        .addStateStore(Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore(TrainerProcessor.RULES),
            Serdes.String(), Serdes.ByteArray()), TRAINER)
        .addStateStore(Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore(TrainerProcessor.POLICY),
            Serdes.String(), Serdes.ByteArray()), TRAINER)
        .addStateStore(Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore(TrainerProcessor.STATE),
            Serdes.String(), Serdes.String()), TRAINER)
        .addSink(RULES_SINK, topics.rules(), new StringSerializer(), new ByteArraySerializer(), TRAINER)
        .addSink(POLICY_SINK, topics.policy(), new StringSerializer(), CascadeSerdes.policies().serializer(), TRAINER)
        .addSink(DEAD_LETTERS_SINK, topics.deadLetters(), new StringSerializer(),
            CascadeSerdes.deadLetters().serializer(), LABEL_JOIN, TRAINER);
    return t;
  }
}
