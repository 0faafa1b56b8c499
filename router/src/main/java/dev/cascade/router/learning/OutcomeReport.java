package dev.cascade.router.learning;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cascade.router.evaluation.BootstrapComparison;
import dev.cascade.router.evaluation.CascadeEvaluation;
import dev.cascade.router.features.UncertaintyFeatures;
import dev.cascade.router.rules.DeferralRule;
import dev.cascade.router.rules.DeferralRules;
import dev.cascade.schemas.avro.LabelledExample;
import dev.cascade.schemas.avro.RoutingOutcome;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Consumer;
import java.util.function.Predicate;
import java.util.function.ToDoubleFunction;
import java.util.stream.IntStream;

/**
 * The evaluation of deferral rules from routing outcomes instead of from running the models, as
 * {@code cascade eval --outcomes} prints it.
 *
 * <h2>Which outcomes count, and how much</h2>
 *
 * <p>Only outcomes with both {@code small_correct} and {@code large_correct} set: the request had
 * a reference, and it was escalated (deferred, or explored at random), so both answers were checked.
 * Without a reference, user feedback joined by request id ({@link FeedbackJoin}) labels an
 * escalated outcome as the learner labels it ({@link LabelledOutcomes#labelOrSkip}) where it decides
 * both answers: a corrected answer, or a verdict that the large model's served answer was right (the
 * small one right where it agreed). The large model as teacher is no label here: it would be right
 * by definition. Those are a biased sample of the requests with a label: every deferred one, but only the
 * explored few of the accepted ones. Each counts with the weight {@code 1 / propensity} (the
 * probability that it was escalated, as the outcome records it; a missing propensity counts as 1),
 * divided by its label propensity where it has one (a request early deferral would have stopped,
 * decoded whole by label sampling, stands for the stopped ones too), the inverse-propensity (Horvitz-Thompson) estimator: in expectation the weighted sample stands for
 * every request with a reference. That holds only where every request had a positive chance of
 * escalation (exploration above 0); where exploration was 0 the accepted region is absent and the
 * estimate describes the deferred requests only. The weights cost variance: an explored outcome
 * stands for {@code 1 / exploration} requests, which the report shows as the effective sample size
 * {@code (Σw)² / Σw²} and which the paired bootstrap's intervals include.
 *
 * <h2>Which rules</h2>
 *
 * <p>Random and the oracle; the Chow rules, scored from each outcome's recorded features; the rule
 * in force, from the recorded {@code score}, per rule spec ({@code NAME}, {@code NAME-ALPHA} or
 * {@code NAME@VERSION}: scores of different rules are not comparable), on the outcomes it scored;
 * every shadow rule in {@code shadow_scores}, on the outcomes it scored; and any learned rule given,
 * scored from the recorded features and embedding. Per rule: the weighted AUC-DF, its gain over
 * random and share of the oracle's gain on the same outcomes, and a weighted paired bootstrap of its
 * AUC-DF against Chow-Sum's on those outcomes. Immutable once computed.
 */
public final class OutcomeReport {

  /** Every rule is compared with this one, on the same outcomes. */
  public static final String BASELINE = "chow-sum";

  /** The prefix of the rows of the rule in force, e.g. {@code in-force:posthoc-quantile@3}. */
  public static final String IN_FORCE = "in-force:";

  /** The prefix of the rows of the shadow rules, e.g. {@code shadow:posthoc-embed@3}. */
  public static final String SHADOW = "shadow:";

  /**
   * One rule's results.
   *
   * @param name the row's name: a Chow rule, {@code random}, {@code oracle}, a learned rule's name,
   *     or {@link #IN_FORCE} / {@link #SHADOW} and the rule spec
   * @param n the outcomes it was evaluated on
   * @param aucDf the weighted AUC-DF
   * @param randomAucDf random deferral's weighted AUC-DF on the same outcomes
   * @param oracleAucDf the oracle's on the same outcomes
   * @param vsBaseline AUC-DF minus Chow-Sum's on the same outcomes, with its 95% interval; null for
   *     Chow-Sum itself
   */
  public record RuleResult(String name, int n, double aucDf, double randomAucDf, double oracleAucDf,
      BootstrapComparison vsBaseline) {

    /** {@code 100 · (aucDf − random) / random}; 0 when random is 0. */
    public double gainOverRandomPct() {
      return randomAucDf == 0.0 ? 0.0 : 100.0 * (aucDf - randomAucDf) / randomAucDf;
    }

    /** {@code 100 · (aucDf − random) / (oracle − random)}; 0 when the oracle is no better than random. */
    public double oracleSharePct() {
      return oracleAucDf - randomAucDf <= 1e-12 ? 0.0 : 100.0 * (aucDf - randomAucDf) / (oracleAucDf - randomAucDf);
    }
  }

