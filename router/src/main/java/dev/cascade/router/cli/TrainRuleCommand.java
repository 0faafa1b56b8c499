package dev.cascade.router.cli;

import dev.cascade.models.ModelDirectory;
import dev.cascade.router.learning.AnsweredItem;
import dev.cascade.router.learning.CascadeAnswers;
import dev.cascade.router.learning.DeferralExample;
import dev.cascade.router.learning.FeedbackJoin;
import dev.cascade.router.learning.FeatureSet;
import dev.cascade.router.learning.LearnedRule;
import dev.cascade.router.learning.LearnerSpec;
import dev.cascade.router.learning.ModelFingerprint;
import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.learning.LabelledOutcomes;
import dev.cascade.router.learning.OutcomeReport;
import dev.cascade.router.learning.TopicSnapshot;
import dev.cascade.router.learning.PromptItem;
import dev.cascade.router.learning.RuleArtifacts;
import dev.cascade.router.learning.RuleTrainer;
import dev.cascade.schemas.avro.RoutingOutcome;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.Predicate;
import me.tongfei.progressbar.ProgressBar;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code cascade train-rule}: trains a learned deferral rule (Post-Hoc-Quantile or Post-Hoc-Embed)
 * from a labelled JSONL file (both models are run on it) or from the routing outcomes on a topic,
 * choosing the learner by cross-validated AUC-DF, and writes its artifact.
 */
// Not mixinStandardHelpOptions: its -V/--version would clash with --version, the artifact's version,
// and picocli would then drop --help as well. -V alone, as every other command has it.
@Command(name = "train-rule", sortOptions = false,
    description = {"Trains a learned deferral rule and writes its artifact (an Avro RuleModel record).",
        "The label is the benefit of deferring: the large model right where the small one is wrong. From --data"
        + " (JSONL with prompt and reference) both models are run and checked against the reference. From"
        + " --outcomes, each outcome's reference decides where it has one; otherwise the feedback on its topic,"
        + " topic.feedback, joined by request id, as cascade learn joins it; otherwise, on escalated and explored"
        + " requests, the large model's answer is the teacher. Logistic regression, a factorization machine and"
        + " gradient-boosted trees (Tribuo) are compared in k-fold cross-validation by AUC-DF; the best is refit on"
        + " everything.",
        "The configuration (--config, --set, CASCADE_* variables) is checked either way, a bad key, value or file"
        + " stopping the command at once; only --outcomes reads it (bootstrap.servers, kafka.*, topic.feedback, learn.max-weight), and"
        + " a key given that the command does not read is named in a warning."})
public final class TrainRuleCommand implements Callable<Integer> {

  /** What --outcomes reads of the configuration. */
  private static final String OUTCOMES_KEYS_TEXT = EvalCommand.OUTCOMES_KEYS_TEXT + " and "
      + CascadeConfig.LEARN_MAX_WEIGHT.name() + " (the largest weight of an outcome)";

  @ArgGroup(exclusive = true, multiplicity = "1")
  Source source;

  static final class Source {
    @Option(names = "--data", paramLabel = "FILE.jsonl", description = "Labelled prompts (prompt, reference).")
    Path data;

    @Option(names = "--outcomes", paramLabel = "TOPIC", description = "A routing-outcomes topic, read from its start to its current end.")
    String outcomes;
  }

  @Option(names = "--bootstrap-servers", paramLabel = "HOST:PORT,...",
      description = "Kafka brokers for --outcomes (default: the configuration key bootstrap.servers).")
  String bootstrapServers;

  @Option(names = "--out", required = true, paramLabel = "PATH", description = "Where to write the rule artifact.")
  Path out;

  @Option(names = "--rule", defaultValue = "posthoc-quantile", paramLabel = "posthoc-quantile|posthoc-embed",
      description = "Which rule to train (default: ${DEFAULT-VALUE}).")
  String rule;

  @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
  boolean help;

