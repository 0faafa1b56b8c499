package dev.cascade.router.learning;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cascade.router.cli.CascadeCommand;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code cascade eval --tiers} end to end on a small sample, with three real models. */
class EvalTiersIT {

  /** A stand-in middle tier: the test fixture of a second architecture (another tokenizer, no hidden output). */
  private static final String MIDDLE = "../models/src/test/resources/models/rotary-bpe";

  /** Shared by the tests: the generations, cached once, and the sample files. */
  @TempDir
  static Path shared;

  @TempDir
  Path dir;

  /** 150 validation items and 40 test items, spread over the splits. */
  private static Path[] sample() throws Exception {
    Path validation = shared.resolve("validation.jsonl");
    Path data = shared.resolve("test.jsonl");
    if (Files.exists(data)) {
      return new Path[] {validation, data};
    }
    List<String> validationLines = Files.readAllLines(Path.of("../models/data/validation.jsonl"));
    List<String> testLines = Files.readAllLines(Path.of("../models/data/test.jsonl"));
    List<String> v = new ArrayList<>();
    List<String> t = new ArrayList<>();
    for (int i = 0; i < 150; i++) {
      v.add(validationLines.get(i * 23));
      if (i < 40) {
        t.add(testLines.get(i * 87));
      }
    }
    Files.write(validation, v);
    Files.write(data, t);
    return new Path[] {validation, data};
  }

