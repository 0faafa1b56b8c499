package dev.cascade.loadtest;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cascade.models.Generation;
import dev.cascade.models.TextGenerator;
import dev.cascade.models.TextGenerators;
import dev.cascade.router.demo.Example;
import dev.cascade.router.demo.Examples;
import dev.cascade.router.evaluation.CascadeEvaluation;
import dev.cascade.router.features.FeatureExtractor;
import dev.cascade.router.features.UncertaintyFeatures;
import dev.cascade.router.learning.AnsweredItem;
import dev.cascade.router.learning.CascadeAnswers;
import dev.cascade.router.learning.ChallengerTrial;
import dev.cascade.router.learning.DeferralExample;
import dev.cascade.router.learning.DoublyRobust;
import dev.cascade.router.learning.FeatureSet;
import dev.cascade.router.learning.LearnedRule;
import dev.cascade.router.learning.LearnedRules;
import dev.cascade.router.learning.LearnerSpec;
import dev.cascade.router.learning.ModelFingerprint;
import dev.cascade.router.learning.PromptHash;
import dev.cascade.router.learning.PromptItem;
import dev.cascade.router.learning.RuleTrainer;
import dev.cascade.router.policy.Decision;
import dev.cascade.router.policy.DeferralPolicy;
import dev.cascade.router.policy.PolicyDecider;
import dev.cascade.router.policy.TargetRateController;
import dev.cascade.router.policy.ThresholdCalibrator;
import dev.cascade.router.rules.DeferralRule;
import dev.cascade.router.rules.DeferralRules;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * Replays the online learning loop offline, in seconds instead of the minutes {@code demo --learn}
 * takes, to compare learner settings on the same stream.
 *
 * <pre>
 * java -cp ... dev.cascade.loadtest.LearnLoopReplay [--phrases-first | --data FILE.jsonl] [--curve N,N,...]
 *     [--learners fast|all] [--folds N] [--min-labels N] [--retrain-every N] [--holdout F]
 *     [--min-holdout N] [--max-weight W] [--half-life N] [--refresh-margin M] [--lag N] [--delay N] [--target R] [--exploration E]
 *     [--fixed-threshold [--early-defer] [--label-share Q]] [--prior] [--json]
 * </pre>
 *
 * Every request is decided as {@code serve} decides it: the rule in force scores the small model's
 * answer, a {@link TargetRateController} gives the threshold (a fresh window per rule version),
 * {@link PolicyDecider} decides, and the propensity is 1 for a deferral and ε otherwise. Each
 * outcome becomes a labelled example as the learner labels it (the reference decides the small
 * model's correctness; the large model's is known only where it was escalated), reaching the
 * learner {@code --delay} requests later when escalated (the large model's answer takes time). A
 * round ({@link ChallengerTrial}, the learner's own code) starts every {@code --retrain-every}
 * labels once {@code --min-labels} have arrived, and its verdict takes effect {@code --lag}
 * requests after it started (the training time at the demo's 15 requests a second); a published
 * rule's threshold is calibrated for the target rate on its cross-fitted scores, as the learner
 * does. The defaults are the demo's: 0.3, 0.05, 600, 150, 0.1, 300, the fast learners, 3 folds.
 *
 * <p>The stream and the answers are those of the demo (the bundled test split, words then phrases,
 * or {@code --data}); both models' answers come from the generation cache. Prints AUC-DF per window
 * of 250 of the rule in force, Chow-Sum and the shipped {@code posthoc-quantile}, on the same
 * requests, and the same over the second half of the stream on the requests a published rule
 * decided (the issue's measure). Not the demo itself: no Kafka, no timing; the decisions are the
 * router's, but the order of outcomes and the rounds' timing are modelled.
 *
 * <p>{@code --prior}: the learner holds the validation split, both models' answers to it, as its
 * prior ({@code learn.prior=models/data/validation.jsonl}: trained on in every round as older than
 * the traffic, never held out, fading with the half-life).
 *
 * <p>{@code --fixed-threshold}: the policy holds no target rate; its threshold is calibrated for
 * {@code --target} on the validation split at the start and on the rule's cross-fitted scores at
 * each publication, and stays there ({@code serve}'s default policy is so). With {@code
 * --early-defer} the router's early deferral applies ({@code small.early-defer}: only under an exact
 * rule, Chow-Sum at the start): a deferred request whose answer the check would cut before its last
 * token gives no example, unless its label draw is below {@code --label-share} q ({@code
 * small.early-defer-label-share}), when it is decoded whole and weighs 1/q. Without {@code
 * --early-defer} every answer is whole (as {@code small.early-defer=false}).
 *
 * <p>{@code --curve N,N,...} adds a learning curve: at so many requests after the shift, the
 * learner's rule trained on the labels as logged there and on every label, scored on the rest of
 * the stream next to the shipped rule and the same learner fitted on the validation split.
 */
public final class LearnLoopReplay {

  private static final int WINDOW = 250;

  private LearnLoopReplay() {}

  private record Request(Example example, UncertaintyFeatures features, float[] embedding, boolean smallCorrect,
      boolean largeCorrect, Generation small) {}

  public static void main(String[] args) throws Exception {
    System.setProperty("ai.djl.offline", "true");
    double target = 0.3;
    double exploration = 0.05;
    boolean json = false;
    boolean phrasesFirst = false;
    Path data = null;
    String learners = "fast";
    int folds = 3;
    int minLabels = 600;
    int retrainEvery = 150;
    double holdout = 0.1;
    int minHoldout = 300;
    double maxWeight = 50;
    double halfLife = Double.parseDouble(dev.cascade.router.config.CascadeConfig.LEARN_HALF_LIFE.defaultValue());
    double refreshMargin = Double.parseDouble(dev.cascade.router.config.CascadeConfig.LEARN_REFRESH_MARGIN.defaultValue());
    int lag = 100;
    int delay = 20;
    int maxExamples = 5000;
    boolean fullLabels = false;
    long seed = 0;
    int[] curve = new int[0];
    boolean fixedThreshold = false;
    boolean earlyDefer = false;
    double labelShare = 0.0;
    boolean prior = false;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--json" -> json = true;
        case "--phrases-first" -> phrasesFirst = true;
        case "--data" -> data = Path.of(args[++i]);
        case "--learners" -> learners = args[++i];
        case "--folds" -> folds = Integer.parseInt(args[++i]);
        case "--min-labels" -> minLabels = Integer.parseInt(args[++i]);
        case "--retrain-every" -> retrainEvery = Integer.parseInt(args[++i]);
        case "--holdout" -> holdout = Double.parseDouble(args[++i]);
        case "--min-holdout" -> minHoldout = Integer.parseInt(args[++i]);
        case "--max-weight" -> maxWeight = Double.parseDouble(args[++i]);
        case "--half-life" -> halfLife = Double.parseDouble(args[++i]);
        case "--refresh-margin" -> refreshMargin = Double.parseDouble(args[++i]);
        case "--lag" -> lag = Integer.parseInt(args[++i]);
        case "--delay" -> delay = Integer.parseInt(args[++i]);
        case "--max-examples" -> maxExamples = Integer.parseInt(args[++i]);
        case "--full-labels" -> fullLabels = true;
        case "--seed" -> seed = Long.parseLong(args[++i]);
        case "--curve" -> curve = java.util.Arrays.stream(args[++i].split(",")).mapToInt(Integer::parseInt).toArray();
        case "--target" -> target = Double.parseDouble(args[++i]);
        case "--exploration" -> exploration = Double.parseDouble(args[++i]);
        case "--fixed-threshold" -> fixedThreshold = true;
        case "--early-defer" -> earlyDefer = true;
        case "--label-share" -> labelShare = Double.parseDouble(args[++i]);
        case "--prior" -> prior = true;
        default -> throw new IllegalArgumentException("unknown argument " + args[i]);
      }
    }
    java.io.PrintStream out = json ? System.err : System.out;
    List<Example> stream;
    if (data != null) {
      stream = Examples.read(data);
    } else {
      stream = new ArrayList<>(Examples.bundled("test"));
      boolean first = phrasesFirst;
      if (seed != 0) {
        java.util.Collections.shuffle(stream, new java.util.Random(seed));
      }
      stream.sort(Comparator.comparing((Example e) -> "phrase".equals(e.kind()) != first ? 1 : 0));
    }
    List<Example> validation = Examples.bundled("validation");
    CascadeAnswers.Settings settings = new CascadeAnswers.Settings("small", "large", "auto", 48, 64,
        CascadeAnswers.userCacheDir());
    List<Generation> small;
    List<Generation> large;
    List<Generation> validationSmall;
    List<Generation> validationLarge = List.of();
    try (TextGenerator model = TextGenerators.load("small", "auto")) {
      small = CascadeAnswers.generateCached(model, "small", stream.stream().map(Example::prompt).toList(), settings,
          TargetRateReplay.progress());
      validationSmall = CascadeAnswers.generateCached(model, "small",
          validation.stream().map(Example::prompt).toList(), settings, TargetRateReplay.progress());
    }
    try (TextGenerator model = TextGenerators.load("large", "auto")) {
      large = CascadeAnswers.generateCached(model, "large", stream.stream().map(Example::prompt).toList(), settings,
          TargetRateReplay.progress());
      if (curve.length > 0 || prior) {
        validationLarge = CascadeAnswers.generateCached(model, "large",
            validation.stream().map(Example::prompt).toList(), settings, TargetRateReplay.progress());
      }
    }
    List<Request> requests = new ArrayList<>();
    for (int i = 0; i < stream.size(); i++) {
      Generation g = small.get(i);
      requests.add(new Request(stream.get(i), FeatureExtractor.extract(g.tokenLogprobs(), g.entropies()),
          g.embedding(), g.text().equals(stream.get(i).reference()),
          large.get(i).text().equals(stream.get(i).reference()), g));
    }
    DeferralRule chowSum = DeferralRules.of("chow-sum", 0);
    DeferralRule shipped = LearnedRules.bundled().create("posthoc-quantile", 0);
    double[] validationScores = new double[validationSmall.size()];
    for (int i = 0; i < validationScores.length; i++) {
      Generation g = validationSmall.get(i);
      validationScores[i] = chowSum.score(FeatureExtractor.extract(g.tokenLogprobs(), g.entropies()), g.embedding());
    }
    double start = ThresholdCalibrator.threshold(validationScores, (target - exploration) / (1 - exploration));

    RuleTrainer.Options trainer = new RuleTrainer.Options(folds, 20240917L, learners.equals("all")
        ? LearnerSpec.defaults() : List.of(LearnerSpec.logisticRegression(10, 0.1), LearnerSpec.xgboost(100, 2, 0.1)));
    ChallengerTrial.Options options = new ChallengerTrial.Options(FeatureSet.forRuleName("posthoc-quantile"), holdout,
        minHoldout, minLabels, maxWeight, 1000, trainer, halfLife, refreshMargin);
    String fingerprint = ModelFingerprint.of("small");

    // The validation split with both models' answers (when --curve or --prior asked for the large one's).
    List<AnsweredItem> validationAnswered = new ArrayList<>();
    for (int i = 0; i < validationLarge.size(); i++) {
      Example e = validation.get(i);
      validationAnswered.add(new AnsweredItem(new PromptItem(e.prompt(), e.reference(), e.kind()),
          validationSmall.get(i), validationLarge.get(i)));
    }
    // --prior: the validation split, every label known (what the shipped rule trained on), as the
    // learner holds learn.prior.
    List<DeferralExample> priorExamples = prior
        ? dev.cascade.router.learner.LearnerPrior.examples(validationAnswered) : List.of();

    // The rule in force.
    String spec = "chow-sum";
    DeferralRule rule = chowSum;
    long trainedUpTo = -1;
    String key = "chow-sum@0.0";
    // With a fixed threshold the policy holds no rate (0), as serve's default policy.
    double policyRate = fixedThreshold ? 0.0 : target;
    DeferralPolicy policy = new DeferralPolicy("chow-sum", 0.0, start, exploration, policyRate, 1, "replay", 0,
        "start");
    TargetRateController controller = new TargetRateController();
    long nextVersion = 1;

    List<DeferralExample> examples = new ArrayList<>();
    List<DoublyRobust.Observation> observations = new ArrayList<>();
    List<Long> seqs = new ArrayList<>();
    Deque<int[]> pending = new ArrayDeque<>(); // {request index, arrival position}
    long sinceRound = 0;
    long nextSeq = 0;
    int roundDueAt = -1;
    ChallengerTrial.Verdict running = null;
    int published = 0;
    int rejected = 0;
    int reverted = 0;
    List<String> log = new ArrayList<>();

    int n = requests.size();
    // The learning curve's cuts: so many requests of the new kind after the shift (the first request
    // of another kind than the first one's).
    int shift = 0;
    while (shift < n && Objects.equals(stream.get(shift).kind(), stream.get(0).kind())) {
      shift++;
    }
    Map<Integer, List<DeferralExample>> loggedAt = new LinkedHashMap<>();
    Map<Integer, List<DoublyRobust.Observation>> observedAt = new LinkedHashMap<>();
    for (int offset : curve) {
      if (offset <= 0 || shift + offset >= n) {
        throw new IllegalArgumentException("--curve: " + offset + " requests after the shift at #" + shift
            + " leaves nothing to evaluate in a stream of " + n);
      }
      loggedAt.put(shift + offset, null);
    }
    String[] inForce = new String[n];
    double[] inForceScore = new double[n];
    boolean[] escalatedAll = new boolean[n];
    boolean[] escalatedExplored = new boolean[n];
    double[] propensity = new double[n];
    // Early deferral: the answer cut (no label), or decoded whole for its label (its label propensity).
    boolean[] stoppedEarly = new boolean[n];
    double[] labelPropensity = new double[n];
    int stoppedCount = 0;
    int sampledCount = 0;
    for (int i = 0; i < n; i++) {
      if (running != null && i >= roundDueAt) {
        ChallengerTrial.Verdict v = running;
        running = null;
        if (v.publish()) {
          LearnedRule challenger = v.challenger();
          long version = challenger.info().version();
          double threshold = ThresholdCalibrator.threshold(challenger.info().calibrationScores(),
              challenger.info().calibrationWeights(), target);
          spec = challenger.name() + "@" + version;
          rule = challenger;
          trainedUpTo = (long) challenger.info().validationMetrics().get(ChallengerTrial.TRAINED_UNTIL).doubleValue();
          key = challenger.name() + "@0.0#v" + version;
          policy = new DeferralPolicy(challenger.name(), 0.0, threshold, exploration, policyRate,
              policy.version() + 1, "replay", 0, "published");
          published++;
          log.add(String.format(Locale.ROOT, "#%d PUBLISHED %s", i, v.reason()));
        } else if (v.revert()) {
          double threshold = ThresholdCalibrator.threshold(v.fallbackScores(), v.challenger().info().calibrationWeights(),
              target);
          spec = "chow-sum";
          rule = chowSum;
          trainedUpTo = -1;
          key = "chow-sum@0.0";
          policy = new DeferralPolicy("chow-sum", 0.0, threshold, exploration, policyRate, policy.version() + 1,
              "replay", 0, "reverted");
          reverted++;
          log.add(String.format(Locale.ROOT, "#%d REVERTED %s", i, v.reason()));
        } else if (v.challenger() != null) {
          rejected++;
          log.add(String.format(Locale.ROOT, "#%d rejected %s", i, v.reason()));
        }
      }
      if (loggedAt.containsKey(i)) {
        loggedAt.put(i, new ArrayList<>(examples));
        observedAt.put(i, new ArrayList<>(observations));
      }
      Request r = requests.get(i);
      double score = rule.score(r.features(), r.embedding());
      double threshold = controller.threshold(policy, key);
      String requestId = "learn-" + (seed == 0 ? "" : seed + "-") + i;
      Decision decision = PolicyDecider.decide(requestId, score, threshold, exploration);
      labelPropensity[i] = 1.0;
      java.util.Optional<dev.cascade.router.policy.EarlyDeferral.Condition> stop =
          dev.cascade.router.policy.EarlyDeferral.condition(rule, policy, earlyDefer);
      if (stop.isPresent() && dev.cascade.router.policy.EarlyDeferral.wouldStop(stop.get(), r.small().tokenLogprobs(),
          r.small().entropies(), 48)) {
        if (dev.cascade.router.policy.EarlyDeferral.labelDraw(requestId) < labelShare) {
          labelPropensity[i] = labelShare;
          sampledCount++;
        } else {
          stoppedEarly[i] = true;
          stoppedCount++;
        }
      }
      controller.observe(policy, key, score, decision.escalates());
      inForce[i] = spec;
      inForceScore[i] = score;
      escalatedAll[i] = decision.escalates();
      escalatedExplored[i] = decision == Decision.EXPLORE;
      propensity[i] = decision == Decision.DEFER ? 1.0 : exploration;
      pending.add(new int[] {i, decision.escalates() ? i + delay : i});
      // Outcomes reach the learner when they are due, in the order they complete.
      List<int[]> due = new ArrayList<>();
      for (var it = pending.iterator(); it.hasNext(); ) {
        int[] p = it.next();
        if (p[1] <= i) {
          due.add(p);
          it.remove();
        }
      }
      due.sort(Comparator.comparingInt(p -> p[1]));
      for (int[] p : due) {
        int j = p[0];
        if (stoppedEarly[j]) {
          continue; // an unfinished answer: no label
        }
        Request q = requests.get(j);
        boolean escalated = escalatedAll[j];
        boolean largeSeen = escalated || fullLabels;
        double prop = fullLabels ? 1.0 : propensity[j];
        double lp = fullLabels ? 1.0 : labelPropensity[j];
        double weight = Math.min(maxWeight, (q.smallCorrect() ? 1.0 : 1.0 / prop) / lp);
        boolean largeLabel = largeSeen ? q.largeCorrect() : q.smallCorrect();
        examples.add(new DeferralExample(q.features(), q.embedding(), q.smallCorrect(), largeLabel, weight,
            "reference", PromptHash.of(q.example().prompt())));
        observations.add(fullLabels ? DoublyRobust.Observation.complete(q.largeCorrect())
            : new DoublyRobust.Observation(true, escalated, prop, largeSeen ? q.largeCorrect() : null, lp));
        seqs.add(nextSeq++);
        sinceRound++;
        if (examples.size() > maxExamples) {
          examples.remove(0);
          observations.remove(0);
          seqs.remove(0);
        }
      }
      if (running == null && sinceRound >= retrainEvery && examples.size() >= minLabels) {
        long[] s = seqs.stream().mapToLong(Long::longValue).toArray();
        DeferralRule fallback = chowSum;
        ChallengerTrial.Champion champion = new ChallengerTrial.Champion(spec, rule, trainedUpTo, "chow-sum", fallback);
        running = ChallengerTrial.run(new ArrayList<>(examples), s, new ArrayList<>(observations), priorExamples,
            champion, nextVersion, fingerprint, options, what -> { });
        if (running.publish()) {
          nextVersion++;
        }
        roundDueAt = i + lag;
        sinceRound = 0;
      }
    }

    // Windows and the second half, with both models' correctness known for every request.
    List<Map<String, Object>> windows = new ArrayList<>();
    out.printf(Locale.ROOT, "%-10s %-22s %9s %9s %9s %9s %9s%n", "requests", "rule in force", "escalated",
        "auc-force", "auc-chow", "auc-ship", "decided");
    for (int from = 0; from < n; from += WINDOW) {
      int to = Math.min(n, from + WINDOW);
      List<Integer> chosen = new ArrayList<>();
      int escalated = 0;
      for (int i = from; i < to; i++) {
        escalated += escalatedAll[i] ? 1 : 0;
        if (inForce[i].equals(inForce[to - 1])) {
          chosen.add(i);
        }
      }
      double[] auc = auc(requests, inForceScore, chowSum, shipped, chosen);
      Map<String, Object> w = new LinkedHashMap<>();
      w.put("from", from);
      w.put("to", to);
      w.put("rule", inForce[to - 1]);
      w.put("escalation_rate", escalated / (double) (to - from));
      w.put("auc_df_rule_in_force", auc[0]);
      w.put("auc_df_chow_sum", auc[1]);
      w.put("auc_df_shipped_rule", auc[2]);
      windows.add(w);
      out.printf(Locale.ROOT, "%4d-%-5d %-22s %9.3f %9.4f %9.4f %9.4f %9d%n", from, to, inForce[to - 1],
          escalated / (double) (to - from), auc[0], auc[1], auc[2], chosen.size());
    }
    List<Integer> learned = new ArrayList<>();
    for (int i = n / 2; i < n; i++) {
      if (!inForce[i].equals("chow-sum")) {
        learned.add(i);
      }
    }
    double[] second = auc(requests, inForceScore, chowSum, shipped, learned);
    log.forEach(out::println);
    out.printf(Locale.ROOT, "second half: %d decided by published rules; AUC-DF %.4f, chow-sum %.4f, shipped %.4f;"
        + " gap to shipped %+.4f; published %d, rejected %d, reverted %d; stopped early %d, decoded whole for the"
        + " label %d%n", learned.size(), second[0], second[1], second[2], second[0] - second[2], published, rejected,
        reverted, stoppedCount, sampledCount);
    List<DeferralExample> validationExamples = validationAnswered.stream().map(AnsweredItem::example).toList();
    List<Map<String, Object>> curveRows = learningCurve(out, requests, validationExamples, options, shift, loggedAt,
        observedAt, chowSum, shipped);
    if (json) {
      Map<String, Object> result = new LinkedHashMap<>();
      result.put("requests", n);
      result.put("rules_published", published);
      result.put("rules_rejected", rejected);
      result.put("reverted", reverted);
      result.put("stopped_early", stoppedCount);
      result.put("label_sampled", sampledCount);
      result.put("second_half_decided_by_published", learned.size());
      result.put("second_half_auc_df_published", second[0]);
      result.put("second_half_auc_df_chow_sum", second[1]);
      result.put("second_half_auc_df_shipped", second[2]);
      result.put("windows", windows);
      if (!curveRows.isEmpty()) {
        result.put("shift_at", shift);
        result.put("learning_curve", curveRows);
      }
      System.out.println(new ObjectMapper().writeValueAsString(result));
    }
  }

  /**
   * The learner's rule trained at each cut, as a round would train it there (the labels as logged,
   * recency-weighted), and on every request's label instead, both scored on every request from the
   * cut to the end; next to the same learner trained on the validation split, the data of the
   * shipped rule. How close a rule learned from the stream can come to the shipped one, by how much
   * of the new traffic it has seen, whatever the rounds' timing.
   */
  private static List<Map<String, Object>> learningCurve(java.io.PrintStream out, List<Request> requests,
      List<DeferralExample> validation, ChallengerTrial.Options options, int shift,
      Map<Integer, List<DeferralExample>> loggedAt, Map<Integer, List<DoublyRobust.Observation>> observedAt,
      DeferralRule chowSum, DeferralRule shipped) {
    List<Map<String, Object>> rows = new ArrayList<>();
    if (loggedAt.isEmpty()) {
      return rows;
    }
    int n = requests.size();
    LearnedRule offline = RuleTrainer.train(options.set(), validation, "validation split", 0, options.trainer(),
        RuleTrainer.Progress.NONE).rule();
    out.printf(Locale.ROOT, "%nlearning curve (shift at #%d; the learner's settings; scored on every request from the"
        + " cut to the end)%n", shift);
    out.printf(Locale.ROOT, "%9s %6s %9s | %8s %8s %8s | %8s %8s %8s %8s%n", "new kind", "cut", "evaluated",
        "chow-sum", "shipped", "val-fit", "logged", "gap", "every", "gap");
    for (var cut : loggedAt.entrySet()) {
      int at = cut.getKey();
      List<DeferralExample> logged = ChallengerTrial.trainingSet(cut.getValue(), observedAt.get(at),
          options.halfLifeLabels());
      List<DeferralExample> every = new ArrayList<>();
      List<DoublyRobust.Observation> complete = new ArrayList<>();
      for (int i = 0; i < at; i++) {
        Request r = requests.get(i);
        every.add(new DeferralExample(r.features(), r.embedding(), r.smallCorrect(), r.largeCorrect()));
        complete.add(DoublyRobust.Observation.complete(r.largeCorrect()));
      }
      LearnedRule fromLogged = RuleTrainer.train(options.set(), logged, "logged to #" + at, 1, options.trainer(),
          RuleTrainer.Progress.NONE).rule();
      LearnedRule fromEvery = RuleTrainer.train(options.set(),
          ChallengerTrial.trainingSet(every, complete, options.halfLifeLabels()), "every label to #" + at, 1,
          options.trainer(), RuleTrainer.Progress.NONE).rule();
      int k = n - at;
      boolean[] small = new boolean[k];
      boolean[] large = new boolean[k];
      double[][] scores = new double[5][k];
      DeferralRule[] rules = {chowSum, shipped, offline, fromLogged, fromEvery};
      for (int j = 0; j < k; j++) {
        Request r = requests.get(at + j);
        small[j] = r.smallCorrect();
        large[j] = r.largeCorrect();
        for (int m = 0; m < rules.length; m++) {
          scores[m][j] = rules[m].score(r.features(), r.embedding());
        }
      }
      CascadeEvaluation e = new CascadeEvaluation(small, large);
      double[] auc = new double[rules.length];
      for (int m = 0; m < rules.length; m++) {
        auc[m] = e.aucDf(scores[m]);
      }
      out.printf(Locale.ROOT, "%9d %6d %9d | %8.4f %8.4f %8.4f | %8.4f %+8.4f %8.4f %+8.4f%n", at - shift, at, k,
          auc[0], auc[1], auc[2], auc[3], auc[3] - auc[1], auc[4], auc[4] - auc[1]);
      Map<String, Object> row = new LinkedHashMap<>();
      row.put("new_kind_requests", at - shift);
      row.put("cut", at);
      row.put("evaluated", k);
      row.put("trained_logged", logged.size());
      row.put("auc_df_chow_sum", auc[0]);
      row.put("auc_df_shipped", auc[1]);
      row.put("auc_df_validation_fit", auc[2]);
      row.put("auc_df_logged_labels", auc[3]);
      row.put("auc_df_every_label", auc[4]);
      rows.add(row);
    }
    return rows;
  }

  private static double[] auc(List<Request> requests, double[] inForce, DeferralRule chowSum, DeferralRule shipped,
      List<Integer> chosen) {
    int k = chosen.size();
    if (k == 0) {
      return new double[] {Double.NaN, Double.NaN, Double.NaN};
    }
    boolean[] small = new boolean[k];
    boolean[] large = new boolean[k];
    double[] a = new double[k];
    double[] b = new double[k];
    double[] c = new double[k];
    for (int j = 0; j < k; j++) {
      Request r = requests.get(chosen.get(j));
      small[j] = r.smallCorrect();
      large[j] = r.largeCorrect();
      a[j] = inForce[chosen.get(j)];
      b[j] = chowSum.score(r.features(), r.embedding());
      c[j] = shipped.score(r.features(), r.embedding());
    }
    CascadeEvaluation e = new CascadeEvaluation(small, large);
    return new double[] {e.aucDf(a), e.aucDf(b), e.aucDf(c)};
  }
}
