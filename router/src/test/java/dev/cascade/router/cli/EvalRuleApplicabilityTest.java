package dev.cascade.router.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.api.CommandLineRun;
import dev.cascade.router.learning.LearnedRule;
import dev.cascade.router.learning.LearnedRules;
import dev.cascade.router.learning.ModelFingerprint;
import dev.cascade.router.learning.RuleArtifacts;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code eval --data} and {@code train-rule} apply a learned rule only where a router would: to the
 * small model it was trained for (its fingerprint and feature layout), and a rule over the embedding
 * only to a model that has one. The shipped rules are left out for another small model, saying why;
 * a {@code --rule-file} for another model is refused, naming both fingerprints.
 */
class EvalRuleApplicabilityTest {

  private static final Path ROTARY = Path.of("..", "models", "src", "test", "resources", "models", "rotary-bpe")
      .toAbsolutePath().normalize();

  @TempDir
  Path dir;

  private Path data() throws Exception {
    Path data = dir.resolve("items.jsonl");
    Files.write(data, Files.readAllLines(Path.of("..", "models", "data", "validation.jsonl")).subList(0, 24));
    return data;
  }

  @Test
  void aRuleFileForAnotherModelIsRefusedNamingBothFingerprintsBeforeAnyModelRuns() throws Exception {
    LearnedRule shipped = LearnedRules.bundledRules().get(0);
    Path file = dir.resolve("other.rule");
    RuleArtifacts.write(shipped.withInfo(shipped.info().withModel("ab".repeat(32), ModelFingerprint.FEATURE_LAYOUT)),
        file);
    CommandLineRun run = CommandLineRun.of("eval", "--data", data().toString(), "--rule-file", file.toString(),
        "--large", "large");
    assertThat(run.exitCode()).isEqualTo(2);
    assertThat(run.err()).contains("--rule-file " + file + ": rule 'posthoc-quantile'")
        .contains("ab".repeat(32)).contains(ModelFingerprint.of("small"))
        .doesNotContain("generat"); // refused before the models ran (eval only checks that --large names one)
    assertThat(run.err().strip().lines()).hasSize(1);
  }

  @Test
  void aRuleFileForOutcomesIsCheckedBeforeKafkaInOneLineNamingTheFileAndTheProblem() throws Exception {
    // Nothing listens at 127.0.0.1:1: a check left to after the topic is read would not be reached.
    java.util.function.Function<Path, String> refused = file -> {
      CommandLineRun run = CommandLineRun.of("eval", "--outcomes", "cascade.outcomes", "--bootstrap-servers",
          "127.0.0.1:1", "--rule-file", file.toString());
      assertThat(run.exitCode()).as(run.err()).isEqualTo(2);
      assertThat(run.err().strip().lines()).as(run.err()).hasSize(1);
      return run.err().strip();
    };
    Path missing = dir.resolve("missing.rule");
    assertThat(refused.apply(missing)).isEqualTo("error: --rule-file " + missing + ": no such file");
    assertThat(refused.apply(dir)).isEqualTo("error: --rule-file " + dir + ": is a directory");
    Path garbage = Files.writeString(dir.resolve("garbage.rule"), "not an artifact");
    assertThat(refused.apply(garbage)).startsWith("error: --rule-file " + garbage + ": not a rule artifact: ");
    LearnedRule shipped = LearnedRules.bundledRules().get(0);
    Path other = dir.resolve("other.rule");
    RuleArtifacts.write(shipped.withInfo(shipped.info().withModel("ab".repeat(32), ModelFingerprint.FEATURE_LAYOUT)),
        other);
    assertThat(refused.apply(other)).startsWith("error: --rule-file " + other + ": rule 'posthoc-quantile'")
        .contains("ab".repeat(32)).contains("small model 'small' (--small) has sha256 " + ModelFingerprint.of("small"));
    Path unreadable = Files.copy(other, dir.resolve("unreadable.rule"));
    if (Files.getFileAttributeView(unreadable, java.nio.file.attribute.PosixFileAttributeView.class) != null) {
      Files.setPosixFilePermissions(unreadable, java.util.Set.of());
      if (!Files.isReadable(unreadable)) { // root reads it anyway
        assertThat(refused.apply(unreadable)).isEqualTo("error: --rule-file " + unreadable + ": permission denied");
      }
    }
  }