  @Test
  void printsOneObjectWithTheTiersFrontiersBestAtCostAndTheSkip() throws Exception {
    Path validation = sample()[0];
    Path data = sample()[1];
    Path plot = dir.resolve("frontiers.png");
    Path rule = dir.resolve("skip.rule");
    StringWriter out = new StringWriter();
    CommandLine cli = CascadeCommand.commandLine();
    StringWriter err = new StringWriter();
    cli.setOut(new PrintWriter(out));
    cli.setErr(new PrintWriter(err));

    int code = cli.execute("eval", "--data", data.toString(), "--validation", validation.toString(),
        "--tiers", "small," + MIDDLE + ",large", "--grid", "8", "--learners", "logistic", "--engine", "OnnxRuntime",
        "--json", "--plot", plot.toString(), "--skip-rule-out", rule.toString(), "--cache", shared.resolve("cache")
            .toString());

    assertThat(code).as(err.toString()).isZero();
    JsonNode json = new ObjectMapper().readTree(out.toString());
    assertThat(json.get("n").asInt()).isEqualTo(40);
    JsonNode tiers = json.get("tiers");
    assertThat(tiers).hasSize(3);
    assertThat(tiers.get(0).get("name").asText()).isEqualTo("small");
    assertThat(tiers.get(1).get("name").asText()).isEqualTo("rotary-bpe");
    // Per-token costs: parameter counts over the small model's (177,688; the fixture 141,120; large 2,277,016).
    assertThat(tiers.get(0).get("cost_per_token").asDouble()).isEqualTo(1.0);
    assertThat(tiers.get(2).get("cost_per_token").asDouble()).isEqualTo(2277016.0 / 177688.0);
    for (JsonNode tier : tiers) {
      assertThat(tier.get("exact_match").asDouble()).isBetween(0.0, 1.0);
      // At least the prompt's tokens and one generated token, at the tier's per-token cost.
      assertThat(tier.get("cost_per_request").asDouble()).isGreaterThan(2 * tier.get("cost_per_token").asDouble());
    }
    assertThat(tiers.get(2).get("exact_match").asDouble()).isGreaterThan(tiers.get(0).get("exact_match").asDouble());

    List<String> cascades = new ArrayList<>();
    json.get("frontier").fieldNames().forEachRemaining(cascades::add);
    assertThat(cascades).containsExactly("small,rotary-bpe", "small,large", "rotary-bpe,large",
        "small,rotary-bpe,large");
    for (String cascade : cascades) {
      JsonNode points = json.get("frontier").get(cascade);
      assertThat(points).isNotEmpty();
      double lastValidationCost = Double.NEGATIVE_INFINITY;
      for (JsonNode p : points) {
        assertThat(p.get("thresholds")).hasSize(cascade.split(",").length - 1);
        assertThat(p.get("accuracy").asDouble()).isBetween(0.0, 1.0);
        assertThat(p.get("validation_cost").asDouble()).isGreaterThan(lastValidationCost);
        lastValidationCost = p.get("validation_cost").asDouble();
      }
    }
    // Deferring nothing from the small model is on its frontier and costs what the small model does alone.
    JsonNode cheapest = json.get("frontier").get("small,large").get(0);
    assertThat(cheapest.get("cost").asDouble()).isEqualTo(tiers.get(0).get("cost_per_request").asDouble());
    assertThat(cheapest.get("accuracy").asDouble()).isEqualTo(tiers.get(0).get("exact_match").asDouble());

    JsonNode best = json.get("best_at_cost");
    assertThat(best).hasSize(10);
    for (int i = 0; i < best.size(); i++) {
      JsonNode at = best.get(i);
      assertThat(at.has("cost") && at.has("two_tier") && at.has("three_tier")).isTrue();
      if (i > 0) {
        assertThat(at.get("cost").asDouble()).isGreaterThan(best.get(i - 1).get("cost").asDouble());
      }
      assertThat(at.get("two_tier").asDouble()).isBetween(0.0, 1.0);
      assertThat(at.get("three_tier").asDouble()).isBetween(0.0, 1.0);
      assertThat(at.get("three_tier_config").get("validation_cost").asDouble())
          .isLessThanOrEqualTo(at.get("cost").asDouble());
    }

    JsonNode skip = json.get("pregen_skip");
    assertThat(skip.get("small").asText()).isEqualTo("small");
    assertThat(skip.get("deferred_to").asText()).isEqualTo("large");
    assertThat(skip.get("features")).hasSize(6 + 80);
    assertThat(skip.get("decode_steps_saved_share").asDouble()).isBetween(0.0, 1.0);
    assertThat(skip.get("skipped_share").asDouble()).isBetween(0.0, 1.0);
    assertThat(skip.get("seconds_per_decode_step").asDouble()).isPositive();
    assertThat(skip.get("curve")).hasSize(21);
    assertThat(skip.get("curve").get(0).get("accuracy_without").asDouble())
        .isEqualTo(tiers.get(0).get("exact_match").asDouble());
    assertThat(skip.get("curve").get(20).get("accuracy_with").asDouble())
        .isEqualTo(tiers.get(2).get("exact_match").asDouble());
    assertThat(json.get("early_defer").isNull()).isTrue();

    assertThat(Files.readAllBytes(plot)).startsWith((byte) 0x89, (byte) 'P', (byte) 'N', (byte) 'G');
    LearnedRule saved = RuleArtifacts.read(rule);
    assertThat(saved.info().name()).isEqualTo("pregen-skip");
    assertThat(saved.info().featureLayout()).isEqualTo(PromptFeatures.LAYOUT);
    assertThat(saved.info().calibrationScores()).hasSize(150);
    assertThat(saved.info().learner()).isEqualTo(skip.get("learner").asText());
    // What a runtime would do with it: one pass of the small model over the prompt, then the rule.
    try (dev.cascade.models.TextGenerator small = dev.cascade.models.TextGenerators.load("small", "OnnxRuntime")) {
      dev.cascade.models.PromptScore pass = small.scorePrompts(List.of("having become hyaline")).get(0);
      assertThat(PromptFeatures.score(saved, "having become hyaline", pass)).isBetween(0.0, 1.0);
    }
  }

