package dev.cascade.router.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cascade.router.learning.AnsweredItem;
import dev.cascade.router.learning.CascadeAnswers;
import dev.cascade.router.learning.CascadeReport;
import dev.cascade.router.evaluation.EarlyDeferralEvaluation;
import dev.cascade.router.learning.DeferralExample;
import dev.cascade.router.learning.EarlyDeferralRuns;
import dev.cascade.router.learning.FeatureSet;
import dev.cascade.router.learning.LearnedRule;
import dev.cascade.router.learning.LearnedRules;
import dev.cascade.router.learning.ModelFingerprint;
import dev.cascade.router.learning.RuleCatalog;
import dev.cascade.models.ModelDirectory;
import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.learning.FeedbackJoin;
import dev.cascade.router.learning.OutcomeReport;
import dev.cascade.router.learning.TopicSnapshot;
import dev.cascade.router.learning.PromptItem;
import dev.cascade.router.learning.RuleArtifacts;
import dev.cascade.router.learning.RuleTrainer;
import dev.cascade.router.learning.TierPhases;
import dev.cascade.router.learning.TrainingOverlap;
import java.awt.BasicStroke;
import java.awt.Color;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.logging.Level;
import java.util.logging.Logger;
import me.tongfei.progressbar.ProgressBar;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.markers.SeriesMarkers;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code cascade eval}: runs both models over a labelled JSONL file and evaluates every deferral
 * rule on it (Gupta et al.'s deferral curve and AUC-DF, gain over random, APGR, CPT, accuracy at a
 * 20% budget, and a paired bootstrap of each learned rule against the best Chow rule).
 */
@Command(name = "eval", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Evaluates every deferral rule (random, Chow-Sum, Chow-Average, Chow-Quantile at 0, 0.1 and 0.5,"
        + " the learned Post-Hoc-Quantile and Post-Hoc-Embed, and the oracle) on a JSONL file with \"prompt\" and"
        + " \"reference\" (and optionally \"kind\"): runs the small and the large model on it, then prints, per rule,"
        + " AUC-DF, %% gain over random, %% of the oracle's gain, APGR, CPT at 50/80/95%%, accuracy with 20%% deferred,"
        + " and for the learned rules AUC-DF minus the best Chow rule's with a paired-bootstrap 95%% interval.",
        "The learned rules are the shipped ones (trained on the bundled validation split) unless --rule-train"
        + " names other data to train them on first. A learned rule that was trained on some of the evaluated"
        + " prompts is named in a warning (stderr, and \"warnings\" in --json): its numbers there are in-sample.",
        "With --outcomes TOPIC instead of --data, nothing is run: the routing outcomes whose small and large"
        + " answers were both checked against a reference, or decided by the feedback on the feedback topic"
        + " (topic.feedback; joined by request id and labelled as cascade learn labels it), are weighted by 1/propensity, and the rule in force"
        + " (per rule and version), every shadow rule, the Chow rules (from the recorded features), any --rule-file,"
        + " random and the oracle are compared by weighted AUC-DF, each against Chow-Sum by a paired bootstrap.",
        "With --outcomes TOPIC --tier N: middle tier N's rule instead, from the outcomes where tier N answered whole"
        + " and tier N + 1 answered too (every request it passed on, and those it explored:"
        + " policy.tier-exploration-rates), checked against their reference or decided by their feedback, and"
        + " weighted by 1/the tier's propensity;"
        + " the Chow rules are scored from the tier's token log-probs, and the rule in force is shown by the share"
        + " passed on.",
        "With --tiers A,B,C (K >= 2 models, cheapest first) instead of --small/--large: every model answers --data and"
        + " --validation; each tier but the last defers by --tier-rule on its own token log-probs; per-tier thresholds"
        + " are searched on a grid on validation, and the validation frontier of the whole cascade, of every cascade"
        + " of the tiers in order and of each model alone is reported on --data, with the best 2- and 3-tier exact"
        + " match at 10 cost levels and the pre-generation skip (a prompt-only rule on the first tier, trained on"
        + " validation).",
        "The configuration (--config, --set, CASCADE_* variables) is checked in every mode, a bad key, value or file"
        + " stopping the command at once; only --outcomes reads it (bootstrap.servers, kafka.*, topic.feedback), and a"
        + " key given that the command does not read is named in a warning."})
public final class EvalCommand implements java.util.concurrent.Callable<Integer> {

  @ArgGroup(exclusive = true, multiplicity = "1")
  Source source;

  static final class Source {
    @Option(names = "--data", paramLabel = "FILE.jsonl",
        description = "The labelled prompts: one JSON object per line with prompt, reference and optionally kind.")
    Path data;

    @Option(names = "--outcomes", paramLabel = "TOPIC",
        description = "Evaluate from the routing outcomes on this topic (read from its start to its current end)"
            + " instead of running the models: the outcomes with both answers checked against a reference (or"
            + " decided by feedback on topic.feedback), each weighted by 1/propensity.")
    String outcomes;
  }

  /** The options that only {@code --tiers} reads. */
  static final List<String> TIERS_ONLY = List.of("--validation", "--costs", "--tier-rule", "--grid", "--skip-max-loss",
      "--skip-rule-out", "--skip-items-out", "--tier-items-out", "--skip-inputs", "--skip-label", "--skip-thresholds");

  @Option(names = "--tier", paramLabel = "N",
      description = "With --outcomes: evaluate middle tier N's rule (1 = the first model after the small one), with"
          + " tier N + 1 in the large model's place, instead of the small model's.")
  Integer tier;

  @Option(names = "--answer-value", paramLabel = "V",
      description = "With --outcomes: also say which threshold is worth most for a right answer worth V cost units,"
          + " and whether it beats the one in force (read from the policy topic) on held-out outcomes, with the"
          + " settings the learner reads: with --tier, what the learner's tier tuner would decide; without, the same"
          + " choice for the small model's threshold.")
  Double answerValue;

  @Option(names = "--by-policy-version",
      description = "With --outcomes: also say, for each policy version, what the requests its decisions routed got"
          + " (the small model's, or with --tier tier N's): how many, the share passed on, the share served a right"
          + " answer (by the reference, or by the feedback on it), the cost a request, and with --answer-value what"
          + " a request was worth, with its standard error. Versions cover different spells of traffic, so a"
          + " difference between two is the policy's and the traffic's.")
  boolean byPolicyVersion;

  @Option(names = "--bootstrap-servers", paramLabel = "HOST:PORT,...",
      description = "Kafka brokers for --outcomes (default: the bootstrap.servers configuration key).")
  String bootstrapServers;

  @Option(names = "--json", description = "Print one JSON object instead of tables.")
  boolean json;

