package dev.cascade.router.learning;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cascade.router.evaluation.CascadeEvaluation;
import dev.cascade.router.features.FeatureExtractor;
import dev.cascade.router.features.UncertaintyFeatures;
import dev.cascade.router.rules.DeferralRule;
import dev.cascade.router.rules.DeferralRules;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.avro.TierAnswer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.function.Consumer;

/**
 * A middle tier's deferral rule evaluated from routing outcomes ({@code eval --outcomes TOPIC
 * --tier N}): as {@link OutcomeReport} does for the small model, with tier N in the small model's
 * place and tier N + 1 in the large one's.
 *
 * <p>An outcome is used when tier N answered it whole (not stopped early), its rule scored the
 * answer, tier N + 1 answered too, and the request carried a reference, or, without one, the
 * feedback joined to it decides both tiers' answers (a corrected answer; or a verdict that the
 * served answer was right, each tier then right where its answer is the served one): every request tier N's rule
 * passed on, and the explored few of those it would have served ({@code
 * policy.tier-exploration-rates}). Each counts {@code 1 / propensity} times (the tier answer's
 * {@code propensity}: 1 for a request the rule passed on, the exploration rate for an explored
 * one; a record without one counts once), so that the weighted outcomes stand for every request
 * that reached tier N with a reference. The tier's rules are all closed-form, so each is scored here
 * from the answer's recorded token log-probabilities; the rule in force is also read from the
 * recorded score.
 *
 * <p>Beside the rules' AUC-DF the report gives, for the rule in force, the exact match of the two
 * tiers together and their cost per request at each share of these requests passed on (the
 * threshold being the score above which that weighted share lies): what moving the tier's threshold
 * would do.
 */
public final class TierOutcomeReport {

  /** Skip reasons, as counted and shown. */
  public static final String NOT_REACHED = "tier not reached";
  public static final String UNSCORED = "tier answer not scored (last tier, or no rule)";
  public static final String STOPPED_EARLY = "tier stopped early (a prefix)";
  public static final String NO_LOGPROBS = "no token log-probabilities";
  public static final String NO_REFERENCE = "no reference or feedback";
  public static final String FEEDBACK_UNDECIDED = "feedback does not decide both answers";
  public static final String DEGRADED = "escalation failed (degraded)";
  public static final String SERVED = "served by the tier (no next-tier answer)";
  public static final String NO_NEXT = "no later tier answered (degraded)";
  public static final String UNDECODABLE = OutcomeReport.UNDECODABLE;

  private static final Map<String, String> REMEDIES = Map.of(
      SERVED, "set policy.tier-exploration-rates above 0 (or `policy set --tier N --exploration-rate E`), so that"
          + " some requests the tier would serve are passed on and the next tier's answer is seen for them",
      STOPPED_EARLY, "set escalation.early-defer-label-share above 0 on the router (a share of the answers that"
          + " would stop early decode whole and stand for the rest), or escalation.early-defer=false (answers that"
          + " stop early are prefixes, whose correctness is unknown)",
      NO_REFERENCE, "send requests with a reference answer (CascadeRequest.reference, `ask --reference`), or"
          + " feedback on the feedback topic (POST /v1/feedback, `cascade feedback`)",
      NO_LOGPROBS, "use a cascade:// target for the tier: kserve:// and openai:// return no log-probabilities");

  /** Shares of the requests passed on in the threshold table. */
  static final double[] SHARES = {0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0};

  private record Item(String requestId, float[] logprobs, double[] chow, String inForce, double score,
      boolean tierCorrect, boolean nextCorrect, double weight, boolean explored, double tierCost, double nextCost,
      boolean labelSampled, long createdAtMs, double tokenCost, double stopMargin) {

    /**
     * This answer's running scores by {@code rule}, each less {@link #stopMargin} where {@code
     * rule} is the one that scored it ({@code ruleName}): the routers stopped it that far above its
     * threshold (under a target rate, {@code policy.target-early-defer-margin}), so at a threshold
     * T it would stop once its running score passed T plus that margin. Null when it has none.
     */
    double[] stopScores(DeferralRule rule, String ruleName) {
      return dev.cascade.router.policy.EarlyDeferral.stopScores(rule, logprobs,
          ruleName.equals(inForce) ? stopMargin : 0);
    }
  }