  @Test
  void tierItemsReproduceEveryFrontierPointOfTheRoutersTriple() throws Exception {
    Path items = dir.resolve("tier-items.json");
    JsonNode json = evalOnTheSample("--tiers", "small," + MIDDLE + ",large", "--grid", "6", "--tier-rule",
        "learned-first", "--early-defer-costs", "all", "--tier-items-out", items.toString());
    JsonNode dump = new ObjectMapper().readTree(items.toFile());
    assertThat(dump.get("layout").asText()).isEqualTo("cascade-tier-items/v1");
    assertThat(dump.get("tiers").toString()).isEqualTo("[\"small\",\"rotary-bpe\",\"large\"]");
    assertThat(dump.get("validation").get("first_defers_to_last")).hasSize(150);
    assertThat(dump.get("evaluated").get("per_tier").get(2).get("correct")).hasSize(40);
    // Each tier's answers, the ones "agree" compares (tier-bounds --agreement reads them).
    JsonNode evaluated = dump.get("evaluated");
    for (int i = 0; i < 40; i++) {
      assertThat(evaluated.get("per_tier").get(0).get("answers").get(i).asText()
          .equals(evaluated.get("per_tier").get(1).get("answers").get(i).asText()))
          .isEqualTo(evaluated.get("agree").get("0-1").get(i).asBoolean());
    }
    assertThat(dump.get("validation").get("per_tier").get(1).get("answers")).hasSize(150);
    for (int t = 0; t < 3; t++) {
      assertThat(mean(dump.get("evaluated").get("per_tier").get(t).get("correct")))
          .isEqualTo(json.get("tiers").get(t).get("exact_match").asDouble());
    }
    // Every point eval puts on the triple's frontier, routed again from the items alone: small's
    // learned score against its threshold, then the middle tier's Chow-Sum, costed where it stopped.
    JsonNode frontier = json.get("frontier").get("small,rotary-bpe,large");
    assertThat(frontier.size()).isGreaterThan(1);
    for (JsonNode p : frontier) {
      double[] onValidation = route(dump, "validation", p.get("thresholds"));
      double[] onEvaluated = route(dump, "evaluated", p.get("thresholds"));
      assertThat(onValidation[0]).isCloseTo(p.get("validation_cost").asDouble(), org.assertj.core.data.Offset.offset(1e-9));
      assertThat(onValidation[1]).isCloseTo(p.get("validation_accuracy").asDouble(), org.assertj.core.data.Offset.offset(1e-12));
      assertThat(onEvaluated[0]).isCloseTo(p.get("cost").asDouble(), org.assertj.core.data.Offset.offset(1e-9));
      assertThat(onEvaluated[1]).isCloseTo(p.get("accuracy").asDouble(), org.assertj.core.data.Offset.offset(1e-12));
    }
  }

  /** {@code eval --json} on the sample (logistic learners, ONNX Runtime, the shared cache) with {@code args}; its object. */
  private JsonNode evalOnTheSample(String... args) throws Exception {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cli = CascadeCommand.commandLine();
    cli.setOut(new PrintWriter(out));
    cli.setErr(new PrintWriter(err));
    List<String> all = new ArrayList<>(List.of("eval", "--data", sample()[1].toString(), "--validation",
        sample()[0].toString(), "--learners", "logistic", "--engine", "OnnxRuntime", "--json", "--cache",
        shared.resolve("cache").toString()));
    all.addAll(List.of(args));
    assertThat(cli.execute(all.toArray(String[]::new))).as(err.toString()).isZero();
    return new ObjectMapper().readTree(out.toString());
  }

  private static double mean(JsonNode booleans) {
    double right = 0;
    for (JsonNode b : booleans) {
      right += b.asBoolean() ? 1 : 0;
    }
    return right / booleans.size();
  }