  @Option(names = "--plot", paramLabel = "PATH.png", description = "Draw every rule's deferral curve into one image"
      + " (PNG; .jpg, .gif or .bmp by the path's extension).")
  Path plot;

  @Option(names = "--rule-train", paramLabel = "FILE.jsonl",
      description = "Train the learned rules on this labelled file first, instead of using the shipped ones.")
  Path ruleTrain;

  @Option(names = "--rule-file", paramLabel = "PATH",
      description = "Evaluate the learned rule in this artifact (from train-rule) instead of the shipped ones;"
          + " repeatable. With --outcomes, scored from each outcome's recorded features and embedding; it must be"
          + " for the small model --small names, the one the outcomes' router served.")
  List<Path> ruleFiles = new ArrayList<>();

  @Option(names = "--early-defer",
      description = "Also run the small model with early deferral (router/EVALUATION.md, \"Early deferral\"): Chow-Sum"
          + " at 10%%..90%% deferred and Chow-Quantile at 0 (exact: changed decisions must be 0), Chow-Average and the"
          + " learned Post-Hoc-Quantile with margins; prints decisions changed and decoding saved (\"early_defer\" in --json).")
  boolean earlyDefer;

  @Option(names = "--early-defer-costs", paramLabel = "none|first|all", defaultValue = "none",
      description = "With --tiers: cost a tier's deferred requests as early deferral would, its prompt and the tokens"
          + " up to where the running score of an exact rule (chow-sum, chow-quantile-0) passed its threshold:"
          + " none, the first (small.early-defer), or every tier but the last (what the router does, with"
          + " escalation.early-defer for the middle tiers) (default: ${DEFAULT-VALUE}).")
  String earlyDeferCosts;

  @Option(names = "--early-defer-every", split = ",", paramLabel = "K,...",
      defaultValue = "" + dev.cascade.router.policy.EarlyDeferral.DEFAULT_EVERY,
      description = "With --early-defer: ask the rules with a margin after each K-th token (small.early-defer-every);"
          + " several values run each such case once per value (default: ${DEFAULT-VALUE}).")
  List<Integer> earlyDeferEvery;

  @Option(names = "--resamples", defaultValue = "1000", paramLabel = "N",
      description = "Paired-bootstrap resamples (default: ${DEFAULT-VALUE}).")
  int resamples;

  @Option(names = "--tiers", split = ",", paramLabel = "MODEL,MODEL,...",
      description = "Evaluate the cascade of these models (names or directories, cheapest first, at least 2) instead"
          + " of the small-large rules.")
  List<String> tiers;

  @Option(names = "--validation", defaultValue = "models/data/validation.jsonl", paramLabel = "FILE.jsonl",
      description = "With --tiers: the labelled prompts thresholds and the skip rule are chosen on"
          + " (default: ${DEFAULT-VALUE}).")
  Path validation;

  @Option(names = "--costs", split = ",", paramLabel = "C0,C1,...",
      description = "With --tiers: each tier's cost per token (prompt plus generated); default: its card's parameter"
          + " count over the first tier's.")
  List<Double> costs;

  @Option(names = "--tier-rule", defaultValue = "chow-sum", paramLabel = "RULE",
      description = "With --tiers: every tier's deferral rule, on its own token log-probs: chow-sum, chow-average,"
          + " chow-quantile-ALPHA; or learned on validation (scores there out of fold, 5 folds; --learners): learned"
          + " (per tier, label: this tier wrong, the next right), learned-later (... some later tier right),"
          + " learned-first (learned on the first tier only, chow-sum on the others, so --early-defer-costs applies),"
          + " expected-gain (per-request estimates of each tier's chance of being right from the tiers run so far;"
          + " move on when a later tier's estimate less lambda x its expected cost beats the answer in hand; lambda"
          + " swept instead of a threshold grid), expected-gain-skip (the same, jumping straight to the chosen"
          + " tier) (default: ${DEFAULT-VALUE}).")
  String tierRule;

  @Option(names = "--grid", defaultValue = "20", paramLabel = "N",
      description = "With --tiers: threshold candidates per tier are its validation scores' quantiles at 0, 1/N, ..., 1,"
          + " and defer-all (default: ${DEFAULT-VALUE}).")
  int grid;

  @Option(names = "--skip-max-loss", defaultValue = "0.005", paramLabel = "FRACTION",
      description = "With --tiers: the pre-generation skip skips as many requests as it can while losing at most this"
          + " much exact match on validation at escalation rates 0.20-0.50 (default: ${DEFAULT-VALUE}).")
  double skipMaxLoss;

  @Option(names = "--skip-rule-out", paramLabel = "PATH",
      description = "With --tiers: write the trained prompt rule of the pre-generation skip here (a RuleModel artifact,"
          + " feature layout prompt/v1).")
  Path skipRuleOut;

  @Option(names = "--skip-items-out", paramLabel = "PATH.csv",
      description = "With --tiers: write the pre-generation skip's per-item inputs here (validation with out-of-fold"
          + " prompt scores, then the evaluated file): correctness, post-rule score, prompt score, decoding steps,"
          + " prompt features.")
  Path skipItemsOut;

  @Option(names = "--tier-items-out", paramLabel = "PATH.json",
      description = "With --tiers of three models and --tier-rule learned-first: write every tier's per-item answers on"
          + " validation (learned scores out of fold) and on the evaluated file as one JSON object: correctness, cost,"
          + " Chow-Sum score and early-stop costs per threshold, which answers agree, and the learned scores of the"
          + " first tier and of the middle tier's chances, for analyses of your own (loadtest/scripts/tier-bounds).")
  Path tierItemsOut;

  @Option(names = "--skip-inputs", defaultValue = "prompt-pass", paramLabel = "prompt-pass|text",
      description = "With --tiers: what the pre-generation skip's prompt rule reads: prompt-pass (the prompt's length and"
          + " one pass of the small model over it, layout prompt/v1) or text (the prompt's characters and words alone,"
          + " layout prompt-text/v1: no pass of the model) (default: ${DEFAULT-VALUE}).")
  String skipInputs;

  @Option(names = "--skip-label", defaultValue = "benefit", paramLabel = "LABEL",
      description = "With --tiers: what the pre-generation skip's prompt rule learns: benefit (the large model right"
          + " where the small one is wrong) or deferred-or-benefit (that, or the post-generation rule defers the"
          + " request anyway at escalation rate 0.20, so escalating it without decoding costs nothing)"
          + " (default: ${DEFAULT-VALUE}).")
  String skipLabel;

  @Option(names = "--skip-thresholds", defaultValue = "one", paramLabel = "one|per-kind",
      description = "With --tiers: one skip threshold for every prompt, or per-kind: one for single-word prompts and one"
          + " for longer ones, chosen together on validation under the same loss bound (the artifact then carries"
          + " each kind's score offset, so a policy's one threshold applies both) (default: ${DEFAULT-VALUE}).")
  String skipThresholds;