  /** One usable outcome. */
  private record Item(UncertaintyFeatures features, float[] embedding, boolean small, boolean large,
      double weight, String inForce, double score, Map<String, Double> shadows, long promptHash, boolean explored,
      boolean labelSampled, String requestId, double nextCost, float[] logprobs, double tokenCost, long createdAtMs,
      double stopMargin) {}

  /**
   * Gathers outcomes one at a time (a topic is read as a stream), keeping of each usable one only
   * what the evaluation needs, and counting the others by the reason they were skipped.
   */
  public static final class Collector implements Consumer<RoutingOutcome> {
    private final FeedbackJoin feedback;
    private final List<Item> items = new ArrayList<>();
    private final Map<String, Long> skipped = new LinkedHashMap<>();
    private final Map<String, Long> labels = new LinkedHashMap<>();
    private long read;
    /** Outcomes whose small answer stopped early or was decoded whole for its label: the routers stop it early. */
    private long earlyStops;

    /** A collector of outcomes labelled by their reference alone. */
    public Collector() {
      this(FeedbackJoin.NONE);
    }

    /** A collector of outcomes labelled by their reference or, without one, by the feedback joined to them. */
    public Collector(FeedbackJoin feedback) {
      this.feedback = Objects.requireNonNull(feedback, "feedback");
    }

    @Override
    public void accept(RoutingOutcome outcome) {
      read++;
      if (outcome.getLabelPropensity() != null || outcome.getSmallStopThreshold() != null
          || "early-defer".equals(String.valueOf(outcome.getSmallStop()))) {
        earlyStops++;
      }
      String reason = skipReason(outcome);
      if (reason != null) {
        skip(reason, 1);
        return;
      }
      boolean small;
      boolean large;
      String source;
      if (LabelledOutcomes.hasReference(outcome)) {
        small = outcome.getSmallCorrect();
        large = outcome.getLargeCorrect();
        source = LabelledOutcomes.REFERENCE;
      } else {
        // Labelled as the learner labels it; only feedback that decides both answers counts here.
        LabelledOutcomes.Labelled labelled = LabelledOutcomes.labelOrSkip(outcome, feedback.on(outcome), 0);
        LabelledExample example = labelled.example();
        if (example == null || !LabelledOutcomes.FEEDBACK.equals(example.getLabelSource())) {
          skip(example == null && !LabelledOutcomes.NO_LABEL.equals(labelled.skipReason()) ? labelled.skipReason()
              : feedback.on(outcome) == null ? NO_REFERENCE : FEEDBACK_UNDECIDED, 1);
          return;
        }
        if (example.getLargeCorrect() == null) {
          skip(FEEDBACK_UNDECIDED, 1);
          return;
        }
        small = example.getSmallCorrect();
        large = example.getLargeCorrect();
        source = LabelledOutcomes.FEEDBACK;
      }
      UncertaintyFeatures features;
      try {
        features = UncertaintyFeatures.fromMap(outcome.getFeatures());
      } catch (IllegalArgumentException e) {
        skip(FEATURES_INVALID, 1);
        return;
      }
      Map<String, Double> shadows = new TreeMap<>();
      outcome.getShadowScores().forEach((spec, score) -> {
        if (score != null && Double.isFinite(score)) {
          shadows.put(spec.toString(), score);
        }
      });
      List<Float> embedding = outcome.getSmallEmbedding();
      float[] vector = null;
      if (embedding != null) {
        vector = new float[embedding.size()];
        for (int i = 0; i < vector.length; i++) {
          vector[i] = embedding.get(i);
        }
      }
      double propensity = outcome.getPropensity() == null ? 1.0 : outcome.getPropensity();
      // A request label sampling decoded whole stands for the ones early deferral stopped, too.
      double labelPropensity = outcome.getLabelPropensity() == null ? 1.0 : outcome.getLabelPropensity();
      double nextCost = outcome.getTierAnswers().stream()
          .mapToDouble(dev.cascade.schemas.avro.TierAnswer::getCostUnits).sum();
      float[] logprobs = new float[outcome.getSmallTokenLogprobs().size()];
      for (int i = 0; i < logprobs.length; i++) {
        logprobs[i] = outcome.getSmallTokenLogprobs().get(i);
      }
      items.add(new Item(features, vector, small, large, 1.0 / (propensity * labelPropensity),
          spec(outcome), outcome.getScore(), shadows, PromptHash.of(outcome.getPrompt()), propensity < 1.0,
          outcome.getLabelPropensity() != null, outcome.getRequestId(), nextCost, logprobs,
          smallTokenCost(outcome, nextCost, logprobs.length), outcome.getCreatedAtMs(), stopMargin(outcome)));
      labels.merge(source, 1L, Long::sum);
    }

