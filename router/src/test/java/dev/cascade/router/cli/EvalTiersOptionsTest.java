package dev.cascade.router.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code eval --tiers} refuses bad options with exit code 2 and a line naming the option, before any model runs. */
class EvalTiersOptionsTest {

  @TempDir
  Path dir;

  private String refused(String... args) throws Exception {
    Path data = dir.resolve("d.jsonl");
    Files.write(data, List.of("{\"prompt\": \"cat\", \"reference\": \"k ' a t\"}"));
    CommandLine cli = CascadeCommand.commandLine();
    StringWriter err = new StringWriter();
    cli.setErr(new PrintWriter(err, true));
    String[] all = new String[args.length + 4];
    all[0] = "eval";
    all[1] = "--data";
    all[2] = data.toString();
    all[3] = "--validation";
    System.arraycopy(args, 0, all, 4, args.length);
    assertThat(cli.execute(all)).isEqualTo(2);
    return err.toString();
  }

  @Test
  void byPolicyVersionReadsTheTopicSnapshotOnly() throws Exception {
    assertThat(refused("../models/data/validation.jsonl", "--by-policy-version"))
        .contains("--by-policy-version applies to --outcomes only");
  }

  @Test
  void optionsOfAnotherModeAreRefusedRatherThanIgnored() throws Exception {
    assertThat(refused("../models/data/validation.jsonl")).contains("--validation applies to --tiers only");
    assertThat(refused("../models/data/validation.jsonl", "--tiers", "small,large", "--answer-value", "3000"))
        .contains("--answer-value applies to --outcomes only");
    CommandLine cli = CascadeCommand.commandLine();
    StringWriter err = new StringWriter();
    cli.setErr(new PrintWriter(err, true));
    Path data = Files.write(dir.resolve("e.jsonl"), List.of("{\"prompt\": \"cat\", \"reference\": \"k ' a t\"}"));
    for (String option : EvalCommand.TIERS_ONLY) {
      // a value of the option's type, so that only the mode is wrong
      String value = option.endsWith("-out") ? dir.resolve("x").toString()
          : option.equals("--costs") ? "1,2" : option.equals("--grid") ? "5" : option.equals("--skip-max-loss") ? "0.01"
          : "bogus";
      assertThat(cli.execute("eval", "--data", data.toString(), option, value)).as(option).isEqualTo(2);
      assertThat(err.toString()).as(option).contains(option + " applies to --tiers only");
    }
  }

  @Test
  void oneTierIsNotACascade() throws Exception {
    assertThat(refused("../models/data/validation.jsonl", "--tiers", "small")).contains("--tiers: needs at least 2");
  }

  @Test
  void costsMustBeOnePerTierAndPositive() throws Exception {
    assertThat(refused("../models/data/validation.jsonl", "--tiers", "small,large", "--costs", "1"))
        .contains("--costs: 1 values for 2 tiers");
    assertThat(refused("../models/data/validation.jsonl", "--tiers", "small,large", "--costs", "1,-2"))
        .contains("--costs: each cost must be positive");
  }

