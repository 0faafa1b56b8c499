package dev.cascade.router.learning;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.cascade.router.features.UncertaintyFeatures;
import dev.cascade.router.rules.DeferralRules;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class ChallengerTrialTest {

  private static final ChallengerTrial.Options OPTIONS = new ChallengerTrial.Options(FeatureSet.QUANTILE, 0.3, 80,
      300, 50, 300, new RuleTrainer.Options(3, 7L, List.of(LearnerSpec.xgboost(60, 2, 0.1))), 0, 0);
  private static final ChallengerTrial.Champion CHOW_SUM =
      new ChallengerTrial.Champion("chow-sum", DeferralRules.of("chow-sum", 0), -1);

  private static long[] seqs(int n) {
    long[] s = new long[n];
    for (int i = 0; i < n; i++) {
      s[i] = 100 + i;
    }
    return s;
  }

  @Test
  void recencyWeightingHalvesAWeightForEveryHalfLifeOfNewerExamples() {
    List<DeferralExample> examples = SyntheticExamples.labelled(3, 1, 0, e -> true).stream()
        .map(e -> e.withWeight(2.0)).toList();
    assertThat(ChallengerTrial.recencyWeighted(examples, 1).stream().map(DeferralExample::weight))
        .containsExactly(0.5, 1.0, 2.0);
    assertThat(ChallengerTrial.recencyWeighted(examples, 2).get(0).weight()).isCloseTo(1.0, within(1e-12));
    assertThat(ChallengerTrial.recencyWeighted(examples, 0)).isSameAs(examples);
  }

  /** A round trains on what has a label: a right small answer, or one the large model answered. */
  @Test
  void theTrainingSetKeepsLabelledExamplesWithTheirRecencyWeights() {
    UncertaintyFeatures f = SyntheticExamples.labelled(1, 1, 0, e -> true).get(0).features();
    List<DeferralExample> examples = List.of(
        new DeferralExample(f, null, true, false, 1.0, "reference", 1),   // small right: no benefit
        new DeferralExample(f, null, false, false, 20.0, "reference", 2), // small wrong, never escalated
        new DeferralExample(f, null, false, true, 20.0, "reference", 3)); // small wrong, explored
    List<DoublyRobust.Observation> observed = List.of(
        new DoublyRobust.Observation(true, false, 0.05, null),
        new DoublyRobust.Observation(true, false, 0.05, null),
        new DoublyRobust.Observation(true, true, 0.05, true));
    List<DeferralExample> training = ChallengerTrial.trainingSet(examples, observed, 1);
    assertThat(training.stream().map(DeferralExample::promptHash)).containsExactly(1L, 3L);
    assertThat(training.stream().map(DeferralExample::weight)).containsExactly(0.25, 20.0);
    assertThatThrownBy(() -> ChallengerTrial.trainingSet(examples, observed.subList(0, 2), 0))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("3 examples but 2 observations");
  }

  /**
   * After an abrupt shift that turns the label around, a challenger trained with recent examples
   * weighing more scores the newest (held-out) traffic better than one trained on the whole
   * window alike, most of which is from before the shift.
   */
  @Test
  void afterAShiftRecencyWeightingLearnsTheNewTraffic() {
    List<DeferralExample> examples = new ArrayList<>(
        SyntheticExamples.labelled(900, 11, 0, e -> e.features().logprobQuantile(0.5) < -1.0));
    examples.addAll(SyntheticExamples.labelled(300, 12, 0, e -> e.features().logprobQuantile(0.5) > -1.0));
    ChallengerTrial.Options alike = new ChallengerTrial.Options(FeatureSet.QUANTILE, 0.2, 80, 300, 50, 300,
        new RuleTrainer.Options(3, 7L, List.of(LearnerSpec.logisticRegression(10, 0.1))), 0, 0);
    ChallengerTrial.Options recent = new ChallengerTrial.Options(alike.set(), alike.holdoutFraction(),
        alike.minHoldout(), alike.minLabels(), alike.maxWeight(), alike.resamples(), alike.trainer(), 100, 0);
    ChallengerTrial.Verdict withoutDecay = ChallengerTrial.run(examples, seqs(1200), null, CHOW_SUM, 2, "ab".repeat(32),
        alike, RuleTrainer.Progress.NONE);
    ChallengerTrial.Verdict withDecay = ChallengerTrial.run(examples, seqs(1200), null, CHOW_SUM, 2, "ab".repeat(32),
        recent, RuleTrainer.Progress.NONE);
    assertThat(withDecay.holdoutExamples()).isEqualTo(240);
    assertThat(withDecay.challengerAucDf()).as(withDecay.reason() + " | " + withoutDecay.reason())
        .isGreaterThan(withoutDecay.challengerAucDf() + 0.02);
  }

  @Test
  void aPriorsWeightHalvesForEveryHalfLifeOfTrafficHeld() {
    List<DeferralExample> prior = SyntheticExamples.labelled(2, 1, 0, e -> true).stream()
        .map(e -> e.withWeight(2.0)).toList();
    assertThat(ChallengerTrial.priorWeighted(prior, 3, 1.5).stream().map(DeferralExample::weight))
        .containsExactly(0.5, 0.5);
    assertThat(ChallengerTrial.priorWeighted(prior, 3, 0)).isSameAs(prior);
  }

  /**
   * A prior that knows the pattern lifts a challenger whose traffic so far is mostly noise, is
   * trained on but never held out, and is counted in the rule's metrics.
   */
  @Test
  void aPriorIsTrainedOnButNeverHeldOut() {
    SplittableRandom coin = new SplittableRandom(3);
    List<DeferralExample> examples = new ArrayList<>(SyntheticExamples.labelled(350, 22, 0, e -> coin.nextInt(3) == 0));
    examples.addAll(SyntheticExamples.labelled(150, 23, 0, e -> e.features().logprobQuantile(0.5) < -1.0));
    List<DeferralExample> prior = SyntheticExamples.labelled(2000, 21, 0, e -> e.features().logprobQuantile(0.5) < -1.0)
        .stream().map(e -> new DeferralExample(e.features(), null, e.smallCorrect(), e.largeCorrect(), 1.0, "prior", 0))
        .toList();
    ChallengerTrial.Verdict without = ChallengerTrial.run(examples, seqs(500), null, CHOW_SUM, 2, "", OPTIONS,
        RuleTrainer.Progress.NONE);
    ChallengerTrial.Verdict with = ChallengerTrial.run(examples, seqs(500), null, prior, CHOW_SUM, 2, "", OPTIONS,
        RuleTrainer.Progress.NONE);
    assertThat(with.holdoutExamples()).isEqualTo(without.holdoutExamples()).isEqualTo(150);
    assertThat(with.trainExamples()).isEqualTo(without.trainExamples() + 2000);
    assertThat(with.labelSources()).containsEntry("prior", 2000);
    assertThat(with.challenger().info().validationMetrics()).containsEntry("prior_examples", 2000.0)
        .containsEntry(ChallengerTrial.TRAINED_UNTIL, 599.0);
    assertThat(without.challenger().info().validationMetrics()).doesNotContainKey("prior_examples");
    assertThat(with.reason()).contains("2000 of them the prior");
    assertThat(with.challengerAucDf()).as(with.reason() + " | " + without.reason())
        .isGreaterThan(without.challengerAucDf() + 0.02);
  }

  @Test
  void aNegativeHalfLifeIsRefused() {
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> new ChallengerTrial.Options(FeatureSet.QUANTILE, 0.2, 80,
        300, 50, 300, new RuleTrainer.Options(3, 7L, List.of(LearnerSpec.logisticRegression(10, 0.1))), -1, 0))
        .hasMessageContaining("halfLifeLabels");
  }

  @Test
  void aChallengerThatSeesWhatChowSumMissesIsPublishedWithCrossFittedCalibrationScores() {
    List<DeferralExample> examples = SyntheticExamples.labelled(600, 5, 0, e -> e.features().logprobQuantile(0.5) < -1.0);
    ChallengerTrial.Verdict v = ChallengerTrial.run(examples, seqs(600), null, CHOW_SUM, 4, "ab".repeat(32), OPTIONS,
        RuleTrainer.Progress.NONE);
    assertThat(v.publish()).as(v.reason()).isTrue();
    assertThat(v.comparison().ciLow()).isPositive();
    assertThat(v.holdoutExamples()).isEqualTo(180);
    assertThat(v.trainExamples()).isEqualTo(600);
    RuleInfo info = v.challenger().info();
    assertThat(info.version()).isEqualTo(4);
    assertThat(info.modelFingerprint()).isEqualTo("ab".repeat(32));
    assertThat(info.calibrationScores()).hasSize(180);
    assertThat(info.validationMetrics().get(ChallengerTrial.TRAINED_UNTIL)).isEqualTo(100 + 599.0);
    assertThat(v.reason()).contains("beat champion chow-sum");
    assertThat(v.revert()).isFalse();
  }

  @Test
  void labelsUnrelatedToTheFeaturesDoNotBeatTheChampion() {
    SplittableRandom random = new SplittableRandom(9);
    List<DeferralExample> examples = new ArrayList<>();
    for (DeferralExample e : SyntheticExamples.labelled(600, 6, 0, x -> false)) {
      boolean helps = random.nextInt(3) == 0;
      examples.add(new DeferralExample(e.features(), null, !helps && e.smallCorrect(), helps || e.largeCorrect()));
    }
    ChallengerTrial.Verdict v = ChallengerTrial.run(examples, seqs(600), null, CHOW_SUM, 1, "", OPTIONS,
        RuleTrainer.Progress.NONE);
    assertThat(v.publish()).as(v.reason()).isFalse();
    assertThat(v.challenger()).isNotNull();
  }

  @Test
  void tooFewLabelsOrNoNewOnesSinceTheChampionSkipTheRound() {
    List<DeferralExample> examples = SyntheticExamples.labelled(200, 5, 0, e -> e.features().logprobQuantile(0.5) < -1.0);
    ChallengerTrial.Verdict few = ChallengerTrial.run(examples, seqs(200), null, CHOW_SUM, 1, "", OPTIONS,
        RuleTrainer.Progress.NONE);
    assertThat(few.publish()).isFalse();
    assertThat(few.challenger()).isNull();
    assertThat(few.reason()).contains("fewer than the 300");
    List<DeferralExample> more = SyntheticExamples.labelled(600, 5, 0, e -> e.features().logprobQuantile(0.5) < -1.0);
    ChallengerTrial.Champion recent = new ChallengerTrial.Champion("posthoc-quantile@3", CHOW_SUM.rule(), 100 + 560);
    ChallengerTrial.Verdict stale = ChallengerTrial.run(more, seqs(600), null, recent, 4, "", OPTIONS,
        RuleTrainer.Progress.NONE);
    assertThat(stale.challenger()).isNull();
    assertThat(stale.reason()).contains("arrived after the champion posthoc-quantile@3 was trained");
    // Without a reference, only escalated examples are compared on: with none, no comparison.
    List<DoublyRobust.Observation> none = new ArrayList<>();
    for (int i = 0; i < 600; i++) {
      none.add(new DoublyRobust.Observation(false, false, 0.05, null));
    }
    ChallengerTrial.Verdict blind = ChallengerTrial.run(more, seqs(600), none, CHOW_SUM, 4, "", OPTIONS,
        RuleTrainer.Progress.NONE);
    assertThat(blind.challenger()).isNull();
    assertThat(blind.reason()).contains("0 comparable examples");
  }

  @Test
  void aChampionThatFellBehindItsFallbackIsRevertedWhenNoChallengerBeatsIt() {
    // Deferring helps more often the higher Chow-Sum is, and Chow-Sum, the fallback, orders best.
    // The champion is what the learner made of an earlier sample of the same traffic: a challenger
    // trained on this one is no better, but the fallback is.
    List<DeferralExample> examples = noisyChowSum(1500, 8);
    ChallengerTrial.Options stump = new ChallengerTrial.Options(FeatureSet.QUANTILE, 0.3, 80, 300, 50, 300,
        new RuleTrainer.Options(3, 7L, List.of(LearnerSpec.xgboost(2, 1, 0.3))), 0, 0);
    RuleTrainer.TrainingResult learned = RuleTrainer.train(FeatureSet.QUANTILE, noisyChowSum(1500, 9), "earlier",
        1, stump.trainer(), RuleTrainer.Progress.NONE);
    ChallengerTrial.Champion champion = new ChallengerTrial.Champion("posthoc-quantile@1", learned.rule(), -1,
        "chow-sum", CHOW_SUM.rule());
    ChallengerTrial.Verdict v = ChallengerTrial.run(examples, seqs(1500), null, champion, 2, "", stump,
        RuleTrainer.Progress.NONE);
    assertThat(v.publish()).as(v.reason()).isFalse();
    assertThat(v.revert()).as(v.reason()).isTrue();
    assertThat(v.fallbackComparison().ciLow()).isPositive();
    assertThat(v.fallbackScores()).hasSameSizeAs(v.championScores());
    assertThat(v.reason()).contains("fallback chow-sum vs champion").contains("fell behind its fallback");
    // Chow-Sum as champion has nothing to revert to.
    ChallengerTrial.Verdict plain = ChallengerTrial.run(examples, seqs(1500), null,
        new ChallengerTrial.Champion("chow-sum", CHOW_SUM.rule(), -1, "chow-sum", CHOW_SUM.rule()), 2, "", stump,
        RuleTrainer.Progress.NONE);
    assertThat(plain.revert()).isFalse();
    assertThat(plain.fallbackComparison()).isNull();
  }

  /**
   * A weak champion (here Chow-Sum turned around; in the field an operator's Chow-Quantile at
   * α = 1) is easily beaten by a challenger that is still worse than Chow-Sum, the policy's
   * fallback: it is not published, whatever the champion, and the verdict says why. A closed-form
   * champion is the operator's choice and is not reverted; a learned one is. A challenger that sees
   * what Chow-Sum misses beats both and is published.
   */
  @Test
  void aChallengerThatBeatsAWeakChampionButNotTheFallbackIsNotPublished() {
    List<DeferralExample> examples = noisyChowSum(1500, 8);
    ChallengerTrial.Options stump = new ChallengerTrial.Options(FeatureSet.QUANTILE, 0.3, 80, 300, 50, 300,
        new RuleTrainer.Options(3, 7L, List.of(LearnerSpec.xgboost(2, 1, 0.3))), 0, 0);
    dev.cascade.router.rules.DeferralRule weak = new dev.cascade.router.rules.DeferralRule() {
      @Override
      public String name() {
        return "weak";
      }

      @Override
      public double score(UncertaintyFeatures features) {
        return -CHOW_SUM.rule().score(features, null);
      }
    };
    ChallengerTrial.Verdict closedForm = ChallengerTrial.run(examples, seqs(1500), null,
        new ChallengerTrial.Champion("weak", weak, -1, "chow-sum", CHOW_SUM.rule(), false), 2, "", stump,
        RuleTrainer.Progress.NONE);
    assertThat(closedForm.comparison().ciLow()).as(closedForm.reason()).isPositive(); // it beat the champion
    assertThat(closedForm.versusFallback().ciLow()).as(closedForm.reason()).isNotPositive();
    assertThat(closedForm.publish()).as(closedForm.reason()).isFalse();
    assertThat(closedForm.rejectedByFallback()).isTrue();
    assertThat(closedForm.revert()).as(closedForm.reason()).isFalse();
    assertThat(closedForm.reason()).contains("beat champion weak", "vs fallback chow-sum",
        ChallengerTrial.NOT_ABOVE_FALLBACK);
    // The same champion as a learned rule: the fallback beats it, so the policy reverts to that.
    ChallengerTrial.Verdict learned = ChallengerTrial.run(examples, seqs(1500), null,
        new ChallengerTrial.Champion("posthoc-quantile@1", weak, -1, "chow-sum", CHOW_SUM.rule()), 2, "", stump,
        RuleTrainer.Progress.NONE);
    assertThat(learned.publish()).as(learned.reason()).isFalse();
    assertThat(learned.revert()).as(learned.reason()).isTrue();
    // Without a fallback only the champion is to beat.
    ChallengerTrial.Verdict alone = ChallengerTrial.run(examples, seqs(1500), null,
        new ChallengerTrial.Champion("weak", weak, -1), 2, "", stump, RuleTrainer.Progress.NONE);
    assertThat(alone.publish()).as(alone.reason()).isTrue();
    assertThat(alone.versusFallback()).isNull();
    // Deferring helps where Chow-Sum does not look: the challenger beats both.
    List<DeferralExample> unseen = SyntheticExamples.labelled(600, 5, 0, e -> e.features().logprobQuantile(0.5) < -1.0);
    ChallengerTrial.Verdict better = ChallengerTrial.run(unseen, seqs(600), null,
        new ChallengerTrial.Champion("weak", weak, -1, "chow-sum", CHOW_SUM.rule(), false), 2, "", OPTIONS,
        RuleTrainer.Progress.NONE);
    assertThat(better.publish()).as(better.reason()).isTrue();
    assertThat(better.versusFallback().ciLow()).isPositive();
    assertThat(better.rejectedByFallback()).isFalse();
  }

  /**
   * A challenger trained on newer traffic of the same kind as its learned champion's, not
   * significantly better: with a refresh margin it replaces the champion, without one it does not,
   * and a champion the learner did not train (Chow-Sum) is only ever replaced by a better rule.
   */
  @Test
  void aNewerChallengerNotWorseRefreshesALearnedChampionWithinTheMargin() {
    List<DeferralExample> examples = noisyChowSum(600, 8);
    RuleTrainer.TrainingResult earlier = RuleTrainer.train(FeatureSet.QUANTILE, noisyChowSum(300, 9), "earlier", 1,
        new RuleTrainer.Options(3, 7L, List.of(LearnerSpec.xgboost(3, 1, 0.3))), RuleTrainer.Progress.NONE);
    ChallengerTrial.Champion learned = new ChallengerTrial.Champion("posthoc-quantile@1", earlier.rule(), 99);
    ChallengerTrial.Options refresh = new ChallengerTrial.Options(OPTIONS.set(), OPTIONS.holdoutFraction(),
        OPTIONS.minHoldout(), OPTIONS.minLabels(), OPTIONS.maxWeight(), OPTIONS.resamples(), OPTIONS.trainer(), 0, 0.05);
    ChallengerTrial.Verdict strict = ChallengerTrial.run(examples, seqs(600), null, learned, 2, "", OPTIONS,
        RuleTrainer.Progress.NONE);
    assertThat(strict.publish()).as(strict.reason()).isFalse();
    assertThat(strict.comparison().ciLow()).isNegative().isGreaterThan(-0.05);
    assertThat(strict.comparison().delta()).isNotNegative();
    ChallengerTrial.Verdict refreshed = ChallengerTrial.run(examples, seqs(600), null, learned, 2, "", refresh,
        RuleTrainer.Progress.NONE);
    assertThat(refreshed.publish()).as(refreshed.reason()).isTrue();
    assertThat(refreshed.reason()).contains("refreshed champion posthoc-quantile@1").contains("within 0.0500");
    // The same rule as champion, but not one the learner trained: a challenger must beat it.
    ChallengerTrial.Verdict notLearned = ChallengerTrial.run(examples, seqs(600), null,
        new ChallengerTrial.Champion("posthoc-quantile@1", earlier.rule(), -1), 2, "", refresh,
        RuleTrainer.Progress.NONE);
    assertThat(notLearned.publish()).as(notLearned.reason()).isFalse();
    assertThatThrownBy(() -> new ChallengerTrial.Options(OPTIONS.set(), 0.2, 80, 300, 50, 300, OPTIONS.trainer(), 0,
        -0.01)).hasMessageContaining("refreshMargin");
  }

  /** Deferring helps with a probability that rises with Chow-Sum; elsewhere both models are right. */
  private static List<DeferralExample> noisyChowSum(int n, long seed) {
    SplittableRandom random = new SplittableRandom(seed);
    List<DeferralExample> out = new ArrayList<>();
    for (DeferralExample e : SyntheticExamples.labelled(n, seed, 0, x -> false)) {
      double sum = CHOW_SUM.rule().score(e.features(), null);
      boolean helps = random.nextDouble() < 1 / (1 + Math.exp(-(sum - 4)));
      out.add(new DeferralExample(e.features(), null, !helps, true));
    }
    return out;
  }

  @Test
  void theFractionAboveAThresholdIsWeighted() {
    double[] scores = {0.9, 0.8, 0.7, 0.1};
    assertThat(ChallengerTrial.fractionAbove(scores, null, 0.75)).isEqualTo(0.5);
    // The last item weighs as much as the other three.
    assertThat(ChallengerTrial.fractionAbove(scores, new double[] {1, 1, 1, 3}, 0.0)).isEqualTo(1.0);
    assertThat(ChallengerTrial.fractionAbove(scores, new double[] {1, 1, 1, 3}, 0.85)).isCloseTo(1.0 / 6, within(1e-12));
  }
}
