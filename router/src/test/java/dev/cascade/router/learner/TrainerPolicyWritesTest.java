package dev.cascade.router.learner;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.policy.DeferralPolicy;
import dev.cascade.router.policy.TierPolicy;
import dev.cascade.router.topology.PolicyRecords;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.List;
import org.apache.kafka.streams.processor.api.MockProcessorContext;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The trainer and the tier tuner of one learner process write through one {@link PolicyWrites}: a
 * policy the tuner wrote while a training round ran, which the trainer's store has not read yet,
 * is the one the round's policy is written over (its version, its middle tiers, the share its
 * threshold passes on), and the tuner writes nothing over the trainer's policy until the topic
 * shows it.
 */
class TrainerPolicyWritesTest {

  private static final String EXAMPLES_TOPIC = "learner.examples";
  private static final long NOW = 1_000_000L;

  private final CascadeConfig config = TrainerStores.quickRounds();
  /** The operator's policy on the topic: Chow-Sum at 12, medium (tier 1) at 4. */
  private final DeferralPolicy operator = new DeferralPolicy("chow-sum", 0.0, 12.0, 0.0, 0.0, 3, "admin@127.0.0.1",
      NOW, "three tiers", null, List.of(), "chow-sum", null, List.of(new TierPolicy("chow-sum", 0.0, 4.0)));
  private MockProcessorContext<String, Object> context;
  private PrometheusRegistry registry;
  private TrainerProcessor trainer;

  @AfterEach
  void stop() {
    if (trainer != null) {
      trainer.close();
    }
  }

  /**
   * Starts a trainer writing through {@code writes} with the operator's policy in its store, gives
   * it 450 labelled examples, starts the round they make due, runs {@code meanwhile}, and returns
   * the policy the round forwards.
   */
  private DeferralPolicy round(PolicyWrites writes, Runnable meanwhile) throws InterruptedException {
    if (trainer != null) {
      trainer.close();
    }
    context = new MockProcessorContext<>();
    registry = new PrometheusRegistry();
    context.setCurrentSystemTimeMs(NOW);
    TrainerStores.addAll(context, operator);
    trainer = new TrainerProcessor(LearnerSettings.from(config), EXAMPLES_TOPIC, config.topics().rules(),
        config.topics().policy(), new LearnerMetrics(registry), "rules", "policy", "dead", writes);
    trainer.init(context);
    TrainerStores.feedLearnable(trainer, context, EXAMPLES_TOPIC, 450);
    assertThat(running()).isZero();
    punctuate(); // starts the round on the training thread
    // Until a punctuation finishes it, whether or not its thread is done.
    assertThat(running()).as("cascade_learner_training_running while the round runs").isEqualTo(1);
    meanwhile.run();
    for (long until = System.currentTimeMillis() + 120_000; System.currentTimeMillis() < until; ) {
      punctuate();
      List<DeferralPolicy> written = context.forwarded().stream().filter(f -> "policy".equals(f.childName().orElse(null)))
          .map(f -> PolicyRecords.fromAvro((dev.cascade.schemas.avro.DeferralPolicy) f.record().value())).toList();
      if (!written.isEmpty()) {
        assertThat(written).hasSize(1);
        assertThat(running()).as("the round's result is counted").isZero();
        return written.get(0);
      }
      Thread.sleep(50);
    }
    throw new AssertionError("the round wrote no policy in 120 s");
  }

  private double running() {
    return registry.scrape().stream().filter(s -> s.getMetadata().getName().equals("cascade_learner_training_running"))
        .map(s -> (io.prometheus.metrics.model.snapshots.GaugeSnapshot) s).findFirst().orElseThrow()
        .getDataPoints().get(0).getValue();
  }

  private void punctuate() {
    context.scheduledPunctuators().stream().filter(p -> !p.cancelled()).toList()
        .forEach(p -> p.getPunctuator().punctuate(NOW));
  }

  @Test
  void aRoundWritesOverTheTunersPolicyThatItsStoreHasNotReadYet() throws Exception {
    DeferralPolicy alone = round(new PolicyWrites(), () -> { });
    assertThat(alone.version()).isEqualTo(4);
    assertThat(alone.rule()).isEqualTo("posthoc-quantile");
    assertThat(alone.tierPolicies()).containsExactly(new TierPolicy("chow-sum", 0.0, 4.0));

    // The same round, while which the tuner wrote v4: the small model at 6 (more passed on), medium at 2.5.
    DeferralPolicy tuned = operator.withThreshold(6.0, 0.0)
        .withTierPolicies(List.of(new TierPolicy("chow-sum", 0.0, 2.5)))
        .writtenAs(4, PinHold.LEARNER, NOW, "tier tuner");
    PolicyWrites writes = new PolicyWrites();
    DeferralPolicy after = round(writes, () -> assertThat(writes.tunerWrites(operator, operator, tuned, p -> { }))
        .as("the round has written nothing yet").isNull());
    assertThat(after.version()).as("above the tuner's v4, which the store never read").isEqualTo(5);
    assertThat(after.rule()).isEqualTo("posthoc-quantile");
    assertThat(after.tierPolicies()).containsExactly(new TierPolicy("chow-sum", 0.0, 2.5));
    assertThat(after.threshold()).as("the share passed on at the tuner's 6, not at the operator's 12")
        .isLessThan(alone.threshold());

    // The tuner's next round, decided on its v4 (all the topic shows), is not written over v5.
    DeferralPolicy next = tuned.writtenAs(5, PinHold.LEARNER, NOW, "tier tuner again");
    assertThat(writes.tunerWrites(tuned, tuned, next, p -> { throw new AssertionError("written over v5"); }))
        .contains("the trainer wrote policy v5");
    assertThat(writes.newest(tuned)).isEqualTo(after);
  }
}
