package dev.cascade.router.learning;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cascade.router.features.UncertaintyFeatures;
import dev.cascade.router.rules.DeferralRule;
import dev.cascade.router.rules.DeferralRules;
import dev.cascade.schemas.avro.RuleModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RuleArtifactsTest {

  private static final int EMBEDDING = 8;

  @TempDir
  Path dir;

  @Test
  void everyLearnerRoundTripsWithIdenticalScores() throws Exception {
    List<DeferralExample> examples = SyntheticExamples.labelled(400, 11, EMBEDDING,
        e -> e.features().logprobQuantile(0.1) < -2 || e.embedding()[0] > 1.0);
    for (LearnerSpec learner : List.of(LearnerSpec.logisticRegression(3, 0.1),
        LearnerSpec.factorizationMachine(3, 0.05, 2), LearnerSpec.xgboost(30, 3, 0.3))) {
      for (FeatureSet set : FeatureSet.values()) {
        LearnedRule rule = RuleTrainer.train(set, examples, "synthetic 400", 42,
            new RuleTrainer.Options(2, 1L, List.of(learner)), RuleTrainer.Progress.NONE).rule();
        Path file = dir.resolve(set.ruleName() + ".rule");

        RuleArtifacts.write(rule, file);
        LearnedRule read = RuleArtifacts.read(file);

        assertThat(read.info()).isEqualTo(rule.info());
        SplittableRandom random = new SplittableRandom(99);
        for (int i = 0; i < 200; i++) {
          UncertaintyFeatures features = SyntheticExamples.randomFeatures(random);
          float[] embedding = SyntheticExamples.randomEmbedding(random, EMBEDDING);
          assertThat(read.score(features, embedding)).isEqualTo(rule.score(features, embedding));
          assertThat(read.score(features)).isEqualTo(rule.score(features));
          assertThat(rule.score(features, embedding)).isBetween(0.0, 1.0);
        }
      }
    }
  }

  @Test
  void theRecordCarriesWhatTheArtifactPromises() {
    List<DeferralExample> examples = SyntheticExamples.labelled(300, 12, EMBEDDING,
        e -> e.features().logprobMean() < -0.8);
    LearnedRule rule = RuleTrainer.train(FeatureSet.EMBED, examples, "synthetic 300", 7,
        new RuleTrainer.Options(2, 1L, List.of(LearnerSpec.logisticRegression(2, 0.1))),
        RuleTrainer.Progress.NONE).rule();

    RuleModel record = RuleArtifacts.toRecord(rule);

    assertThat(record.getName()).isEqualTo("posthoc-embed");
    assertThat(record.getVersion()).isEqualTo(7);
    assertThat(record.getLearner()).startsWith("tribuo-logistic-sgd");
    assertThat(record.getFeatureNames()).hasSize(25 + EMBEDDING).contains("lp_q0", "emb_7");
    assertThat(record.getTrainingDataRange()).isEqualTo("synthetic 300");
    assertThat(record.getValidationMetrics()).containsKeys("cv_auc_df", "examples");
    assertThat(record.getParameters().remaining()).isPositive();
    assertThat(rule.embeddingLength()).isEqualTo(EMBEDDING);
  }

  @Test
  void aRegistryNamesTheLearnedRule() {
    List<DeferralExample> examples = SyntheticExamples.labelled(200, 13, 0,
        e -> e.features().logprobMean() < -0.8);
    LearnedRule rule = RuleTrainer.train(FeatureSet.QUANTILE, examples, "synthetic", 1,
        new RuleTrainer.Options(2, 1L, List.of(LearnerSpec.logisticRegression(2, 0.1))),
        RuleTrainer.Progress.NONE).rule();

    DeferralRules registry = LearnedRules.register(DeferralRules.builtIn(), List.of(rule));

    assertThat(registry.names()).contains("posthoc-quantile", "chow-sum");
    DeferralRule named = registry.create("posthoc-quantile");
    assertThat(named).isSameAs(rule);
  }

  @Test
  void badBytesAreRefusedWithTheFileName() throws Exception {
    Path file = dir.resolve("broken.rule");
    Files.write(file, new byte[] {1, 2, 3});

    assertThatThrownBy(() -> RuleArtifacts.read(file))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("broken.rule");
  }

  @Test
  void aWrongLengthEmbeddingIsRefused() {
    List<DeferralExample> examples = SyntheticExamples.labelled(200, 14, EMBEDDING,
        e -> e.features().logprobMean() < -0.8);
    LearnedRule rule = RuleTrainer.train(FeatureSet.EMBED, examples, "synthetic", 1,
        new RuleTrainer.Options(2, 1L, List.of(LearnerSpec.logisticRegression(2, 0.1))),
        RuleTrainer.Progress.NONE).rule();

    assertThatThrownBy(() -> rule.score(examples.get(0).features(), new float[3]))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("8 values, got 3");
  }
}
