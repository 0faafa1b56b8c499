package dev.cascade.router.learner;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.learning.LearnedRule;
import dev.cascade.router.learning.LearnedRules;
import dev.cascade.router.learning.RuleArtifacts;
import dev.cascade.router.policy.DeferralPolicy;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.List;
import java.util.Set;
import org.apache.kafka.streams.processor.api.MockProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A learner started against a rules topic it has not read yet: its first round waits until its
 * source has delivered the rules the topic held at start, so that it trains the version after the
 * newest instead of one already there (which the compacted topic would have replaced unseen).
 */
class TrainerRulesCatchUpTest {

  private static final String EXAMPLES_TOPIC = "learner.examples";
  private static final long NOW = 1_000_000L;

  private final CascadeConfig config = TrainerStores.quickRounds();
  private final DeferralPolicy operator = new DeferralPolicy("chow-sum", 0.0, 12.0, 0.0, 0.0, 3, "admin@127.0.0.1",
      NOW, "", null, List.of(), "chow-sum", null, List.of());
  private MockProcessorContext<String, Object> context;
  private TrainerProcessor trainer;

  @AfterEach
  void stop() {
    if (trainer != null) {
      trainer.close();
    }
  }

  private PrometheusRegistry registry;

  /**
   * The key of the rule the first round publishes, or "skipped" when it finished without
   * publishing, the rules topic holding {@code onTopic} at start; the rules source delivers {@code
   * version} after {@code deliverAfterMs}, or, {@code duringRound}, once the round has started.
   */
  private String firstPublished(Set<String> onTopic, long version, long deliverAfterMs, boolean duringRound)
      throws InterruptedException {
    registry = new PrometheusRegistry();
    context = new MockProcessorContext<>();
    context.setCurrentSystemTimeMs(NOW);
    TrainerStores.addAll(context, operator);
    trainer = new TrainerProcessor(LearnerSettings.from(config), EXAMPLES_TOPIC, config.topics().rules(),
        config.topics().policy(), new LearnerMetrics(registry), "rules", "policy", "dead",
        new PolicyWrites(), () -> onTopic);
    trainer.init(context);
    TrainerStores.feedLearnable(trainer, context, EXAMPLES_TOPIC, 450);
    long deliverAt = System.currentTimeMillis() + deliverAfterMs;
    boolean delivered = false;
    boolean punctuated = false;
    for (long until = System.currentTimeMillis() + 120_000; System.currentTimeMillis() < until; ) {
      if (!delivered && System.currentTimeMillis() >= deliverAt && (!duringRound || punctuated)) {
        // The rules source delivers a rule artifact of that version.
        LearnedRule bundled = LearnedRules.bundledRules().get(0);
        LearnedRule rule = bundled.withInfo(bundled.info().withVersion(version));
        context.setRecordMetadata(config.topics().rules(), 0, 0);
        trainer.process(new Record<>(bundled.name() + "@" + version, RuleArtifacts.encode(rule), 0L));
        delivered = true;
      }
      context.scheduledPunctuators().stream().filter(p -> !p.cancelled()).toList()
          .forEach(p -> p.getPunctuator().punctuate(NOW));
      punctuated = true;
      List<String> published = context.forwarded().stream().filter(f -> "rules".equals(f.childName().orElse(null)))
          .<String>map(f -> f.record().key()).toList();
      if (!published.isEmpty()) {
        return published.get(0);
      }
      if (rounds("skipped") > 0) {
        return "skipped";
      }
      Thread.sleep(50);
    }
    throw new AssertionError("the round published no rule in 120 s");
  }

  private double rounds(String result) {
    return registry.scrape().stream().filter(m -> m.getMetadata().getName().equals("cascade_learner_trainings"))
        .flatMap(m -> ((io.prometheus.metrics.model.snapshots.CounterSnapshot) m).getDataPoints().stream())
        .filter(d -> result.equals(d.getLabels().get("result"))).mapToDouble(d -> d.getValue()).sum();
  }

  @Test
  void theFirstRoundWaitsForTheRulesOnTheTopicAndTrainsTheVersionAfterTheNewest() throws Exception {
    String name = LearnedRules.bundledRules().get(0).name();
    // Delivered 2 s after the round became due: without the wait the round would have trained v1.
    assertThat(firstPublished(Set.of(name + "@6"), 6, 2_000, false)).isEqualTo(name + "@7");
    // Nothing on the topic at start: the round starts at once, with v1.
    trainer.close();
    assertThat(firstPublished(Set.of(), 6, 600_000, false)).isEqualTo(name + "@1");
  }

  /**
   * A rule of the version the round trains, published by someone else while it trained (`cascade
   * rules publish`), is not written over: the round's challenger is dropped.
   */
  @Test
  void aVersionPublishedWhileTheRoundTrainsItIsNotWrittenOver() throws Exception {
    String name = LearnedRules.bundledRules().get(0).name();
    // The round trains v1; another v1 reaching the topic meanwhile drops the round's.
    assertThat(firstPublished(Set.of(), 1, 0, true)).isEqualTo("skipped");
    assertThat(context.forwarded().stream().filter(f -> "rules".equals(f.childName().orElse(null)))).isEmpty();
    // Another version meanwhile (v6) takes nothing from v1: published.
    trainer.close();
    assertThat(firstPublished(Set.of(), 6, 0, true)).isEqualTo(name + "@1");
  }
}
