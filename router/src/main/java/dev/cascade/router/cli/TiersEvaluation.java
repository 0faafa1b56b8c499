package dev.cascade.router.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cascade.models.Generation;
import dev.cascade.models.ModelDirectory;
import dev.cascade.models.ModelTokenizer;
import dev.cascade.models.PromptScore;
import dev.cascade.models.TextGenerator;
import dev.cascade.models.TextGenerators;
import dev.cascade.router.evaluation.ExpectedGainCascades;
import dev.cascade.router.evaluation.PregenSkip;
import dev.cascade.router.evaluation.TierCascades;
import dev.cascade.router.evaluation.TierCascades.Configuration;
import dev.cascade.router.evaluation.TierCascades.Tier;
import dev.cascade.router.features.FeatureExtractor;
import dev.cascade.router.features.UncertaintyFeatures;
import dev.cascade.router.learning.CascadeAnswers;
import dev.cascade.router.learning.DeferralExample;
import dev.cascade.router.learning.LearnedRule;
import dev.cascade.router.learning.ModelFingerprint;
import dev.cascade.router.learning.PromptFeatures;
import dev.cascade.router.learning.PromptKind;
import dev.cascade.router.learning.PromptHash;
import dev.cascade.router.learning.PromptItem;
import dev.cascade.router.learning.RuleArtifacts;
import dev.cascade.router.learning.RuleTrainer;
import dev.cascade.router.learning.TierRules;
import dev.cascade.router.learning.TierRules.TierAnswers;
import dev.cascade.router.policy.EarlyDeferral;
import dev.cascade.router.rules.DeferralRule;
import dev.cascade.router.rules.DeferralRules;
import java.awt.BasicStroke;
import java.awt.Color;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.IntStream;
import me.tongfei.progressbar.ProgressBar;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * {@code cascade eval --tiers A,B,C}: the N-tier evaluation. Every model answers the validation and
 * the evaluated split; each tier but the last defers by its own rule on its own token log-probs;
 * per-tier thresholds are searched on a grid on validation, and the configurations on the
 * validation frontier are reported on the evaluated split, for the whole cascade, every cascade of
 * the tiers in order (each pair, each triple, …) and each model alone. Then the pre-generation skip
 * on the first tier against the last: a prompt-only rule trained on validation, its threshold chosen
 * there, its effect measured on the evaluated split.
 *
 * <p>Cost of a request on a tier: the tier's per-token cost × (its prompt tokens + its generated
 * tokens); a cascade's cost is the sum over the tiers it ran.
 *
 * <p>Beside the built-in rules, learned ones ({@link #LEARNED_RULES}), trained on validation by
 * {@link TierRules} for each cascade, with their validation scores out of fold: {@code learned}, a
 * rule per tier whose label is "this tier wrong, the next one right", and {@code learned-later},
 * "… some later tier right", both with the threshold grid; {@code learned-first}, the {@code learned}
 * rule on tier 0 only and Chow-Sum (with its early deferral's costs) on every later tier, the
 * router's own split; {@code expected-gain} and
 * {@code expected-gain-skip}, no thresholds but per-request estimates of every tier's chance of
 * being right and one trade-off swept ({@link ExpectedGainCascades}). With a learned rule the
 * pre-generation skip keeps Chow-Sum as its post-generation rule.
 */
final class TiersEvaluation {

  /** Candidate skip shares for choosing the prompt rule's threshold: 0.5%, 1%, …, 20%. */
  private static final double[] SKIP_SHARES = IntStream.rangeClosed(1, 40).mapToDouble(i -> i * 0.005).toArray();
  /** The validation metric of a skip rule's artifact holding the threshold chosen on validation. */
  static final String SKIP_THRESHOLD_METRIC = dev.cascade.router.learning.PromptFeatures.SKIP_THRESHOLD_METRIC;
  /** The loss bounds the per-kind trade-off is swept over (fractions of exact match). */
  private static final double[] SKIP_BOUNDS = {0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02};
  /** The offset of a kind the skip never skips: scores are probabilities, so none passes a threshold after it. */
  static final double NEVER_SKIP_OFFSET = 1e9;
  /** Test prompts over which the small model's time per decoding step is measured. */
  private static final int TIMING_ITEMS = 512;
  /** The learned ways to defer, beside the built-in rules' names. */
  static final List<String> LEARNED_RULES = List.of("learned", "learned-later", "learned-first", "expected-gain",
      "expected-gain-skip");
  /** Trade-offs swept per cascade by an expected-gain rule, per grid level. */
  private static final int LAMBDAS_PER_LEVEL = 10;

  /**
   * What to evaluate.
   *
   * @param tiers the models, cheapest first (names or directories)
   * @param costs per-token cost of each tier, or null for parameter counts relative to tier 0's
   * @param rule the tiers' deferral rule, one-string name (chow-sum, chow-quantile-0.1, …), or one
   *     of {@link #LEARNED_RULES}
   * @param levels grid: each tier's score quantiles at 0, 1/levels, …, 1
   * @param skipMaxLoss the most exact match the skip may lose at the middle escalation rates (a fraction)
   * @param skipRuleOut where to write the prompt rule's artifact, or null
   * @param skipLabel what the prompt rule is trained to predict ({@link PregenSkip.Label})
   * @param skipItemsOut where to write the skip's per-item inputs and scores (CSV), or null
   * @param skipTextOnly whether the prompt rule reads the prompt's text alone ({@link
   *     PromptFeatures#TEXT_LAYOUT}: no prompt pass of the small model) instead of {@link PromptFeatures#LAYOUT}
   * @param stopCosts which tiers are costed with early deferral ({@link StopCosts})
   * @param skipPerKind whether the skip has a threshold per {@link PromptKind} (chosen together) instead of one
   * @param tierItemsOut where to write the three tiers' per-item answers and scores (JSON; {@code learned-first}
   *     only), or null
   */
  record Options(List<String> tiers, List<Double> costs, String rule, int levels, double skipMaxLoss,
      Path skipRuleOut, long seed, PregenSkip.Label skipLabel, Path skipItemsOut, boolean skipTextOnly,
      StopCosts stopCosts, boolean skipPerKind, Path tierItemsOut) {}

  /**
   * Which tiers are costed as if they stopped decoding a request they defer at the token where an
   * exact rule's running score passed their threshold ({@code EarlyDeferral}; Chow-Sum and
   * Chow-Quantile at α = 0 only, the other rules decode to the end): none, the first tier ({@code
   * small.early-defer} on the small model), or every tier but the last (what the router does, with
   * {@code escalation.early-defer} on the middle tiers).
   */
  enum StopCosts {
    NONE, FIRST, ALL;

    /** From its option value: none, first or all. */
    static StopCosts of(String value) {
      return switch (value) {
        case "none" -> NONE;
        case "first" -> FIRST;
        case "all" -> ALL;
        default -> throw new IllegalArgumentException("must be none, first or all, got '" + value + "'");
      };
    }

    boolean applies(int tier, int tiers) {
      return tier < tiers - 1 && (this == ALL || this == FIRST && tier == 0);
    }
  }

  /** One tier on one split: its generations, cost and prompt tokens per item. */
  record Answers(List<Generation> generations, double[] cost, int[] promptTokens) {}

  private final Options options;
  private final CascadeAnswers.Settings settings;
  private final List<dev.cascade.router.learning.LearnerSpec> learners;
  private final CascadeAnswers.Progress progress;

  TiersEvaluation(Options options, CascadeAnswers.Settings settings,
      List<dev.cascade.router.learning.LearnerSpec> learners, CascadeAnswers.Progress progress) {
    this.options = options;
    this.settings = settings;
    this.learners = learners;
    this.progress = progress;
  }

  /** The per-token costs: given, or each model's parameters over tier 0's. */
  static double[] perTokenCosts(List<String> tiers, List<Double> given) {
    double[] out = new double[tiers.size()];
    if (given != null && !given.isEmpty()) {
      if (given.size() != tiers.size()) {
        throw new IllegalArgumentException("--costs: " + given.size() + " values for " + tiers.size() + " tiers");
      }
      for (int k = 0; k < out.length; k++) {
        out[k] = given.get(k);
        if (!(out[k] > 0) || Double.isInfinite(out[k])) {
          throw new IllegalArgumentException("--costs: each cost must be positive and finite, got " + given.get(k));
        }
      }
      return out;
    }
    tiers.forEach(ModelDirectory::resolve); // an unknown model is refused by name first
    try {
      return dev.cascade.router.routing.CostModel.relativeToFirst(tiers);
    } catch (IllegalArgumentException e) {
      // Not --costs, which was not given: the model and its card (eval prefixes "--tiers: ").
      throw new IllegalArgumentException(e.getMessage() + "; --costs C0,C1,... overrides the cards: one per-token"
          + " cost per tier", e);
    }
  }

  /** The report as one JSON object (see {@code router/EVALUATION.md}). */
  ObjectNode run(List<PromptItem> validation, List<PromptItem> test) throws IOException {
    List<String> tiers = names(options.tiers());
    double[] perToken = perTokenCosts(options.tiers(), options.costs());
    boolean learned = LEARNED_RULES.contains(options.rule());
    DeferralRule rule = DeferralRules.builtIn().create(learned ? "chow-sum" : options.rule());
    List<Answers> validationAnswers = new ArrayList<>();
    List<Answers> testAnswers = new ArrayList<>();
    List<Tier> validationTiers = new ArrayList<>();
    List<Tier> testTiers = new ArrayList<>();
    for (int k = 0; k < tiers.size(); k++) {
      Answers v = answers(options.tiers().get(k), perToken[k], validation);
      Answers t = answers(options.tiers().get(k), perToken[k], test);
      validationAnswers.add(v);
      testAnswers.add(t);
      boolean stops = options.stopCosts().applies(k, tiers.size());
      validationTiers.add(tier(tiers.get(k), validation, v, rule, stops ? perToken[k] : Double.NaN));
      testTiers.add(tier(tiers.get(k), test, t, rule, stops ? perToken[k] : Double.NaN));
    }

    ObjectNode root = JsonNodeFactory.instance.objectNode();
    root.put("n", test.size());
    root.put("validation_n", validation.size());
    root.put("rule", learned ? options.rule() : rule.name());
    root.put("early_defer_costs", options.stopCosts().name().toLowerCase(Locale.ROOT));
    root.put("grid_levels", options.levels());
    ArrayNode tierJson = root.putArray("tiers");
    for (int k = 0; k < tiers.size(); k++) {
      tierJson.addObject().put("name", tiers.get(k)).put("model", options.tiers().get(k))
          .put("exact_match", testTiers.get(k).accuracy())
          .put("cost_per_request", testTiers.get(k).meanCost())
          .put("cost_per_token", perToken[k])
          .put("validation_exact_match", validationTiers.get(k).accuracy());
    }
    root.set("right_by_tiers", rightByTiers(testTiers, tiers));

    ObjectNode frontierJson = root.putObject("frontier");
    Map<Integer, List<Configuration>> bySize = new LinkedHashMap<>();
    Learned rules = learned ? new Learned(tierAnswers(validation, validationAnswers),
        tierAnswers(test, testAnswers), root.putArray("tier_rules"), tiers) : null;
    for (int[] cascade : TierCascades.subCascades(tiers.size())) {
      List<Configuration> grid = learned
          ? rules.configurations(cascade, validationTiers, testTiers, validationAnswers, testAnswers, perToken)
          : TierCascades.grid(validationTiers, testTiers, cascade, options.levels());
      bySize.computeIfAbsent(cascade.length, s -> new ArrayList<>()).addAll(grid);
      ArrayNode points = frontierJson.putArray(cascadeName(tiers, cascade));
      for (Configuration c : TierCascades.frontier(grid)) {
        points.add(configurationJson(c, tiers, false));
      }
    }

    double lo = validationTiers.get(0).meanCost();
    double hi = validationTiers.get(tiers.size() - 1).meanCost();
    root.put("best_at_cost_range", "10 levels from 10% to 90% of the way from the first tier's validation cost"
        + " per request to the last tier's; at each, the configuration most accurate on validation among those"
        + " whose validation cost is at most the level, and its exact match on this split");
    ArrayNode best = root.putArray("best_at_cost");
    List<Configuration> two = TierCascades.frontier(bySize.get(2));
    List<Configuration> three = bySize.containsKey(3) ? TierCascades.frontier(bySize.get(3)) : List.of();
    for (double level : TierCascades.middleLevels(lo, hi, 10)) {
      ObjectNode at = best.addObject().put("cost", level);
      putBest(at, "two_tier", TierCascades.bestWithin(two, level), tiers);
      putBest(at, "three_tier", TierCascades.bestWithin(three, level), tiers);
    }

    root.set("pregen_skip", pregenSkip(validation, test, validationAnswers, testAnswers,
        validationTiers, testTiers, rule, perToken[0]));
    // Early deferral: null here; eval --tiers --early-defer fills it (EvalCommand).
    root.putNull("early_defer");
    return root;
  }

  /** The models' names (a directory's last part), or what was given where two names would be equal. */
  static List<String> names(List<String> models) {
    List<String> names = models.stream().map(m -> ModelDirectory.resolve(m).name()).toList();
    return names.stream().distinct().count() == names.size() ? names : models;
  }

  private Answers answers(String model, double perToken, List<PromptItem> items) throws IOException {
    List<String> prompts = items.stream().map(PromptItem::prompt).toList();
    List<Generation> generations = CascadeAnswers.generate(model, prompts, settings, progress);
    ModelDirectory dir = ModelDirectory.resolve(model);
    double[] cost = new double[items.size()];
    int[] promptTokens = new int[items.size()];
    try (ModelTokenizer tokenizer = ModelTokenizer.load(dir.tokenizerFile(), dir.specialTokens(),
        dir.promptTemplate().orElse(null), Integer.MAX_VALUE)) {
      for (int i = 0; i < cost.length; i++) {
        promptTokens[i] = tokenizer.encodePrompt(prompts.get(i)).length;
        cost[i] = perToken * (promptTokens[i] + generations.get(i).length());
      }
    }
    return new Answers(generations, cost, promptTokens);
  }

  /**
   * The share of items each set of tiers gets right (and no other): what a middle tier can save. It
   * pays for itself on the requests it keeps from the last tier: those it is right on and those no
   * tier is right on.
   */
  static ObjectNode rightByTiers(List<Tier> data, List<String> names) {
    int n = data.get(0).size();
    int[] count = new int[1 << data.size()];
    for (int i = 0; i < n; i++) {
      int right = 0;
      for (int t = 0; t < data.size(); t++) {
        right |= data.get(t).correct()[i] ? 1 << t : 0;
      }
      count[right]++;
    }
    ObjectNode out = JsonNodeFactory.instance.objectNode();
    for (int mask = count.length - 1; mask >= 0; mask--) {
      int m = mask;
      String key = mask == 0 ? "none" : cascadeName(names, IntStream.range(0, data.size()).filter(t -> (m & 1 << t) != 0)
          .toArray());
      out.put(key, (double) count[mask] / n);
    }
    return out;
  }

  /** Each tier's features, answers and correctness on one split, for training and applying learned rules. */
  private static List<TierAnswers> tierAnswers(List<PromptItem> items, List<Answers> answers) {
    List<TierAnswers> out = new ArrayList<>();
    for (Answers a : answers) {
      List<UncertaintyFeatures> features = new ArrayList<>();
      List<String> texts = new ArrayList<>();
      boolean[] correct = new boolean[items.size()];
      for (int i = 0; i < items.size(); i++) {
        Generation g = a.generations().get(i);
        features.add(FeatureExtractor.extract(g.tokenLogprobs(), g.entropies()));
        texts.add(g.text().strip());
        correct[i] = items.get(i).isCorrect(g.text());
      }
      out.add(new TierAnswers(features, texts, correct));
    }
    return out;
  }

  /**
   * The learned rules of one run: trained once per tier and label (or per tiers run and tier
   * estimated), shared by every cascade that needs the same one, and listed in the report.
   */
  private final class Learned {
    private final List<TierAnswers> validation;
    private final List<TierAnswers> test;
    private final ArrayNode report;
    private final List<String> names;
    private final Map<String, TierRules.Scores> trained = new HashMap<>();
    private final Map<Integer, TierRules.Scores> estimates = new HashMap<>();

    Learned(List<TierAnswers> validation, List<TierAnswers> test, ArrayNode report, List<String> names) {
      this.validation = validation;
      this.test = test;
      this.report = report;
      this.names = names;
    }

    /** The cascade's settings, measured on both splits: the threshold grid, or the trade-offs swept. */
    List<Configuration> configurations(int[] cascade, List<Tier> validationTiers, List<Tier> testTiers,
        List<Answers> validationAnswers, List<Answers> testAnswers, double[] perToken) {
      if (options.rule().startsWith("expected-gain")) {
        boolean skip = options.rule().equals("expected-gain-skip");
        double[] meanGenerated = new double[perToken.length];
        for (int t = 0; t < perToken.length; t++) {
          meanGenerated[t] = validationAnswers.get(t).generations().stream().mapToInt(Generation::length)
              .average().orElse(0);
        }
        ExpectedGainCascades.Split v = new ExpectedGainCascades.Split(validationTiers,
            expectedCosts(validationAnswers, perToken, meanGenerated), (ran, t) -> quality(ran, t).validation());
        ExpectedGainCascades.Split s = new ExpectedGainCascades.Split(testTiers,
            expectedCosts(testAnswers, perToken, meanGenerated), (ran, t) -> quality(ran, t).test());
        double[] lambdas = ExpectedGainCascades.lambdas(v, cascade, LAMBDAS_PER_LEVEL * options.levels(), skip);
        return ExpectedGainCascades.sweep(v, s, cascade, lambdas, skip);
      }
      List<Tier> v = new ArrayList<>(validationTiers);
      List<Tier> s = new ArrayList<>(testTiers);
      for (int k = 0; k < cascade.length - 1; k++) {
        if (options.rule().equals("learned-first") && cascade[k] != 0) {
          continue; // the other tiers keep Chow-Sum, with its early deferral's costs
        }
        int[] targets = !options.rule().equals("learned-later") ? new int[] {cascade[k + 1]}
            : java.util.Arrays.copyOfRange(cascade, k + 1, cascade.length);
        TierRules.Scores scores = deferral(cascade[k], targets);
        v.set(cascade[k], v.get(cascade[k]).withScore(scores.validation()));
        s.set(cascade[k], s.get(cascade[k]).withScore(scores.test()));
      }
      if (options.tierItemsOut() != null && cascade.length == 3) {
        writeTierItems(options.tierItemsOut(), v, s);
      }
      return TierCascades.grid(v, s, cascade, options.levels());
    }

    /**
     * The three tiers' per-item answers under {@code learned-first} ({@code --tier-items-out}), on
     * validation and on the evaluated file, with the learned scores an analysis of other splits of
     * the work between the tiers needs: the first tier's rule for "the last tier right" as well as
     * its rule for "the middle one right", and the chances of the middle and last tiers' answers
     * being right given the first two tiers' answers.
     */
    private void writeTierItems(Path file, List<Tier> v, List<Tier> s) {
      TierRules.Scores firstToLast = deferral(0, new int[] {2});
      TierRules.Scores middleRight = quality(0b011, 1);
      TierRules.Scores lastRight = quality(0b011, 2);
      double[] thresholds = TierCascades.candidates(v.get(1).score(), options.levels());
      ObjectNode root = JsonNodeFactory.instance.objectNode();
      root.put("layout", "cascade-tier-items/v1");
      names.forEach(root.putArray("tiers")::add);
      root.set("middle_thresholds", numbers(thresholds));
      for (int split = 0; split < 2; split++) {
        List<Tier> tiers = split == 0 ? v : s;
        List<TierAnswers> answers = split == 0 ? validation : test;
        ObjectNode out = root.putObject(split == 0 ? "validation" : "evaluated");
        out.set("first_defers_to_middle", numbers(tiers.get(0).score()));
        out.set("first_defers_to_last", numbers(split == 0 ? firstToLast.validation() : firstToLast.test()));
        out.set("middle_right_after_two", numbers(split == 0 ? middleRight.validation() : middleRight.test()));
        out.set("last_right_after_two", numbers(split == 0 ? lastRight.validation() : lastRight.test()));
        ArrayNode perTier = out.putArray("per_tier");
        for (int t = 0; t < 3; t++) {
          ObjectNode tier = perTier.addObject();
          ArrayNode correct = tier.putArray("correct");
          for (boolean c : tiers.get(t).correct()) {
            correct.add(c);
          }
          tier.set("cost", numbers(tiers.get(t).cost()));
          ArrayNode texts = tier.putArray("answers");
          answers.get(t).answers().forEach(texts::add);
          if (t == 1) {
            tier.set("chow_sum", numbers(tiers.get(1).score()));
            ArrayNode stops = tier.putArray("stop_costs");
            for (double threshold : thresholds) {
              stops.add(numbers(tiers.get(1).costAt(threshold)));
            }
          }
        }
        ObjectNode agree = out.putObject("agree");
        for (int a = 0; a < 3; a++) {
          for (int b = a + 1; b < 3; b++) {
            ArrayNode same = agree.putArray(a + "-" + b);
            for (int i = 0; i < answers.get(a).answers().size(); i++) {
              same.add(answers.get(a).answers().get(i).equals(answers.get(b).answers().get(i)));
            }
          }
        }
      }
      try {
        Files.writeString(file, root.toString());
      } catch (IOException e) {
        throw new java.io.UncheckedIOException("--tier-items-out: cannot write " + file, e);
      }
    }

    private TierRules.Scores deferral(int tier, int[] targets) {
      String key = "deferral " + tier + " " + java.util.Arrays.toString(targets);
      return trained.computeIfAbsent(key, k -> train(names.get(tier) + " defers to " + cascadeName(names, targets),
          progress -> TierRules.deferral(validation, test, tier, targets, trainerOptions(), progress),
          report.addObject().put("kind", "deferral").put("tier", names.get(tier))
              .put("label", "wrong where " + cascadeName(names, targets).replace(",", " or ") + " is right")));
    }

    /** Called once per item and decision: the key is one int (32 tiers at most, as the bit masks allow). */
    private TierRules.Scores quality(int ran, int tier) {
      return estimates.computeIfAbsent(ran * 32 + tier, k -> {
        String after = cascadeName(names, IntStream.range(0, names.size()).filter(t -> (ran & 1 << t) != 0).toArray());
        return train(names.get(tier) + " right after " + after,
            progress -> TierRules.quality(validation, test, ran, tier, trainerOptions(), progress),
            report.addObject().put("kind", "quality").put("tier", names.get(tier)).put("after", after));
      });
    }

    private RuleTrainer.Options trainerOptions() {
      return new RuleTrainer.Options(5, options.seed(), learners);
    }

    private TierRules.Scores train(String what, java.util.function.Function<RuleTrainer.Progress, TierRules.Scores> how,
        ObjectNode entry) {
      TierRules.Scores scores;
      try (ProgressBar bar = TrainRuleCommand.bar(what, trainerOptions().fits())) {
        scores = how.apply(done -> bar.step());
      }
      entry.put("learner", scores.learner());
      if (Double.isNaN(scores.cvAucDf())) {
        entry.putNull("cv_auc_df"); // constant: one class too rare to cross-validate
      } else {
        entry.put("cv_auc_df", scores.cvAucDf());
      }
      return scores;
    }
  }

  /** The values as a JSON array, each non-finite one (a threshold of −∞: defer everything) as null. */
  private static ArrayNode numbers(double[] values) {
    ArrayNode out = JsonNodeFactory.instance.arrayNode();
    for (double v : values) {
      if (Double.isFinite(v)) {
        out.add(v);
      } else {
        out.addNull();
      }
    }
    return out;
  }

  /** Per tier, per item: its cost as known before it runs, its per-token cost × (prompt tokens + mean generated). */
  private static double[][] expectedCosts(List<Answers> answers, double[] perToken, double[] meanGenerated) {
    double[][] out = new double[answers.size()][];
    for (int t = 0; t < out.length; t++) {
      int[] prompt = answers.get(t).promptTokens();
      out[t] = new double[prompt.length];
      for (int i = 0; i < prompt.length; i++) {
        out[t][i] = perToken[t] * (prompt[i] + meanGenerated[t]);
      }
    }
    return out;
  }

  /**
   * One tier on one split. With a per-token cost (not NaN) and an exact rule, the tier stops early:
   * an item it defers costs its prompt and the tokens up to the one where the router's stop
   * condition ({@link EarlyDeferral}) fires at the threshold.
   */
  static Tier tier(String name, List<PromptItem> items, Answers answers, DeferralRule rule, double perToken) {
    int n = items.size();
    boolean[] correct = new boolean[n];
    double[] score = new double[n];
    for (int i = 0; i < n; i++) {
      Generation g = answers.generations().get(i);
      correct[i] = items.get(i).isCorrect(g.text());
      score[i] = rule.score(FeatureExtractor.extract(g.tokenLogprobs(), g.entropies()));
    }
    if (Double.isNaN(perToken) || !EarlyDeferral.isExact(rule)) {
      return new Tier(name, correct, score, answers.cost());
    }
    Map<Double, double[]> byThreshold = new java.util.concurrent.ConcurrentHashMap<>();
    TierCascades.StopCosts stops = threshold -> byThreshold.computeIfAbsent(threshold, t -> {
      EarlyDeferral.Condition stop = EarlyDeferral.exact(rule, t);
      double[] out = answers.cost().clone();
      for (int i = 0; i < n; i++) {
        if (!(score[i] > t)) {
          continue;
        }
        Generation g = answers.generations().get(i);
        EarlyDeferral.Check check = stop.newCheck();
        float[] lp = g.tokenLogprobs();
        float[] en = g.entropies();
        for (int j = 0; j < lp.length; j++) {
          if (check.afterToken(lp[j], en[j])) {
            out[i] = perToken * (answers.promptTokens()[i] + Math.min(j + 1, g.length()));
            break;
          }
        }
      }
      return out;
    });
    return new Tier(name, correct, score, answers.cost(), stops);
  }

  static String cascadeName(List<String> tiers, int[] cascade) {
    return String.join(",", IntStream.of(cascade).mapToObj(tiers::get).toList());
  }

  private static ObjectNode configurationJson(Configuration c, List<String> tiers, boolean named) {
    ObjectNode node = JsonNodeFactory.instance.objectNode();
    if (named) {
      node.put("cascade", cascadeName(tiers, c.tiers()));
    }
    node.put("cost", c.test().cost()).put("accuracy", c.test().accuracy());
    if (c.byLambda()) {
      if (Double.isInfinite(c.lambda())) {
        node.putNull("lambda"); // +∞: no tier ever moves on
      } else {
        node.put("lambda", c.lambda());
      }
    } else {
      ArrayNode thresholds = node.putArray("thresholds");
      for (double t : c.thresholds()) {
        if (Double.isInfinite(t)) {
          thresholds.addNull(); // -∞: this tier defers everything
        } else {
          thresholds.add(t);
        }
      }
    }
    node.put("validation_cost", c.validation().cost()).put("validation_accuracy", c.validation().accuracy());
    return node;
  }

  private static void putBest(ObjectNode at, String key, Configuration best, List<String> tiers) {
    if (best == null) {
      at.putNull(key);
      at.putNull(key + "_config");
    } else {
      at.put(key, best.test().accuracy());
      at.set(key + "_config", configurationJson(best, tiers, true));
    }
  }

  /** Seconds to decode {@code prompts} a batch at a time, each batch scored by the prompt pass first when {@code scored}. */
  private double byBatch(TextGenerator generator, String model, List<String> prompts, boolean scored)
      throws IOException {
    long start = System.nanoTime();
    for (int from = 0; from < prompts.size(); from += settings.batchSize()) {
      List<String> batch = prompts.subList(from, Math.min(prompts.size(), from + settings.batchSize()));
      if (scored) {
        generator.scorePrompts(batch);
      }
      CascadeAnswers.generate(generator, model, batch, settings, CascadeAnswers.Progress.NONE);
    }
    return (System.nanoTime() - start) / 1e9;
  }

  /** The prompt rule: trained on validation, threshold chosen there, measured on the evaluated split. */
  private ObjectNode pregenSkip(List<PromptItem> validation, List<PromptItem> test, List<Answers> validationAnswers,
      List<Answers> testAnswers, List<Tier> validationTiers, List<Tier> testTiers, DeferralRule rule,
      double smallPerToken) throws IOException {
    String small = options.tiers().get(0);
    int last = options.tiers().size() - 1;
    List<PromptScore> validationScores;
    List<PromptScore> testScores;
    double passSeconds;
    double secondsPerStep;
    long timedSteps;
    double passExtraPerItem;
    try (TextGenerator generator = TextGenerators.load(small, settings.engine(), settings.batchSize())) {
      // The decoding timed first, before any prompt is scored: a scored prompt decodes from the pass's prefill.
      List<String> sample = test.stream().limit(TIMING_ITEMS).map(PromptItem::prompt).toList();
      long start = System.nanoTime();
      List<Generation> timed = CascadeAnswers.generate(generator, small, sample, settings,
          CascadeAnswers.Progress.NONE);
      double seconds = (System.nanoTime() - start) / 1e9;
      timedSteps = timed.stream().mapToLong(g -> g.length() + 1L).sum();
      secondsPerStep = seconds / timedSteps;
      // Then the router's order for a request the skip rule does not skip, a batch at a time: the
      // pass, then decoding from its prefill; what that takes beyond the same batches' decoding alone
      // is what the pass costs there.
      // Alternated three times, the medians compared: this machine's speed drifts between runs.
      double[] scored = new double[3];
      double[] alone = new double[3];
      for (int round = 0; round < 3; round++) {
        scored[round] = byBatch(generator, small, sample, true);
        alone[round] = byBatch(generator, small, sample, false);
      }
      java.util.Arrays.sort(scored);
      java.util.Arrays.sort(alone);
      passExtraPerItem = (scored[1] - alone[1]) / Math.max(1, sample.size());
      validationScores = generator.scorePrompts(validation.stream().map(PromptItem::prompt).toList());
      start = System.nanoTime();
      testScores = generator.scorePrompts(test.stream().map(PromptItem::prompt).toList());
      passSeconds = (System.nanoTime() - start) / 1e9;
    }

    // The label: from the validation answers and the post rule's scores alone (no prompt score yet).
    boolean[] label = new PregenSkip(validationTiers.get(0).correct(), validationTiers.get(last).correct(),
        validationTiers.get(0).score(), new double[validation.size()], steps(validationAnswers.get(0)))
        .label(options.skipLabel());
    boolean text = options.skipTextOnly();
    List<DeferralExample> examples = examples(validation, validationScores, validationAnswers.get(0),
        validationAnswers.get(last), options.skipLabel() == PregenSkip.Label.BENEFIT ? null : label, text);
    int width = text ? 0 : examples.get(0).embeddingLength() - PromptFeatures.names(0).size();
    List<String> inputNames = text ? PromptFeatures.TEXT_NAMES : PromptFeatures.names(width);
    RuleTrainer.Options trainerOptions = new RuleTrainer.Options(5, options.seed(), learners);
    RuleTrainer.TrainingResult trained;
    try (ProgressBar bar = TrainRuleCommand.bar("training pregen-skip", trainerOptions.fits())) {
      trained = RuleTrainer.train("pregen-skip", text ? PromptFeatures.textModelNames() : PromptFeatures.modelNames(width),
          examples,
          "validation: " + validation.size() + " items; small " + CascadeAnswers.fingerprint(small) + ", deferred to "
              + CascadeAnswers.fingerprint(options.tiers().get(last)), 1, trainerOptions, what -> bar.step());
    }
    LearnedRule promptRule = trained.rule().withInfo(trained.rule().info()
        .withModel(ModelFingerprint.of(small), text ? PromptFeatures.TEXT_LAYOUT : PromptFeatures.LAYOUT));
    PregenSkip onValidation = new PregenSkip(validationTiers.get(0).correct(), validationTiers.get(last).correct(),
        validationTiers.get(0).score(), promptRule.info().calibrationScores(), steps(validationAnswers.get(0)));
    int kinds = PromptKind.values().length;
    int[] validationKinds = PromptKind.ordinals(validation.stream().map(PromptItem::prompt).toList());
    double[] thresholds;
    if (options.skipPerKind()) {
      thresholds = onValidation.chooseThresholds(validationKinds, kinds, SKIP_SHARES, options.skipMaxLoss(),
          PregenSkip.MIDDLE_RATES);
    } else {
      thresholds = new double[kinds];
      java.util.Arrays.fill(thresholds, onValidation.chooseThreshold(SKIP_SHARES, options.skipMaxLoss(),
          PregenSkip.MIDDLE_RATES));
    }
    // One threshold for a policy, and per kind the offset that turns it into the kind's own.
    double threshold = java.util.Arrays.stream(thresholds).filter(Double::isFinite).reduce((a, b) -> b)
        .orElse(Double.POSITIVE_INFINITY);
    boolean[] validationSkipped = onValidation.skipped(thresholds, validationKinds);
    if (options.skipRuleOut() != null) {
      // The artifact carries the threshold chosen on validation, and the label, for a policy to start from.
      java.util.Map<String, Double> chosen = new java.util.LinkedHashMap<>();
      if (Double.isFinite(threshold)) {
        chosen.put(SKIP_THRESHOLD_METRIC, threshold);
        chosen.put("skip_validation_share", PregenSkip.share(validationSkipped));
        if (options.skipPerKind()) {
          for (PromptKind kind : PromptKind.values()) {
            double own = thresholds[kind.ordinal()];
            chosen.put(kind.offsetMetric(), Double.isFinite(own) ? threshold - own : -NEVER_SKIP_OFFSET);
          }
        }
      }
      chosen.put("skip_label_deferred_or_benefit", options.skipLabel() == PregenSkip.Label.DEFERRED_OR_BENEFIT ? 1.0 : 0.0);
      RuleArtifacts.write(promptRule.withInfo(promptRule.info().withMetrics(chosen)), options.skipRuleOut());
    }

    List<DeferralExample> testExamples = examples(test, testScores, testAnswers.get(0), testAnswers.get(last), null,
        text);
    double[] testPromptScores = promptRule.scores(testExamples.stream().map(DeferralExample::features).toList(),
        testExamples.stream().map(DeferralExample::embedding).toList());
    PregenSkip onTest = new PregenSkip(testTiers.get(0).correct(), testTiers.get(last).correct(),
        testTiers.get(0).score(), testPromptScores, steps(testAnswers.get(0)));
    if (options.skipItemsOut() != null) {
      writeItems(options.skipItemsOut(), onValidation, examples, onTest, testExamples, inputNames);
    }
    int[] testKinds = PromptKind.ordinals(test.stream().map(PromptItem::prompt).toList());
    boolean[] skipped = onTest.skipped(thresholds, testKinds);
    boolean[] none = new boolean[test.size()];
    long allSteps = IntStream.of(onTest.decodeSteps()).asLongStream().sum();

    ObjectNode node = JsonNodeFactory.instance.objectNode();
    node.put("small", ModelDirectory.resolve(small).name())
        .put("deferred_to", ModelDirectory.resolve(options.tiers().get(last)).name()).put("post_rule", rule.name());
    ArrayNode names = node.putArray("features");
    inputNames.forEach(names::add);
    node.put("feature_layout", promptRule.info().featureLayout());
    node.put("label", options.skipLabel().id());
    node.put("label_share", PregenSkip.share(label));
    node.put("learner", promptRule.info().learner());
    node.put("cv_auc_df", trained.rule().info().validationMetrics().get("cv_auc_df"));
    node.put("cv_auc_df_chow_sum_after_generation", trained.chowSumCvAucDf());
    node.put("cv_auc_df_random", trained.randomCvAucDf());
    node.put("cv_auc_df_oracle", trained.oracleCvAucDf());
    node.put("max_loss", options.skipMaxLoss());
    if (Double.isInfinite(threshold)) {
      node.putNull("threshold"); // no share within the loss bound on validation: nothing is skipped
    } else {
      node.put("threshold", threshold);
    }
    node.put("thresholds", options.skipPerKind() ? "per-kind" : "one");
    ObjectNode byKind = node.putObject("by_kind");
    for (PromptKind kind : PromptKind.values()) {
      ObjectNode k = byKind.putObject(kind.id());
      finite(k, "threshold", thresholds[kind.ordinal()]);
      k.put("validation_skipped_share", shareOfKind(validationSkipped, validationKinds, kind));
      k.put("skipped_share", shareOfKind(skipped, testKinds, kind));
      k.put("items", IntStream.of(testKinds).filter(x -> x == kind.ordinal()).count());
    }
    node.put("validation_skipped_share", PregenSkip.share(validationSkipped));
    finite(node, "validation_max_loss", onValidation.maxLoss(validationSkipped, PregenSkip.MIDDLE_RATES));
    node.put("skipped_share", PregenSkip.share(skipped));
    node.put("skipped_benefit_share", shareWhere(skipped, onTest, true));
    finite(node, "max_loss_at_middle_rates", onTest.maxLoss(skipped, PregenSkip.MIDDLE_RATES));
    finite(node, "mean_loss_at_middle_rates", onTest.meanLoss(skipped, PregenSkip.MIDDLE_RATES));
    node.put("decode_steps", allSteps);
    node.put("decode_steps_saved_share", onTest.savedShare(skipped));
    node.put("decode_time_method", "decoding steps (generated tokens + 1) x the small model's measured seconds per"
        + " step, timed by decoding the first " + Math.min(TIMING_ITEMS, test.size()) + " items of this split in"
        + " batches of " + settings.batchSize());
    node.put("seconds_per_decode_step", secondsPerStep);
    node.put("decode_seconds", allSteps * secondsPerStep);
    node.put("decode_seconds_saved", onTest.savedShare(skipped) * allSteps * secondsPerStep);
    node.put("prompt_pass_seconds", passSeconds);
    node.put("prompt_pass_beyond_prefill_seconds", passExtraPerItem * test.size());
    node.put("prompt_pass_time_method", "prompt_pass_seconds: the pass over every item of this split alone;"
        + " prompt_pass_beyond_prefill_seconds: what the pass adds to a prompt it does not skip, whose decoding"
        + " then starts from the pass's prefill (the first " + Math.min(TIMING_ITEMS, test.size()) + " items scored"
        + " and decoded, " + settings.batchSize() + " at a time, less their decoding alone: medians of three"
        + " alternated runs), for every item of this split");
    // The trade-off: the threshold of each candidate share on validation, measured here.
    ArrayNode tradeoff = node.putArray("tradeoff");
    double[] sortedValidation = promptRule.info().calibrationScores();
    java.util.Arrays.sort(sortedValidation);
    for (double share : SKIP_SHARES) {
      double at = sortedValidation[(int) Math.round((1 - share) * sortedValidation.length) - 1];
      boolean[] s = onTest.skipped(at);
      boolean[] v = onValidation.skipped(at);
      ObjectNode point = tradeoff.addObject().put("validation_share", share).put("threshold", at);
      finite(point, "validation_max_loss", onValidation.maxLoss(v, PregenSkip.MIDDLE_RATES));
      point.put("skipped_share", PregenSkip.share(s)).put("decode_steps_saved_share", onTest.savedShare(s));
      finite(point, "max_loss_at_middle_rates", onTest.maxLoss(s, PregenSkip.MIDDLE_RATES));
      finite(point, "mean_loss_at_middle_rates", onTest.meanLoss(s, PregenSkip.MIDDLE_RATES));
    }
    if (options.skipPerKind()) {
      // Per kind, the trade-off is the loss bound: the thresholds each bound chooses on validation, measured here.
      ArrayNode byBound = node.putArray("tradeoff_by_bound");
      for (double bound : SKIP_BOUNDS) {
        double[] t = onValidation.chooseThresholds(validationKinds, kinds, SKIP_SHARES, bound, PregenSkip.MIDDLE_RATES);
        boolean[] v = onValidation.skipped(t, validationKinds);
        boolean[] s = onTest.skipped(t, testKinds);
        ObjectNode point = byBound.addObject().put("max_loss_bound", bound);
        for (PromptKind kind : PromptKind.values()) {
          finite(point, "threshold_" + kind.id(), t[kind.ordinal()]);
        }
        point.put("validation_share", PregenSkip.share(v));
        finite(point, "validation_max_loss", onValidation.maxLoss(v, PregenSkip.MIDDLE_RATES));
        point.put("skipped_share", PregenSkip.share(s)).put("decode_steps_saved_share", onTest.savedShare(s));
        finite(point, "max_loss_at_middle_rates", onTest.maxLoss(s, PregenSkip.MIDDLE_RATES));
        finite(point, "mean_loss_at_middle_rates", onTest.meanLoss(s, PregenSkip.MIDDLE_RATES));
      }
    }
    // Cost per request as the tiers count it: the small model's prompt and generated tokens unless
    // skipped, the last tier's when deferred, and, for a rule that needs it, a prompt pass on every
    // request (the small model's per-token cost over its prompt tokens).
    double[] smallCost = testAnswers.get(0).cost();
    double[] nextCost = testAnswers.get(last).cost();
    double[] noPass = new double[test.size()];
    double[] passCost = new double[test.size()];
    for (int i = 0; i < passCost.length; i++) {
      passCost[i] = text ? 0 : smallPerToken * testAnswers.get(0).promptTokens()[i];
    }
    node.put("cost_method", "per request: the small model's per-token cost x (prompt + generated tokens) unless"
        + " skipped, the last tier's x (its prompt + generated tokens) when escalated, and "
        + (text ? "no prompt pass (the rule reads the text)" : "a prompt pass on every request with the skip (the"
            + " small model's per-token cost x prompt tokens)"));
    ArrayNode curve = node.putArray("curve");
    for (int r = 0; r <= 20; r++) {
      double rate = r / 20.0;
      ObjectNode point = curve.addObject().put("escalation_rate", rate)
          .put("accuracy_without", onTest.accuracyAt(rate, none))
          .put("cost_without", onTest.costAt(rate, none, smallCost, noPass, nextCost));
      double with = onTest.accuracyAt(rate, skipped);
      if (Double.isNaN(with)) {
        point.putNull("accuracy_with");
        point.putNull("cost_with");
      } else {
        point.put("accuracy_with", with);
        point.put("cost_with", onTest.costAt(rate, skipped, smallCost, passCost, nextCost));
      }
    }
    node.put("artifact", options.skipRuleOut() == null ? null : options.skipRuleOut().toString());
    return node;
  }

  /**
   * The skip's inputs per item, for analysis outside: one CSV row per validation item (split 0; its
   * prompt score out of fold) and per evaluated item (split 1; the refit rule's score), with whether
   * each model is right, the post rule's score, the small model's decoding steps and the prompt
   * features ({@link PromptFeatures#names}).
   */
  private static void writeItems(Path file, PregenSkip validation, List<DeferralExample> validationExamples,
      PregenSkip test, List<DeferralExample> testExamples, List<String> inputNames) throws IOException {
    try (java.io.BufferedWriter w = java.nio.file.Files.newBufferedWriter(file)) {
      w.write("split,small_correct,large_correct,post_score,prompt_score,decode_steps,"
          + String.join(",", inputNames) + "\n");
      for (int split = 0; split < 2; split++) {
        PregenSkip d = split == 0 ? validation : test;
        List<DeferralExample> ex = split == 0 ? validationExamples : testExamples;
        for (int i = 0; i < d.size(); i++) {
          StringBuilder b = new StringBuilder().append(split).append(',').append(d.smallCorrect()[i] ? 1 : 0)
              .append(',').append(d.largeCorrect()[i] ? 1 : 0).append(',').append(d.postScore()[i]).append(',')
              .append(d.promptScore()[i]).append(',').append(d.decodeSteps()[i]);
          for (float f : ex.get(i).embedding()) {
            b.append(',').append(f);
          }
          w.write(b.append('\n').toString());
        }
      }
    }
  }

  /** The share of {@code kind}'s items skipped (0 when there are none of that kind). */
  private static double shareOfKind(boolean[] skipped, int[] kinds, PromptKind kind) {
    long all = IntStream.of(kinds).filter(k -> k == kind.ordinal()).count();
    long hit = IntStream.range(0, kinds.length).filter(i -> kinds[i] == kind.ordinal() && skipped[i]).count();
    return all == 0 ? 0 : (double) hit / all;
  }

  /** Puts the value, or null where it is infinite (a loss undefined: more skipped than a rate escalates). */
  private static void finite(ObjectNode node, String key, double value) {
    if (Double.isInfinite(value)) {
      node.putNull(key);
    } else {
      node.put(key, value);
    }
  }

  /** Of the skipped items, the share where deferring helps (the label). */
  private static double shareWhere(boolean[] skipped, PregenSkip data, boolean benefit) {
    int count = 0;
    int hits = 0;
    for (int i = 0; i < skipped.length; i++) {
      if (skipped[i]) {
        count++;
        hits += (data.largeCorrect()[i] && !data.smallCorrect()[i]) == benefit ? 1 : 0;
      }
    }
    return count == 0 ? 0 : (double) hits / count;
  }

  private static int[] steps(Answers small) {
    return small.generations().stream().mapToInt(g -> g.length() + 1).toArray();
  }

  /**
   * Deferral examples whose embedding slot carries the prompt features (the post-generation features
   * ride along). With {@code label} (null: the deferral benefit), item i's example is labelled
   * {@code label[i]}: its correctness pair is set so that {@link DeferralExample#benefit()} is that.
   */
  private static List<DeferralExample> examples(List<PromptItem> items, List<PromptScore> scores, Answers small,
      Answers deferredTo, boolean[] label, boolean text) {
    List<DeferralExample> out = new ArrayList<>(items.size());
    for (int i = 0; i < items.size(); i++) {
      PromptItem item = items.get(i);
      Generation s = small.generations().get(i);
      UncertaintyFeatures features = FeatureExtractor.extract(s.tokenLogprobs(), s.entropies());
      boolean smallRight = item.isCorrect(s.text());
      boolean largeRight = item.isCorrect(deferredTo.generations().get(i).text());
      if (label != null) {
        // benefit() = large && !small: (label, false) gives exactly label.
        largeRight = label[i];
        smallRight = false;
      }
      float[] inputs = text ? PromptFeatures.ofText(item.prompt()) : PromptFeatures.of(item.prompt(), scores.get(i));
      out.add(new DeferralExample(features, inputs, smallRight, largeRight, 1.0, "data",
          PromptHash.of(item.prompt())));
    }
    return out;
  }

  /** The readable report. */
  static String table(ObjectNode root) {
    StringBuilder out = new StringBuilder();
    out.append(String.format(Locale.ROOT, "%d items (thresholds chosen on %d validation items); rule %s, grid %d%n%n",
        root.get("n").asInt(), root.get("validation_n").asInt(), root.get("rule").asText(),
        root.get("grid_levels").asInt()));
    out.append(String.format(Locale.ROOT, "%-24s %12s %18s %14s%n", "model", "exact match", "cost per request",
        "cost per token"));
    root.get("tiers").forEach(t -> out.append(String.format(Locale.ROOT, "%-24s %11.2f%% %18.2f %14.3f%n",
        t.get("name").asText(), 100 * t.get("exact_match").asDouble(), t.get("cost_per_request").asDouble(),
        t.get("cost_per_token").asDouble())));
    if (root.has("right_by_tiers")) {
      out.append(String.format(Locale.ROOT, "%nright on exactly these tiers:"));
      root.get("right_by_tiers").fields().forEachRemaining(e -> out.append(String.format(Locale.ROOT, " %s %.1f%%;",
          e.getKey(), 100 * e.getValue().asDouble())));
      out.append(String.format(Locale.ROOT, "%n"));
    }
    if (root.has("tier_rules")) {
      out.append(String.format(Locale.ROOT, "%nlearned on validation (scores there out of fold):%n"));
      root.get("tier_rules").forEach(r -> out.append(String.format(Locale.ROOT, "  %s: %s, CV AUC-DF %s%n",
          r.get("kind").asText().equals("deferral") ? r.get("tier").asText() + " deferral, label: "
              + r.get("label").asText() : r.get("tier").asText() + " right, after " + r.get("after").asText(),
          r.get("learner").asText(), r.get("cv_auc_df").isNumber()
              ? String.format(Locale.ROOT, "%.4f", r.get("cv_auc_df").asDouble()) : "-")));
    }
    out.append(String.format(Locale.ROOT, "%nfrontier points (validation frontier, reported here): ")); 
    root.get("frontier").fields().forEachRemaining(e -> out.append(e.getKey()).append(' ')
        .append(e.getValue().size()).append("; "));
    out.append(String.format(Locale.ROOT, "%n%nbest exact match within a cost (chosen on validation):%n"));
    out.append(String.format(Locale.ROOT, "%10s %10s %-22s %10s %-22s %8s%n", "cost", "2-tier", "", "3-tier", "",
        "3 - 2"));
    root.get("best_at_cost").forEach(b -> {
      boolean both = b.get("two_tier").isNumber() && b.get("three_tier").isNumber();
      out.append(String.format(Locale.ROOT, "%10.2f %10s %-22s %10s %-22s %8s%n", b.get("cost").asDouble(),
          percent(b.get("two_tier")), name(b.get("two_tier_config")), percent(b.get("three_tier")),
          name(b.get("three_tier_config")), both ? String.format(Locale.ROOT, "%+.2f",
              100 * (b.get("three_tier").asDouble() - b.get("two_tier").asDouble())) : ""));
    });
    var skip = root.get("pregen_skip");
    out.append(String.format(Locale.ROOT, "%npre-generation skip (%s, then %s; post-generation rule %s):%n",
        skip.get("small").asText(), skip.get("deferred_to").asText(), skip.get("post_rule").asText()));
    out.append(String.format(Locale.ROOT, "  prompt rule %s, label %s (%.1f%% of validation): CV AUC-DF %.4f"
            + " (random %.4f, %s after generation %.4f, oracle %.4f; against that label)%n",
        skip.get("learner").asText(), skip.get("label").asText(), 100 * skip.get("label_share").asDouble(),
        skip.get("cv_auc_df").asDouble(),
        skip.get("cv_auc_df_random").asDouble(), skip.get("post_rule").asText(),
        skip.get("cv_auc_df_chow_sum_after_generation").asDouble(), skip.get("cv_auc_df_oracle").asDouble()));
    out.append(String.format(Locale.ROOT, "  skipped %.1f%% of requests (validation %.1f%%), %.1f%% of them where"
            + " deferring helps; %.1f%% of small-model decoding steps saved (%.1f of %.1f s); prompt pass %.1f s"
            + " (%.1f s beyond the prefills it spares the decoder)%s%n",
        100 * skip.get("skipped_share").asDouble(), 100 * skip.get("validation_skipped_share").asDouble(),
        100 * skip.get("skipped_benefit_share").asDouble(), 100 * skip.get("decode_steps_saved_share").asDouble(),
        skip.get("decode_seconds_saved").asDouble(), skip.get("decode_seconds").asDouble(),
        skip.get("prompt_pass_seconds").asDouble(), skip.get("prompt_pass_beyond_prefill_seconds").asDouble(),
        PromptFeatures.TEXT_LAYOUT.equals(skip.path("feature_layout").asText()) ? " (not needed: the rule reads the text)"
            : ""));
    out.append(String.format(Locale.ROOT, "  most exact match lost at escalation rates 0.20-0.50: %.2f points%n",
        100 * skip.get("max_loss_at_middle_rates").asDouble()));
    out.append(String.format(Locale.ROOT, "  thresholds: %s;", skip.get("thresholds").asText()));
    skip.get("by_kind").fields().forEachRemaining(k -> out.append(String.format(Locale.ROOT,
        " %s %s (skips %.1f%% of validation's, %.1f%% of these %d)", k.getKey(),
        k.getValue().path("threshold").isNumber() ? String.format(Locale.ROOT, "%.4f",
            k.getValue().get("threshold").asDouble()) : "none",
        100 * k.getValue().get("validation_skipped_share").asDouble(), 100 * k.getValue().get("skipped_share").asDouble(),
        k.getValue().get("items").asInt())));
    out.append(String.format(Locale.ROOT, "%n"));
    out.append(String.format(Locale.ROOT, "  trade-off (threshold at a share of validation skipped; measured here):%n"));
    out.append(String.format(Locale.ROOT, "  %12s %10s %14s %12s %12s %12s%n", "val. share", "skipped", "decode saved",
        "max loss", "mean loss", "val. max"));
    skip.get("tradeoff").forEach(p -> out.append(String.format(Locale.ROOT,
        "  %11.1f%% %9.1f%% %13.1f%% %12s %12s %12s%n", 100 * p.get("validation_share").asDouble(),
        100 * p.get("skipped_share").asDouble(), 100 * p.get("decode_steps_saved_share").asDouble(),
        points(p.get("max_loss_at_middle_rates")), points(p.get("mean_loss_at_middle_rates")),
        points(p.get("validation_max_loss")))));
    if (skip.has("tradeoff_by_bound")) {
      out.append(String.format(Locale.ROOT, "  per kind, by the loss bound (thresholds chosen on validation; measured"
          + " here):%n  %10s %12s %12s %10s %14s %12s %12s%n", "bound", "single word", "multi word", "skipped",
          "decode saved", "max loss", "mean loss"));
      skip.get("tradeoff_by_bound").forEach(p -> out.append(String.format(Locale.ROOT,
          "  %9.2f%s %12s %12s %9.1f%% %13.1f%% %12s %12s%n", 100 * p.get("max_loss_bound").asDouble(), "pt",
          threshold(p.get("threshold_single_word")), threshold(p.get("threshold_multi_word")),
          100 * p.get("skipped_share").asDouble(), 100 * p.get("decode_steps_saved_share").asDouble(),
          points(p.get("max_loss_at_middle_rates")), points(p.get("mean_loss_at_middle_rates")))));
    }
    out.append(String.format(Locale.ROOT, "  %10s %10s %10s %14s %14s%n", "escalated", "without", "with",
        "cost without", "cost with"));
    skip.get("curve").forEach(p -> out.append(String.format(Locale.ROOT, "  %10.2f %9.2f%% %10s %14.2f %14s%n",
        p.get("escalation_rate").asDouble(), 100 * p.get("accuracy_without").asDouble(),
        percent(p.get("accuracy_with")), p.get("cost_without").asDouble(),
        p.get("cost_with").isNumber() ? String.format(Locale.ROOT, "%.2f", p.get("cost_with").asDouble()) : "-")));
    return out.toString();
  }

  private static String percent(com.fasterxml.jackson.databind.JsonNode value) {
    return value == null || !value.isNumber() ? "-" : String.format(Locale.ROOT, "%.2f%%", 100 * value.asDouble());
  }

  private static String threshold(com.fasterxml.jackson.databind.JsonNode value) {
    return value == null || !value.isNumber() ? "none" : String.format(Locale.ROOT, "%.4f", value.asDouble());
  }

  private static String points(com.fasterxml.jackson.databind.JsonNode loss) {
    return loss == null || !loss.isNumber() || Double.isInfinite(loss.asDouble()) ? "-"
        : String.format(Locale.ROOT, "%+.2f pt", 100 * loss.asDouble());
  }

  private static String name(com.fasterxml.jackson.databind.JsonNode config) {
    return config == null || config.isNull() ? "" : config.get("cascade").asText();
  }

  /** Every cascade's test frontier (cost against exact match) and each model alone, in one PNG. */
  static void writePlot(ObjectNode root, String title, Path file) throws IOException {
    System.setProperty("java.awt.headless", "true");
    XYChart chart = new XYChartBuilder().width(1000).height(700)
        .title("Cost-accuracy frontiers: " + title + " (n = " + root.get("n").asInt() + ")")
        .xAxisTitle("cost per request").yAxisTitle("exact match").build();
    chart.getStyler().setLegendPosition(org.knowm.xchart.style.Styler.LegendPosition.InsideSE);
    int tiers = root.get("tiers").size();
    root.get("frontier").fields().forEachRemaining(e -> {
      double[] x = new double[e.getValue().size()];
      double[] y = new double[x.length];
      for (int j = 0; j < x.length; j++) {
        x[j] = e.getValue().get(j).get("cost").asDouble();
        y[j] = e.getValue().get(j).get("accuracy").asDouble();
      }
      XYSeries series = chart.addSeries(e.getKey(), x, y);
      series.setMarker(SeriesMarkers.CIRCLE);
      if (e.getKey().split(",").length == tiers && tiers > 2) {
        series.setLineColor(new Color(0, 90, 200));
        series.setMarkerColor(new Color(0, 90, 200));
        series.setLineStyle(new BasicStroke(2.5f));
      }
    });
    root.get("tiers").forEach(t -> {
      XYSeries alone = chart.addSeries(t.get("name").asText() + " alone",
          new double[] {t.get("cost_per_request").asDouble()}, new double[] {t.get("exact_match").asDouble()});
      alone.setMarker(SeriesMarkers.DIAMOND);
      alone.setLineStyle(new BasicStroke(0f));
    });
    PlotFile.save(chart, file);
  }
}
