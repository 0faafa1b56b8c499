package dev.cascade.router.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.learning.LearnedRule;
import dev.cascade.router.learning.LearnedRules;
import dev.cascade.router.learning.ModelFingerprint;
import dev.cascade.router.learning.PromptFeatures;
import dev.cascade.router.learning.RuleArtifacts;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** The demo refuses bad options with exit code 2 and a line naming the option, before it loads anything. */
class DemoOptionsTest {

  /** Runs the command line, asserts exit code 2 and returns what it wrote to its error stream. */
  static String refused(String... args) {
    CommandLine cli = CascadeCommand.commandLine();
    StringWriter err = new StringWriter();
    cli.setErr(new PrintWriter(err, true));
    assertThat(cli.execute(args)).isEqualTo(2);
    return err.toString();
  }

  @Test
  void aDataFileWithAPromptTheRouterWouldRefuseIsRefusedNamingTheLine(@TempDir Path dir) throws Exception {
    // Before, such a request was dead-lettered and the demo waited two minutes for its answer.
    Path data = dir.resolve("bad.jsonl");
    java.nio.file.Files.writeString(data, "{\"prompt\": \"cat\", \"reference\": \"k a t\"}\n"
        + "{\"prompt\": \"a#b\", \"reference\": \"x\"}\n");
    assertThat(refused("demo", "--data", data.toString(), "--set", "model.engine=OnnxRuntime"))
        .contains("bad.jsonl line 2: prompt: character '#'");
    java.nio.file.Files.writeString(data, "\n");
    assertThat(refused("demo", "--data", data.toString())).contains("bad.jsonl: holds no requests");
  }

  @Test
  void retuningMiddleTiersNeedsAMiddleTierThatExplores() {
    assertThat(refused("demo", "--set", "learn.tier-answer-value=3000")).contains("learn.tier-answer-value")
        .contains("--tiers small,medium,large");
    assertThat(refused("demo", "--tiers", "small,large", "--set", "learn.tier-answer-value=3000"))
        .contains("learn.tier-answer-value").contains("middle tiers");
    assertThat(refused("demo", "--tiers", "small,medium,large", "--set", "learn.tier-answer-value=3000"))
        .contains("policy.tier-exploration-rates=0.2");
    assertThat(refused("demo", "--tiers", "small,medium,large", "--set", "learn.tier-answer-value=3000", "--set",
        "policy.tier-exploration-rates=0.2")).contains("escalation.early-defer=false")
        .contains("escalation.early-defer-label-share=0.2");
  }

  @Test
  void theTunersSummaryNamesEachPolicyAndEachPhaseWithItsValue() throws Exception {
    com.fasterxml.jackson.databind.JsonNode node = new com.fasterxml.jackson.databind.ObjectMapper().readTree(
        "{\"answer_value\": 3000, \"policies\": [{\"version\": 1, \"reason\": \"tier tuner: tier 1 threshold"
        + " 0.9596 (was 1.8952)\"}], \"phases\": {\"medium\": [{\"policy_version\": 0, \"reached\": 624,"
        + " \"passed_on\": 0.3734, \"right\": 0.5144, \"cost\": 285.28, \"value_per_request\": 1257.99}]}}");
    String text = DemoCommand.tierTuningText(node);
    assertThat(text).contains("3000 cost units a right answer").contains("1 policies written")
        .contains("policy v1: tier tuner: tier 1 threshold 0.9596 (was 1.8952)")
        .contains("requests reaching medium")
        .contains("v0: 624 requests, 37.3% passed on, 51.4% served right, cost 285.3, value 1258.0 per request");
  }

  @Test
  void theSmallModelsTunerNeedsExplorationAndWholeAnswersAndItsSummaryNamesEachPhase() throws Exception {
    assertThat(refused("demo", "--set", "learn.small-answer-value=3000")).contains("learn.small-answer-value")
        .contains("policy.exploration-rate=0.2");
    assertThat(refused("demo", "--set", "learn.small-answer-value=3000", "--set", "policy.exploration-rate=0.2"))
        .contains("small.early-defer=false").contains("small.early-defer-label-share=0.2");
    com.fasterxml.jackson.databind.JsonNode node = new com.fasterxml.jackson.databind.ObjectMapper().readTree(
        "{\"answer_value\": 3000, \"configured_threshold\": 0.5352, \"policies\": [{\"version\": 1, \"reason\":"
        + " \"tier tuner: small model threshold 0.1578 (was 0.5352), 3000.0 a right answer\"}], \"phases\":"
        + " [{\"policy_version\": 1, \"reached\": 3088, \"passed_on\": 0.76846, \"right\": 0.7604, \"cost\": 404.14,"
        + " \"value_per_request\": 1876.94}]}");
    assertThat(DemoCommand.smallTuningText(node)).contains("3000 cost units a right answer")
        .contains("from 0.5352: 1 policies written")
        .contains("policy v1: tier tuner: small model threshold 0.1578 (was 0.5352)")
        .contains("v1: 3088 requests, 76.8% passed on, 76.0% served right, cost 404.1, value 1876.9 per request");
  }