  @Option(names = "-V", versionHelp = true, description = "Print version information and exit.")
  boolean versionHelp;

  @Option(names = "--version", defaultValue = "0", paramLabel = "N",
      description = "The artifact's version; 0 for the training time in epoch milliseconds (default: ${DEFAULT-VALUE}).")
  long version;

  @Option(names = "--folds", defaultValue = "5", paramLabel = "K",
      description = "Cross-validation folds for choosing the learner (default: ${DEFAULT-VALUE}).")
  int folds;

  @Option(names = "--seed", defaultValue = "20240917", paramLabel = "N", description = "Seed (default: ${DEFAULT-VALUE}).")
  long seed;

  @Option(names = "--ablation",
      description = "Also report which features matter: the chosen learner's cross-validated AUC-DF without each group.")
  boolean ablation;

  @Mixin
  EvalCommand.ModelOptions models;

  @Mixin
  ConfigOptions configOptions;

  @Spec
  picocli.CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() throws IOException {
    EvalCommand.quietTribuo();
    // Either way, so that a bad key, value or --config file stops the command at once (exit 2).
    CascadeConfig config = configOptions.load();
    OutputPaths.checkFile("--out", out);
    PrintWriter err = spec.commandLine().getErr();
    configOptions.unread(source.outcomes != null ? "train-rule --outcomes" : "train-rule --data",
        key -> source.outcomes != null && (EvalCommand.OUTCOMES_KEYS.test(key)
            || key.equals(CascadeConfig.LEARN_MAX_WEIGHT.name())),
        source.outcomes != null ? "with --outcomes it reads only " + OUTCOMES_KEYS_TEXT
            : EvalCommand.configUnread("--small, --large", OUTCOMES_KEYS_TEXT)).ifPresent(err::println);
    FeatureSet set;
    try {
      set = FeatureSet.forRuleName(rule);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("--rule: " + e.getMessage(), e);
    }
    // What would stop the run after the models, checked before them.
    models.check(spec.commandLine(), true, source.data != null); // --small: the artifact records its fingerprint
    // A rule over the embedding needs a small model that has one.
    if (set.usesEmbedding() && !ModelDirectory.resolve(models.small).onnxFile().hasHiddenOutput()) {
      throw new IllegalArgumentException("--rule " + rule + ": small model '"
          + models.small + "' has no embedding (its graph has no 'hidden' output); train posthoc-quantile for it");
    }
    if (folds < 2) {
      throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--folds: must be at least 2, was " + folds);
    }
    if (version < 0) {
      throw new picocli.CommandLine.ParameterException(spec.commandLine(),
          "--version: must be 1 or more (or 0 for the training time), was " + version);
    }
    RuleTrainer.Options options = new RuleTrainer.Options(folds, seed, models.learners());
    List<DeferralExample> examples;
    String range;
    if (source.data != null) {
      List<PromptItem> items = PromptItem.readJsonl(source.data);
      List<AnsweredItem> answered = PromptFiles.naming(source.data, items,
          () -> CascadeAnswers.answer(items, models.settings(), EvalCommand.progressBars()));
      examples = answered.stream().map(AnsweredItem::example).toList();
      range = source.data + ": " + items.size() + " items; small " + CascadeAnswers.fingerprint(models.small)
          + ", large " + CascadeAnswers.fingerprint(models.large);
    } else {
      Map.Entry<List<DeferralExample>, String> read = readOutcomes(source.outcomes, config);
      examples = read.getKey();
      range = read.getValue();
    }
    RuleTrainer.TrainingResult result = train(set, examples, range,
        version == 0 ? System.currentTimeMillis() : version, options);
    // Bound to the small model whose features it learned from: a router applies it only to that model.
    LearnedRule rule = result.rule().withInfo(result.rule().info()
        .withModel(ModelFingerprint.of(models.small), ModelFingerprint.FEATURE_LAYOUT));
    RuleArtifacts.write(rule, out);

    PrintWriter stdout = spec.commandLine().getOut();
    stdout.printf(Locale.ROOT, "%s v%d: %s, %d examples (%.1f%% where deferring helps)%n", rule.name(),
        rule.info().version(), rule.info().learner(), examples.size(),
        100 * rule.info().validationMetrics().get("benefit_rate"));
    stdout.printf(Locale.ROOT, "small model %s, features %s; %d out-of-fold calibration scores, %d training prompts%n",
        ModelFingerprint.shortForm(rule.info().modelFingerprint()), rule.info().featureLayout(),
        rule.info().calibrationScores().length, rule.info().trainingPrompts().length);
    stdout.printf(Locale.ROOT, "%d-fold cross-validated AUC-DF: random %.4f, chow-sum %.4f, oracle %.4f%n",
        folds, result.randomCvAucDf(), result.chowSumCvAucDf(), result.oracleCvAucDf());
    for (RuleTrainer.CandidateResult candidate : result.candidates()) {
      stdout.printf(Locale.ROOT, "  %-48s %.4f%s%n", candidate.learner(), candidate.cvAucDf(),
          candidate.learner().equals(result.rule().info().learner()) ? "  (chosen)" : "");
    }
    if (ablation) {
      printAblation(stdout, set, examples, result, options);
    }
    stdout.println("wrote " + out);
    stdout.flush();
    err.flush();
    return 0;
  }

