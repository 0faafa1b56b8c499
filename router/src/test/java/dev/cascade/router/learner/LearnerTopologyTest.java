package dev.cascade.router.learner;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.features.FeatureExtractor;
import dev.cascade.schemas.avro.DeadLetter;
import dev.cascade.schemas.avro.Decision;
import dev.cascade.schemas.avro.Feedback;
import dev.cascade.schemas.avro.LabelledExample;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.avro.ServedBy;
import dev.cascade.schemas.avro.StageLatencies;
import dev.cascade.schemas.serde.CascadeSerdes;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import java.time.Duration;
import java.util.List;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The learner's label join and input checks, with Kafka Streams' test driver. */
class LearnerTopologyTest {

  private static final Duration WINDOW = Duration.ofSeconds(60);

  private final CascadeConfig config = CascadeConfig.load(null, Map.of(), Map.of(
      "learn.feedback-window-ms", Long.toString(WINDOW.toMillis())));
  private final PrometheusRegistry registry = new PrometheusRegistry();
  private TopologyTestDriver driver;
  private TestInputTopic<String, byte[]> outcomes;
  private TestInputTopic<String, byte[]> feedback;
  private TestInputTopic<String, byte[]> rules;
  private TestOutputTopic<String, LabelledExample> examples;
  private TestOutputTopic<String, DeadLetter> deadLetters;