  @Test
  void aNegativeRateIsRefused() {
    assertThat(refused("demo", "--rate", "-5")).contains("--rate").contains("-5");
  }

  @Test
  void anEmptyRequestCountIsRefused() {
    assertThat(refused("demo", "--requests", "0")).contains("--requests");
  }

  @Test
  void learningDemoOptionsAreCheckedBeforeAnythingStarts() {
    assertThat(refused("demo", "--plot", "x.png")).contains("--plot").contains("--learn");
    assertThat(refused("demo", "--learn", "--serve")).contains("--learn");
    assertThat(refused("demo", "--learn", "--exploration", "0")).contains("--exploration: must be above 0")
        .endsWith("try './cascade demo --help'" + System.lineSeparator());
    assertThat(refused("demo", "--learn", "--window", "5")).contains("--window");
    assertThat(refused("demo", "--learn", "--phrases-first", "--data", "x.jsonl")).contains("--phrases-first");
    assertThat(refused("demo", "--learn", "--labels", "teacher")).contains("--labels").contains("teacher");
    assertThat(refused("demo", "--labels", "feedback")).contains("--labels").contains("--learn");
  }

  @Test
  void theLearningDemoDecodesEveryAnswerWholeUnlessTold() {
    // Early deferral would leave the outcomes Chow-Sum stops early unlabelled, and the learner short of them.
    DemoCommand demo = new DemoCommand();
    new CommandLine(demo).parseArgs("--learn");
    assertThat(demo.learnConfig(false).get(dev.cascade.router.config.CascadeConfig.EARLY_DEFER)).isFalse();
    assertThat(demo.learnConfig(true).get(dev.cascade.router.config.CascadeConfig.LEARN_FEEDBACK_WINDOW_MS))
        .isEqualTo(120_000);
    demo = new DemoCommand();
    new CommandLine(demo).parseArgs("--learn", "--set", "small.early-defer=true", "--set",
        "small.early-defer-label-share=0.2");
    assertThat(demo.learnConfig(false).get(dev.cascade.router.config.CascadeConfig.EARLY_DEFER)).isTrue();
  }

  @Test
  void optionValuesTheDemoRefusesPointToItsHelp() {
    for (String[] args : new String[][] {{"--learn", "--window", "0"}, {"--learn", "--labels", "bogus"},
        {"--learn", "--exploration", "1.5"}, {"--learn", "--rate", "-1"}, {"--requests", "0"}}) {
      String err = refused(java.util.stream.Stream.concat(java.util.stream.Stream.of("demo"),
          java.util.Arrays.stream(args)).toArray(String[]::new));
      assertThat(err.lines().toList()).as(String.join(" ", args)).hasSize(2).last()
          .isEqualTo("try './cascade demo --help'");
    }
  }

  @Test
  void anUnknownLargeProtocolIsRefused() {
    assertThat(refused("demo", "--large-protocol", "grpc")).contains("--large-protocol").contains("grpc").contains("openai-chat");
    assertThat(refused("demo", "--learn", "--large-protocol", "kserve")).contains("--large-protocol");
  }

  @Test
  void aBrokerOrTargetGivenToTheDemoIsNamedAsUnused() {
    // refused right after the warning (learn.tier-answer-value needs --tiers): nothing starts
    dev.cascade.router.SystemErr.Captured<String> run = dev.cascade.router.SystemErr.capture(() -> refused("demo",
        "--set", "bootstrap.servers=127.0.0.1:1", "--set", "large.target=127.0.0.1:2", "--set", "learn.tier-answer-value=1"));
    assertThat(run.result()).contains("learn.tier-answer-value");
    assertThat(run.err()).contains("warning: the demo runs its own broker"
        + " and models (--tiers for more than two), so bootstrap.servers (from the command line), large.target (from"
        + " the command line) are not used; ./cascade serve uses them");
  }