  /** Mean cost and exact match of the triple on one split of the items, at eval's thresholds (null: −∞). */
  private static double[] route(JsonNode dump, String split, JsonNode thresholds) {
    double t0 = thresholds.get(0).isNull() ? Double.NEGATIVE_INFINITY : thresholds.get(0).asDouble();
    int stop = -1;
    JsonNode candidates = dump.get("middle_thresholds");
    for (int j = 0; j < candidates.size(); j++) {
      if (candidates.get(j).isNull() ? thresholds.get(1).isNull()
          : !thresholds.get(1).isNull() && candidates.get(j).asDouble() == thresholds.get(1).asDouble()) {
        stop = j;
      }
    }
    assertThat(stop).as("the middle tier's threshold is one of its candidates").isNotNegative();
    double t1 = thresholds.get(1).isNull() ? Double.NEGATIVE_INFINITY : thresholds.get(1).asDouble();
    JsonNode s = dump.get(split);
    JsonNode[] tiers = {s.get("per_tier").get(0), s.get("per_tier").get(1), s.get("per_tier").get(2)};
    int n = s.get("first_defers_to_middle").size();
    double cost = 0;
    int right = 0;
    for (int i = 0; i < n; i++) {
      cost += tiers[0].get("cost").get(i).asDouble();
      if (!(s.get("first_defers_to_middle").get(i).asDouble() > t0)) {
        right += tiers[0].get("correct").get(i).asBoolean() ? 1 : 0;
        continue;
      }
      cost += tiers[1].get("stop_costs").get(stop).get(i).asDouble();
      if (!(tiers[1].get("chow_sum").get(i).asDouble() > t1)) {
        right += tiers[1].get("correct").get(i).asBoolean() ? 1 : 0;
        continue;
      }
      cost += tiers[2].get("cost").get(i).asDouble();
      right += tiers[2].get("correct").get(i).asBoolean() ? 1 : 0;
    }
    return new double[] {cost / n, (double) right / n};
  }

  @Test
  void expectedGainSweepsOneTradeOffPerCascadeWithEstimatesLearnedOnValidation() throws Exception {
    Path validation = sample()[0];
    Path data = sample()[1];
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cli = CascadeCommand.commandLine();
    cli.setOut(new PrintWriter(out));
    cli.setErr(new PrintWriter(err));

    int code = cli.execute("eval", "--data", data.toString(), "--validation", validation.toString(),
        "--tiers", "small," + MIDDLE + ",large", "--grid", "4", "--learners", "logistic", "--engine", "OnnxRuntime",
        "--tier-rule", "expected-gain", "--json", "--cache", shared.resolve("cache").toString());

    assertThat(code).as(err.toString()).isZero();
    JsonNode json = new ObjectMapper().readTree(out.toString());
    assertThat(json.get("rule").asText()).isEqualTo("expected-gain");
    // Estimates per set of tiers run and tier estimated, each trained once: after small (of small, the middle
    // tier and large), after the middle tier alone and after both (of the middle tier and large).
    List<String> estimates = new ArrayList<>();
    for (JsonNode rule : json.get("tier_rules")) {
      assertThat(rule.get("kind").asText()).isEqualTo("quality");
      // Logistic regression, or a constant where the sample holds too few of one class (the fixture is rarely right).
      assertThat(rule.get("learner").asText()).matches("tribuo-logistic.*|constant");
      estimates.add(rule.get("tier").asText() + " after " + rule.get("after").asText());
    }
    assertThat(estimates).containsExactlyInAnyOrder("small after small", "rotary-bpe after small",
        "large after small", "rotary-bpe after rotary-bpe", "large after rotary-bpe",
        "rotary-bpe after small,rotary-bpe", "large after small,rotary-bpe");
    for (JsonNode points : json.get("frontier")) {
      for (JsonNode p : points) {
        assertThat(p.has("lambda")).isTrue();
        assertThat(p.has("thresholds")).isFalse();
      }
    }
    // The largest trade-off never moves on: the first tier alone is the cheapest point.
    JsonNode cheapest = json.get("frontier").get("small,rotary-bpe,large").get(0);
    assertThat(cheapest.get("cost").asDouble()).isEqualTo(json.get("tiers").get(0).get("cost_per_request").asDouble());
    assertThat(cheapest.get("accuracy").asDouble()).isEqualTo(json.get("tiers").get(0).get("exact_match").asDouble());
    assertThat(json.get("best_at_cost")).hasSize(10);
    assertThat(json.get("pregen_skip").get("post_rule").asText()).isEqualTo("chow-sum");
  }