  /**
   * The tiers together with a share of the requests passed on: the threshold that passes it on,
   * their exact match, and their cost per request reaching tier N (tier N's call, plus tier N + 1's
   * where passed on; the outcomes' {@code cost_units}).
   */
  public record Point(double share, double threshold, double accuracy, double cost) {}

  /** Gathers the usable outcomes of one tier, counting the others by why they were skipped. */
  public static final class Collector implements Consumer<RoutingOutcome> {
    private final int tier;
    private final java.util.function.Function<RoutingOutcome, dev.cascade.schemas.avro.Feedback> feedback;
    private final Map<String, Long> labels = new LinkedHashMap<>();
    private final List<DeferralRule> chow = CascadeReport.CHOW_RULES.stream()
        .map(name -> DeferralRules.builtIn().create(name)).toList();
    private final List<Item> items = new ArrayList<>();
    private final Map<String, Long> skipped = new LinkedHashMap<>();
    private long read;
    private long earlyStopsAsked;
    /** Outcomes whose answer at this tier was the cascade's last (no rule, no tier after it). */
    private long answeredLast;
    private double[] decay;
    private double decayHalfLife;

    /** @param tier the middle tier evaluated, 1 or above; labelled by the outcomes' references alone */
    public Collector(int tier) {
      this(tier, outcome -> null);
    }

    /**
     * @param tier the middle tier evaluated, 1 or above
     * @param feedback the feedback joined to an outcome ({@link FeedbackJoin#on}), or null: it labels an
     *     outcome without a reference where it decides both tiers' answers
     */
    public Collector(int tier, java.util.function.Function<RoutingOutcome, dev.cascade.schemas.avro.Feedback> feedback) {
      this.feedback = Objects.requireNonNull(feedback, "feedback");
      if (tier < 1) {
        throw new IllegalArgumentException("--tier: must be a middle tier's number, 1 or above (tier 0, the small"
            + " model, is what eval --outcomes evaluates without --tier); was " + tier);
      }
      this.tier = tier;
    }

    @Override
    public void accept(RoutingOutcome outcome) {
      read++;
      TierAnswer answer = null;
      TierAnswer next = null;
      for (TierAnswer a : outcome.getTierAnswers()) {
        if (a.getTier() == tier) {
          answer = a;
        } else if (a.getTier() > tier && (next == null || a.getTier() < next.getTier())) {
          // The next tier that answered: tier + 1, or the one after it when that was skipped as
          // unavailable (escalation.skip-unavailable-tiers), where the request then went.
          next = a;
        }
      }
      if (answer != null && answer.getRule() == null && next == null) {
        answeredLast++; // the cascade's last model: no rule scores it
      }
      if (answer != null && (answer.getStopThreshold() != null || answer.getStoppedEarly()
          || answer.getLabelPropensity() != null)) {
        earlyStopsAsked++; // the routers ask this tier to stop early (escalation.early-defer)
      }
      String reason = answer == null ? NOT_REACHED
          : answer.getRule() == null || answer.getScore() == null ? UNSCORED
          : answer.getStoppedEarly() ? STOPPED_EARLY
          : answer.getTokenLogprobs().isEmpty() ? NO_LOGPROBS
          : !answer.getDeferred() ? SERVED
          : next == null ? NO_NEXT : null;
      String right = null;
      String source = LabelledOutcomes.REFERENCE;
      if (reason == null) {
        right = outcome.getReference();
        if (right == null) {
          source = LabelledOutcomes.FEEDBACK;
          dev.cascade.schemas.avro.Feedback judged = feedback.apply(outcome);
          if (judged == null) {
            reason = NO_REFERENCE;
          } else if (judged.getCorrectedText() != null) {
            right = judged.getCorrectedText(); // decides every answer
          } else if (!Boolean.TRUE.equals(judged.getCorrect())) {
            reason = FEEDBACK_UNDECIDED; // a wrong served answer says nothing of the others
          } else if (outcome.getDegraded() || outcome.getLargeText() == null) {
            reason = DEGRADED;
          } else {
            right = outcome.getLargeText(); // the served tier's answer, judged right
          }
        }
      }
      if (reason != null) {
        skip(reason, 1);
        return;
      }
      labels.merge(source, 1L, Long::sum);
      float[] logprobs = new float[answer.getTokenLogprobs().size()];
      for (int i = 0; i < logprobs.length; i++) {
        logprobs[i] = answer.getTokenLogprobs().get(i);
      }
      // The closed-form rules read log-probabilities only, as the router scores a tier's answer.
      UncertaintyFeatures features = FeatureExtractor.extract(logprobs, new float[logprobs.length]);
      double[] scores = chow.stream().mapToDouble(rule -> rule.score(features)).toArray();
      double propensity = answer.getPropensity() == null ? 1.0 : answer.getPropensity();
      // An answer label sampling decoded whole stands for the ones early deferral stopped, too.
      double labelPropensity = answer.getLabelPropensity() == null ? 1.0 : answer.getLabelPropensity();
      items.add(new Item(outcome.getRequestId(), logprobs, scores, answer.getRule(), answer.getScore(), answer.getText().equals(right),
          next.getText().equals(right), 1.0 / (propensity * labelPropensity), answer.getExplored(),
          answer.getCostUnits(), next.getCostUnits(), answer.getLabelPropensity() != null, outcome.getCreatedAtMs(),
          tokenCost(answer, outcome.getPrompt()), stopMargin(answer)));
    }