  @Test
  void doorSettingsAreReadBeforeTheRunOrNamedAsUnusedWithoutServe(@TempDir Path dir) {
    Path missing = dir.resolve("keys.txt");
    // --serve: the keys file is read before the broker and models start, naming the key
    assertThat(refused("demo", "--serve", "--set", "api.keys-file=" + missing))
        .contains("error: api.keys-file: " + missing + ": no such file (from the command line)");
    // without --serve the doors never open: a warning, then the refusal of learn.tier-answer-value
    dev.cascade.router.SystemErr.Captured<String> run = dev.cascade.router.SystemErr.capture(() -> refused("demo",
        "--set", "api.keys-file=" + missing, "--set", "learn.tier-answer-value=1"));
    assertThat(run.result()).contains("learn.tier-answer-value");
    assertThat(run.err()).contains("warning: api.keys-file (from the command line) is for the doors, which the demo"
        + " opens only with --serve: not used");
  }

  @Test
  void alphaWithARuleThatHasNoneIsRefused() {
    assertThat(refused("demo", "--alpha", "0.5")).contains("--alpha: the level of chow-quantile, which the rule"
        + " posthoc-quantile does not use; add --rule chow-quantile");
    assertThat(refused("demo", "--rule", "chow-sum", "--alpha", "0.5")).contains("rule chow-sum does not use");
  }

  @Test
  void learningOptionsWithoutLearnAreRefusedNotIgnored() {
    assertThat(refused("demo", "--exploration", "0.5")).contains("--exploration: only with --learn")
        .contains("policy.exploration-rate");
    assertThat(refused("demo", "--window", "10")).contains("--window: only with --learn");
    assertThat(refused("demo", "--phrases-first")).contains("--phrases-first: only with --learn");
  }

  @Test
  void tierOptionsAreCheckedBeforeAnythingStarts() {
    assertThat(refused("demo", "--tiers", "small")).contains("--tiers").contains("at least two");
    assertThat(refused("demo", "--tiers", "small,small,large")).contains("--tiers").contains("names");
    assertThat(refused("demo", "--tiers", "small,medium,large", "--tier-escalation", "1")).contains("--tier-escalation");
    assertThat(refused("demo", "--tiers", "small,large", "--large-protocol", "kserve")).contains("--tiers");
    assertThat(refused("demo", "--tiers", "small,medium,large", "--learn")).contains("--tiers: only without --learn");
    assertThat(refused("demo", "--tier-escalation", "0.3")).contains("--tier-escalation: only with --tiers");
    assertThat(refused("demo", "--tiers", "small,bogus,large")).contains("--tiers: model: 'bogus' is neither a bundled")
        .doesNotContain("cost.tiers.per-token");
  }

  @Test
  void aTierWithoutParametersInItsCardIsRefusedSayingHowTheDemoTakesCosts(@TempDir Path dir) throws Exception {
    dev.cascade.models.ModelDirectory medium = dev.cascade.models.ModelDirectory.resolve("medium");
    Path noCard = java.nio.file.Files.createDirectory(dir.resolve("medium-nocard"));
    java.nio.file.Files.copy(medium.modelFile(), noCard.resolve("model.onnx"));
    java.nio.file.Files.copy(medium.tokenizerFile(), noCard.resolve("tokenizer.json"));
    String err = refused("demo", "--tiers", "small," + noCard + ",large");
    assertThat(err).contains(noCard.toString()).contains("parameters")
        .contains("--set cost.tiers.per-token=").doesNotContain("--costs");
  }

  @Test
  void aPregenSkipFileMustBeASkipRuleForTheSmallModel(@TempDir Path dir) throws Exception {
    assertThat(refused("demo", "--pregen-skip-threshold", "0.5")).contains("--pregen-skip-threshold");
    assertThat(refused("demo", "--pregen-skip", dir.resolve("none.rule").toString()))
        .contains("--pregen-skip").contains("not a file");
    LearnedRule deferral = LearnedRules.bundledRules().get(0);
    Path post = dir.resolve("post.rule");
    RuleArtifacts.write(deferral, post);
    assertThat(refused("demo", "--pregen-skip", post.toString()))
        .contains("--pregen-skip").contains("'" + ModelFingerprint.FEATURE_LAYOUT + "'").contains(PromptFeatures.LAYOUT);
    Path other = dir.resolve("other.rule");
    RuleArtifacts.write(deferral.withInfo(deferral.info().withModel("00".repeat(32), PromptFeatures.LAYOUT)), other);
    assertThat(refused("demo", "--pregen-skip", other.toString()))
        .contains("00".repeat(32)).contains(ModelFingerprint.of("small"));
    Path noThreshold = dir.resolve("skip.rule");
    RuleArtifacts.write(deferral.withInfo(deferral.info().withModel(ModelFingerprint.of("small"),
        PromptFeatures.LAYOUT)), noThreshold);
    assertThat(refused("demo", "--pregen-skip", noThreshold.toString()))
        .contains("no threshold").contains("--pregen-skip-threshold");
  }
}
