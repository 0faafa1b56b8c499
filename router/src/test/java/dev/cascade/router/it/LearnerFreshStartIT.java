package dev.cascade.router.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.embedded.EmbeddedKafka;
import dev.cascade.schemas.avro.RuleModel;
import dev.cascade.schemas.serde.CascadeSerdes;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A learner that starts with nothing of its own (a new {@code learn.application-id}, an empty state
 * directory) against a rules topic that already holds a published version, as separate OS processes
 * on a real broker: it reads the topic before its first round, so it trains the next version
 * instead of publishing one the topic already has (which the compacted topic would replace unseen).
 *
 * <p>Here the rules topic is read long before the 450 outcomes make a round due, so this checks the
 * behaviour end to end, not the race: the learner's wait for a rules topic read late (its catch-up)
 * is {@code TrainerRulesCatchUpTest}'s, and this test passes with that wait removed.
 */
class LearnerFreshStartIT {

  private static final String RULES = "cascade.rules";

  @TempDir
  Path stateDir;

  private static JvmProcess learner(String bootstrap, Path stateDir, String applicationId) throws Exception {
    return LearnerKillIT.learner(bootstrap, stateDir, "learn.application-id=" + applicationId);
  }

  @Test
  void aFreshLearnerTrainsTheVersionAfterTheNewestOnTheTopic() throws Exception {
    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
      String bootstrap = kafka.bootstrapServers();
      try (JvmProcess first = learner(bootstrap, stateDir.resolve("first"), "learner-one")) {
        assertThat(first.await("learner=learner-one", Duration.ofSeconds(90))).as(first.output()).isTrue();
        SyntheticOutcomes.write(bootstrap, "cascade.outcomes", "a-", 450, 21);
        assertThat(first.await("PUBLISHED posthoc-quantile v1", Duration.ofSeconds(120))).as(first.output()).isTrue();
      }
      // A second learner application, all its own state new: it reads the 450 outcomes from the
      // start, and the rules topic already has v1.
      JvmProcess second = learner(bootstrap, stateDir.resolve("second"), "learner-two");
      try {
        assertThat(second.await("training posthoc-quantile v2", Duration.ofSeconds(180))).as(second.output()).isTrue();
        assertThat(second.await("posthoc-quantile v2 ", Duration.ofSeconds(120))).as(second.output()).isTrue();
      } finally {
        second.close();
      }
      assertThat(second.output()).doesNotContain("training posthoc-quantile v1");
      Map<String, Integer> ruleRecords = new HashMap<>();
      LearnerKillIT.read(bootstrap, RULES, r -> {
        RuleModel rule = CascadeSerdes.ruleModels().decode(r.value());
        ruleRecords.merge(rule.getName() + "@" + rule.getVersion(), 1, Integer::sum);
      });
      assertThat(ruleRecords).containsEntry("posthoc-quantile@1", 1);
      assertThat(ruleRecords.values()).as(ruleRecords.toString()).allMatch(c -> c == 1);
    }
  }
}