  @Test
  void theShippedRulesAreLeftOutForAModelWithoutAnEmbeddingAndNothingScoresThem() throws Exception {
    CommandLineRun run = CommandLineRun.of("eval", "--data", data().toString(), "--small", ROTARY.toString(),
        "--large", "small", "--resamples", "20", "--json");
    assertThat(run.exitCode()).as(run.err()).isZero();
    assertThat(run.err()).contains("shipped rule posthoc-quantile left out: rule 'posthoc-quantile' v0 was trained for"
        + " the small model with sha256 " + ModelFingerprint.of("small") + ", small model '" + ROTARY + "' has sha256 "
        + ModelFingerprint.of(ROTARY.toString()));
    assertThat(run.err()).contains("shipped rule posthoc-embed left out: rule 'posthoc-embed' scores the small model's"
        + " embedding, and small model '" + ROTARY + "' has none (its graph has no 'hidden' output)");
    assertThat(run.out()).doesNotContain("\"posthoc-quantile\"").doesNotContain("\"posthoc-embed\"")
        .contains("rule_not_applicable").contains("\"chow-sum\"");
  }

  @Test
  void aSmallModelWithAnotherEmbeddingWidthLeavesTheShippedRulesOutInsteadOfFailingToScore() throws Exception {
    CommandLineRun run = CommandLineRun.of("eval", "--data", data().toString(), "--small", "medium",
        "--large", "small", "--resamples", "20");
    assertThat(run.exitCode()).as(run.err()).isZero();
    assertThat(run.err()).contains("shipped rule posthoc-quantile left out:")
        .contains("shipped rule posthoc-embed left out: rule 'posthoc-embed' v0 was trained for the small model with"
            + " sha256 " + ModelFingerprint.of("small") + ", small model 'medium' has sha256 "
            + ModelFingerprint.of("medium"))
        .doesNotContain("expects an embedding");
    assertThat(run.out()).contains("chow-sum").doesNotContain("posthoc-");
  }

  @Test
  void theShippedRulesSayWhichSmallModelTheyAreBoundToAndWhatTheirTrainingRecordNames() throws Exception {
    CommandLineRun run = CommandLineRun.of("eval", "--data", data().toString(), "--small", "small",
        "--large", "small", "--resamples", "20");
    assertThat(run.exitCode()).as(run.err()).isZero();
    String bound = ModelFingerprint.shortForm(ModelFingerprint.of("small"));
    assertThat(run.out()).contains("posthoc-quantile: v0, ").contains("for the small model with sha256 " + bound
        + ", features uncertainty/v1")
        .contains("  training data, as recorded when trained: models/data/validation.jsonl")
        .contains("(sha256 5c2765aa151f6cac)") // the small model's file before the re-export, as recorded then
        .contains("(trained before the bundled models were re-exported in the key/value-cache layout, same weights:"
            + " that record's sha256s are of the earlier files; the rule is bound to the small model's current file,"
            + " above, which is what a router checks)");
    assertThat(run.err()).doesNotContain("left out");
  }

  @Test
  void trainingAnEmbeddingRuleForAModelWithoutOneIsRefusedBeforeAnyModelRuns() throws Exception {
    Path out = dir.resolve("embed.rule");
    CommandLineRun run = CommandLineRun.of("train-rule", "--data", data().toString(), "--rule", "posthoc-embed",
        "--small", ROTARY.toString(), "--large", "large", "--out", out.toString());
    assertThat(run.exitCode()).isEqualTo(2);
    assertThat(run.err()).contains("--rule posthoc-embed: small model '" + ROTARY + "' has no embedding (its graph"
        + " has no 'hidden' output)").doesNotContain("generat");
    assertThat(run.err().strip().lines()).hasSize(1);
    assertThat(out).doesNotExist();
  }
}
