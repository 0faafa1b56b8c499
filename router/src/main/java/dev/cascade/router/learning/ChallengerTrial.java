package dev.cascade.router.learning;

import dev.cascade.router.evaluation.BootstrapComparison;
import dev.cascade.router.evaluation.CascadeEvaluation;
import dev.cascade.router.rules.DeferralRule;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * One round of the continuous learner: a challenger trained on the examples, compared with the
 * champion (the rule in force) on the newest slice, scored there by models that did not train on
 * it. The challenger wins only when the lower bound of the paired-bootstrap 95% interval of
 * AUC-DF(challenger) − AUC-DF(champion), estimated on logged traffic as {@link DoublyRobust}
 * explains, is above zero (but see the refresh below). Pure: no Kafka, deterministic for its seed.
 *
 * <h2>Held out, and cross-fitted</h2>
 *
 * <p>The held-out slice is the newest {@code holdoutFraction} of the examples (at least {@code
 * minHoldout}), and never reaches back into examples the champion was trained on, so the champion
 * is judged on data it has not seen. The challenger's scores there are cross-fitted: the slice is
 * cut into the trainer's number of folds, and each fold is scored by the chosen learner fitted on
 * the older examples and the slice's other folds. So every held-out score comes from a model that
 * did not see that example, yet the models saw the newest traffic: after a shift, the challenger
 * is judged as a learner of the new traffic, not as a model of the old. The published challenger
 * is the same learner fitted on every example (the usual estimate of a procedure by
 * cross-fitting). The cross-fitted scores are what its artifact carries for calibrating thresholds
 * without leakage.
 *
 * <h2>Recent examples weigh more</h2>
 *
 * <p>With a half-life of H labels, a training example's weight (its inverse propensity) is halved
 * for every H examples newer than it. After a shift in traffic the challenger then learns the new
 * traffic from the few hundred examples of it there are, instead of from a window mostly of the
 * old. The comparison is not reweighted: challenger and champion are judged on the held-out
 * slice as it is.
 *
 * <h2>The fallback rule too</h2>
 *
 * <p>Whatever the champion, a challenger is published only if it also beats the policy's fallback
 * rule ({@link Champion#fallbackSpec()}, Chow-Sum by default) on the same slice, by the same test:
 * the lower bound of the paired-bootstrap 95% interval of AUC-DF(challenger) − AUC-DF(fallback)
 * above zero. The fallback needs no model and is what the policy returns to, so a learned rule not
 * shown better than it is no gain worth a model; and a weak champion (an operator's Chow-Quantile
 * at α = 1, say) is beaten by a challenger that is still worse than Chow-Sum. Where the champion is
 * the fallback the two tests are one. A challenger that beats the champion but not the fallback is
 * rejected, the reason saying so ({@link Verdict#rejectedByFallback()}).
 *
 * <h2>Refreshing a learned champion (opt-in)</h2>
 *
 * <p>With a refresh margin m above 0, a challenger also replaces a champion the learner itself
 * trained ({@link Champion#trainedUpTo()} at least 0) when it is not worse on the slice (difference
 * at least 0) and the lower bound of its interval is above −m: a non-inferiority test, since the
 * challenger has seen the newer traffic. A champion the learner did not train (Chow-Sum, a bundled
 * rule) is only ever replaced by a challenger whose lower bound is above zero. With m = 0 (the
 * default) every publication needs that.
 */
public final class ChallengerTrial {

  /** The validation metric that records the highest example sequence number a learner's rule trained on. */
  public static final String TRAINED_UNTIL = "learner_seq_max";

  /**
   * How to run a round.
   *
   * @param set which rule to train
   * @param holdoutFraction the newest fraction held out
   * @param minHoldout fewest held-out examples
   * @param minLabels fewest examples in all (training plus held out)
   * @param maxWeight the clip of inverse-propensity weights
   * @param resamples paired-bootstrap resamples
   * @param trainer cross-validation folds, seed and candidate learners
   * @param halfLifeLabels training weights halve for every this many newer examples (0: all alike)
   * @param refreshMargin how far below a learned champion a newer challenger's interval may reach
   *     and still replace it (0: a challenger must always be better)
   */
  public record Options(FeatureSet set, double holdoutFraction, int minHoldout, int minLabels, double maxWeight,
      int resamples, RuleTrainer.Options trainer, double halfLifeLabels, double refreshMargin) {
    public Options {
      Objects.requireNonNull(set, "set");
      if (!(holdoutFraction > 0 && holdoutFraction < 1)) {
        throw new IllegalArgumentException("holdoutFraction must be in (0, 1), was " + holdoutFraction);
      }
      if (!(halfLifeLabels >= 0) || Double.isInfinite(halfLifeLabels)) {
        throw new IllegalArgumentException("halfLifeLabels must be 0 (off) or positive, was " + halfLifeLabels);
      }
      if (!(refreshMargin >= 0 && refreshMargin < 1)) {
        throw new IllegalArgumentException("refreshMargin must be in [0, 1), was " + refreshMargin);
      }
    }
  }

  /**
   * The champion: the rule in force.
   *
   * @param spec how the policy names it, e.g. {@code chow-sum} or {@code posthoc-quantile@3}
   * @param rule the rule
   * @param trainedUpTo the highest example sequence number it was trained on; −1 when it was not
   *     trained on the learner's examples
   * @param fallbackSpec the policy's fallback rule (null: none), which a challenger must also beat,
   *     and which the champion reverts to when it beats the champion and {@code revertible}
   * @param fallback that rule
   * @param revertible whether the learner may replace the champion by the fallback: a learned
   *     champion, not an operator's closed-form choice
   */
  public record Champion(String spec, DeferralRule rule, long trainedUpTo, String fallbackSpec, DeferralRule fallback,
      boolean revertible) {

    /** A champion without a fallback. */
    public Champion(String spec, DeferralRule rule, long trainedUpTo) {
      this(spec, rule, trainedUpTo, null, null, false);
    }

    /** A learned champion with a fallback to revert to. */
    public Champion(String spec, DeferralRule rule, long trainedUpTo, String fallbackSpec, DeferralRule fallback) {
      this(spec, rule, trainedUpTo, fallbackSpec, fallback, true);
    }

    /** Whether there is a fallback other than the champion to compare with. */
    boolean hasFallback() {
      return fallback != null && !spec.equals(fallbackSpec);
    }
  }

  /**
   * What a round found.
   *
   * @param publish whether the challenger won
   * @param reason why, in words, with the numbers
   * @param challenger the trained challenger (with its held-out scores as calibration scores), null
   *     when none was trained
   * @param trainExamples examples it trained on
   * @param holdoutExamples examples it was compared on
   * @param challengerAucDf its estimated AUC-DF on the held-out slice (NaN when not compared)
   * @param championAucDf the champion's, on the same slice
   * @param comparison challenger minus champion, with its 95% interval (null when not compared)
   * @param labelSources training examples by label source
   * @param championScores the champion's scores on the compared examples, in the order of the
   *     challenger's calibration scores (empty when not compared)
   * @param revert whether the challenger lost and the champion's fallback rule beat the champion:
   *     the champion has fallen behind the rule it replaced (e.g. after a shift in traffic)
   * @param fallbackComparison fallback minus champion (null when not compared)
   * @param fallbackScores the fallback's scores on the compared examples (empty when not compared)
   * @param versusFallback challenger minus fallback (null when not compared: no fallback, or the
   *     champion is the fallback)
   * @param beatChampion whether the challenger beat (or refreshed) the champion, published or not
   */
  public record Verdict(boolean publish, String reason, LearnedRule challenger, int trainExamples,
      int holdoutExamples, double challengerAucDf, double championAucDf, BootstrapComparison comparison,
      Map<String, Integer> labelSources, double[] championScores, boolean revert,
      BootstrapComparison fallbackComparison, double[] fallbackScores, BootstrapComparison versusFallback,
      boolean beatChampion) {

    static Verdict skipped(String reason) {
      return new Verdict(false, reason, null, 0, 0, Double.NaN, Double.NaN, null, Map.of(), new double[0], false,
          null, new double[0], null, false);
    }

    /**
     * Whether the challenger beat (or refreshed) the champion but was not published because it did
     * not beat the policy's fallback rule.
     */
    public boolean rejectedByFallback() {
      return beatChampion && !publish;
    }
  }

  /** In a verdict's reason when a challenger that beat the champion did not beat the fallback. */
  public static final String NOT_ABOVE_FALLBACK = "not published: it does not beat the fallback";

  private ChallengerTrial() {}

  /**
   * Runs one round.
   *
   * @param examples the labelled examples, oldest first
   * @param seqs each example's sequence number at the learner, increasing
   * @param observations how each example was observed (escalated, propensity, labelled whether or
   *     not escalated), for the comparison ({@link DoublyRobust}); null: every example fully labelled
   * @param version the challenger's version
   * @param modelFingerprint the small model the examples came from
   */
  public static Verdict run(List<DeferralExample> examples, long[] seqs, List<DoublyRobust.Observation> observations,
      Champion champion, long version, String modelFingerprint, Options options, RuleTrainer.Progress progress) {
    return run(examples, seqs, observations, List.of(), champion, version, modelFingerprint, options, progress);
  }

  /**
   * Runs one round with a prior: labelled examples from outside the stream (an operator's labelled
   * data, e.g. the split the shipped rules were trained on), trained on as if they were older than
   * every example of the stream. They are never held out, never count towards {@code minLabels},
   * and their weights decay with the half-life like the stream's oldest example's: with H the
   * half-life and n the stream examples held, a prior example weighs its own weight times
   * 0.5^(n/H), so the prior leads while the stream is short and fades as the stream grows.
   *
   * @param prior fully labelled examples (small and large correctness known), oldest first
   */
  public static Verdict run(List<DeferralExample> examples, long[] seqs, List<DoublyRobust.Observation> observations,
      List<DeferralExample> prior, Champion champion, long version, String modelFingerprint, Options options,
      RuleTrainer.Progress progress) {
    Objects.requireNonNull(champion, "champion");
    Objects.requireNonNull(prior, "prior");
    if (seqs.length != examples.size()) {
      throw new IllegalArgumentException(examples.size() + " examples but " + seqs.length + " sequence numbers");
    }
    int n = examples.size();
    List<DoublyRobust.Observation> observed = observations != null ? observations : complete(examples);
    if (observed.size() != n) {
      throw new IllegalArgumentException(n + " examples but " + observed.size() + " observations");
    }
    if (n < options.minLabels()) {
      return Verdict.skipped(String.format(Locale.ROOT, "%d labelled examples, fewer than the %d needed", n,
          options.minLabels()));
    }
    // The newest slice: at least holdoutFraction of the examples and minHoldout comparable ones,
    // none the champion trained on.
    int minSlice = (int) Math.round(n * options.holdoutFraction());
    int start = n;
    int comparable = 0;
    while (start > 0 && seqs[start - 1] > champion.trainedUpTo()
        && (n - start < minSlice || comparable < options.minHoldout())) {
      start--;
      comparable += observed.get(start).comparable() ? 1 : 0;
    }
    if (comparable < options.minHoldout()) {
      return Verdict.skipped(String.format(Locale.ROOT,
          "%d comparable examples arrived after the champion %s was trained, fewer than the %d a comparison needs",
          comparable, champion.spec(), options.minHoldout()));
    }
    List<DeferralExample> held = examples.subList(start, n);
    List<DeferralExample> older = examples.subList(0, start);
    if (older.size() < options.minHoldout()) {
      return Verdict.skipped("only " + older.size() + " examples before the held-out slice");
    }
    // Training needs the label (the benefit of deferring); an accepted request whose small answer
    // was wrong has none without the large model's, but its reference still counts in comparisons.
    boolean[] trainable = trainable(examples, observed);
    List<DeferralExample> weighted = recencyWeighted(examples, options.halfLifeLabels());
    List<DeferralExample> priorWeighted = priorWeighted(prior, n, options.halfLifeLabels());
    List<DeferralExample> training = new ArrayList<>(priorWeighted);
    training.addAll(labelled(weighted, trainable));
    RuleTrainer.TrainingResult trained;
    try {
      trained = RuleTrainer.train(options.set(), training,
          "learner examples seq " + seqs[0] + "-" + seqs[n - 1], version, options.trainer(), progress);
    } catch (IllegalArgumentException e) {
      return Verdict.skipped("cannot train: " + e.getMessage());
    }
    LearnedRule challenger = trained.rule();
    LearnerSpec chosen = options.trainer().candidates().stream()
        .filter(c -> c.id().equals(challenger.info().learner())).findFirst().orElseThrow();
    double[] challengerScores = new double[held.size()];
    int folds = Math.min(options.trainer().folds(), held.size());
    for (int f = 0; f < folds; f++) {
      List<DeferralExample> fitOn = new ArrayList<>(priorWeighted);
      List<DeferralExample> fold = new ArrayList<>();
      List<Integer> positions = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        if (i >= start && (i - start) % folds == f) {
          fold.add(examples.get(i));
          positions.add(i - start);
        } else if (trainable[i]) {
          fitOn.add(weighted.get(i));
        }
      }
      double[] scores;
      try {
        scores = RuleTrainer.fitAndScore(challenger.info().featureNames(), fitOn, fold, chosen,
            options.trainer().seed() + 101 + f);
      } catch (IllegalArgumentException e) {
        return Verdict.skipped("cannot cross-fit: " + e.getMessage());
      }
      for (int j = 0; j < scores.length; j++) {
        challengerScores[positions.get(j)] = scores[j];
      }
      progress.fitted(chosen.id() + " cross-fit " + (f + 1) + "/" + folds);
    }
    // Compared on every comparable example, the large model's correctness estimated where it did
    // not answer (doubly robust, stratified by the champion's score): see DoublyRobust.
    double[] championAll = scores(champion.rule(), examples);
    DoublyRobust.Estimate estimate = DoublyRobust.estimate(
        new DoublyRobust.Part(older, observed.subList(0, start), Arrays.copyOfRange(championAll, 0, start)),
        new DoublyRobust.Part(held, observed.subList(start, n), Arrays.copyOfRange(championAll, start, n)),
        folds, options.maxWeight());
    double[] compared = new double[estimate.size()];
    double[] championScores = new double[estimate.size()];
    for (int k = 0; k < compared.length; k++) {
      compared[k] = challengerScores[estimate.positions()[k]];
      championScores[k] = championAll[start + estimate.positions()[k]];
    }
    double[] weights = estimate.weights();
    CascadeEvaluation evaluation = CascadeEvaluation.withEstimatedLarge(estimate.small(), estimate.large());
    double challengerAuc = evaluation.aucDf(compared, weights);
    double championAuc = evaluation.aucDf(championScores, weights);
    BootstrapComparison comparison = evaluation.pairedBootstrap(compared, championScores, weights,
        options.resamples(), options.trainer().seed());

    Map<String, Integer> sources = new LinkedHashMap<>();
    training.forEach(e -> sources.merge(e.labelSource(), 1, Integer::sum));
    Map<String, Double> metrics = new LinkedHashMap<>(challenger.info().validationMetrics());
    metrics.put(TRAINED_UNTIL, (double) seqs[n - 1]);
    if (!prior.isEmpty()) {
      metrics.put("prior_examples", (double) prior.size());
    }
    metrics.put("holdout_examples", (double) held.size());
    metrics.put("holdout_compared", (double) comparable);
    metrics.put("holdout_imputed", (double) estimate.imputed());
    metrics.put("holdout_auc_df", challengerAuc);
    metrics.put("holdout_auc_df_champion", championAuc);
    metrics.put("holdout_delta_ci_low", comparison.ciLow());
    metrics.put("holdout_delta_ci_high", comparison.ciHigh());
    sources.forEach((source, count) -> metrics.put("labels_" + source, (double) count));
    RuleInfo info = challenger.info();
    RuleInfo published = new RuleInfo(info.name(), version, info.learner(), info.featureNames(),
        info.trainingDataRange(), metrics, info.createdAtMs(), modelFingerprint, ModelFingerprint.FEATURE_LAYOUT,
        compared, weights, info.trainingPrompts());
    LearnedRule publishedRule = challenger.withInfo(published);

    // A learned champion is refreshed by a challenger that is not worse on the point estimate and
    // whose interval stays within the margin: the challenger has seen the newer traffic.
    boolean refresh = !comparison.aboveZero() && champion.trainedUpTo() >= 0 && options.refreshMargin() > 0
        && comparison.delta() >= 0 && comparison.ciLow() > -options.refreshMargin();
    boolean beatChampion = comparison.aboveZero() || refresh;
    // The fallback (Chow-Sum by default) is what the policy falls back to and needs no model: a
    // challenger is published only if it beats that too, by the same test, whatever the champion
    // (a weak champion is easy to beat). The champion is also held against it: after a shift a
    // learned champion can fall behind it, and no challenger trained on the mixed window may yet
    // beat the champion.
    BootstrapComparison fallbackComparison = null;
    BootstrapComparison versusFallback = null;
    double[] fallbackScores = new double[0];
    if (champion.hasFallback()) {
      fallbackScores = new double[compared.length];
      for (int k = 0; k < compared.length; k++) {
        fallbackScores[k] = champion.fallback().score(held.get(estimate.positions()[k]).features(),
            held.get(estimate.positions()[k]).embeddingUnsafe());
      }
      fallbackComparison = evaluation.pairedBootstrap(fallbackScores, championScores, weights, options.resamples(),
          options.trainer().seed() + 1);
      versusFallback = evaluation.pairedBootstrap(compared, fallbackScores, weights, options.resamples(),
          options.trainer().seed() + 2);
    }
    boolean beatFallback = versusFallback == null || versusFallback.aboveZero();
    boolean win = beatChampion && beatFallback;
    boolean revert = !win && champion.revertible() && fallbackComparison != null && fallbackComparison.aboveZero();
    String fallbackNote = fallbackComparison == null ? "" : String.format(Locale.ROOT,
        "; vs fallback %s %+.4f (95%% interval %+.4f to %+.4f)%s; fallback %s vs champion %+.4f (95%% interval %+.4f"
            + " to %+.4f)%s", champion.fallbackSpec(), versusFallback.delta(), versusFallback.ciLow(),
        versusFallback.ciHigh(), beatChampion && !beatFallback ? ", " + NOT_ABOVE_FALLBACK
            + " (lower bound not above zero)" : "", champion.fallbackSpec(),
        fallbackComparison.delta(), fallbackComparison.ciLow(), fallbackComparison.ciHigh(),
        revert ? ": the champion fell behind its fallback" : "");
    String reason = String.format(Locale.ROOT,
        "%s v%d %s champion %s on %d of the %d newest examples (cross-fitted; %d not answered by the large model,"
            + " estimated doubly robust): AUC-DF %.4f vs %.4f, difference %+.4f (95%% interval %+.4f to %+.4f; %s);"
            + " trained on %d examples %s%s",
        publishedRule.name(), version, refresh ? "refreshed" : beatChampion ? "beat" : "did not beat", champion.spec(),
        comparable, held.size(),
        estimate.imputed(), challengerAuc, championAuc, comparison.delta(), comparison.ciLow(), comparison.ciHigh(),
        comparison.aboveZero() ? "lower bound above zero" : refresh
            ? String.format(Locale.ROOT, "a refresh: not worse, lower bound within %.4f", options.refreshMargin())
            : "lower bound not above zero", training.size(), sources,
        prior.isEmpty() ? "" : String.format(Locale.ROOT, " (%d of them the prior, weighted %.3f each)",
            prior.size(), priorWeight(n, options.halfLifeLabels())))
        + fallbackNote;
    return new Verdict(win, reason, publishedRule, training.size(), held.size(), challengerAuc, championAuc,
        comparison, sources, championScores, revert, fallbackComparison, fallbackScores, versusFallback,
        beatChampion);
  }

  /**
   * What a round trains its challenger on: the examples (oldest first) that have a label, each with
   * its weight (the inverse propensity for a small answer that was wrong) halved for every {@code
   * halfLife} newer examples ({@link #recencyWeighted}). An example has a label when the small
   * model's answer was right (no benefit, whatever the large model would have said) or the large
   * model answered it.
   */
  public static List<DeferralExample> trainingSet(List<DeferralExample> examples,
      List<DoublyRobust.Observation> observations, double halfLife) {
    if (observations.size() != examples.size()) {
      throw new IllegalArgumentException(examples.size() + " examples but " + observations.size() + " observations");
    }
    return labelled(recencyWeighted(examples, halfLife), trainable(examples, observations));
  }

  /** Which examples have a label: a right small answer, or one the large model answered. */
  private static boolean[] trainable(List<DeferralExample> examples, List<DoublyRobust.Observation> observations) {
    boolean[] out = new boolean[examples.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = examples.get(i).smallCorrect() || observations.get(i).largeObserved();
    }
    return out;
  }

  private static List<DeferralExample> labelled(List<DeferralExample> weighted, boolean[] trainable) {
    List<DeferralExample> out = new ArrayList<>();
    for (int i = 0; i < trainable.length; i++) {
      if (trainable[i]) {
        out.add(weighted.get(i));
      }
    }
    return out;
  }

  /**
   * The examples (oldest first) with each weight halved for every {@code halfLife} examples that
   * came after it, so that training leans towards the newest traffic; unchanged when
   * {@code halfLife} is 0.
   */
  static List<DeferralExample> recencyWeighted(List<DeferralExample> examples, double halfLife) {
    if (halfLife <= 0) {
      return examples;
    }
    int n = examples.size();
    List<DeferralExample> out = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      DeferralExample e = examples.get(i);
      out.add(e.withWeight(e.weight() * Math.pow(0.5, (n - 1 - i) / halfLife)));
    }
    return out;
  }

  /**
   * The prior's examples with each weight halved for every {@code halfLife} of the {@code held}
   * stream examples, all of which are newer; unchanged when {@code halfLife} is 0.
   */
  static List<DeferralExample> priorWeighted(List<DeferralExample> prior, int held, double halfLife) {
    double factor = priorWeight(held, halfLife);
    if (factor == 1.0) {
      return prior;
    }
    List<DeferralExample> out = new ArrayList<>(prior.size());
    prior.forEach(e -> out.add(e.withWeight(e.weight() * factor)));
    return out;
  }

  /** What a prior example's weight is multiplied by with {@code held} stream examples: 0.5^(held/H), 1 for H = 0. */
  public static double priorWeight(int held, double halfLife) {
    return halfLife <= 0 ? 1.0 : Math.pow(0.5, held / halfLife);
  }

  /** The weighted fraction of {@code scores} above {@code threshold}. */
  public static double fractionAbove(double[] scores, double[] weights, double threshold) {
    double above = 0;
    double total = 0;
    for (int i = 0; i < scores.length; i++) {
      double w = weights == null || weights.length == 0 ? 1 : weights[i];
      total += w;
      if (scores[i] > threshold) {
        above += w;
      }
    }
    return total == 0 ? 0 : above / total;
  }

  /** Scores of a rule on examples (for calibrating the champion's current escalation fraction). */
  public static double[] scores(DeferralRule rule, List<DeferralExample> examples) {
    double[] out = new double[examples.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = rule.score(examples.get(i).features(), examples.get(i).embeddingUnsafe());
    }
    return out;
  }

  private static List<DoublyRobust.Observation> complete(List<DeferralExample> examples) {
    List<DoublyRobust.Observation> out = new ArrayList<>(examples.size());
    examples.forEach(e -> out.add(DoublyRobust.Observation.complete(e.largeCorrect())));
    return out;
  }
}