    /**
     * What one of the small answer's tokens cost: the small model's share of the outcome's cost
     * (all of it less every later call's) over the prompt's and the output's tokens, as the router
     * prices a call ({@code cost.small.per-token} × ({@link
     * dev.cascade.router.routing.CostModel#promptTokens} + output tokens)); 0 where that is unknown
     * (an answer from the response cache, or no cost recorded).
     */
    private static double smallTokenCost(RoutingOutcome outcome, double nextCost, int outputTokens) {
      double smallCost = outcome.getCostUnits() - nextCost;
      int tokens = dev.cascade.router.routing.CostModel.promptTokens(outcome.getPrompt()) + outputTokens;
      return outcome.getCacheHit() || outputTokens == 0 || !(smallCost > 0) || tokens <= 0 ? 0 : smallCost / tokens;
    }

    /**
     * How far above its threshold the router asked the small answer to stop ({@code
     * small_stop_threshold} less {@code threshold}): 0 at a fixed threshold, a margin under a target
     * rate; 0 when either is not recorded (outcomes from before the stop threshold was).
     */
    static double stopMargin(RoutingOutcome outcome) {
      Double stop = outcome.getSmallStopThreshold();
      return stop == null || !Double.isFinite(stop) || !Double.isFinite(outcome.getThreshold()) ? 0
          : Math.max(0, stop - outcome.getThreshold());
    }

    /**
     * Whether the routers stop the small model early: an outcome read was asked to stop ({@code
     * small_stop_threshold}), stopped early ({@code small_stop} {@code early-defer}) or was decoded
     * whole for its label ({@code label_propensity}).
     */
    public boolean stopsEarly() {
      return earlyStops > 0;
    }

    /**
     * The usable outcomes decided under the rule {@code spec} names ({@link #spec}), as {@link
     * TierTuning} reads them: the small model in a middle tier's place, the rest of the cascade in
     * the next tier's (right where the answer served after it was; its cost, every later tier's
     * call), each weight capped at {@code maxWeight}.
     */
    public List<TierTuning.Item> tuningItems(String spec, double maxWeight) {
      return tuningItems(spec, maxWeight, 0);
    }

    /**
     * As above, each weight also halving for every {@code halfLife} of these outcomes created after
     * it ({@code created_at_ms}; ties by the order read), so that a choice leans towards recent
     * traffic; 0: every outcome alike.
     */
    public List<TierTuning.Item> tuningItems(String spec, double maxWeight, double halfLife) {
      DeferralRule stopping = stopsEarly() ? dev.cascade.router.policy.EarlyDeferral.exactRule(spec) : null;
      List<Item> decided = items.stream().filter(item -> item.inForce().equals(spec)).toList();
      double[] decay = TierTuning.halfLifeFactors(decided.stream().mapToLong(Item::createdAtMs).toArray(), halfLife);
      List<TierTuning.Item> out = new ArrayList<>(decided.size());
      for (int n = 0; n < decided.size(); n++) {
        Item item = decided.get(n);
        double[] running = stopping == null || item.tokenCost() <= 0 ? null
            : dev.cascade.router.policy.EarlyDeferral.stopScores(stopping, item.logprobs(), item.stopMargin());
        out.add(new TierTuning.Item(item.requestId(), item.score(), item.small(), item.large(), item.nextCost(),
            Math.min(maxWeight, item.weight()) * decay[n], running, running == null ? 0 : item.tokenCost()));
      }
      return out;
    }

    /**
     * The rule {@link #tuningItems} should read for a policy naming {@code name} at level {@code
     * alpha} and {@code version}: that spec; or, for a learned rule named without a version (the
     * newest), the spec of the highest version among the usable outcomes.
     */
    public String specFor(String name, double alpha, Long version) {
      String exact = spec(name, alpha, version);
      if (version != null || items.stream().anyMatch(item -> item.inForce().equals(exact))) {
        return exact;
      }
      return items.stream().map(Item::inForce).filter(s -> s.startsWith(name + "@")).distinct()
          .max(java.util.Comparator.comparingLong(s -> Long.parseLong(s.substring(name.length() + 1))))
          .orElse(exact);
    }

    /** The usable outcomes by the rule that decided them ({@link #spec}), in name order. */
    public Map<String, Long> usableBySpec() {
      return items.stream().collect(java.util.stream.Collectors.groupingBy(Item::inForce, TreeMap::new,
          java.util.stream.Collectors.counting()));
    }