  /** Trains with a progress bar over the model fits. */
  static RuleTrainer.TrainingResult train(FeatureSet set, List<DeferralExample> examples, String range,
      long version, RuleTrainer.Options options) {
    try (ProgressBar bar = bar("training " + set.ruleName(), options.fits())) {
      return RuleTrainer.train(set, examples, range, version, options, what -> bar.step());
    }
  }

  private void printAblation(PrintWriter stdout, FeatureSet set, List<DeferralExample> examples,
      RuleTrainer.TrainingResult result, RuleTrainer.Options options) {
    LearnerSpec chosen = options.candidates().stream()
        .filter(c -> c.id().equals(result.rule().info().learner())).findFirst().orElseThrow();
    List<String> all = result.rule().info().featureNames();
    Map<String, Predicate<String>> groups = new LinkedHashMap<>();
    groups.put("log-prob quantiles (lp_q*)", n -> n.startsWith("lp_q"));
    groups.put("sum (lp_sum)", n -> n.equals("lp_sum"));
    groups.put("mean (lp_mean)", n -> n.equals("lp_mean"));
    groups.put("length", n -> n.equals("length"));
    groups.put("entropy quantiles (ent_q*)", n -> n.startsWith("ent_q"));
    if (set.usesEmbedding()) {
      groups.put("embedding (emb_*)", n -> n.startsWith(FeatureSet.EMBEDDING_PREFIX));
    }
    Map<String, List<String>> subsets = new LinkedHashMap<>();
    groups.forEach((group, member) -> subsets.put("without " + group,
        all.stream().filter(member.negate()).toList()));
    subsets.put("only lp_sum", List.of("lp_sum"));
    subsets.put("only lp_sum, lp_mean, length", List.of("lp_sum", "lp_mean", "length"));
    subsets.put("only log-prob quantiles, sum, mean, length",
        all.stream().filter(n -> n.startsWith("lp_") || n.equals("length")).toList());
    stdout.printf(Locale.ROOT, "which features matter (%s, %d-fold AUC-DF; all features: %.4f):%n",
        chosen.id(), options.folds(), result.rule().info().validationMetrics().get("cv_auc_df"));
    try (ProgressBar bar = bar("ablation", (long) subsets.size() * options.folds())) {
      subsets.forEach((label, names) -> {
        double auc = RuleTrainer.crossValidatedAucDf(names, examples, chosen, options, what -> bar.step());
        stdout.printf(Locale.ROOT, "  %-48s %.4f (%+.4f)%n", label, auc,
            auc - result.rule().info().validationMetrics().get("cv_auc_df"));
      });
    }
  }