  @BeforeEach
  void start() {
    String examplesTopic = LearnerTopology.examplesTopic("test-learner");
    Properties props = new Properties();
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, "test-learner");
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
    driver = new TopologyTestDriver(LearnerTopology.build(config.topics(), examplesTopic,
        LearnerSettings.from(config), new LearnerMetrics(registry)), props);
    outcomes = driver.createInputTopic(config.topics().outcomes(), new StringSerializer(), new ByteArraySerializer());
    feedback = driver.createInputTopic(config.topics().feedback(), new StringSerializer(), new ByteArraySerializer());
    rules = driver.createInputTopic(config.topics().rules(), new StringSerializer(), new ByteArraySerializer());
    examples = driver.createOutputTopic(examplesTopic, new StringDeserializer(),
        CascadeSerdes.labelledExamples().deserializer());
    deadLetters = driver.createOutputTopic(config.topics().deadLetters(), new StringDeserializer(),
        CascadeSerdes.deadLetters().deserializer());
  }

  @AfterEach
  void stop() {
    driver.close();
  }

  private static RoutingOutcome outcome(String id, Decision decision, String large) {
    return RoutingOutcome.newBuilder().setRequestId(id).setPrompt("p " + id).setSmallText("a")
        .setFeatures(new HashMap<>(FeatureExtractor.extract(new float[] {-0.5f}, new float[] {1f}).asMap()))
        .setRule("chow-sum").setScore(1).setThreshold(1).setPolicyVersion(1).setDecision(decision)
        .setPropensity(decision == Decision.DEFER ? 1.0 : 0.05)
        .setServedBy(large == null ? ServedBy.SMALL : ServedBy.LARGE).setLargeText(large)
        .setAgree(large == null ? null : large.equals("a"))
        .setLatencies(StageLatencies.newBuilder().build()).setCreatedAtMs(0).setCompletedAtMs(1).build();
  }

  private void send(RoutingOutcome o) {
    outcomes.pipeInput(o.getRequestId(), CascadeSerdes.outcomes().encode(o));
  }

  private void sendFeedback(String id, String corrected) {
    feedback.pipeInput(id, CascadeSerdes.feedback().encode(Feedback.newBuilder().setRequestId(id)
        .setCorrectedText(corrected).setSource("user").setCreatedAtMs(0).build()));
  }

  private double counter(String name, String label, String value) {
    for (MetricSnapshot s : registry.scrape()) {
      if (s instanceof CounterSnapshot c && c.getMetadata().getName().equals(name)) {
        return c.getDataPoints().stream().filter(d -> value.equals(d.getLabels().get(label)))
            .mapToDouble(CounterSnapshot.CounterDataPointSnapshot::getValue).sum();
      }
    }
    return 0;
  }

  @Test
  void feedbackThatArrivesBeforeOrAfterItsOutcomeLabelsIt() {
    sendFeedback("early", "b");
    assertThat(examples.isEmpty()).isTrue();
    send(outcome("early", Decision.DEFER, "b"));
    Map<String, LabelledExample> out = new HashMap<>(examples.readKeyValuesToMap());
    assertThat(out).containsOnlyKeys("early");
    send(outcome("late", Decision.DEFER, "a"));
    assertThat(examples.isEmpty()).as("waits for feedback within the window").isTrue();
    sendFeedback("late", "c");
    out.putAll(examples.readKeyValuesToMap());
    assertThat(out.get("early").getLabelSource()).isEqualTo("feedback");
    assertThat(out.get("early").getSmallCorrect()).isFalse();
    assertThat(out.get("early").getLargeCorrect()).isTrue();
    assertThat(out.get("late").getSmallCorrect()).isFalse();
    assertThat(out.get("late").getLargeCorrect()).isFalse();
    assertThat(counter("cascade_learner_feedback", "result", "joined")).isEqualTo(2);
  }

  @Test
  void withoutFeedbackTheLargeModelTeachesOnceTheWindowPasses() {
    send(outcome("escalated", Decision.EXPLORE, "a"));
    send(outcome("accepted", Decision.ACCEPT, null));
    driver.advanceWallClockTime(WINDOW.plusSeconds(2));
    Map<String, LabelledExample> out = examples.readKeyValuesToMap();
    assertThat(out).containsOnlyKeys("escalated");
    assertThat(out.get("escalated").getLabelSource()).isEqualTo("teacher");
    assertThat(out.get("escalated").getPropensity()).isEqualTo(0.05);
    assertThat(counter("cascade_learner_outcomes", "result", "unlabelled")).isEqualTo(1);
  }

  @Test
  void anOutcomeNoModelAnsweredIsNeverALabelNorKeptForFeedback() {
    // Past its deadline: answered deadline_exceeded with no answer (small_text empty), escalated by nobody.
    send(RoutingOutcome.newBuilder(outcome("expired", Decision.ACCEPT, null)).setSmallText("").setScore(Double.NaN)
        .setPropensity(null).setReference("a").setServedBy(ServedBy.SMALL_DEGRADED).setDegraded(true)
        .setDegradedReason("deadline_exceeded: ...").setDeadlineExceeded(true).build());
    assertThat(counter("cascade_learner_outcomes", "result", "unlabelled")).as("at once, not after the window")
        .isEqualTo(1);
    assertThat(counter("cascade_learner_outcomes", "result", "waiting")).isZero();
    sendFeedback("expired", "a");
    driver.advanceWallClockTime(WINDOW.plusSeconds(2));
    assertThat(examples.isEmpty()).isTrue();
  }

  @Test
  void anAnswerStoppedEarlyIsNoLabelAndIsCountedByItsReasonAtOnce() {
    // Deferred under an exact rule with small.early-defer: the small answer is a prefix, so it has no
    // correctness even with a reference, and the large model's answer cannot make it a label.
    send(RoutingOutcome.newBuilder(outcome("cut", Decision.DEFER, "a")).setSmallStop("early-defer")
        .setSmallStopStep(2).setReference("a").setLargeCorrect(true).setAgree(null).build());
    assertThat(counter("cascade_learner_unlabelled_outcomes", "reason", "stopped_early")).as("at once")
        .isEqualTo(1);
    assertThat(counter("cascade_learner_outcomes", "result", "unlabelled")).isEqualTo(1);
    assertThat(counter("cascade_learner_outcomes", "result", "waiting")).isZero();
    // an accepted one with nothing to label it waits for feedback, then counts as no_label
    send(outcome("plain", Decision.ACCEPT, null));
    assertThat(counter("cascade_learner_outcomes", "result", "waiting")).isEqualTo(1);
    driver.advanceWallClockTime(WINDOW.plusSeconds(2));
    assertThat(counter("cascade_learner_unlabelled_outcomes", "reason", "no_label")).isEqualTo(1);
    assertThat(counter("cascade_learner_unlabelled_outcomes", "reason", "stopped_early")).isEqualTo(1);
    assertThat(examples.isEmpty()).isTrue();
  }

  @Test
  void anAnswerDecodedWholeByLabelSamplingIsALabelThatCarriesItsShare() {
    // Early deferral would have cut it; the router's label sampling (share 0.2) decoded it whole.
    send(RoutingOutcome.newBuilder(outcome("sampled", Decision.DEFER, "a")).setSmallStop("eos").setSmallStopStep(3)
        .setReference("b").setSmallCorrect(false).setLargeCorrect(true).setLabelPropensity(0.2).build());
    LabelledExample example = examples.readValue();
    assertThat(example.getLabelPropensity()).isEqualTo(0.2);
    assertThat(dev.cascade.router.learning.LabelledOutcomes.weight(example, 50)).isCloseTo(5.0, within(1e-9));
    assertThat(counter("cascade_learner_label_sampled")).isEqualTo(1);
    // One decoded whole without sampling carries none and is not counted.
    send(outcome("plain", Decision.DEFER, "a"));
    driver.advanceWallClockTime(WINDOW.plusSeconds(2));
    assertThat(examples.readValue().getLabelPropensity()).isNull();
    assertThat(counter("cascade_learner_label_sampled")).isEqualTo(1);
  }

  private double counter(String name) {
    for (MetricSnapshot s : registry.scrape()) {
      if (s instanceof CounterSnapshot c && c.getMetadata().getName().equals(name)) {
        return c.getDataPoints().stream().mapToDouble(CounterSnapshot.CounterDataPointSnapshot::getValue).sum();
      }
    }
    return 0;
  }

  @Test
  void feedbackForAnUnknownIdIsKeptForTheWindowThenDroppedAndCounted() {
    sendFeedback("nobody", "x");
    assertThat(counter("cascade_learner_feedback", "result", "waiting")).isEqualTo(1);
    driver.advanceWallClockTime(WINDOW.minusSeconds(10));
    assertThat(counter("cascade_learner_feedback", "result", "dropped")).isZero();
    driver.advanceWallClockTime(Duration.ofSeconds(12));
    assertThat(counter("cascade_learner_feedback", "result", "dropped")).isEqualTo(1);
    // An outcome for that id after the window is not joined to the dropped feedback.
    send(outcome("nobody", Decision.DEFER, "x"));
    driver.advanceWallClockTime(WINDOW.plusSeconds(2));
    assertThat(examples.readValue().getLabelSource()).isEqualTo("teacher");
  }

  @Test
  void aSecondVerdictOnAWaitingIdReplacesTheFirstAndBothAreCounted() {
    sendFeedback("twice", "b");
    sendFeedback("twice", "a");
    assertThat(counter("cascade_learner_feedback", "result", "waiting")).isEqualTo(2);
    assertThat(counter("cascade_learner_feedback", "result", "replaced")).isEqualTo(1);
    send(outcome("twice", Decision.ACCEPT, null));
    // The newer verdict labels it: the small answer ("a") equals the second corrected text.
    assertThat(examples.readValue().getSmallCorrect()).isTrue();
    driver.advanceWallClockTime(WINDOW.plusSeconds(2));
    // waiting 2 = replaced 1 + joined 1: none unaccounted for.
    assertThat(counter("cascade_learner_feedback", "result", "joined")).isEqualTo(1);
    assertThat(counter("cascade_learner_feedback", "result", "dropped")).isZero();
  }

  @Test
  void feedbackKeyedOtherwiseThanByItsIdAndTombstonesAreDeadLettered() {
    feedback.pipeInput("not-the-id", CascadeSerdes.feedback().encode(Feedback.newBuilder().setRequestId("the-id")
        .setCorrect(true).setSource("user").setCreatedAtMs(0).build()));
    feedback.pipeInput("the-id", (byte[]) null);
    List<DeadLetter> dead = deadLetters.readValuesToList();
    assertThat(dead).extracting(DeadLetter::getReason).containsExactly(
        "key: must be the request id \"the-id\", was \"not-the-id\" (feedback is joined to the outcome on the"
            + " partition its key picks)",
        "value: null (a tombstone is not feedback)");
    assertThat(dead).extracting(DeadLetter::getErrorClass).containsExactly("invalid:key", "invalid:value");
    assertThat(counter("cascade_learner_dead_letters", "input", "feedback")).isEqualTo(2);
    assertThat(counter("cascade_learner_feedback", "result", "waiting")).isZero();
  }

  @Test
  void anUndecodablePolicyRecordIsDeadLetteredOnceByTheLearner() {
    driver.createInputTopic(config.topics().policy(), new StringSerializer(), new ByteArraySerializer())
        .pipeInput(dev.cascade.router.topology.CascadeTopology.POLICY_KEY, new byte[] {7, 7, 7});
    assertThat(deadLetters.readValuesToList()).singleElement().satisfies(d -> {
      assertThat(d.getStage()).isEqualTo("policy");
      assertThat(d.getReason()).startsWith("policy record cannot be decoded: ");
      assertThat(d.getValue().array()).containsExactly(7, 7, 7);
    });
    assertThat(counter("cascade_learner_dead_letters", "input", "policy")).isEqualTo(1);
  }

  @Test
  void undecodableOutcomesAndRuleRecordsGoToTheDeadLetterTopic() {
    outcomes.pipeInput("bad", new byte[] {1, 2, 3});
    rules.pipeInput("posthoc-quantile@9", new byte[] {4, 5, 6});
    assertThat(deadLetters.readValuesToList()).extracting(DeadLetter::getStage)
        .containsExactlyInAnyOrder("learner-outcome", "rules");
    assertThat(counter("cascade_learner_dead_letters", "input", "rule")).isEqualTo(1);
    // The next record is processed as usual.
    send(outcome("fine", Decision.DEFER, "a"));
    sendFeedback("fine", "a");
    assertThat(examples.readValue().getSmallCorrect()).isTrue();
  }

  private static RoutingOutcome referenced(String id) {
    RoutingOutcome o = outcome(id, Decision.ACCEPT, null);
    o.setSmallCorrect(true);
    return o;
  }

  @Test
  void feedbackOnARequestWithAReferenceIsSupersededInEitherOrder() {
    // Feedback first, then the outcome with its reference.
    sendFeedback("before", "b");
    send(referenced("before"));
    // The outcome with its reference first, then feedback within the window.
    send(referenced("after"));
    driver.advanceWallClockTime(WINDOW.minusSeconds(10));
    sendFeedback("after", "b");
    driver.advanceWallClockTime(WINDOW.plusSeconds(2));
    Map<String, LabelledExample> out = examples.readKeyValuesToMap();
    assertThat(out).containsOnlyKeys("before", "after");
    assertThat(out.values()).extracting(LabelledExample::getLabelSource).containsOnly("reference");
    assertThat(counter("cascade_learner_feedback", "result", "superseded")).isEqualTo(2);
    assertThat(counter("cascade_learner_feedback", "result", "dropped")).isZero();
    assertThat(counter("cascade_learner_feedback", "result", "joined")).isZero();
    // Once the window has passed the id is forgotten: later feedback waits and is dropped, as for an unknown id.
    sendFeedback("after", "b");
    assertThat(counter("cascade_learner_feedback", "result", "superseded")).isEqualTo(2);
    driver.advanceWallClockTime(WINDOW.plusSeconds(2));
    assertThat(counter("cascade_learner_feedback", "result", "dropped")).isEqualTo(1);
  }

  private String help(String name) {
    return registry.scrape().stream().filter(s -> s.getMetadata().getName().equals(name)).findFirst().orElseThrow()
        .getMetadata().getHelp();
  }

  @Test
  void theHelpTextsNameEveryLabelValueTheLearnerEmits() {
    assertThat(help("cascade_learner_feedback")).contains("joined", "waiting", "dropped", "superseded", "replaced");
    assertThat(help("cascade_learner_dead_letters")).contains("outcome", "feedback", "rule", "policy");
    assertThat(help("cascade_learner_trainings")).contains(LearnerMetrics.TRAINING_RESULTS);
    assertThat(help("cascade_learner_unlabelled_outcomes")).contains(LearnerMetrics.UNLABELLED_REASONS.values());
  }
}