    /**
     * The outcomes skipped because the small model stopped early, where label sampling decoded none
     * whole to stand for them (0 otherwise): then nothing is known above the stop threshold.
     */
    public long stoppedEarlyUnsampled() {
      return items.stream().anyMatch(Item::labelSampled) ? 0
          : skipped.getOrDefault(LabelledOutcomes.STOPPED_EARLY, 0L);
    }

    /** Counts records the reader met that were not outcomes: read, and skipped as {@link #UNDECODABLE}. */
    public void undecodable(long count) {
      read += count;
      skip(UNDECODABLE, count);
    }

    private void skip(String reason, long count) {
      if (count > 0) {
        skipped.merge(reason, count, Long::sum);
      }
    }

    /** The outcomes usable so far. */
    public int used() {
      return items.size();
    }
  }

  /** The skip reason of outcomes with neither a reference nor feedback. */
  public static final String NO_REFERENCE = "no reference";

  /**
   * The skip reason of outcomes without a reference whose feedback does not decide both answers'
   * correctness (a verdict on the small answer it served, a wrong large one, a correction where the
   * large model did not answer).
   */
  public static final String FEEDBACK_UNDECIDED = "feedback does not decide both answers";

  /** The skip reason of records that were not outcomes (or were tombstones). */
  public static final String UNDECODABLE = "undecodable";

  /** The skip reason of outcomes whose recorded features cannot be read. */
  public static final String FEATURES_INVALID = "features missing or invalid";

  /** The skip reason of accepted outcomes with a reference: the large model was not asked. */
  public static final String ACCEPTED = "accepted (no large answer)";

  /** The skip reason of escalated outcomes with a reference whose larger models all failed. */
  public static final String DEGRADED = "escalation failed (degraded)";

  /**
   * What makes the outcomes skipped for a reason scorable, for the reasons a setting or a command
   * changes. The router's defaults (exploration 0, {@code small.early-defer} on, the exact rule
   * {@code chow-quantile} at α 0, requests without feedback) leave nothing to score: the accepted
   * requests have no large answer and the deferred ones' small answers stopped early.
   */
  private static final Map<String, String> REMEDIES = Map.of(
      ACCEPTED, "escalate a random share of the accepted requests, policy.exploration-rate above 0 (or `cascade"
          + " policy set --exploration-rate E` on a running router)",
      LabelledOutcomes.STOPPED_EARLY, "decode the deferred requests' small answers to the end, small.early-defer=false"
          + " (on by default: under chow-sum, or chow-quantile at alpha 0, the small model stops once the deferral is"
          + " certain, and a prefix's correctness is unknown), or a share of them, live with `cascade policy set"
          + " --early-defer-label-share Q` (or small.early-defer-label-share)",
      NO_REFERENCE, "send requests with a reference, or give feedback on escalated requests that decides both"
          + " answers (a corrected answer, or a verdict that the served large answer was right: `cascade feedback`,"
          + " POST /v1/feedback)",
      FEEDBACK_UNDECIDED, "give feedback that decides both answers: a corrected answer (`cascade feedback"
          + " --corrected-text`) or a verdict that the served large answer was right",
      DEGRADED, "the large model must answer: these escalations failed for good (its logs, the circuit breaker)");

  /**
   * The error when no outcome is usable: how many were read, the skips by reason, and, for each
   * reason a setting or a command changes, what gives scorable outcomes.
   */
  static String nothingUsable(long read, Map<String, Long> skipped) {
    StringBuilder message = new StringBuilder("none of the " + read + " outcomes has both answers' correctness"
        + " (a reference, or feedback deciding both, on an escalated request); skipped: " + describeSkips(skipped));
    if (read > 0 && skipped.getOrDefault(UNDECODABLE, 0L) == read) {
      return message.append("; not one record is a routing outcome (RoutingOutcome, Avro): is this the outcomes topic"
          + " (topic.outcomes, cascade.outcomes by default), not the requests or responses topic?").toString();
    }
    List<String> remedies = skipped.entrySet().stream().filter(e -> REMEDIES.containsKey(e.getKey()))
        .map(e -> "\n  " + e.getValue() + " " + e.getKey() + ": " + REMEDIES.get(e.getKey())).toList();
    if (!remedies.isEmpty()) {
      message.append("; an outcome is scored only if the request was escalated, its small answer is whole and both"
          + " answers were checked, so:");
      remedies.forEach(message::append);
    }
    return message.toString();
  }

  /** Skip counts as a line's part: {@code 5 no reference, 32 small model stopped early (...)}, or {@code none}. */
  public static String describeSkips(Map<String, Long> skipped) {
    return skipped.isEmpty() ? "none"
        : String.join(", ", skipped.entrySet().stream().map(e -> e.getValue() + " " + e.getKey()).toList());
  }