  @Option(names = "--seed", defaultValue = "20240917", paramLabel = "N",
      description = "Seed of the bootstrap (and of training with --rule-train) (default: ${DEFAULT-VALUE}).")
  long seed;

  @Mixin
  ModelOptions models;

  @Mixin
  ConfigOptions configOptions;

  @Spec
  picocli.CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() throws IOException {
    quietTribuo();
    // In every mode, so that a bad key, value or --config file stops the command at once (exit 2).
    configOptions.load();
    String mode = source.outcomes != null ? "eval --outcomes" : tiers != null ? "eval --tiers" : "eval --data";
    configOptions.unread(mode, key -> source.outcomes != null && (OUTCOMES_KEYS.test(key)
        || answerValue != null && TUNING_KEYS.test(key)), source.outcomes != null
        ? "with --outcomes it reads only " + OUTCOMES_KEYS_TEXT
        : configUnread("--small and --large, or --tiers", OUTCOMES_KEYS_TEXT)).ifPresent(spec.commandLine().getErr()::println);
    models.check(spec.commandLine(), source.data != null && tiers == null, source.data != null && tiers == null);
    if (earlyDeferEvery.stream().anyMatch(k -> k < 1)) {
      throw new picocli.CommandLine.ParameterException(spec.commandLine(),
          "--early-defer-every: every value must be at least 1, got " + earlyDeferEvery);
    }
    if (tiers != null && source.outcomes != null) {
      throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--tiers applies to --data only");
    }
    if (tier != null && source.outcomes == null) {
      throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--tier applies to --outcomes only"
          + " (with --data, --tiers evaluates every tier)");
    }
    if (tier != null && tier < 1) {
      throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--tier: must be a middle tier's number,"
          + " 1 or above (without --tier, eval --outcomes evaluates the small model's rule); was " + tier);
    }
    if (answerValue != null && !(answerValue > 0 && Double.isFinite(answerValue))) {
      throw new picocli.CommandLine.ParameterException(spec.commandLine(),
          "--answer-value: must be a positive number of cost units, was " + answerValue);
    }
    if (byPolicyVersion && source.outcomes == null) {
      throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--by-policy-version applies to --outcomes"
          + " only (it reads the policy version each outcome records)");
    }
    if (tier != null && !ruleFiles.isEmpty()) {
      throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--rule-file applies to the small model's"
          + " rules, not with --tier (a middle tier's rules are the closed-form ones, all evaluated)");
    }
    if (tiers == null && !"none".equals(earlyDeferCosts)) {
      throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--early-defer-costs applies to --tiers only");
    }
    // Options of one mode given in another would be ignored, bad values and all: refused by name.
    picocli.CommandLine.ParseResult parsed = spec.commandLine().getParseResult();
    if (parsed != null) {
      if (tiers == null) {
        for (String option : TIERS_ONLY) {
          if (parsed.hasMatchedOption(option)) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), option + " applies to --tiers only");
          }
        }
      }
      if (source.outcomes == null && parsed.hasMatchedOption("--answer-value")) {
        throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--answer-value applies to --outcomes only"
            + " (it tunes a threshold on the outcomes' answers)");
      }
    }
    if (resamples < 1) {
      throw new picocli.CommandLine.ParameterException(spec.commandLine(),
          "--resamples: must be at least 1, was " + resamples);
    }
    // Where it will write, before any model runs.
    PlotFile.check("--plot", plot);
    OutputPaths.checkFile("--skip-rule-out", skipRuleOut);
    OutputPaths.checkFile("--skip-items-out", skipItemsOut);
    OutputPaths.checkFile("--tier-items-out", tierItemsOut);
    if (source.outcomes != null) {
      return evaluateOutcomes();
    }
    if (tiers != null) {
      return evaluateTiers();
    }
    Path data = source.data;
    List<PromptItem> items = PromptItem.readJsonl(data);
    // What can be checked before the models run: the rule files (each applicable to the small model,
    // as a router would decide), the training file, the plot's path.
    Map<LearnedRule, String> origins = new java.util.IdentityHashMap<>();
    RuleCatalog catalog = new RuleCatalog(ModelFingerprint.of(models.small), "small model '" + models.small + "'");
    boolean smallEmbedding = ModelDirectory.resolve(models.small).onnxFile().hasHiddenOutput();
    List<LearnedRule> rules = readRuleFiles(catalog, smallEmbedding);
    for (int i = 0; i < rules.size(); i++) {
      origins.put(rules.get(i), "--rule-file " + ruleFiles.get(i));
    }
    List<String> leftOut = new ArrayList<>();
    if (ruleFiles.isEmpty() && ruleTrain == null) {
      for (LearnedRule rule : LearnedRules.bundledRules()) {
        String why = catalog.whyNotDeferralRule(rule, smallEmbedding, models.small);
        if (why.isEmpty()) {
          rules.add(rule);
          origins.put(rule, "the shipped rule");
        } else {
          leftOut.add("shipped rule " + rule.name() + " left out: " + why);
        }
      }
    }
    if (ruleTrain != null) {
      PromptItem.readJsonl(ruleTrain);
    }
    leftOut.forEach(spec.commandLine().getErr()::println);
    spec.commandLine().getErr().flush();
    List<AnsweredItem> answered = PromptFiles.naming(data, items,
        () -> CascadeAnswers.answer(items, models.settings(), progressBars()));
    List<DeferralExample> examples = answered.stream().map(AnsweredItem::example).toList();
    for (LearnedRule rule : rules) {
      checkEmbeddingLength(rule, origins.get(rule), examples);
    }
    if (ruleTrain != null) {
      rules.addAll(trainRules(ruleTrain));
    }
    List<TrainingOverlap> overlaps = overlaps(rules, items.stream().map(PromptItem::prompt).toList());

    List<String> kinds = items.stream().map(PromptItem::kind).toList();
    CascadeReport report = CascadeReport.compute(examples, kinds, rules, resamples, seed);
    EarlyDeferralEvaluation.Report early = earlyDefer ? PromptFiles.naming(data, items,
        () -> EarlyDeferralRuns.evaluate(answered, models.settings(), rules, earlyDeferEvery, progressBars())) : null;

    PrintWriter out = spec.commandLine().getOut();
    warn(overlaps);
    if (json) {
      ObjectNode root = dataJson(report, data, rules, overlaps, early);
      leftOut.forEach(message -> ((ArrayNode) root.get("warnings")).addObject()
          .put("type", "rule_not_applicable").put("message", message));
      out.println(new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(root));
    } else {
      out.println("data: " + data + " (" + items.size() + " items)");
      printRules(out, rules);
      out.print(report.toTable());
      if (early != null) {
        out.println();
        out.print(early.toTable());
      }
    }
    out.flush();
    if (plot != null) {
      writePlot(report.overall(), data.getFileName().toString(), plot);
      spec.commandLine().getErr().println("plot: " + plot);
    }
    return 0;
  }

  /** {@code eval --outcomes}: the rules in force, the shadows, the Chow rules and any --rule-file, from the topic. */
  private Integer evaluateOutcomes() throws IOException {
    if (plot != null || ruleTrain != null || earlyDefer) {
      throw new picocli.CommandLine.ParameterException(spec.commandLine(),
          (plot != null ? "--plot" : ruleTrain != null ? "--rule-train" : "--early-defer")
              + " applies to --data only, not to --outcomes");
    }
    // Before Kafka is read: each for the small model --small names, the one the outcomes' router served.
    if (!ruleFiles.isEmpty()) {
      ModelOptions.resolve(spec.commandLine(), "--small", models.small);
    }
    List<LearnedRule> rules = ruleFiles.isEmpty() ? new ArrayList<>() : readRuleFiles(
        new RuleCatalog(ModelFingerprint.of(models.small), "small model '" + models.small + "' (--small)"),
        ModelDirectory.resolve(models.small).onnxFile().hasHiddenOutput());
    CascadeConfig config = configOptions.load();
    Map<String, Object> client = TopicSnapshot.clientProperties(bootstrapServers, config, "--outcomes");
    FeedbackJoin feedback = FeedbackJoin.read(client, config.get(CascadeConfig.TOPIC_FEEDBACK), progressBars());
    spec.commandLine().getErr().println(feedback.summary());
    if (tier != null) {
      return evaluateTierOutcomes(config, client, feedback);
    }
    OutcomeReport.Collector collector = new OutcomeReport.Collector(feedback);
    TierPhases.Accumulator phases = byPolicyVersion ? TierPhases.accumulator(0, feedback::on) : null;
    TopicSnapshot.Read read = TopicSnapshot.read(client, source.outcomes,
        phases == null ? collector : collector.andThen(phases), progressBars());
    collector.undecodable(read.undecodable());
    OutcomeReport report;
    try {
      report = OutcomeReport.compute(collector, rules, resamples, seed);
    } catch (IllegalArgumentException e) {
      if (phases == null) {
        throw e;
      }
      return policyVersionsOnly(read, phases, e.getMessage(), "the small model's");
    }
    ObjectNode tuning = answerValue == null ? null : smallTuning(config, client, collector);

    PrintWriter err = spec.commandLine().getErr();
    err.printf(Locale.ROOT, "%d outcomes read, %d used, skipped: %s%n", report.read(), report.used(),
        report.skipped().isEmpty() ? "none" : report.skipped());
    warn(report.overlaps());
    report.smallSampleWarning().ifPresent(err::println);
    report.positivityWarning().ifPresent(err::println);
    report.stoppedEarlyWarning().ifPresent(err::println);
    err.flush();
    PrintWriter out = spec.commandLine().getOut();
    if (json) {
      ObjectNode root = report.toJson();
      root.put("source", read.range());
      warningsJson(root, report.overlaps());
      outcomeWarnings(root, report.smallSampleWarning(), report.positivityWarning(), report.stoppedEarlyWarning());
      if (tuning != null) {
        root.set("tuning", tuning);
      }
      if (phases != null) {
        root.set("policy_versions", PolicyVersionTable.json(phases.phases(), answerValue));
      }
      out.println(new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(root));
    } else {
      out.println("outcomes: " + read.range());
      printRules(out, rules);
      out.print(report.toTable());
      if (tuning != null) {
        out.printf(Locale.ROOT, "%nthe small model's threshold at %s cost units a right answer (policy v%d, %s): %s%n",
            tuning.get("answer_value").asText(), tuning.get("policy_version").asLong(), tuning.get("rule").asText(),
            tuning.get("result").asText().toUpperCase(Locale.ROOT) + ": " + tuning.get("reason").asText());
      }
      if (phases != null) {
        out.print(PolicyVersionTable.text(phases.phases(), answerValue, "the small model's"));
      }
    }
    out.flush();
    return 0;
  }

  /**
   * {@code --by-policy-version} where no outcome can evaluate the rules (say, feedback that judges
   * only the answer served): the policy versions alone, with why the rules were not evaluated.
   */
  private Integer policyVersionsOnly(TopicSnapshot.Read read, TierPhases.Accumulator phases, String why,
      String whose) throws IOException {
    PrintWriter err = spec.commandLine().getErr();
    err.println("the rules are not evaluated: " + why);
    err.flush();
    PrintWriter out = spec.commandLine().getOut();
    if (json) {
      ObjectNode root = new ObjectMapper().createObjectNode();
      root.put("source", read.range());
      root.put("rules_not_evaluated", why);
      root.set("policy_versions", PolicyVersionTable.json(phases.phases(), answerValue));
      out.println(new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(root));
    } else {
      out.println("outcomes: " + read.range());
      out.print(PolicyVersionTable.text(phases.phases(), answerValue, whose));
    }
    out.flush();
    return 0;
  }

  /** {@code eval --outcomes --tier N}: middle tier N's rules from the topic. */
  private Integer evaluateTierOutcomes(CascadeConfig config, Map<String, Object> client, FeedbackJoin feedback)
      throws IOException {
    dev.cascade.router.learning.TierOutcomeReport.Collector collector =
        new dev.cascade.router.learning.TierOutcomeReport.Collector(tier, feedback::on);
    TierPhases.Accumulator phases = byPolicyVersion ? TierPhases.accumulator(tier, feedback::on) : null;
    TopicSnapshot.Read read = TopicSnapshot.read(client, source.outcomes,
        phases == null ? collector : collector.andThen(phases), progressBars());
    collector.undecodable(read.undecodable());
    dev.cascade.router.learning.TierOutcomeReport report;
    try {
      report = dev.cascade.router.learning.TierOutcomeReport.compute(collector, resamples, seed);
    } catch (IllegalArgumentException e) {
      if (phases == null) {
        throw e;
      }
      return policyVersionsOnly(read, phases, e.getMessage(), "tier " + tier + "'s");
    }
    PrintWriter err = spec.commandLine().getErr();
    err.printf(Locale.ROOT, "%d outcomes read, %d used for tier %d, skipped: %s%n", report.read(), report.used(), tier,
        report.skipped().isEmpty() ? "none" : report.skipped());
    ObjectNode tuning = answerValue == null ? null : tierTuning(config, client, collector);
    report.smallSampleWarning().ifPresent(err::println);
    report.positivityWarning().ifPresent(err::println);
    report.stoppedEarlyWarning().ifPresent(err::println);
    err.flush();
    PrintWriter out = spec.commandLine().getOut();
    if (json) {
      ObjectNode root = report.toJson();
      root.put("source", read.range());
      root.putArray("warnings");
      outcomeWarnings(root, report.smallSampleWarning(), report.positivityWarning(), report.stoppedEarlyWarning());
      if (tuning != null) {
        root.set("tuning", tuning);
      }
      if (phases != null) {
        root.set("policy_versions", PolicyVersionTable.json(phases.phases(), answerValue));
      }
      out.println(new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(root));
    } else {
      out.println("outcomes: " + read.range());
      out.print(report.toTable());
      if (tuning != null) {
        out.printf(Locale.ROOT, "%nthe tier tuner at %s cost units a right answer (policy v%d, tier %d %s): %s%n",
            tuning.get("answer_value").asText(), tuning.get("policy_version").asLong(), tier,
            tuning.get("tier_rule").asText(), tuning.get("result").asText().toUpperCase(Locale.ROOT) + ": "
            + tuning.get("reason").asText());
      }
      if (phases != null) {
        out.print(PolicyVersionTable.text(phases.phases(), answerValue, "tier " + tier + "'s"));
      }
    }
    out.flush();
    return 0;
  }

  /** The policy in force: the policy topic's, or the configured one while it holds none (or cannot be read). */
  private dev.cascade.router.policy.DeferralPolicy policyInForce(CascadeConfig config, Map<String, Object> client) {
    dev.cascade.router.policy.DeferralPolicy configured = dev.cascade.router.CascadeRouter.configuredPolicy(config);
    try (dev.cascade.router.api.PolicyTopic topic = dev.cascade.router.api.PolicyTopic.start(client,
        config.topics().policy(), configured)) {
      return topic.current();
    } catch (IllegalStateException e) {
      spec.commandLine().getErr().println("--answer-value: " + e.getMessage() + "; using the configured policy.*");
      return configured;
    }
  }

  /**
   * The small model's threshold worth most on these outcomes for a right answer worth {@code
   * --answer-value}, chosen and checked as the tier tuner chooses a middle tier's ({@link
   * dev.cascade.router.learning.TierTuning}), the rest of the cascade in the next tier's place: for
   * the rule and threshold of the policy in force, on the outcomes that rule (and version) decided.
   */
  private ObjectNode smallTuning(CascadeConfig config, Map<String, Object> client, OutcomeReport.Collector collector) {
    dev.cascade.router.policy.DeferralPolicy policy = policyInForce(config, client);
    String rule = collector.specFor(policy.rule(), policy.alpha(), policy.ruleVersion());
    ObjectNode node = new ObjectMapper().createObjectNode();
    node.put("answer_value", answerValue);
    node.put("policy_version", policy.version());
    node.put("rule", rule);
    return putDecision(node, dev.cascade.router.learner.TierTuner.decideSmall(policy, collector, answerValue,
        dev.cascade.router.learner.TierTuner.Settings.from(config), ": give eval the routers' policy.* settings"
            + " (--config, --set) or set the policy (`cascade policy set`)"));
  }

  /** A tuning decision's fields ({@code tuning} in the JSON), onto {@code node}. */
  private static ObjectNode putDecision(ObjectNode node, dev.cascade.router.learning.TierTuning.Decision d) {
    node.put("result", d.result().label());
    node.put("reason", d.reason());
    node.put("threshold", d.threshold());
    node.put("share", d.share());
    node.put("current_threshold", d.currentThreshold());
    node.put("current_share", d.currentShare());
    node.put("gain", d.gain());
    node.put("gain_low", d.gainLow());
    node.put("fitted", d.fitted());
    node.put("held", d.held());
    return node;
  }

  /**
   * What the learner's tier tuner would decide on these outcomes ({@code --answer-value}): for the
   * tier's rule and threshold in the policy in force (the policy topic's, or the configured one
   * while it holds none).
   */
  private ObjectNode tierTuning(CascadeConfig config, Map<String, Object> client,
      dev.cascade.router.learning.TierOutcomeReport.Collector collector) {
    dev.cascade.router.policy.DeferralPolicy policy = policyInForce(config, client);
    ObjectNode node = new ObjectMapper().createObjectNode();
    node.put("answer_value", answerValue);
    node.put("policy_version", policy.version());
    if (policy.tierPolicies().size() < tier) {
      throw new IllegalArgumentException("--answer-value: the policy in force (v" + policy.version() + ") has "
          + policy.tierPolicies().size() + " middle tiers, no tier " + tier);
    }
    dev.cascade.router.policy.TierPolicy tp = policy.tierPolicies().get(tier - 1);
    node.put("tier_rule", tp.describe());
    dev.cascade.router.learning.TierTuning.Decision d = dev.cascade.router.learner.TierTuner.decideTier(tp, collector,
        dev.cascade.router.learner.TierTuner.Settings.from(config).withValue(answerValue));
    if (d == null) {
      node.put("result", "skipped");
      node.put("reason", "tier " + tier + " does not explore (policy.tier-exploration-rates): where its rule serves,"
          + " the next tier's answer is never seen, so no threshold can be chosen from the outcomes");
      return node;
    }
    node.put("rule", d.rule());
    node.put("current_rule", d.currentRule());
    return putDecision(node, d);
  }

  /**
   * The {@code --rule-file} artifacts, in order, each one a router with the small model of {@code
   * catalog} would apply as a deferral rule.
   *
   * @throws IllegalArgumentException (exit 2) naming the file and what is wrong with it: missing,
   *     unreadable, not a rule artifact, or for another model (its fingerprint and the model's)
   */
  private List<LearnedRule> readRuleFiles(RuleCatalog catalog, boolean smallEmbedding) {
    List<LearnedRule> rules = new ArrayList<>();
    for (Path file : ruleFiles) {
      LearnedRule rule;
      try {
        rule = RuleArtifacts.read(file);
      } catch (IOException e) {
        throw new IllegalArgumentException("--rule-file " + RuntimeCommand.readProblem(file, e), e);
      } catch (IllegalArgumentException e) { // "FILE: not a rule artifact: ..."
        throw new IllegalArgumentException("--rule-file " + e.getMessage(), e);
      }
      String why = catalog.whyNotDeferralRule(rule, smallEmbedding, models.small);
      if (!why.isEmpty()) {
        throw new IllegalArgumentException("--rule-file " + file + ": " + why);
      }
      rules.add(rule);
    }
    return rules;
  }

  /** {@code eval --tiers}: the N-tier frontiers and the pre-generation skip ({@link TiersEvaluation}). */
  private Integer evaluateTiers() throws IOException {
    picocli.CommandLine cli = spec.commandLine();
    if (tiers.size() < 2 || tiers.stream().anyMatch(String::isBlank)) {
      throw new picocli.CommandLine.ParameterException(cli, "--tiers: needs at least 2 models, comma-separated, got "
          + String.join(",", tiers));
    }
    if (!ruleFiles.isEmpty() || ruleTrain != null) {
      throw new picocli.CommandLine.ParameterException(cli,
          (ruleTrain != null ? "--rule-train" : "--rule-file") + " does not apply to --tiers");
    }
    if (grid < 1) {
      throw new picocli.CommandLine.ParameterException(cli, "--grid: must be at least 1, got " + grid);
    }
    if (!(skipMaxLoss >= 0 && skipMaxLoss <= 1)) {
      throw new picocli.CommandLine.ParameterException(cli, "--skip-max-loss: must be in [0, 1], got " + skipMaxLoss);
    }
    if (!Files.isRegularFile(validation)) {
      throw new picocli.CommandLine.ParameterException(cli, "--validation: " + validation
          + " is not a file (give the labelled validation split with --validation FILE)");
    }
    try {
      if (!TiersEvaluation.LEARNED_RULES.contains(tierRule)) {
        dev.cascade.router.rules.DeferralRules.builtIn().create(tierRule);
      }
    } catch (IllegalArgumentException e) {
      throw new picocli.CommandLine.ParameterException(cli, "--tier-rule: " + e.getMessage() + "; or one of "
          + String.join(", ", TiersEvaluation.LEARNED_RULES));
    }
    try {
      TiersEvaluation.perTokenCosts(tiers, costs);
    } catch (IllegalArgumentException e) {
      throw new picocli.CommandLine.ParameterException(cli,
          e.getMessage().startsWith("--") ? e.getMessage() : "--tiers: " + e.getMessage());
    }
    dev.cascade.router.evaluation.PregenSkip.Label label;
    try {
      label = dev.cascade.router.evaluation.PregenSkip.Label.of(skipLabel);
    } catch (IllegalArgumentException e) {
      throw new picocli.CommandLine.ParameterException(cli, "--skip-label: " + e.getMessage());
    }
    TiersEvaluation.StopCosts stopCosts;
    try {
      stopCosts = TiersEvaluation.StopCosts.of(earlyDeferCosts);
    } catch (IllegalArgumentException e) {
      throw new picocli.CommandLine.ParameterException(cli, "--early-defer-costs: " + e.getMessage());
    }
    if (stopCosts != TiersEvaluation.StopCosts.NONE && !tierRule.equals("learned-first")
        && (TiersEvaluation.LEARNED_RULES.contains(tierRule)
        || !dev.cascade.router.policy.EarlyDeferral.isExact(dev.cascade.router.rules.DeferralRules.builtIn().create(tierRule)))) {
      throw new picocli.CommandLine.ParameterException(cli, "--early-defer-costs: needs a rule whose early deferral is"
          + " exact (chow-sum, chow-quantile-0); --tier-rule " + tierRule + " decodes every answer to the end");
    }
    if (tierItemsOut != null && (tiers.size() != 3 || !tierRule.equals("learned-first"))) {
      throw new picocli.CommandLine.ParameterException(cli, "--tier-items-out: needs three --tiers and --tier-rule"
          + " learned-first (it writes the router's split: a learned rule on the first tier, Chow-Sum on the middle"
          + " one), got " + tiers.size() + " tiers and --tier-rule " + tierRule);
    }
    if (!skipThresholds.equals("one") && !skipThresholds.equals("per-kind")) {
      throw new picocli.CommandLine.ParameterException(cli, "--skip-thresholds: one or per-kind, not '"
          + skipThresholds + "'");
    }
    TiersEvaluation.Options options = new TiersEvaluation.Options(List.copyOf(tiers), costs, tierRule, grid,
        skipMaxLoss, skipRuleOut, seed, label, skipItemsOut, textInputs(), stopCosts,
        skipThresholds.equals("per-kind"), tierItemsOut);
    List<PromptItem> test = PromptItem.readJsonl(source.data);
    List<PromptItem> validationItems = PromptItem.readJsonl(validation);
    CascadeAnswers.Settings settings = new CascadeAnswers.Settings(tiers.get(0), tiers.get(tiers.size() - 1),
        models.engine, models.maxNewTokens, models.batchSize, models.cache);
    ObjectNode root = PromptFiles.naming(validation, validationItems, () -> PromptFiles.naming(source.data, test,
        () -> new TiersEvaluation(options, settings, models.learners(), progressBars()).run(validationItems, test)));
    if (earlyDefer) {
      // Early deferral of the first tier, decided against the last (as --early-defer without --tiers, Chow rules only).
      root.set("early_defer", PromptFiles.naming(source.data, test, () -> {
        List<dev.cascade.router.learning.AnsweredItem> answered = CascadeAnswers.answer(test, settings, progressBars());
        return EarlyDeferralRuns.evaluate(answered, settings, List.of(), progressBars()).toJson();
      }));
    }
    PrintWriter out = cli.getOut();
    if (json) {
      out.println(new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(root));
    } else {
      out.println("data: " + source.data + ", validation: " + validation + ", tiers: " + String.join(",", tiers));
      out.print(TiersEvaluation.table(root));
    }
    out.flush();
    if (plot != null) {
      TiersEvaluation.writePlot(root, source.data.getFileName().toString(), plot);
      cli.getErr().println("plot: " + plot);
    }
    if (skipRuleOut != null) {
      cli.getErr().println("prompt rule: " + skipRuleOut);
    }
    return 0;
  }

  /**
   * {@code eval --data --json}: the report ({@link CascadeReport#toJson}), {@code source} (the data
   * file, as {@code --outcomes} names its topic there), {@code learned_rules} (each learned rule's
   * provenance: {@code name}, {@code version}, {@code learner}, {@code trained_on}), {@code warnings}
   * and, with --early-defer, {@code early_defer}.
   */
  static ObjectNode dataJson(CascadeReport report, Path data, List<LearnedRule> rules, List<TrainingOverlap> overlaps,
      EarlyDeferralEvaluation.Report early) {
    ObjectNode root = report.toJson();
    root.put("source", data.toString());
    ArrayNode learned = root.putArray("learned_rules");
    for (LearnedRule rule : rules) {
      learned.addObject().put("name", rule.name()).put("version", rule.info().version())
          .put("learner", rule.info().learner()).put("trained_on", rule.info().trainingDataRange());
    }
    warningsJson(root, overlaps);
    if (early != null) {
      root.set("early_defer", early.toJson());
    }
    return root;
  }

  /**
   * Each learned rule evaluated (version, learner, the small model it is bound to, its training data as
   * recorded when it was trained), then a blank line.
   */
  private static void printRules(PrintWriter out, List<LearnedRule> rules) {
    for (LearnedRule rule : rules) {
      out.println(rule.name() + ": v" + rule.info().version() + ", " + rule.info().learner() + ", for the small model"
          + " with sha256 " + ModelFingerprint.shortForm(rule.info().modelFingerprint()) + ", features "
          + (rule.info().featureLayout().isEmpty() ? "(not recorded)" : rule.info().featureLayout()));
      out.println("  training data, as recorded when trained: " + rule.info().trainingDataRange());
      java.util.regex.Matcher named = TRAINED_SMALL.matcher(rule.info().trainingDataRange());
      if (named.find() && !rule.info().modelFingerprint().startsWith(named.group(1))) {
        out.println(LearnedRules.bundledRules().contains(rule)
            ? "  (trained before the bundled models were re-exported in the key/value-cache layout, same weights: that"
                + " record's sha256s are of the earlier files; the rule is bound to the small model's current file,"
                + " above, which is what a router checks)"
            : "  (that record names another file of the small model, sha256 " + named.group(1) + "; a router checks"
                + " the sha256 above)");
      }
    }
    out.println();
  }

  /** The small model a training record ({@code trainingDataRange}) names: {@code small NAME (sha256 HEX16)}. */
  private static final java.util.regex.Pattern TRAINED_SMALL =
      java.util.regex.Pattern.compile("; small .*? \\(sha256 ([0-9a-f]{16})\\)");

  /**
   * Refuses a rule over the embedding whose length is not the one the small model's generations carry
   * (a rule made for another model): it never reaches scoring.
   */
  private static void checkEmbeddingLength(LearnedRule rule, String origin, List<DeferralExample> examples) {
    if (rule.embeddingLength() == 0) {
      return;
    }
    for (DeferralExample example : examples) {
      if (example.embeddingLength() != rule.embeddingLength()) {
        throw new IllegalArgumentException(origin + ": rule '" + rule.name() + "' v" + rule.info().version()
            + " expects an embedding of " + rule.embeddingLength() + " values, the small model's generations carry "
            + (example.hasEmbedding() ? example.embeddingLength() + " values" : "none"));
      }
    }
  }

  /** The rules that were trained on some of the evaluated prompts. */
  static List<TrainingOverlap> overlaps(List<LearnedRule> rules, List<String> prompts) {
    List<TrainingOverlap> overlaps = new ArrayList<>();
    for (LearnedRule rule : rules) {
      TrainingOverlap.of(rule.info(), prompts).filter(TrainingOverlap::any).ifPresent(overlaps::add);
    }
    return overlaps;
  }

  private void warn(List<TrainingOverlap> overlaps) {
    PrintWriter err = spec.commandLine().getErr();
    overlaps.forEach(o -> err.println(o.message()));
    err.flush();
  }

  /**
   * Adds an outcome report's warnings to {@code root}'s {@code warnings}: {@code small_sample},
   * {@code no_exploration}, {@code stopped_early}.
   */
  private static void outcomeWarnings(ObjectNode root, java.util.Optional<String> smallSample,
      java.util.Optional<String> noExploration, java.util.Optional<String> stoppedEarly) {
    ArrayNode warnings = (ArrayNode) root.get("warnings");
    smallSample.ifPresent(message -> warnings.addObject().put("type", "small_sample").put("message", message));
    noExploration.ifPresent(message -> warnings.addObject().put("type", "no_exploration").put("message", message));
    stoppedEarly.ifPresent(message -> warnings.addObject().put("type", "stopped_early").put("message", message));
  }

  private static void warningsJson(ObjectNode root, List<TrainingOverlap> overlaps) {
    ArrayNode warnings = root.putArray("warnings");
    overlaps.forEach(o -> warnings.add(o.toJson()));
  }

  private List<LearnedRule> trainRules(Path file) throws IOException {
    List<PromptItem> items = PromptItem.readJsonl(file);
    List<AnsweredItem> answered = PromptFiles.naming(file, items,
        () -> CascadeAnswers.answer(items, models.settings(), progressBars()));
    List<DeferralExample> examples = answered.stream().map(AnsweredItem::example).toList();
    List<LearnedRule> rules = new ArrayList<>();
    for (FeatureSet set : FeatureSet.values()) {
      if (set.usesEmbedding() && !examples.get(0).hasEmbedding()) {
        spec.commandLine().getErr().println("the small model exports no embedding: " + set.ruleName() + " skipped");
        continue;
      }
      LearnedRule rule = TrainRuleCommand.train(set, examples, file + ": " + items.size() + " items; small "
          + CascadeAnswers.fingerprint(models.small) + ", large " + CascadeAnswers.fingerprint(models.large),
          System.currentTimeMillis(), new RuleTrainer.Options(5, seed, models.learners())).rule();
      rules.add(rule.withInfo(rule.info().withModel(ModelFingerprint.of(models.small), ModelFingerprint.FEATURE_LAYOUT)));
    }
    return rules;
  }

  /** The learned rules stand out: thick, in colours no Chow rule gets. */
  private static final java.util.Map<String, Color> LEARNED_COLOURS = java.util.Map.of(
      "posthoc-quantile", new Color(0, 90, 200), "posthoc-embed", new Color(0, 140, 60));

  static void writePlot(CascadeReport.Section section, String title, Path file) throws IOException {
    System.setProperty("java.awt.headless", "true");
    XYChart chart = new XYChartBuilder().width(1000).height(700)
        .title("Deferral curves: " + title + " (n = " + section.n() + ")")
        .xAxisTitle("fraction deferred to the large model").yAxisTitle("cascade accuracy (exact match)").build();
    chart.getStyler().setLegendPosition(org.knowm.xchart.style.Styler.LegendPosition.InsideSE);
    chart.getStyler().setXAxisMin(0.0).setXAxisMax(1.0);
    int points = Math.min(400, section.n());
    for (CascadeReport.RuleResult rule : section.rules()) {
      double[] x = new double[points + 1];
      double[] y = new double[points + 1];
      for (int i = 0; i <= points; i++) {
        x[i] = (double) i / points;
        y[i] = rule.curve().accuracyAt(x[i]);
      }
      XYSeries series = chart.addSeries(String.format(java.util.Locale.ROOT, "%s (AUC-DF %.4f)",
          rule.name(), rule.metrics().aucDf()), x, y);
      series.setMarker(SeriesMarkers.NONE);
      Color learned = LEARNED_COLOURS.get(rule.name());
      if (learned != null) {
        series.setLineColor(learned);
        series.setLineStyle(new BasicStroke(2.5f));
      } else if (rule.name().equals(CascadeReport.RANDOM) || rule.name().equals(CascadeReport.ORACLE)) {
        series.setLineColor(Color.GRAY);
        series.setLineStyle(new BasicStroke(1.5f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f,
            new float[] {6f, 4f}, 0f));
      }
    }
    PlotFile.save(chart, file);
  }

  /** Held strongly: java.util.logging keeps loggers weakly, and a collected one forgets its level. */
  private static final Logger TRIBUO_LOG = Logger.getLogger("org.tribuo");

  /** Tribuo logs every SGD fit at INFO; a command line wants only warnings. */
  static void quietTribuo() {
    TRIBUO_LOG.setLevel(Level.WARNING);
  }

  /** Progress bars on stderr, so that stdout carries only the report. */
  static CascadeAnswers.Progress progressBars() {
    return new CascadeAnswers.Progress() {
      private ProgressBar bar;

      @Override
      public void begin(String task, long total) {
        bar = Progress.bar(task, total, Progress.shown(false), false);
      }

      @Override
      public void advance(long steps) {
        bar.stepBy(steps);
      }

      @Override
      public void end() {
        bar.close();
      }
    };
  }

  /**
   * The configuration keys {@code eval --outcomes} and {@code train-rule --outcomes} read: their
   * Kafka client's, and the feedback topic they join to the outcomes.
   */
  static final java.util.function.Predicate<String> OUTCOMES_KEYS =
      key -> key.equals(CascadeConfig.BOOTSTRAP_SERVERS.name()) || key.startsWith("kafka.")
          || key.equals(CascadeConfig.TOPIC_FEEDBACK.name());

  /** What {@code --answer-value} reads beside: the policy in force, and the tuner's {@code learn.*} settings. */
  static final java.util.function.Predicate<String> TUNING_KEYS =
      key -> key.equals(CascadeConfig.TOPIC_POLICY.name()) || key.startsWith("learn.") || key.startsWith("policy.")
          || key.startsWith("tiers") || key.startsWith("cost.");

  static final String OUTCOMES_KEYS_TEXT = "bootstrap.servers and kafka.* (its Kafka client) and topic.feedback"
      + " (the feedback joined to the outcomes)";

  /**
   * What {@code eval} and {@code train-rule} say of the configuration keys given that they do not
   * read with --data (or --tiers): {@code models}, the flags that choose the models; {@code outcomesKeys},
   * what --outcomes reads.
   */
  static String configUnread(String models, String outcomesKeys) {
    return "its flags choose the models and how they run (" + models + ", --engine, --max-new-tokens, --batch-size,"
        + " --cache); only --outcomes reads the configuration: " + outcomesKeys;
  }

  /** How to run the models; shared by {@code eval} and {@code train-rule}. */
  static final class ModelOptions {
    @Option(names = "--small", defaultValue = "small", paramLabel = "small|medium|large|DIR",
        description = "The small model (default: ${DEFAULT-VALUE}).")
    String small;

    @Option(names = "--large", defaultValue = "large", paramLabel = "small|medium|large|DIR",
        description = "The large model (default: ${DEFAULT-VALUE}).")
    String large;

    @Option(names = "--engine", converter = ModelArguments.Engine.class, defaultValue = "auto", paramLabel = "OnnxRuntime|TensorRT|auto",
        description = "The inference engine (default: ${DEFAULT-VALUE}).")
    String engine;

    @Option(names = "--max-new-tokens", defaultValue = "0", paramLabel = "N",
        description = "The most tokens per answer; 0 for each model's own limit (default: ${DEFAULT-VALUE}).")
    int maxNewTokens;

    @Option(names = "--batch-size", defaultValue = "256", paramLabel = "N",
        description = "Prompts per call to a model (default: ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--cache", paramLabel = "DIR",
        description = "Keep the models' generations here, keyed by the model's files (model.onnx, its external data,"
            + " tokenizer.json, card.json), engine, token limit and prompts, and reuse them.")
    Path cache;

    @Option(names = "--learners", defaultValue = "all", paramLabel = "all|logistic|fm|xgboost",
        description = "Which learners training chooses among, comma-separated (default: ${DEFAULT-VALUE}).")
    String learners;

    CascadeAnswers.Settings settings() {
      return new CascadeAnswers.Settings(small, large, engine, maxNewTokens, batchSize, cache);
    }

    /**
     * Refuses, before anything runs, what would stop the run later: an unknown learner, a batch
     * size below 1, a negative token limit and a --small (when {@code small}) or --large (when
     * {@code large}) that names no model.
     */
    void check(picocli.CommandLine cli, boolean small, boolean large) {
      learners();
      if (batchSize < 1) {
        throw new picocli.CommandLine.ParameterException(cli, "--batch-size: must be at least 1, was " + batchSize);
      }
      if (maxNewTokens < 0) {
        throw new picocli.CommandLine.ParameterException(cli,
            "--max-new-tokens: must be at least 0 (0 for each model's own limit), was " + maxNewTokens);
      }
      OutputPaths.checkDirectory("--cache", cache);
      if (small) {
        resolve(cli, "--small", this.small);
      }
      if (large) {
        resolve(cli, "--large", this.large);
      }
    }

    private static void resolve(picocli.CommandLine cli, String flag, String model) {
      try {
        dev.cascade.models.ModelDirectory.resolve(model);
      } catch (IllegalArgumentException e) {
        throw new picocli.CommandLine.ParameterException(cli,
            flag + ": " + e.getMessage().replaceFirst("^model: ", ""), e, null, model);
      }
    }

    List<dev.cascade.router.learning.LearnerSpec> learners() {
      List<dev.cascade.router.learning.LearnerSpec> chosen = new ArrayList<>();
      for (String name : learners.split(",")) {
        String prefix = switch (name.strip()) {
          case "all" -> "tribuo-";
          case "logistic" -> "tribuo-logistic";
          case "fm" -> "tribuo-fm";
          case "xgboost" -> "tribuo-xgboost";
          default -> throw new IllegalArgumentException(
              "--learners: unknown learner '" + name + "'; known: all, logistic, fm, xgboost");
        };
        dev.cascade.router.learning.LearnerSpec.defaults().stream()
            .filter(l -> l.id().startsWith(prefix) && chosen.stream().noneMatch(c -> c.id().equals(l.id())))
            .forEach(chosen::add);
      }
      return chosen;
    }
  }

  /** Whether {@code --skip-inputs} asks for the prompt's text alone. */
  private boolean textInputs() {
    return switch (skipInputs) {
      case "text" -> true;
      case "prompt-pass" -> false;
      default -> throw new picocli.CommandLine.ParameterException(spec.commandLine(),
          "--skip-inputs: prompt-pass or text, got " + skipInputs);
    };
  }
}