  private Map.Entry<List<DeferralExample>, String> readOutcomes(String topic, CascadeConfig config) {
    Map<String, Object> client = TopicSnapshot.clientProperties(bootstrapServers, config, "--outcomes");
    // Labelled and weighted as the continuous learner does: inverse propensity, so the accepted
    // region is represented by its explored requests.
    FeedbackJoin feedback = FeedbackJoin.read(client, config.get(CascadeConfig.TOPIC_FEEDBACK),
        EvalCommand.progressBars());
    spec.commandLine().getErr().println(feedback.summary());
    OutcomeExamples collected = new OutcomeExamples(config.get(CascadeConfig.LEARN_MAX_WEIGHT), feedback);
    TopicSnapshot.Read read = TopicSnapshot.read(client, topic, collected, EvalCommand.progressBars());
    collected.undecodable(read.undecodable());
    spec.commandLine().getErr().println(collected.summary());
    return Map.entry(collected.examples(), read.range());
  }

  /**
   * The training examples of a stream of outcomes, labelled as the continuous learner labels them
   * ({@link LabelledOutcomes}, with the feedback joined by request id: {@link FeedbackJoin}), and the others counted by why they were skipped, in
   * the words {@code eval --outcomes} uses where the reasons are the same.
   */
  static final class OutcomeExamples implements java.util.function.Consumer<RoutingOutcome> {
    private final double maxWeight;
    private final FeedbackJoin feedback;
    private final List<DeferralExample> examples = new ArrayList<>();
    private final Map<String, Long> skipped = new LinkedHashMap<>();
    private final Map<String, Long> labels = new LinkedHashMap<>();
    private long read;

    OutcomeExamples(double maxWeight) {
      this(maxWeight, FeedbackJoin.NONE);
    }

    OutcomeExamples(double maxWeight, FeedbackJoin feedback) {
      this.maxWeight = maxWeight;
      this.feedback = feedback;
    }

    @Override
    public void accept(RoutingOutcome outcome) {
      read++;
      LabelledOutcomes.Labelled labelled = LabelledOutcomes.labelOrSkip(outcome, feedback.on(outcome), 0);
      if (labelled.skipReason() != null) {
        skip(labelled.skipReason(), 1);
        return;
      }
      // Kept by the learner for comparing rules (the large model's correctness estimated), but
      // the benefit of deferring it is unknown: trained on, it would count as no benefit.
      if (!LabelledOutcomes.trainable(labelled.example())) {
        skip(LabelledOutcomes.NOT_TRAINABLE, 1);
        return;
      }
      try {
        examples.add(LabelledOutcomes.toDeferralExample(labelled.example(), maxWeight));
        labels.merge(labelled.example().getLabelSource(), 1L, Long::sum);
      } catch (IllegalArgumentException e) {
        skip(OutcomeReport.FEATURES_INVALID, 1);
      }
    }

    void undecodable(long count) {
      read += count;
      skip(OutcomeReport.UNDECODABLE, count);
    }

    private void skip(String reason, long count) {
      if (count > 0) {
        skipped.merge(reason, count, Long::sum);
      }
    }

    List<DeferralExample> examples() {
      return examples;
    }

    Map<String, Long> skipped() {
      return skipped;
    }

    /** The training examples by label source (reference, feedback, teacher). */
    Map<String, Long> labels() {
      return labels;
    }

    /** One line: how many were read, how many are training examples (by label source), and the skips by reason. */
    String summary() {
      return String.format(Locale.ROOT, "%d outcomes read, %d training examples%s, skipped: %s", read, examples.size(),
          labels.isEmpty() ? "" : " (" + String.join(", ", labels.entrySet().stream()
              .map(e -> e.getValue() + " " + e.getKey()).toList()) + ")",
          OutcomeReport.describeSkips(skipped));
    }
  }

  static ProgressBar bar(String task, long max) {
    return Progress.bar(task, max, Progress.shown(false), false);
  }
}