  private final long read;
  private final int used;
  private final int explored;
  private final int labelSampled;
  private final Map<String, Long> skipped;
  private final Map<String, Long> labels;
  private final double totalWeight;
  private final double effectiveN;
  private final double smallAccuracy;
  private final double largeAccuracy;
  private final List<RuleResult> rules;
  private final List<TrainingOverlap> overlaps;

  private OutcomeReport(long read, int used, int explored, int labelSampled, Map<String, Long> skipped,
      Map<String, Long> labels,
      double totalWeight,
      double effectiveN, double smallAccuracy, double largeAccuracy, List<RuleResult> rules,
      List<TrainingOverlap> overlaps) {
    this.read = read;
    this.used = used;
    this.explored = explored;
    this.labelSampled = labelSampled;
    this.skipped = skipped;
    this.labels = labels;
    this.totalWeight = totalWeight;
    this.effectiveN = effectiveN;
    this.smallAccuracy = smallAccuracy;
    this.largeAccuracy = largeAccuracy;
    this.rules = rules;
    this.overlaps = overlaps;
  }

  /**
   * Evaluates every rule on the collected outcomes.
   *
   * @param learned learned rules to score from the recorded features and embedding, beside the
   *     recorded ones (may be empty)
   * @param resamples paired-bootstrap resamples per comparison
   * @param seed the bootstrap's seed (the same draw for every comparison on the same outcomes)
   * @throws IllegalArgumentException if no outcome is usable (the message gives the skip reasons)
   */
  public static OutcomeReport compute(Collector collected, List<LearnedRule> learned, int resamples, long seed) {
    Objects.requireNonNull(collected, "collected");
    Objects.requireNonNull(learned, "learned");
    List<Item> items = collected.items;
    if (items.isEmpty()) {
      throw new IllegalArgumentException(nothingUsable(collected.read, collected.skipped));
    }
    int n = items.size();
    List<UncertaintyFeatures> features = items.stream().map(Item::features).toList();
    double[] weights = items.stream().mapToDouble(Item::weight).toArray();

    // Each rule's scores, on the items it has a score for (null: all of them).
    Map<String, double[]> scores = new LinkedHashMap<>();
    Map<String, int[]> subsets = new LinkedHashMap<>();
    scores.put(CascadeReport.RANDOM, new double[n]);
    for (String chow : CascadeReport.CHOW_RULES) {
      DeferralRule rule = DeferralRules.builtIn().create(chow);
      scores.put(chow, features.stream().mapToDouble(rule::score).toArray());
    }
    for (String spec : new TreeSet<>(items.stream().map(Item::inForce).toList())) {
      int[] subset = indices(items, item -> spec.equals(item.inForce()));
      subsets.put(IN_FORCE + spec, subset);
      scores.put(IN_FORCE + spec, pick(items, subset, Item::score));
    }
    TreeSet<String> shadowSpecs = new TreeSet<>();
    items.forEach(item -> shadowSpecs.addAll(item.shadows().keySet()));
    for (String spec : shadowSpecs) {
      int[] subset = indices(items, item -> item.shadows().containsKey(spec));
      subsets.put(SHADOW + spec, subset);
      scores.put(SHADOW + spec, pick(items, subset, item -> item.shadows().get(spec)));
    }
    for (LearnedRule rule : learned) {
      List<float[]> embeddings = items.stream().map(Item::embedding).toList();
      scores.put(rule.name(), rule.scores(features, embeddings));
    }

    List<RuleResult> results = new ArrayList<>();
    CascadeEvaluation all = evaluation(items, null);
    double[] chowSum = scores.get(BASELINE);
    scores.forEach((name, s) -> {
      int[] subset = subsets.get(name);
      CascadeEvaluation evaluation = subset == null ? all : evaluation(items, subset);
      double[] w = subset == null ? weights : pick(items, subset, Item::weight);
      double[] baseline = subset == null ? chowSum : pick(chowSum, subset);
      results.add(result(name, evaluation, s, w, baseline, resamples, seed));
    });
    results.add(result(CascadeReport.ORACLE, all, all.oracleScores(), weights, chowSum, resamples, seed));

    List<TrainingOverlap> overlaps = new ArrayList<>();
    long[] hashes = items.stream().mapToLong(Item::promptHash).toArray();
    for (LearnedRule rule : learned) {
      TrainingOverlap.ofHashes(rule.info(), hashes).filter(TrainingOverlap::any).ifPresent(overlaps::add);
    }
    // A recorded shipped rule (NAME@0) was trained on the prompts its artifact lists.
    for (LearnedRule shipped : LearnedRules.bundledRules()) {
      String spec = shipped.name() + "@" + LearnedRules.BUNDLED_VERSION;
      for (String row : List.of(IN_FORCE + spec, SHADOW + spec)) {
        int[] subset = subsets.get(row);
        if (subset != null) {
          long[] rowHashes = new long[subset.length];
          for (int j = 0; j < subset.length; j++) {
            rowHashes[j] = hashes[subset[j]];
          }
          TrainingOverlap.ofHashes(shipped.info(), rowHashes).filter(TrainingOverlap::any).ifPresent(overlaps::add);
        }
      }
    }

    double total = 0;
    double squares = 0;
    double small = 0;
    double large = 0;
    for (Item item : items) {
      total += item.weight();
      squares += item.weight() * item.weight();
      small += item.small() ? item.weight() : 0;
      large += item.large() ? item.weight() : 0;
    }
    int explored = (int) items.stream().filter(Item::explored).count();
    int labelSampled = (int) items.stream().filter(Item::labelSampled).count();
    return new OutcomeReport(collected.read, n, explored, labelSampled,
        Collections.unmodifiableMap(new LinkedHashMap<>(collected.skipped)),
        Collections.unmodifiableMap(new LinkedHashMap<>(collected.labels)), total, total * total / squares,
        small / total, large / total, List.copyOf(results), List.copyOf(overlaps));
  }