  @Test
  void aModelWithoutAParameterCountNeedsCosts() throws Exception {
    Path model = dir.resolve("bare");
    Files.createDirectories(model);
    Files.write(model.resolve("model.onnx"), new byte[0]);
    Files.write(model.resolve("tokenizer.json"), List.of("{}"));
    String overrides = "; --costs C0,C1,... overrides the cards: one per-token cost per tier";
    // No card at all: said so, not that the card lacks the field.
    assertThat(lines(refused("../models/data/validation.jsonl", "--tiers", "small," + model))).first()
        .isEqualTo("error: --tiers: model '" + model + "' has no card.json (" + model.resolve("card.json")
            + "), whose \"parameters\" gives its per-token cost" + overrides);
    // A card without the field, in a middle tier.
    Files.write(model.resolve("card.json"), List.of("{\"name\": \"bare\", \"context_length\": 96}"));
    assertThat(lines(refused("../models/data/validation.jsonl", "--tiers", "small," + model + ",large"))).first()
        .isEqualTo("error: --tiers: model '" + model + "' has no \"parameters\" in its card.json ("
            + model.resolve("card.json") + "), the parameter count its per-token cost comes from" + overrides);
    Files.write(model.resolve("card.json"), List.of("{\"parameters\": \"7B\"}"));
    assertThat(lines(refused("../models/data/validation.jsonl", "--tiers", model + ",large"))).first()
        .isEqualTo("error: --tiers: model '" + model + "': \"parameters\" in its card.json (" + model.resolve("card.json")
            + ") is \"7B\", not a positive parameter count, which its per-token cost comes from" + overrides);
    // --costs overrides the cards: past the cost check (then refused for the next option, before any model runs).
    assertThat(refused("../models/data/validation.jsonl", "--tiers", "small," + model, "--costs", "1,2",
        "--skip-label", "benefits")).contains("--skip-label").doesNotContain("parameters");
  }

  private static List<String> lines(String text) {
    return text.strip().lines().toList();
  }

  @Test
  void tierItemsAreWrittenForThreeTiersUnderLearnedFirstOnly() throws Exception {
    String validation = "../models/data/validation.jsonl";
    Path out = dir.resolve("items.json");
    assertThat(refused(validation, "--tiers", "small,large", "--tier-rule", "learned-first", "--tier-items-out",
        out.toString())).contains("--tier-items-out: needs three --tiers and --tier-rule learned-first")
        .contains("got 2 tiers");
    assertThat(refused(validation, "--tiers", "small,medium,large", "--tier-items-out", out.toString()))
        .contains("--tier-items-out: needs three --tiers and --tier-rule learned-first").contains("chow-sum");
    assertThat(out).doesNotExist();
  }

  @Test
  void theRuleGridLossAndValidationAreChecked() throws Exception {
    String validation = "../models/data/validation.jsonl";
    assertThat(refused(validation, "--tiers", "small,large", "--tier-rule", "chow-max"))
        .contains("--tier-rule: unknown deferral rule 'chow-max'")
        .contains("or one of learned, learned-later, learned-first, expected-gain, expected-gain-skip");
    assertThat(refused(validation, "--tiers", "small,large", "--grid", "0")).contains("--grid");
    assertThat(refused(validation, "--tiers", "small,large", "--skip-max-loss", "2")).contains("--skip-max-loss");
    assertThat(refused(validation, "--tiers", "small,large", "--skip-label", "benefits"))
        .contains("--skip-label").contains("benefit, deferred-or-benefit");
    assertThat(refused(validation, "--tiers", "small,large", "--skip-inputs", "tokens"))
        .contains("--skip-inputs").contains("prompt-pass or text");
    assertThat(refused(dir.resolve("missing.jsonl").toString(), "--tiers", "small,large")).contains("--validation");
    assertThat(refused(validation, "--tiers", "small,nowhere")).contains("--tiers: model: 'nowhere'");
    assertThat(refused(validation, "--tiers", "small,large", "--early-defer-costs", "every"))
        .contains("--early-defer-costs: must be none, first or all, got 'every'");
    assertThat(refused(validation, "--early-defer-costs", "first")).contains("--early-defer-costs applies to --tiers only");
    assertThat(refused(validation, "--tiers", "small,large", "--early-defer-costs", "all", "--tier-rule", "chow-average"))
        .contains("--early-defer-costs: needs a rule whose early deferral is exact");
    assertThat(refused(validation, "--tiers", "small,large", "--early-defer-costs", "all", "--tier-rule", "learned"))
        .contains("--tier-rule learned decodes every answer to the end");
    // learned-first keeps Chow-Sum, whose early deferral is exact, on every tier after the first.
    assertThat(refused(validation, "--tiers", "small,large", "--early-defer-costs", "all", "--tier-rule",
        "learned-first", "--skip-thresholds", "some")).startsWith("error: --skip-thresholds: one or per-kind");
  }
}