    /**
     * How far above its threshold the routers asked {@code answer} to stop ({@code stop_threshold}
     * less {@code threshold}): 0 at a fixed threshold, a margin under a target rate; 0 when either
     * is not recorded.
     */
    static double stopMargin(TierAnswer answer) {
      return answer.getStopThreshold() == null || answer.getThreshold() == null ? 0
          : Math.max(0, answer.getStopThreshold() - answer.getThreshold());
    }

    /**
     * What one of the answer's tokens cost: its cost over the prompt's and the output's tokens, as
     * the router prices a call ({@code cost.tiers.per-token} × ({@link
     * dev.cascade.router.routing.CostModel#promptTokens} + output tokens)); 0 where the output's
     * count is unknown.
     */
    private static double tokenCost(TierAnswer answer, String prompt) {
      Integer output = dev.cascade.router.routing.RoutingRecords.outputTokens(answer);
      int tokens = output == null ? 0 : dev.cascade.router.routing.CostModel.promptTokens(prompt) + output;
      return tokens <= 0 ? 0 : answer.getCostUnits() / tokens;
    }

    /**
     * Whether the routers ask this tier to stop early: one of its answers read was given a stop
     * threshold, stopped early, or was decoded whole for its label where it would have stopped.
     */
    public boolean stopsEarly() {
      return earlyStopsAsked > 0;
    }

    /** Counts records the reader met that were not outcomes. */
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

    /**
     * The tier's answers skipped because they stopped early, where label sampling decoded none
     * whole to stand for them: then nothing is known above the stop threshold (0 otherwise).
     */
    public long stoppedEarlyUnsampled() {
      return unsampledStops(skipped, items.stream().filter(Item::labelSampled).count());
    }

    /**
     * The usable outcomes as {@link TierTuning} reads them: each tier answer scored again by
     * {@code policy}'s rule (the one in force now, whichever scored it when it ran), its weight
     * capped at {@code maxWeight}. Where the tier stops early ({@link #stopsEarly}) and the rule's
     * early deferral is exact, each also carries its running scores and its cost per token, so the
     * tuner counts what stopping saves on the answers passed on.
     */
    public List<TierTuning.Item> tuningItems(dev.cascade.router.policy.TierPolicy policy, double maxWeight) {
      return tuningItems(policy, maxWeight, 0);
    }

    /**
     * As above, each weight also halving for every {@code halfLife} usable outcomes created after
     * it ({@code created_at_ms}; ties by the order read), so that a choice leans towards recent
     * traffic; 0: every outcome alike.
     */
    public List<TierTuning.Item> tuningItems(dev.cascade.router.policy.TierPolicy policy, double maxWeight,
        double halfLife) {
      Objects.requireNonNull(policy, "policy");
      double[] decay = decay(halfLife);
      DeferralRule rule = DeferralRules.of(policy.rule(), policy.alpha());
      boolean stops = stopsEarly() && dev.cascade.router.policy.EarlyDeferral.isExact(rule);
      List<TierTuning.Item> out = new ArrayList<>(items.size());
      for (int n = 0; n < items.size(); n++) {
        Item item = items.get(n);
        double[] running = stops && item.tokenCost() > 0 ? item.stopScores(rule, policy.ruleName()) : null;
        out.add(new TierTuning.Item(item.requestId(), policy.score(item.logprobs()), item.tierCorrect(),
            item.nextCorrect(), item.nextCost(), Math.min(maxWeight, item.weight()) * decay[n], running,
            running == null ? 0 : item.tokenCost()));
      }
      return out;
    }