  /** Outcomes read (decoded or not). */
  public long read() {
    return read;
  }

  /** Outcomes used: both answers checked against a reference. */
  public int used() {
    return used;
  }

  /** Used outcomes escalated with a probability below 1 (explored): those that stand for the accepted requests. */
  public int explored() {
    return explored;
  }

  /**
   * Used outcomes that early deferral would have stopped but that its label sampling decoded to
   * their end ({@code label_propensity}): each stands for the stopped ones like it too.
   */
  public int labelSampled() {
    return labelSampled;
  }

  /**
   * A warning when no used outcome was explored: then no accepted request is represented, and the
   * estimate describes the deferred requests only, not the traffic (the weighting needs an
   * exploration rate above 0). Empty otherwise.
   */
  public Optional<String> positivityWarning() {
    return explored > 0 ? Optional.empty() : Optional.of(
        "warning: none of the " + used + " outcomes used was explored (propensity below 1): with exploration 0 the"
            + " accepted requests are not represented, so these numbers describe the deferred requests only");
  }

  /** Fewer used outcomes than this, and {@link #smallSampleWarning} says so. */
  public static final int SMALL_SAMPLE = 30;

  /** A warning when fewer than {@link #SMALL_SAMPLE} outcomes are used; empty otherwise. */
  public Optional<String> smallSampleWarning() {
    return smallSampleWarning(used);
  }

  static Optional<String> smallSampleWarning(int used) {
    return used >= SMALL_SAMPLE ? Optional.empty() : Optional.of("warning: only " + used + " outcome"
        + (used == 1 ? "" : "s") + " used, fewer than " + SMALL_SAMPLE + ": the estimates below rest on too few"
        + " requests to say much, and their intervals (resampled from the same few) are too narrow to trust");
  }

  /**
   * A warning when some outcomes were skipped because the small model's answer stopped early
   * ({@code small.early-defer}) while others were used: those requests were deferred, and their
   * absence leaves the estimate describing the rest of the traffic only. Empty otherwise, and when
   * label sampling decoded some of them whole: those stand for the stopped ones.
   */
  public Optional<String> stoppedEarlyWarning() {
    long stopped = skipped.getOrDefault(LabelledOutcomes.STOPPED_EARLY, 0L);
    return stopped == 0 || used == 0 || labelSampled > 0 ? Optional.empty() : Optional.of(
        "warning: " + stopped + " deferred outcomes were skipped because the small model's answer stopped early"
            + " (small.early-defer), so they are not represented and these numbers describe the other requests only;"
            + " with small.early-defer=false every deferred answer is whole, with a label-sampling share (policy set"
            + " --early-defer-label-share, or small.early-defer-label-share) a share that stands for the rest");
  }

  /** The others, by reason, in the order first met. */
  public Map<String, Long> skipped() {
    return skipped;
  }

  /** The used outcomes by label source ({@link LabelledOutcomes#REFERENCE}, {@link LabelledOutcomes#FEEDBACK}). */
  public Map<String, Long> labels() {
    return labels;
  }

  /** The sum of the used outcomes' weights: the requests with a reference they stand for. */
  public double totalWeight() {
    return totalWeight;
  }

  /** Kish's effective sample size {@code (Σw)² / Σw²}: what the weights leave of {@link #used()}. */
  public double effectiveN() {
    return effectiveN;
  }

