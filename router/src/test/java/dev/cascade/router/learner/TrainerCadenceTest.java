package dev.cascade.router.learner;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.features.FeatureExtractor;
import dev.cascade.router.learning.LabelledOutcomes;
import dev.cascade.schemas.avro.Decision;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.avro.ServedBy;
import dev.cascade.schemas.avro.StageLatencies;
import dev.cascade.schemas.serde.CascadeSerdes;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.processor.api.MockProcessorContext;
import org.apache.kafka.streams.processor.api.MockProcessorContext.CapturedPunctuator;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * When the learner's trainer punctuates: every punctuation makes its task commit a transaction, so
 * an idle learner must not punctuate, and one waiting only for {@code learn.retrain-every-ms} must
 * punctuate once, at the due time.
 */
class TrainerCadenceTest {

  private static final String EXAMPLES_TOPIC = "learner.examples";
  private static final long NOW = 1_000_000L;

  private final CascadeConfig config = CascadeConfig.load(null, Map.of(), Map.of("learn.min-labels", "20",
      "learn.retrain-every-labels", "5", "learn.retrain-every-ms", "60000"));
  private final PrometheusRegistry registry = new PrometheusRegistry();
  private final MockProcessorContext<String, Object> context = new MockProcessorContext<>();
  private final KeyValueStore<String, String> state = store(TrainerProcessor.STATE, Serdes.String(), Serdes.String());
  private TrainerProcessor trainer;
  private long offset;

  TrainerCadenceTest() {
    store(TrainerProcessor.EXAMPLES, Serdes.Long(), Serdes.ByteArray());
    store(TrainerProcessor.RULES, Serdes.String(), Serdes.ByteArray());
    store(TrainerProcessor.POLICY, Serdes.String(), Serdes.ByteArray());
    context.setCurrentSystemTimeMs(NOW);
  }

  private <K, V> KeyValueStore<K, V> store(String name, Serde<K> keys, Serde<V> values) {
    return TrainerStores.add(context, name, keys, values);
  }

  private void start(TrainerProcessor.LearnerState restored) throws Exception {
    if (restored != null) {
      state.put("state", new ObjectMapper().writeValueAsString(restored));
    }
    trainer = new TrainerProcessor(LearnerSettings.from(config), EXAMPLES_TOPIC, config.topics().rules(),
        config.topics().policy(), new LearnerMetrics(registry), "rules", "policy", "dead");
    trainer.init(context);
  }

  @AfterEach
  void stop() {
    if (trainer != null) {
      trainer.close();
    }
  }

  private void examples(int n) {
    for (int i = 0; i < n; i++) {
      String id = "r" + offset;
      RoutingOutcome outcome = RoutingOutcome.newBuilder().setRequestId(id).setPrompt("p " + id).setSmallText("a")
          .setFeatures(new HashMap<>(FeatureExtractor.extract(new float[] {-0.5f}, new float[] {1f}).asMap()))
          .setRule("chow-sum").setScore(1).setThreshold(1).setPolicyVersion(1).setDecision(Decision.ACCEPT)
          .setPropensity(0.95).setServedBy(ServedBy.SMALL).setSmallCorrect(true).setLargeCorrect(true)
          .setLatencies(StageLatencies.newBuilder().build()).setCreatedAtMs(0).setCompletedAtMs(1).build();
      byte[] bytes = CascadeSerdes.labelledExamples().encode(LabelledOutcomes.label(outcome, null, 0).orElseThrow());
      context.setRecordMetadata(EXAMPLES_TOPIC, 0, offset++);
      trainer.process(new Record<>(id, bytes, 0L));
    }
  }

  private List<CapturedPunctuator> live() {
    return context.scheduledPunctuators().stream().filter(p -> !p.cancelled()).toList();
  }

  @Test
  void aFreshLearnerPunctuatesOnlyOnceARoundIsDue() throws Exception {
    start(null);
    assertThat(context.scheduledPunctuators()).isEmpty();
    examples(19); // below learn.min-labels: no round can be due, whatever the time
    assertThat(context.scheduledPunctuators()).isEmpty();
    examples(1);
    assertThat(live()).singleElement().satisfies(p -> assertThat(p.getInterval()).isEqualTo(Duration.ofMillis(500)));
  }

  @Test
  void labelsBelowTheCountWaitForTheDueTimeThenMoreLabelsMakeItPunctuateAtOnce() throws Exception {
    // Trained 10 s ago, nothing new since.
    start(new TrainerProcessor.LearnerState(100, 0, NOW - 10_000, 1, 0, 0, 1));
    assertThat(context.scheduledPunctuators()).as("nothing new to train on").isEmpty();

    examples(1);
    assertThat(live()).singleElement().satisfies(p -> assertThat(p.getInterval()).isEqualTo(Duration.ofSeconds(50)));
    context.setCurrentSystemTimeMs(NOW + 1_000);
    examples(3); // 4 new labels: still below 5, still due by time only
    assertThat(context.scheduledPunctuators()).hasSize(1);

    examples(1); // the fifth: a round is due now
    assertThat(context.scheduledPunctuators().get(0).cancelled()).isTrue();
    assertThat(live()).singleElement().satisfies(p -> assertThat(p.getInterval()).isEqualTo(Duration.ofMillis(500)));
  }

  @Test
  void aRestartedLearnerWithLabelsWaitingResumesTheTimeTrigger() throws Exception {
    start(new TrainerProcessor.LearnerState(100, 3, NOW - 59_000, 1, 0, 0, 1));
    assertThat(live()).singleElement().satisfies(p -> assertThat(p.getInterval()).isEqualTo(Duration.ofSeconds(1)));
  }

  private double gauge(String name) {
    return registry.scrape().stream().filter(s -> s.getMetadata().getName().equals(name))
        .map(s -> (io.prometheus.metrics.model.snapshots.GaugeSnapshot) s).findFirst().orElseThrow()
        .getDataPoints().get(0).getValue();
  }

  @Test
  void aRestartedLearnerReportsTheVersionItLastPublished() throws Exception {
    start(new TrainerProcessor.LearnerState(100, 0, NOW - 10_000, 1, 0, 0, 1));
    assertThat(gauge("cascade_learner_published_version")).isEqualTo(1);
  }

  @Test
  void aFreshLearnerReportsNoVersionPublished() throws Exception {
    start(null);
    assertThat(gauge("cascade_learner_published_version")).isEqualTo(-1);
  }
}