    /**
     * Each usable outcome's recency factor, 0.5^(newer outcomes / {@code halfLife}), all 1 for 0;
     * kept for the next call with the same half-life (each rule a tuner weighs asks for it).
     */
    private double[] decay(double halfLife) {
      if (decay != null && decay.length == items.size() && decayHalfLife == halfLife) {
        return decay;
      }
      double[] factors = TierTuning.halfLifeFactors(items.stream().mapToLong(Item::createdAtMs).toArray(), halfLife);
      decay = factors;
      decayHalfLife = halfLife;
      return factors;
    }
  }

  private final int tier;
  private final long read;
  private final int used;
  private final int explored;
  private final int labelSampled;
  private final Map<String, Long> skipped;
  private final Map<String, Long> labels;
  private final double totalWeight;
  private final double effectiveN;
  private final double tierAccuracy;
  private final double nextAccuracy;
  private final double asRunShare;
  private final double asRunAccuracy;
  private final List<OutcomeReport.RuleResult> rules;
  private final String inForce;
  private final List<Point> points;

  private TierOutcomeReport(int tier, long read, int used, int explored, int labelSampled, Map<String, Long> skipped,
      Map<String, Long> labels, double totalWeight,
      double effectiveN, double tierAccuracy, double nextAccuracy, double asRunShare, double asRunAccuracy,
      List<OutcomeReport.RuleResult> rules, String inForce, List<Point> points) {
    this.tier = tier;
    this.read = read;
    this.used = used;
    this.explored = explored;
    this.labelSampled = labelSampled;
    this.skipped = skipped;
    this.labels = labels;
    this.totalWeight = totalWeight;
    this.effectiveN = effectiveN;
    this.tierAccuracy = tierAccuracy;
    this.nextAccuracy = nextAccuracy;
    this.asRunShare = asRunShare;
    this.asRunAccuracy = asRunAccuracy;
    this.rules = rules;
    this.inForce = inForce;
    this.points = points;
  }