  @Test
  void aSkipRuleOverThePromptTextLearnsDeferredOrBenefitAndRecordsItsThreshold() throws Exception {
    Path validation = sample()[0];
    Path data = sample()[1];
    Path rule = dir.resolve("skip-text.rule");
    Path items = dir.resolve("skip-items.csv");
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cli = CascadeCommand.commandLine();
    cli.setOut(new PrintWriter(out));
    cli.setErr(new PrintWriter(err));

    int code = cli.execute("eval", "--data", data.toString(), "--validation", validation.toString(),
        "--tiers", "small,large", "--grid", "4", "--learners", "logistic", "--engine", "OnnxRuntime",
        "--skip-label", "deferred-or-benefit", "--skip-inputs", "text", "--skip-rule-out", rule.toString(),
        "--skip-thresholds", "per-kind",
        "--skip-items-out", items.toString(), "--json", "--cache", shared.resolve("cache").toString());

    assertThat(code).as(err.toString()).isZero();
    JsonNode skip = new ObjectMapper().readTree(out.toString()).get("pregen_skip");
    assertThat(skip.get("label").asText()).isEqualTo("deferred-or-benefit");
    assertThat(skip.get("feature_layout").asText()).isEqualTo(PromptFeatures.TEXT_LAYOUT);
    assertThat(skip.get("features")).hasSize(2);
    // The label holds the 20% of validation with the highest Chow-Sum scores (30 of 150), and more.
    assertThat(skip.get("label_share").asDouble()).isGreaterThanOrEqualTo(0.2);
    LearnedRule saved = RuleArtifacts.read(rule);
    assertThat(saved.info().featureLayout()).isEqualTo(PromptFeatures.TEXT_LAYOUT);
    assertThat(saved.info().validationMetrics().get("skip_label_deferred_or_benefit")).isEqualTo(1.0);
    assertThat(skip.get("threshold").isNumber()).as("a threshold within the loss bound on this sample").isTrue();
    assertThat(saved.info().validationMetrics().get("skip_threshold")).isEqualTo(skip.get("threshold").asDouble());
    // Per kind: each kind's offset turns the one threshold into that kind's own.
    assertThat(skip.get("thresholds").asText()).isEqualTo("per-kind");
    for (PromptKind kind : PromptKind.values()) {
      JsonNode own = skip.get("by_kind").get(kind.id());
      double offset = saved.info().validationMetrics().get(kind.offsetMetric());
      if (own.path("threshold").isNumber()) {
        assertThat(skip.get("threshold").asDouble() - offset).isCloseTo(own.get("threshold").asDouble(),
            org.assertj.core.api.Assertions.within(1e-12));
      } else {
        assertThat(offset).as("a kind never skipped").isLessThan(-1e8);
      }
    }
    // No pass of the model: the rule scores the text.
    assertThat(PromptFeatures.needsPass(saved)).isFalse();
    List<String> two = List.of("having become hyaline", "cat");
    double[] scored = PromptFeatures.scores(saved, two, null);
    for (int i = 0; i < scored.length; i++) {
      // A probability, once its kind's offset is taken off again.
      assertThat(scored[i] - PromptKind.of(two.get(i)).offset(saved.info().validationMetrics())).isBetween(0.0, 1.0);
    }
    List<String> lines = Files.readAllLines(items);
    assertThat(lines.get(0)).isEqualTo(
        "split,small_correct,large_correct,post_score,prompt_score,decode_steps,prompt_chars,prompt_words");
    assertThat(lines).hasSize(1 + 150 + 40);
  }
}
