package dev.cascade.router.learning;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.cascade.router.evaluation.CascadeEvaluation;
import dev.cascade.router.features.UncertaintyFeatures;
import dev.cascade.router.rules.DeferralRules;
import dev.cascade.schemas.avro.RoutingOutcome;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class OutcomeReportTest {

  private static final int RESAMPLES = 200;

  @Test
  void weightingByInversePropensityCountsAnExploredOutcomeAsTheRequestsItStandsFor() {
    // Deferred outcomes were always escalated; explored ones with probability 1/4. Weighting the
    // explored ones by 4 must give exactly what four copies of each, unweighted, give.
    OutcomeReport.Collector weighted = new OutcomeReport.Collector();
    OutcomeReport.Collector copies = new OutcomeReport.Collector();
    SplittableRandom random = new SplittableRandom(21);
    for (int i = 0; i < 300; i++) {
      UncertaintyFeatures features = SyntheticExamples.randomFeatures(random);
      boolean deferred = features.logprobSum() < -8;
      boolean small = random.nextInt(3) == 0;
      boolean large = random.nextInt(4) != 0;
      weighted.accept(SyntheticOutcomes.checked("r" + i, features, small, large, deferred ? 1.0 : 0.25,
          Map.of()).build());
      for (int copy = 0; copy < (deferred ? 1 : 4); copy++) {
        copies.accept(SyntheticOutcomes.checked("r" + i, features, small, large, null, Map.of()).build());
      }
    }

    OutcomeReport a = OutcomeReport.compute(weighted, List.of(), RESAMPLES, 1);
    OutcomeReport b = OutcomeReport.compute(copies, List.of(), RESAMPLES, 1);

    assertThat(a.used()).isEqualTo(300);
    assertThat(a.totalWeight()).isEqualTo(b.used());
    assertThat(a.effectiveN()).isLessThan(a.used());
    assertThat(b.effectiveN()).isCloseTo(b.used(), within(1e-9));
    assertThat(a.smallAccuracy()).isCloseTo(b.smallAccuracy(), within(1e-12));
    for (String rule : List.of("random", "chow-sum", "chow-average", "chow-quantile-0", "oracle")) {
      assertThat(a.rule(rule).aucDf()).as(rule).isCloseTo(b.rule(rule).aucDf(), within(1e-12));
      assertThat(a.rule(rule).oracleSharePct()).as(rule).isCloseTo(b.rule(rule).oracleSharePct(), within(1e-9));
    }
    assertThat(a.rule("oracle").oracleSharePct()).isCloseTo(100.0, within(1e-9));
    assertThat(a.rule("random").oracleSharePct()).isCloseTo(0.0, within(1e-9));
    // The weights widen the interval: fewer effective items than the copies pretend to have.
    double widthA = a.rule("chow-average").vsBaseline().ciHigh() - a.rule("chow-average").vsBaseline().ciLow();
    double widthB = b.rule("chow-average").vsBaseline().ciHigh() - b.rule("chow-average").vsBaseline().ciLow();
    assertThat(widthA).isGreaterThan(widthB);
  }

  @Test
  void usesOnlyOutcomesWithBothAnswersCheckedAndSaysWhyTheOthersWereSkipped() {
    SplittableRandom random = new SplittableRandom(4);
    OutcomeReport.Collector collector = new OutcomeReport.Collector();
    for (int i = 0; i < 20; i++) {
      collector.accept(SyntheticOutcomes.checked("ok" + i, SyntheticExamples.randomFeatures(random), i % 2 == 0,
          i % 3 != 0, 1.0, Map.of()).build());
    }
    UncertaintyFeatures f = SyntheticExamples.randomFeatures(random);
    collector.accept(SyntheticOutcomes.accepted("a", f).build());
    collector.accept(SyntheticOutcomes.accepted("b", f).build());
    collector.accept(SyntheticOutcomes.accepted("c", f).setReference("x").setSmallCorrect(true).build());
    collector.accept(SyntheticOutcomes.accepted("d", f).setReference("x").setSmallCorrect(false)
        .setDegraded(true).setDegradedReason("DEADLINE_EXCEEDED").build());
    collector.accept(SyntheticOutcomes.checked("e", f, true, true, 0.0, Map.of()).build());
    collector.accept(SyntheticOutcomes.checked("f", f, true, true, 1.0, Map.of()).setFeatures(new HashMap<>()).build());
    collector.undecodable(3);

    OutcomeReport report = OutcomeReport.compute(collector, List.of(), RESAMPLES, 1);

    assertThat(report.read()).isEqualTo(29);
    assertThat(report.used()).isEqualTo(20);
    assertThat(report.skipped()).containsExactly(
        Map.entry("no reference", 2L), Map.entry("accepted (no large answer)", 1L),
        Map.entry("escalation failed (degraded)", 1L), Map.entry("propensity not in (0, 1]", 1L),
        Map.entry("features missing or invalid", 1L), Map.entry(OutcomeReport.UNDECODABLE, 3L));
    assertThat(report.toTable()).contains("29 read, 20 used, 9 skipped (2 no reference");
  }

  @Test
  void withoutExplorationOnlyTheDeferredRequestsAreRepresentedAndTheReportSaysSo() {
    SplittableRandom random = new SplittableRandom(6);
    OutcomeReport.Collector deferredOnly = new OutcomeReport.Collector();
    OutcomeReport.Collector explored = new OutcomeReport.Collector();
    for (int i = 0; i < 10; i++) {
      UncertaintyFeatures features = SyntheticExamples.randomFeatures(random);
      deferredOnly.accept(SyntheticOutcomes.checked("r" + i, features, i % 2 == 0, true, 1.0, Map.of()).build());
      explored.accept(SyntheticOutcomes.checked("r" + i, features, i % 2 == 0, true, i < 3 ? 0.1 : 1.0, Map.of())
          .build());
    }

    OutcomeReport none = OutcomeReport.compute(deferredOnly, List.of(), RESAMPLES, 1);
    OutcomeReport some = OutcomeReport.compute(explored, List.of(), RESAMPLES, 1);

    assertThat(none.explored()).isZero();
    assertThat(none.positivityWarning()).hasValueSatisfying(m -> assertThat(m).contains("deferred requests only"));
    assertThat(some.explored()).isEqualTo(3);
    assertThat(some.positivityWarning()).isEmpty();
    assertThat(some.toTable()).contains("used: 7 deferred, 3 explored");
    // Ten used: too few, and it says so.
    assertThat(some.smallSampleWarning()).hasValueSatisfying(m -> assertThat(m).startsWith("warning: only 10 outcomes"));
  }

  @Test
  void nothingUsableIsAnErrorThatSaysWhy() {
    OutcomeReport.Collector collector = new OutcomeReport.Collector();
    collector.accept(SyntheticOutcomes.accepted("a", SyntheticExamples.randomFeatures(new SplittableRandom(1))).build());

    assertThatThrownBy(() -> OutcomeReport.compute(collector, List.of(), RESAMPLES, 1))
        .hasMessageContaining("none of the 1 outcomes").hasMessageContaining("skipped: 1 no reference");
    // records of another kind (eval pointed at the requests topic, say): the wrong topic, most likely
    OutcomeReport.Collector other = new OutcomeReport.Collector();
    other.undecodable(3502);
    assertThatThrownBy(() -> OutcomeReport.compute(other, List.of(), RESAMPLES, 1))
        .hasMessageContaining("skipped: 3502 undecodable; not one record is a routing outcome")
        .hasMessageContaining("is this the outcomes topic");
  }

  @Test
  void underTheRoutersDefaultsNothingIsScorableAndTheErrorSaysWhyAndWhatToChange() {
    // Exploration 0, small.early-defer on, chow-quantile at alpha 0: the accepted requests have no
    // large answer, and the deferred ones' small answers stopped once the deferral was certain.
    SplittableRandom random = new SplittableRandom(3);
    OutcomeReport.Collector collector = new OutcomeReport.Collector();
    for (int i = 0; i < 3; i++) {
      collector.accept(SyntheticOutcomes.accepted("a" + i, SyntheticExamples.randomFeatures(random))
          .setReference("x").setSmallCorrect(i == 0).build());
    }
    for (int i = 0; i < 2; i++) {
      collector.accept(SyntheticOutcomes.checked("d" + i, SyntheticExamples.randomFeatures(random), false, true, 1.0,
          Map.of()).setSmallStop(dev.cascade.router.routing.SmallStop.EARLY_DEFER).build());
    }

    assertThatThrownBy(() -> OutcomeReport.compute(collector, List.of(), RESAMPLES, 1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("none of the 5 outcomes")
        .hasMessageContaining("skipped: 3 accepted (no large answer), 2 small model stopped early (deferral decided)")
        .hasMessageContaining("\n  3 accepted (no large answer): escalate a random share of the accepted requests,"
            + " policy.exploration-rate above 0")
        .hasMessageContaining("\n  2 small model stopped early (deferral decided): decode the deferred requests'"
            + " small answers to the end, small.early-defer=false")
        .hasMessageNotContaining("feedback on escalated requests");
  }

  @Test
  void anOutcomeDecodedWholeByLabelSamplingStandsForTheStoppedOnesLikeIt() {
    // Deferred requests: early deferral stopped three of every four, and label sampling (share
    // 1/4) decoded the fourth whole. Weighting that one by 4 gives what four whole copies give.
    OutcomeReport.Collector sampled = new OutcomeReport.Collector();
    OutcomeReport.Collector copies = new OutcomeReport.Collector();
    SplittableRandom random = new SplittableRandom(8);
    for (int i = 0; i < 300; i++) {
      UncertaintyFeatures features = SyntheticExamples.randomFeatures(random);
      boolean deferred = features.logprobSum() < -8;
      boolean small = random.nextInt(3) == 0;
      boolean large = random.nextInt(4) != 0;
      double propensity = deferred ? 1.0 : 0.5;
      RoutingOutcome.Builder one = SyntheticOutcomes.checked("r" + i, features, small, large, propensity, Map.of());
      sampled.accept((deferred ? one.setLabelPropensity(0.25) : one).build());
      for (int stopped = 0; stopped < (deferred ? 3 : 0); stopped++) {
        sampled.accept(SyntheticOutcomes.checked("s" + i + "-" + stopped, features, small, large, 1.0, Map.of())
            .setSmallStop(dev.cascade.router.routing.SmallStop.EARLY_DEFER).build());
      }
      for (int copy = 0; copy < (deferred ? 4 : 2); copy++) {
        copies.accept(SyntheticOutcomes.checked("r" + i, features, small, large, null, Map.of()).build());
      }
    }

    OutcomeReport a = OutcomeReport.compute(sampled, List.of(), RESAMPLES, 1);
    OutcomeReport b = OutcomeReport.compute(copies, List.of(), RESAMPLES, 1);
    assertThat(a.used()).isEqualTo(300);
    assertThat(a.labelSampled()).isPositive().isEqualTo(a.used() - a.explored());
    assertThat(a.totalWeight()).isEqualTo(b.used());
    for (String rule : List.of("chow-sum", "chow-quantile-0", "oracle")) {
      assertThat(a.rule(rule).aucDf()).as(rule).isCloseTo(b.rule(rule).aucDf(), within(1e-12));
    }
    // The stopped ones are represented by the sampled ones: no warning that they are missing.
    assertThat(a.stoppedEarlyWarning()).isEmpty();
    assertThat(a.toTable()).contains("(" + a.labelSampled() + " decoded whole by label sampling)");
    assertThat(a.toJson().path("outcomes").path("label_sampled").asInt()).isEqualTo(a.labelSampled());
  }

  @Test
  void deferredAnswersThatStoppedEarlyAreLeftOutAndTheReportSaysSo() {
    SplittableRandom random = new SplittableRandom(4);
    OutcomeReport.Collector whole = new OutcomeReport.Collector();
    OutcomeReport.Collector someStopped = new OutcomeReport.Collector();
    for (int i = 0; i < 10; i++) {
      UncertaintyFeatures features = SyntheticExamples.randomFeatures(random);
      whole.accept(SyntheticOutcomes.checked("r" + i, features, i % 2 == 0, true, i < 3 ? 0.1 : 1.0, Map.of()).build());
      RoutingOutcome.Builder b = SyntheticOutcomes.checked("r" + i, features, i % 2 == 0, true, i < 3 ? 0.1 : 1.0,
          Map.of());
      someStopped.accept((i >= 7 ? b.setSmallStop(dev.cascade.router.routing.SmallStop.EARLY_DEFER) : b).build());
    }

    assertThat(OutcomeReport.compute(whole, List.of(), RESAMPLES, 1).stoppedEarlyWarning()).isEmpty();
    OutcomeReport report = OutcomeReport.compute(someStopped, List.of(), RESAMPLES, 1);
    assertThat(report.used()).isEqualTo(7);
    assertThat(report.stoppedEarlyWarning()).hasValueSatisfying(m -> assertThat(m)
        .startsWith("warning: 3 deferred outcomes were skipped").contains("small.early-defer=false"));
  }

  @Test
  void withoutReferencesTheErrorNamesTheFeedbackThatWouldLabelTheOutcomes() {
    SplittableRandom random = new SplittableRandom(5);
    OutcomeReport.Collector collector = new OutcomeReport.Collector();
    collector.accept(SyntheticOutcomes.checked("e", SyntheticExamples.randomFeatures(random), true, true, 1.0, Map.of())
        .setReference(null).setSmallCorrect(null).setLargeCorrect(null).build());
    collector.undecodable(1);

    assertThatThrownBy(() -> OutcomeReport.compute(collector, List.of(), RESAMPLES, 1))
        .hasMessageContaining("skipped: 1 no reference, 1 undecodable")
        .hasMessageContaining("\n  1 no reference: send requests with a reference, or give feedback on escalated requests")
        .hasMessageNotContaining("undecodable:");
  }

  @Test
  void theRuleInForceCountsPerSpecAndEachShadowWhereItScored() {
    SplittableRandom random = new SplittableRandom(8);
    OutcomeReport.Collector collector = new OutcomeReport.Collector();
    var chowSum = DeferralRules.builtIn().create("chow-sum");
    int shadowed = 0;
    for (int i = 0; i < 90; i++) {
      UncertaintyFeatures features = SyntheticExamples.randomFeatures(random);
      boolean small = random.nextBoolean();
      boolean large = random.nextInt(4) != 0;
      Map<String, Double> shadows = new HashMap<>();
      if (i % 3 == 0) { // an all-knowing shadow: the oracle's score
        shadows.put("posthoc-embed@3", (large ? 1.0 : 0.0) - (small ? 1.0 : 0.0));
        shadowed++;
      }
      RoutingOutcome.Builder outcome = SyntheticOutcomes.checked("r" + i, features, small, large,
          i % 2 == 0 ? 1.0 : 0.5, shadows);
      switch (i % 3) {
        case 0 -> outcome.setRule("chow-sum").setScore(chowSum.score(features));
        case 1 -> outcome.setRule("posthoc-quantile").setRuleVersion(3L).setScore(random.nextDouble());
        default -> outcome.setRule("chow-quantile").setAlpha(0.1).setScore(random.nextDouble());
      }
      collector.accept(outcome.build());
    }

    OutcomeReport report = OutcomeReport.compute(collector, List.of(), RESAMPLES, 1);

    assertThat(report.rules()).extracting(OutcomeReport.RuleResult::name).containsExactly("random", "chow-sum",
        "chow-average", "chow-quantile-0", "chow-quantile-0.1", "chow-quantile-0.5",
        "in-force:chow-quantile-0.1", "in-force:chow-sum", "in-force:posthoc-quantile@3",
        "shadow:posthoc-embed@3", "oracle");
    assertThat(report.rule("in-force:posthoc-quantile@3").n()).isEqualTo(30);
    assertThat(report.rule("shadow:posthoc-embed@3").n()).isEqualTo(shadowed);
    // Chow-Sum in force is Chow-Sum: on its own outcomes it ties with itself exactly.
    OutcomeReport.RuleResult inForce = report.rule("in-force:chow-sum");
    assertThat(inForce.vsBaseline().delta()).isZero();
    assertThat(inForce.vsBaseline().ciLow()).isZero();
    assertThat(inForce.vsBaseline().ciHigh()).isZero();
    assertThat(report.rule("chow-sum").vsBaseline()).isNull();
    // The all-knowing shadow reaches the oracle on the outcomes it scored.
    assertThat(report.rule("shadow:posthoc-embed@3").oracleSharePct()).isCloseTo(100.0, within(1e-9));
    // Against a direct computation on the same outcomes.
    assertThat(report.rule("shadow:posthoc-embed@3").aucDf())
        .isCloseTo(report.rule("shadow:posthoc-embed@3").oracleAucDf(), within(1e-12));

    var json = report.toJson();
    assertThat(json.get("outcomes").get("used").asInt()).isEqualTo(90);
    assertThat(json.get("rules").get("in-force:posthoc-quantile@3").get("vs_chow_sum").has("ci_low")).isTrue();
    assertThat(json.get("rules").get("chow-sum").has("vs_chow_sum")).isFalse();
  }

  @Test
  void aWeightedAucDfIsTheEvaluationsOwn() {
    SplittableRandom random = new SplittableRandom(2);
    OutcomeReport.Collector collector = new OutcomeReport.Collector();
    int n = 50;
    boolean[] small = new boolean[n];
    boolean[] large = new boolean[n];
    double[] weights = new double[n];
    double[] sums = new double[n];
    var chowSum = DeferralRules.builtIn().create("chow-sum");
    for (int i = 0; i < n; i++) {
      UncertaintyFeatures features = SyntheticExamples.randomFeatures(random);
      small[i] = random.nextBoolean();
      large[i] = random.nextBoolean();
      double propensity = i % 5 == 0 ? 1.0 : 0.1;
      weights[i] = 1 / propensity;
      sums[i] = chowSum.score(features);
      collector.accept(SyntheticOutcomes.checked("r" + i, features, small[i], large[i], propensity, Map.of()).build());
    }

    OutcomeReport report = OutcomeReport.compute(collector, List.of(), RESAMPLES, 1);

    assertThat(report.rule("chow-sum").aucDf())
        .isEqualTo(new CascadeEvaluation(small, large).aucDf(sums, weights));
  }

  /**
   * Where the routers stop the small model early and the rule in force is exact, the small model's
   * tuning items carry each answer's running scores and its cost per token, so the tuner counts
   * what stopping saves on the answers passed on; a learned rule, or routers that do not stop it
   * early, give none.
   */
  @Test
  void theSmallModelsTuningItemsCarryRunningScoresOnlyWhereItStopsEarlyUnderAnExactRule() {
    UncertaintyFeatures f = SyntheticExamples.randomFeatures(new SplittableRandom(3));
    java.util.function.Function<String, RoutingOutcome.Builder> sampled = rule -> SyntheticOutcomes
        .checked("r1", f, false, true, 1.0, Map.of()).setRule(rule).setPrompt("abcd")
        .setSmallTokens(List.of(5, 5, 5)).setSmallTokenLogprobs(List.of(-1f, -2f, -3f)).setScore(6.0)
        // 14 for the small model's 4 + 3 tokens, 10 for the large call after it.
        .setCostUnits(24.0).setTierAnswers(List.of(dev.cascade.schemas.avro.TierAnswer.newBuilder().setTier(1)
            .setModel("large").setText("large").setCostUnits(10).build()));
    OutcomeReport.Collector stopping = new OutcomeReport.Collector();
    stopping.accept(sampled.apply("chow-sum").setLabelPropensity(0.2).build());
    TierTuning.Item item = stopping.tuningItems("chow-sum", 50).get(0);
    assertThat(item.running()).containsExactly(1.0, 3.0, 6.0);
    assertThat(item.tokenCost()).isCloseTo(2.0, within(1e-9));
    assertThat(item.nextCost()).isEqualTo(10.0);
    assertThat(item.weight()).isCloseTo(5.0, within(1e-9));

    OutcomeReport.Collector whole = new OutcomeReport.Collector();
    whole.accept(sampled.apply("chow-sum").build());
    assertThat(whole.stopsEarly()).isFalse();
    assertThat(whole.tuningItems("chow-sum", 50).get(0).running()).isNull();

    // Under a target rate it stopped a margin above its threshold (here 2 above 4.0): at a threshold
    // t weighed, it stops once its running score passes t + 2, so the tuner reads each less 2.
    OutcomeReport.Collector margin = new OutcomeReport.Collector();
    margin.accept(sampled.apply("chow-sum").setThreshold(4.0).setSmallStopThreshold(6.0).build());
    assertThat(margin.stopsEarly()).as("asked to stop, though this one did not").isTrue();
    assertThat(margin.tuningItems("chow-sum", 50).get(0).running()).containsExactly(-1.0, 1.0, 4.0);

    OutcomeReport.Collector learned = new OutcomeReport.Collector();
    learned.accept(sampled.apply("posthoc-quantile").setRuleVersion(2L).setLabelPropensity(0.2).build());
    assertThat(learned.stopsEarly()).isTrue();
    assertThat(learned.tuningItems("posthoc-quantile@2", 50).get(0).running()).isNull();
  }
}