  /**
   * Evaluates the tier's rules on the collected outcomes.
   *
   * @throws IllegalArgumentException if no outcome is usable (the message gives the skip reasons and
   *     what changes them)
   */
  public static TierOutcomeReport compute(Collector collected, int resamples, long seed) {
    Objects.requireNonNull(collected, "collected");
    List<Item> items = collected.items;
    if (items.isEmpty()) {
      throw new IllegalArgumentException(nothingUsable(collected));
    }
    int n = items.size();
    boolean[] tierCorrect = new boolean[n];
    boolean[] nextCorrect = new boolean[n];
    double[] weights = new double[n];
    for (int i = 0; i < n; i++) {
      tierCorrect[i] = items.get(i).tierCorrect();
      nextCorrect[i] = items.get(i).nextCorrect();
      weights[i] = items.get(i).weight();
    }
    CascadeEvaluation all = new CascadeEvaluation(tierCorrect, nextCorrect);
    Map<String, double[]> scores = new LinkedHashMap<>();
    scores.put(CascadeReport.RANDOM, new double[n]);
    for (int r = 0; r < CascadeReport.CHOW_RULES.size(); r++) {
      int rule = r;
      scores.put(CascadeReport.CHOW_RULES.get(r), items.stream().mapToDouble(item -> item.chow()[rule]).toArray());
    }
    // The rule in force: the one most of the used answers were decided by (its recorded score).
    Map<String, Integer> byRule = new TreeMap<>();
    items.forEach(item -> byRule.merge(item.inForce(), 1, Integer::sum));
    String inForce = byRule.entrySet().stream().max(Map.Entry.comparingByValue()).orElseThrow().getKey();
    int[] subset = java.util.stream.IntStream.range(0, n).filter(i -> items.get(i).inForce().equals(inForce)).toArray();
    double[] chowSum = scores.get(OutcomeReport.BASELINE);
    List<OutcomeReport.RuleResult> results = new ArrayList<>();
    scores.forEach((name, s) -> results.add(OutcomeReport.result(name, all, s, weights, chowSum, resamples, seed)));
    boolean[] subsetTier = new boolean[subset.length];
    boolean[] subsetNext = new boolean[subset.length];
    double[] subsetWeights = new double[subset.length];
    double[] subsetScores = new double[subset.length];
    double[] subsetChowSum = new double[subset.length];
    for (int j = 0; j < subset.length; j++) {
      Item item = items.get(subset[j]);
      subsetTier[j] = item.tierCorrect();
      subsetNext[j] = item.nextCorrect();
      subsetWeights[j] = item.weight();
      subsetScores[j] = item.score();
      subsetChowSum[j] = chowSum[subset[j]];
    }
    results.add(OutcomeReport.result(OutcomeReport.IN_FORCE + inForce, new CascadeEvaluation(subsetTier, subsetNext),
        subsetScores, subsetWeights, subsetChowSum, resamples, seed));
    results.add(OutcomeReport.result(CascadeReport.ORACLE, all, all.oracleScores(), weights, chowSum, resamples, seed));

    double total = 0;
    double squares = 0;
    double tierRight = 0;
    double nextRight = 0;
    double asRunPassed = 0;
    double asRunRight = 0;
    for (Item item : items) {
      double w = item.weight();
      total += w;
      squares += w * w;
      tierRight += item.tierCorrect() ? w : 0;
      nextRight += item.nextCorrect() ? w : 0;
      // Every used answer was passed on; those its rule passed on (not explored) are the rule's own.
      boolean ruleDeferred = !item.explored();
      asRunPassed += ruleDeferred ? w : 0;
      asRunRight += (ruleDeferred ? item.nextCorrect() : item.tierCorrect()) ? w : 0;
    }
    List<Point> points = points(items.stream().filter(item -> item.inForce().equals(inForce)).toList(),
        collected.stopsEarly() ? dev.cascade.router.policy.EarlyDeferral.exactRule(inForce) : null);
    int explored = (int) items.stream().filter(Item::explored).count();
    int labelSampled = (int) items.stream().filter(Item::labelSampled).count();
    return new TierOutcomeReport(collected.tier, collected.read, n, explored, labelSampled,
        Collections.unmodifiableMap(new LinkedHashMap<>(collected.skipped)),
        Collections.unmodifiableMap(new LinkedHashMap<>(collected.labels)), total, total * total / squares,
        tierRight / total, nextRight / total, asRunPassed / total, asRunRight / total, List.copyOf(results), inForce,
        points);
  }

  /**
   * The two tiers' exact match together when the rule in force passes on each of {@link #SHARES}
   * of the weighted requests: those with the highest recorded scores, the threshold being the
   * highest score passed over (the lowest one passed on, less nothing: a request scoring above it
   * goes on). Ties are passed on together, so a share is reached at or past its level. With {@code
   * stopping} (the rule in force, where the tier stops early and the rule's early deferral is
   * exact), an answer passed on costs only its tokens until its running score passes the
   * threshold ({@link TierTuning.Item#saved}).
   */
  static List<Point> points(List<Item> items, DeferralRule stopping) {
    List<Item> byScore = new ArrayList<>(items);
    byScore.sort(Comparator.comparingDouble(Item::score).reversed());
    double total = items.stream().mapToDouble(Item::weight).sum();
    // Each answer's running scores once, for every share's threshold.
    List<TierTuning.Item> stops = byScore.stream().map(item -> new TierTuning.Item(item.requestId(), item.score(),
        item.tierCorrect(), item.nextCorrect(), item.nextCost(), item.weight(),
        stopping == null || item.tokenCost() <= 0 ? null : item.stopScores(stopping, item.inForce()),
        item.tokenCost()))
        .toList();
    List<Point> points = new ArrayList<>();
    for (double share : SHARES) {
      // Pass on from the top until the weighted share is reached (whole ties at once).
      int k = TierTuning.topUntil(byScore, Item::score, Item::weight, share * total);
      double passed = 0;
      for (int i = 0; i < k; i++) {
        passed += byScore.get(i).weight();
      }
      double threshold = k == 0 ? (byScore.isEmpty() ? Double.POSITIVE_INFINITY : byScore.get(0).score())
          : k == byScore.size() ? Double.NEGATIVE_INFINITY : byScore.get(k).score();
      double right = 0;
      double cost = 0;
      for (int i = 0; i < byScore.size(); i++) {
        Item item = byScore.get(i);
        right += (i < k ? item.nextCorrect() : item.tierCorrect()) ? item.weight() : 0;
        cost += item.weight() * (item.tierCost() + (i < k ? item.nextCost() - stops.get(i).saved(threshold) : 0));
      }
      points.add(new Point(passed / total, threshold, right / total, cost / total));
    }
    return List.copyOf(points);
  }