  /** The small model's weighted accuracy on the used outcomes. */
  public double smallAccuracy() {
    return smallAccuracy;
  }

  /** The large model's weighted accuracy on the used outcomes. */
  public double largeAccuracy() {
    return largeAccuracy;
  }

  /** Every rule's results: random, the Chow rules, in force, shadows, learned rules given, oracle. */
  public List<RuleResult> rules() {
    return rules;
  }

  /** The results of the row called {@code name}. */
  public RuleResult rule(String name) {
    return rules.stream().filter(r -> r.name().equals(name)).findFirst()
        .orElseThrow(() -> new IllegalArgumentException("no rule '" + name + "' in the report"));
  }

  /** The learned rules evaluated on outcomes whose prompts they were trained on. */
  public List<TrainingOverlap> overlaps() {
    return overlaps;
  }

  /**
   * The report as one JSON object: {@code outcomes} ({@code read}, {@code used}, {@code explored}, {@code
   * label_sampled} (decoded whole by early deferral's label sampling), {@code skipped}:
   * reason → count, {@code labels}: label source → count of the used), {@code weighted_n}, {@code effective_n}, {@code small_accuracy},
   * {@code large_accuracy} (weighted), and {@code rules}: name → {@code n}, {@code auc_df},
   * {@code gain_over_random_pct}, {@code oracle_share_pct}, {@code random_auc_df},
   * {@code oracle_auc_df} and, but for Chow-Sum, {@code vs_chow_sum} ({@code delta}, {@code ci_low},
   * {@code ci_high}).
   */
  public ObjectNode toJson() {
    ObjectNode root = JsonNodeFactory.instance.objectNode();
    ObjectNode counts = root.putObject("outcomes");
    counts.put("read", read);
    counts.put("used", used);
    counts.put("explored", explored);
    counts.put("label_sampled", labelSampled);
    ObjectNode skips = counts.putObject("skipped");
    skipped.forEach(skips::put);
    ObjectNode sources = counts.putObject("labels");
    labels.forEach(sources::put);
    root.put("weighted_n", totalWeight);
    root.put("effective_n", effectiveN);
    root.put("small_accuracy", smallAccuracy);
    root.put("large_accuracy", largeAccuracy);
    putRules(root, rules);
    return root;
  }

  /** {@code rules}: each rule's n, AUC-DF, gains, random's and the oracle's, and its comparison with Chow-Sum. */
  static void putRules(ObjectNode root, List<RuleResult> rules) {
    ObjectNode rulesNode = root.putObject("rules");
    for (RuleResult r : rules) {
      ObjectNode rule = rulesNode.putObject(r.name());
      rule.put("n", r.n());
      rule.put("auc_df", r.aucDf());
      rule.put("gain_over_random_pct", r.gainOverRandomPct());
      rule.put("oracle_share_pct", r.oracleSharePct());
      rule.put("random_auc_df", r.randomAucDf());
      rule.put("oracle_auc_df", r.oracleAucDf());
      if (r.vsBaseline() != null) {
        ObjectNode versus = rule.putObject("vs_chow_sum");
        versus.put("delta", r.vsBaseline().delta());
        versus.put("ci_low", r.vsBaseline().ciLow());
        versus.put("ci_high", r.vsBaseline().ciHigh());
      }
    }
  }

  /** {@code N read, N used, N skipped (N reason, ...)}, the skipped ones by reason. */
  static String counts(long read, int used, Map<String, Long> skipped) {
    return String.format(Locale.ROOT, "%d read, %d used, %d skipped%s", read, used,
        skipped.values().stream().mapToLong(Long::longValue).sum(), skipped.isEmpty() ? "" : " (" + String.join(", ",
            skipped.entrySet().stream().map(e -> e.getValue() + " " + e.getKey()).toList()) + ")");
  }

  /** The rules' table: a header, then one aligned row per rule. */
  static void appendRules(StringBuilder out, List<RuleResult> rules) {
    int width = Math.max(18, rules.stream().mapToInt(r -> r.name().length()).max().orElse(0));
    out.append(String.format(Locale.ROOT, "%-" + width + "s %6s %7s %9s %8s  %s%n",
        "rule", "n", "AUC-DF", "vs random", "oracle%", "AUC-DF vs chow-sum [95% CI]"));
    for (RuleResult r : rules) {
      String versus = r.vsBaseline() == null ? "" : String.format(Locale.ROOT, "%+.4f [%+.4f, %+.4f]%s",
          r.vsBaseline().delta(), r.vsBaseline().ciLow(), r.vsBaseline().ciHigh(),
          r.vsBaseline().aboveZero() ? " *" : r.vsBaseline().ciHigh() < 0 ? " -" : "");
      out.append(String.format(Locale.ROOT, "%-" + width + "s %6d %7.4f %+8.2f%% %7.1f%%  %s",
          r.name(), r.n(), r.aucDf(), r.gainOverRandomPct(), r.oracleSharePct(), versus).stripTrailing())
          .append('\n');
    }
  }