  static String nothingUsable(Collector collected) {
    StringBuilder message = new StringBuilder("no usable outcome for tier " + collected.tier + " among the "
        + collected.read + " read (skipped: " + (collected.skipped.isEmpty() ? "none"
        : String.join(", ", collected.skipped.entrySet().stream().map(e -> e.getValue() + " " + e.getKey()).toList()))
        + ")");
    collected.skipped.keySet().stream().filter(REMEDIES::containsKey)
        .forEach(reason -> message.append("; ").append(reason).append(": ").append(REMEDIES.get(reason)));
    if (collected.answeredLast > 0 && java.util.Set.of(UNSCORED, NOT_REACHED).containsAll(collected.skipped.keySet())) {
      message.append("; tier ").append(collected.tier).append(" answered as the cascade's last model in ")
          .append(collected.answeredLast).append(" outcomes, where no rule decides: --tier evaluates a middle tier's"
              + " rule (a cascade of three models or more); eval --outcomes without --tier evaluates the small"
              + " model's");
    }
    if (collected.skipped.keySet().equals(java.util.Set.of(NOT_REACHED))) {
      message.append("; no outcome has an answer of tier ").append(collected.tier)
          .append(": is the router's cascade that long (tiers), and is this its outcomes topic?");
    }
    return message.toString();
  }

  /**
   * A warning when none of the used outcomes is explored: the requests the tier served are then
   * missing, and no weighting brings them back (empty when some are).
   */
  public java.util.Optional<String> positivityWarning() {
    if (explored > 0) {
      return java.util.Optional.empty();
    }
    return java.util.Optional.of("warning: none of the " + used + " outcomes used was explored at tier " + tier
        + ": they are the requests its rule passed on, not the ones it served, so these figures are of that"
        + " subpopulation only; set policy.tier-exploration-rates above 0 (or `policy set --tier " + tier
        + " --exploration-rate E`) to evaluate the tier's rule on all the requests reaching it");
  }

  /** A warning when fewer than {@link OutcomeReport#SMALL_SAMPLE} outcomes are used; empty otherwise. */
  public java.util.Optional<String> smallSampleWarning() {
    return OutcomeReport.smallSampleWarning(used);
  }

  /**
   * The answers skipped because they stopped early, where none was decoded whole by label sampling
   * ({@code labelSampled} used answers were) to stand for them; 0 when the sampled ones do.
   */
  private static long unsampledStops(Map<String, Long> skipped, long labelSampled) {
    return labelSampled > 0 ? 0 : skipped.getOrDefault(STOPPED_EARLY, 0L);
  }

  /**
   * A warning when answers of the tier that stopped early were skipped: those are requests its rule
   * passed on above the stop threshold, so the figures cover only the requests below it; empty when
   * none stopped.
   */
  public java.util.Optional<String> stoppedEarlyWarning() {
    long stopped = unsampledStops(skipped, labelSampled);
    if (stopped == 0) {
      return java.util.Optional.empty();
    }
    return java.util.Optional.of("warning: " + stopped + " outcomes where tier " + tier + " stopped early (a prefix,"
        + " whose correctness is unknown) were skipped: they are requests its rule passed on, so these figures leave"
        + " out the requests that score highest; set escalation.early-defer-label-share above 0 on the router (a"
        + " share decodes whole and stands for them), or escalation.early-defer=false, while evaluating a middle"
        + " tier");
  }