  /** The report as text: the counts, then one aligned row per rule. */
  public String toTable() {
    StringBuilder out = new StringBuilder();
    out.append("outcomes: ").append(counts(read, used, skipped)).append('\n');
    out.append(String.format(Locale.ROOT,
        "used: %d deferred%s, %d explored (labelled by %s); weighted by 1/propensity they stand for %.1f requests,"
            + " effective sample size %.1f; small model %.2f%%, large model %.2f%% (weighted)%n",
        used - explored, labelSampled == 0 ? "" : " (" + labelSampled + " decoded whole by label sampling)",
        explored,
        String.join(", ", labels.entrySet().stream().map(e -> e.getKey() + " " + e.getValue()).toList()), totalWeight, effectiveN, 100 * smallAccuracy, 100 * largeAccuracy));
    appendRules(out, rules);
    return out.toString();
  }

  /** Why an outcome cannot be used, or null when it can. */
  private static String skipReason(RoutingOutcome outcome) {
    String unanswered = LabelledOutcomes.unanswered(outcome);
    if (unanswered != null) {
      return unanswered;
    }
    // Without a reference only feedback can label it: with the large model's answer (Collector).
    boolean noLarge = LabelledOutcomes.hasReference(outcome) ? outcome.getLargeCorrect() == null
        : outcome.getLargeText() == null;
    if (noLarge) {
      return !LabelledOutcomes.hasReference(outcome) ? NO_REFERENCE
          : outcome.getDegraded() ? DEGRADED : ACCEPTED;
    }
    Double propensity = outcome.getPropensity();
    if (propensity != null && !(propensity > 0.0 && propensity <= 1.0)) {
      return "propensity not in (0, 1]";
    }
    Double labelPropensity = outcome.getLabelPropensity();
    if (labelPropensity != null && !(labelPropensity > 0.0 && labelPropensity <= 1.0)) {
      return "label_propensity not in (0, 1]";
    }
    if (!Double.isFinite(outcome.getScore())) {
      return "score not finite";
    }
    return null;
  }

  /** How a policy names the rule in force: {@code NAME@VERSION}, {@code NAME}, or {@code NAME-ALPHA}. */
  static String spec(RoutingOutcome outcome) {
    return spec(outcome.getRule().toString(), outcome.getAlpha(), outcome.getRuleVersion());
  }

  /** A rule as the report names it: {@code NAME@VERSION} for a learned rule's version, else the name with its level. */
  public static String spec(String name, double alpha, Long version) {
    if (version != null) {
      return name + "@" + version;
    }
    return alpha == 0.0 ? name : name + "-" + BigDecimal.valueOf(alpha).stripTrailingZeros().toPlainString();
  }

  static RuleResult result(String name, CascadeEvaluation evaluation, double[] scores, double[] weights,
      double[] baseline, int resamples, long seed) {
    double auc = evaluation.aucDf(scores, weights);
    double random = evaluation.aucDf(new double[scores.length], weights);
    double oracle = evaluation.aucDf(evaluation.oracleScores(), weights);
    BootstrapComparison versus = name.equals(BASELINE) ? null
        : evaluation.pairedBootstrap(scores, baseline, weights, resamples, seed);
    return new RuleResult(name, scores.length, auc, random, oracle, versus);
  }

  private static CascadeEvaluation evaluation(List<Item> items, int[] subset) {
    int n = subset == null ? items.size() : subset.length;
    boolean[] small = new boolean[n];
    boolean[] large = new boolean[n];
    for (int j = 0; j < n; j++) {
      Item item = items.get(subset == null ? j : subset[j]);
      small[j] = item.small();
      large[j] = item.large();
    }
    return new CascadeEvaluation(small, large);
  }

  private static int[] indices(List<Item> items, Predicate<Item> member) {
    return IntStream.range(0, items.size()).filter(i -> member.test(items.get(i))).toArray();
  }

  private static double[] pick(List<Item> items, int[] subset, ToDoubleFunction<Item> value) {
    double[] out = new double[subset.length];
    for (int j = 0; j < subset.length; j++) {
      out[j] = value.applyAsDouble(items.get(subset[j]));
    }
    return out;
  }

  private static double[] pick(double[] values, int[] subset) {
    double[] out = new double[subset.length];
    for (int j = 0; j < subset.length; j++) {
      out[j] = values[subset[j]];
    }
    return out;
  }
}