  public int tier() {
    return tier;
  }

  public long read() {
    return read;
  }

  public int used() {
    return used;
  }

  public int explored() {
    return explored;
  }

  /** Used answers that label sampling decoded whole where early deferral would have stopped them. */
  public int labelSampled() {
    return labelSampled;
  }

  public Map<String, Long> skipped() {
    return skipped;
  }

  /** The used outcomes by label source: {@code reference}, {@code feedback}. */
  public Map<String, Long> labels() {
    return labels;
  }

  public double effectiveN() {
    return effectiveN;
  }

  public double totalWeight() {
    return totalWeight;
  }

  /** Tier N's weighted exact match on the used outcomes. */
  public double tierAccuracy() {
    return tierAccuracy;
  }

  /** Tier N + 1's. */
  public double nextAccuracy() {
    return nextAccuracy;
  }

  /** The weighted share the rule in force passed on (explored requests not counted). */
  public double asRunShare() {
    return asRunShare;
  }

  /** The two tiers' weighted exact match under the decisions the rule made (explored requests counted as served). */
  public double asRunAccuracy() {
    return asRunAccuracy;
  }

  public List<OutcomeReport.RuleResult> rules() {
    return rules;
  }

  public OutcomeReport.RuleResult rule(String name) {
    return rules.stream().filter(r -> r.name().equals(name)).findFirst()
        .orElseThrow(() -> new IllegalArgumentException("no rule " + name));
  }

  /** The rule most used answers were decided by. */
  public String inForce() {
    return inForce;
  }

  public List<Point> points() {
    return points;
  }

  public ObjectNode toJson() {
    ObjectNode root = JsonNodeFactory.instance.objectNode();
    root.put("tier", tier);
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
    root.put("tier_accuracy", tierAccuracy);
    root.put("next_tier_accuracy", nextAccuracy);
    ObjectNode asRun = root.putObject("as_run");
    asRun.put("passed_on", asRunShare);
    asRun.put("accuracy", asRunAccuracy);
    OutcomeReport.putRules(root, rules);
    root.put("in_force", inForce);
    ArrayNode curve = root.putArray("by_share_passed_on");
    for (Point p : points) {
      ObjectNode point = curve.addObject();
      point.put("share", p.share());
      if (Double.isFinite(p.threshold())) {
        point.put("threshold", p.threshold());
      } else {
        point.put("threshold", p.threshold() > 0 ? "Infinity" : "-Infinity");
      }
      point.put("accuracy", p.accuracy());
      point.put("cost_units", p.cost());
    }
    return root;
  }

  public String toTable() {
    StringBuilder out = new StringBuilder();
    out.append("tier ").append(tier).append(": outcomes ").append(OutcomeReport.counts(read, used, skipped)).append('\n');
    out.append(String.format(Locale.ROOT,
        "used: %d passed on by the rule%s, %d explored (labelled by %s); weighted by 1/propensity they stand for"
            + " %.1f requests reaching tier %d, effective sample size %.1f; tier %d %.2f%%, tier %d %.2f%% (weighted)%n",
        used - explored, labelSampled == 0 ? "" : " (" + labelSampled + " decoded whole by label sampling)", explored,
        String.join(", ", labels.entrySet().stream().map(e -> e.getKey() + " "
            + e.getValue()).toList()), totalWeight, tier, effectiveN, tier, 100 * tierAccuracy, tier + 1,
        100 * nextAccuracy));
    out.append(String.format(Locale.ROOT, "as run: the rule passed on %.1f%%, the two tiers together %.2f%%%n",
        100 * asRunShare, 100 * asRunAccuracy));
    OutcomeReport.appendRules(out, rules);
    out.append(String.format(Locale.ROOT, "%s, by the share passed on (weighted):%n", inForce));
    out.append(String.format(Locale.ROOT, "%8s %10s %9s %10s%n", "passed", "threshold", "accuracy",
        "cost/req"));
    for (Point p : points) {
      out.append(String.format(Locale.ROOT, "%7.1f%% %10.4f %8.2f%% %10.1f%n", 100 * p.share(), p.threshold(),
          100 * p.accuracy(), p.cost()));
    }
    return out.toString();
  }
}
