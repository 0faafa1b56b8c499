package dev.cascade.router.learning;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.cascade.router.evaluation.CascadeEvaluation;
import dev.cascade.router.features.UncertaintyFeatures;
import dev.cascade.router.policy.TierPolicy;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.avro.TierAnswer;
import dev.cascade.router.learning.SyntheticTierOutcomes.Request;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** A middle tier's rule evaluated from outcomes: the explored requests weighted back to the whole. */
class TierOutcomeReportTest {

  private static List<Request> population(int n, long seed) {
    return SyntheticTierOutcomes.population(n, seed, "q");
  }

  private static RoutingOutcome outcome(Request r, TierPolicy policy) {
    return SyntheticTierOutcomes.outcome(r, policy, policy.threshold());
  }

  private static TierOutcomeReport report(List<Request> requests, TierPolicy policy) {
    TierOutcomeReport.Collector collector = new TierOutcomeReport.Collector(1);
    requests.forEach(r -> collector.accept(outcome(r, policy)));
    return TierOutcomeReport.compute(collector, 200, 7);
  }

  /**
   * Where tier N + 1 was skipped as unavailable (escalation.skip-unavailable-tiers), the request went
   * on to the tier after it: that answer stands in the next tier's place, as tier N + 1's would, so
   * the outcome is used, not skipped.
   */
  @Test
  void whereTheNextTierWasSkippedTheTierThatAnsweredAfterItStandsInItsPlace() {
    List<Request> requests = population(2_000, 9);
    TierPolicy policy = new TierPolicy("chow-sum", 0.0, 1.0, 0.2, 0.3);
    TierOutcomeReport.Collector direct = new TierOutcomeReport.Collector(1);
    TierOutcomeReport.Collector skipped = new TierOutcomeReport.Collector(1);
    for (Request r : requests) {
      RoutingOutcome o = outcome(r, policy);
      direct.accept(o);
      RoutingOutcome later = RoutingOutcome.newBuilder(o).build();
      later.getTierAnswers().stream().filter(a -> a.getTier() == 2).forEach(a -> a.setTier(3));
      skipped.accept(later);
    }
    TierOutcomeReport a = TierOutcomeReport.compute(direct, 50, 7);
    TierOutcomeReport b = TierOutcomeReport.compute(skipped, 50, 7);
    assertThat(b.used()).isEqualTo(a.used()).isGreaterThan(500);
    assertThat(b.points()).isEqualTo(a.points());
  }

  /**
   * Where the routers ask the tier to stop early, its usable answers carry their running scores
   * under an exact rule and their cost per token, and the tuner's best threshold can only fall:
   * what stopping saves grows as the threshold falls. Not under a rule that cannot stop early.
   */
  @Test
  void aTierThatStopsEarlyCountsWhatStoppingSavesOnWhatItPassesOn() {
    List<Request> requests = population(3_000, 5);
    TierPolicy policy = new TierPolicy("chow-sum", 0.0, 1.5, 0.0, 0.3);
    TierOutcomeReport.Collector whole = new TierOutcomeReport.Collector(1);
    TierOutcomeReport.Collector stopping = new TierOutcomeReport.Collector(1);
    for (Request r : requests) {
      // Six tokens sharing the score; medium's call costs 40.
      float each = (float) (-r.score() / 6);
      RoutingOutcome o = SyntheticTierOutcomes.outcome(r, policy, policy.threshold(), List.of(each, each, each, each,
          each, each));
      o.getTierAnswers().get(0).setCostUnits(40);
      whole.accept(o);
      RoutingOutcome asked = RoutingOutcome.newBuilder(o).build();
      asked.getTierAnswers().get(0).setStopThreshold(1.5); // the call asked it to stop above 1.5
      stopping.accept(asked);
    }
    assertThat(whole.stopsEarly()).isFalse();
    assertThat(stopping.stopsEarly()).isTrue();
    TierTuning.Item item = stopping.tuningItems(policy, 50).get(0);
    assertThat(item.running()).hasSize(6);
    assertThat(item.running()[5]).isCloseTo(item.score(), within(1e-6));
    assertThat(item.tokenCost()).as("40 over the prompt's and the six output tokens").isGreaterThan(0).isLessThan(40.0 / 6);
    assertThat(whole.tuningItems(policy, 50).get(0).running()).isNull();
    assertThat(stopping.tuningItems(new TierPolicy("chow-average", 0.0, 0.5, 0.0, 0.3), 50).get(0).running())
        .as("no exact early deferral").isNull();
    double without = TierTuning.best(whole.tuningItems(policy, 50), 100);
    double with = TierTuning.best(stopping.tuningItems(policy, 50), 100);
    assertThat(with).as("passes on more with what stopping saves").isLessThan(without);
    // eval's table: the same requests passed on cost less where answers stop early; none, the same.
    List<TierOutcomeReport.Point> plain = TierOutcomeReport.compute(whole, 50, 7).points();
    List<TierOutcomeReport.Point> saving = TierOutcomeReport.compute(stopping, 50, 7).points();
    assertThat(saving.get(0).cost()).isCloseTo(plain.get(0).cost(), within(1e-9));
    for (int i = 1; i < plain.size(); i++) {
      assertThat(saving.get(i).share()).isEqualTo(plain.get(i).share());
      assertThat(saving.get(i).cost()).as("share %s", plain.get(i).share()).isLessThan(plain.get(i).cost());
    }
  }

  /**
   * Under a tier's target rate the routers ask an answer to stop a margin above the threshold it is
   * decided by ({@code stop_threshold} above {@code threshold}): at a threshold T it stops once its
   * running score passes T plus that margin, so fewer of its tokens are saved than at T itself.
   * Another rule's running scores are in other units and are not shifted.
   */
  @Test
  void underATargetRateTheSavingCountsTheMarginTheRoutersStoppedAbove() {
    TierPolicy policy = new TierPolicy("chow-sum", 0.0, 1.5, 0.0, 0.3);
    // Six tokens of -0.5 each: running Chow-Sum 0.5, 1.0, ..., 3.0; passed on at 1.5, asked to stop above 2.2.
    RoutingOutcome o = SyntheticTierOutcomes.outcome(new Request("m", 3.0, false, true), policy, 1.5,
        java.util.Collections.nCopies(6, -0.5f));
    o.getTierAnswers().get(0).setCostUnits(40);
    RoutingOutcome fixed = RoutingOutcome.newBuilder(o).build();
    fixed.getTierAnswers().get(0).setStopThreshold(1.5);
    RoutingOutcome target = RoutingOutcome.newBuilder(o).build();
    target.getTierAnswers().get(0).setStopThreshold(2.2);
    TierOutcomeReport.Collector atThreshold = new TierOutcomeReport.Collector(1);
    atThreshold.accept(fixed);
    TierOutcomeReport.Collector aboveIt = new TierOutcomeReport.Collector(1);
    aboveIt.accept(target);
    TierTuning.Item plain = atThreshold.tuningItems(policy, 50).get(0);
    TierTuning.Item margin = aboveIt.tuningItems(policy, 50).get(0);
    // At 1.5: stopped after the fourth token (2.0 > 1.5), two saved; with the 0.7 margin after the
    // fifth (2.5 > 2.2), one saved.
    assertThat(plain.saved(1.5)).isCloseTo(2 * plain.tokenCost(), within(1e-9));
    assertThat(margin.saved(1.5)).isCloseTo(1 * margin.tokenCost(), within(1e-9));
    assertThat(margin.saved(0.9)).as("stops after the fourth at 0.9 + 0.7").isCloseTo(2 * margin.tokenCost(),
        within(1e-9));
    assertThat(margin.score()).as("the decision's score is not shifted").isEqualTo(plain.score());
    assertThat(aboveIt.tuningItems(new TierPolicy("chow-quantile", 0.0, 0.5, 0.0, 0.3), 50).get(0).running())
        .as("Chow-Quantile at 0 scores a running minimum, in other units: not shifted")
        .containsExactly(atThreshold.tuningItems(new TierPolicy("chow-quantile", 0.0, 0.5, 0.0, 0.3), 50).get(0)
            .running());
  }

  @Test
  void theExploredRequestsStandForTheOnesTheTierServed() {
    List<Request> requests = population(8_000, 3);
    TierPolicy policy = new TierPolicy("chow-sum", 0.0, 2.0, 0.0, 0.2);
    TierOutcomeReport report = report(requests, policy);

    // The truth, from every request's two answers (what exploring everything would give).
    boolean[] medium = new boolean[requests.size()];
    boolean[] large = new boolean[requests.size()];
    double[] scores = new double[requests.size()];
    for (int i = 0; i < requests.size(); i++) {
      medium[i] = requests.get(i).medium();
      large[i] = requests.get(i).large();
      scores[i] = (float) requests.get(i).score();
    }
    CascadeEvaluation truth = new CascadeEvaluation(medium, large);
    assertThat(report.rule("chow-sum").aucDf()).isCloseTo(truth.aucDf(scores), within(0.02));
    assertThat(report.rule("in-force:chow-sum").aucDf()).isCloseTo(report.rule("chow-sum").aucDf(), within(1e-6));
    assertThat(report.rule("oracle").aucDf()).isCloseTo(truth.oracleAucDf(), within(0.02));
    assertThat(report.tierAccuracy()).isCloseTo(truth.smallAccuracy(), within(0.02));
    assertThat(report.nextAccuracy()).isCloseTo(truth.largeAccuracy(), within(0.02));
    assertThat(report.totalWeight()).isCloseTo(requests.size(), within(requests.size() * 0.05));
    assertThat(report.effectiveN()).isLessThan(report.used());
    assertThat(report.positivityWarning()).isEmpty();
    assertThat(report.smallSampleWarning()).isEmpty();

    // As run, and at the share the threshold passes on, the tiers' accuracy is the truth's.
    long passed = requests.stream().filter(r -> r.score() > 2.0).count();
    double asRun = requests.stream().mapToDouble(r -> (r.score() > 2.0 ? r.large() : r.medium()) ? 1 : 0).sum()
        / requests.size();
    assertThat(report.asRunShare()).isCloseTo(passed / (double) requests.size(), within(0.03));
    assertThat(report.asRunAccuracy()).isCloseTo(asRun, within(0.02));
    // Every share: the truth at the same threshold.
    for (TierOutcomeReport.Point p : report.points()) {
      if (Double.isFinite(p.threshold())) {
        double t = p.threshold();
        double right = requests.stream().mapToDouble(r -> ((float) r.score() > t ? r.large() : r.medium()) ? 1 : 0)
            .sum() / requests.size();
        assertThat(p.accuracy()).as("at threshold %s", t).isCloseTo(right, within(0.025));
        double share = requests.stream().filter(r -> (float) r.score() > t).count() / (double) requests.size();
        assertThat(p.cost()).as("medium's 4, and large's 10 on the share passed on").isCloseTo(4 + 10 * share,
            within(0.3));
      }
    }
    assertThat(report.points().get(0).share()).isZero();
    assertThat(report.points().get(0).accuracy()).isCloseTo(truth.smallAccuracy(), within(0.02));
    assertThat(report.points().get(report.points().size() - 1).share()).isCloseTo(1.0, within(1e-9));
    assertThat(report.points().get(report.points().size() - 1).accuracy()).isCloseTo(truth.largeAccuracy(),
        within(0.02));
  }

  @Test
  void withoutExplorationOnlyThePassedOnRequestsAreSeenAndItSaysSo() {
    List<Request> requests = population(2_000, 5);
    TierOutcomeReport report = report(requests, new TierPolicy("chow-sum", 0.0, 2.0));
    assertThat(report.explored()).isZero();
    assertThat(report.used()).isEqualTo((int) requests.stream().filter(r -> r.score() > 2.0).count());
    assertThat(report.skipped()).containsEntry(TierOutcomeReport.SERVED, (long) (requests.size() - report.used()));
    assertThat(report.positivityWarning()).get().asString().contains("policy.tier-exploration-rates");
    // Medium is right far less often among the requests it passed on than overall.
    assertThat(report.tierAccuracy()).isLessThan(0.3);

    TierOutcomeReport few = report(population(40, 5), new TierPolicy("chow-sum", 0.0, 2.0));
    assertThat(few.used()).isLessThan(OutcomeReport.SMALL_SAMPLE);
    assertThat(few.smallSampleWarning()).get().asString().startsWith("warning: only " + few.used() + " outcome");
  }

  @Test
  void nothingUsableSaysWhyAndWhatChangesIt() {
    TierOutcomeReport.Collector collector = new TierOutcomeReport.Collector(1);
    TierPolicy fixed = new TierPolicy("chow-sum", 0.0, 100.0);
    population(10, 1).forEach(r -> collector.accept(outcome(r, fixed)));
    assertThatThrownBy(() -> TierOutcomeReport.compute(collector, 10, 1)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("10 served by the tier").hasMessageContaining("policy.tier-exploration-rates");
    assertThat(report(population(50, 2), new TierPolicy("chow-sum", 0.0, 1.0, 0.0, 0.5)).stoppedEarlyWarning())
        .as("none stopped").isEmpty();

    TierOutcomeReport.Collector twoTiers = new TierOutcomeReport.Collector(1);
    UncertaintyFeatures features = SyntheticExamples.randomFeatures(new SplittableRandom(1));
    twoTiers.accept(SyntheticOutcomes.checked("a", features, true, true, 1.0, java.util.Map.of()).build());
    twoTiers.undecodable(2);
    assertThatThrownBy(() -> TierOutcomeReport.compute(twoTiers, 10, 1))
        .hasMessageContaining("1 tier not reached").hasMessageContaining("2 undecodable");
    assertThatThrownBy(() -> new TierOutcomeReport.Collector(0)).hasMessageContaining("--tier");

    // A cascade of two: tier 1 is the large model, which no rule decides.
    TierOutcomeReport.Collector last = new TierOutcomeReport.Collector(1);
    last.accept(SyntheticOutcomes.checked("b", features, false, true, 1.0, java.util.Map.of())
        .setTierAnswers(List.of(TierAnswer.newBuilder().setTier(1).setModel("large").setText("ref").setCostUnits(10)
            .build())).build());
    assertThatThrownBy(() -> TierOutcomeReport.compute(last, 10, 1))
        .hasMessageContaining("tier 1 answered as the cascade's last model in 1 outcomes")
        .hasMessageContaining("without --tier");
  }

  @Test
  void withoutAReferenceTheFeedbackThatDecidesBothTiersLabelsTheOutcome() {
    TierPolicy policy = new TierPolicy("chow-sum", 0.0, 2.0, 0.0, 1.0); // every request reaching medium passed on
    java.util.Map<String, dev.cascade.schemas.avro.Feedback> feedback = new java.util.HashMap<>();
    List<RoutingOutcome> outcomes = new ArrayList<>();
    List<Request> requests = population(40, 4);
    for (int i = 0; i < requests.size(); i++) {
      Request r = requests.get(i);
      RoutingOutcome o = outcome(r, policy);
      o.setReference(null);
      o.setLargeText(o.getTierAnswers().get(1).getText()); // the served tier's answer
      dev.cascade.schemas.avro.Feedback.Builder f = dev.cascade.schemas.avro.Feedback.newBuilder()
          .setRequestId(r.id()).setSource("user").setCreatedAtMs(0);
      switch (i % 4) {
        case 0 -> feedback.put(r.id(), f.setCorrectedText("ref").build()); // decides both
        case 1 -> feedback.put(r.id(), f.setCorrect(r.large()).build()); // decides both only when large was right
        case 2 -> { } // none
        default -> {
          o.setDegraded(true);
          feedback.put(r.id(), f.setCorrect(true).build());
        }
      }
      outcomes.add(o);
    }
    TierOutcomeReport.Collector collector = new TierOutcomeReport.Collector(1, o -> feedback.get(o.getRequestId()));
    outcomes.forEach(collector);
    TierOutcomeReport report = TierOutcomeReport.compute(collector, 50, 1);
    long largeRightOfOnes = java.util.stream.IntStream.range(0, 40).filter(i -> i % 4 == 1)
        .filter(i -> requests.get(i).large()).count();
    assertThat(report.labels()).containsExactly(java.util.Map.entry(LabelledOutcomes.FEEDBACK, 10 + largeRightOfOnes));
    assertThat(report.skipped()).containsEntry(TierOutcomeReport.NO_REFERENCE, 10L)
        .containsEntry(TierOutcomeReport.DEGRADED, 10L)
        .containsEntry(TierOutcomeReport.FEEDBACK_UNDECIDED, 10 - largeRightOfOnes);
    // A served answer judged right: large right, medium right exactly where it gave the same answer.
    int mediumRight = 0;
    int largeRight = 0;
    for (int i = 0; i < 40; i++) {
      Request r = requests.get(i);
      if (i % 4 == 0) {
        mediumRight += r.medium() ? 1 : 0;
        largeRight += r.large() ? 1 : 0;
      } else if (i % 4 == 1 && r.large()) {
        mediumRight += r.medium() ? 1 : 0; // "ref" equals "ref"; "medium-wrong" differs
        largeRight++;
      }
    }
    assertThat(report.tierAccuracy() * report.totalWeight()).isCloseTo(mediumRight, within(1e-9));
    assertThat(report.nextAccuracy() * report.totalWeight()).isCloseTo(largeRight, within(1e-9));
    assertThat(report.toJson().get("outcomes").get("labels").get("feedback").asLong()).isEqualTo(10 + largeRightOfOnes);
  }

  @Test
  void stoppedEarlyAndUnreferencedAnswersAreSkippedByReason() {
    TierPolicy policy = new TierPolicy("chow-sum", 0.0, 2.0, 0.0, 0.5);
    TierOutcomeReport.Collector collector = new TierOutcomeReport.Collector(1);
    List<Request> requests = population(400, 9);
    int stopped = 0;
    int unreferenced = 0;
    for (int i = 0; i < requests.size(); i++) {
      RoutingOutcome o = outcome(requests.get(i), policy);
      if (i % 10 == 0 && o.getTierAnswers().get(0).getDeferred()) {
        o.getTierAnswers().get(0).setStoppedEarly(true);
        stopped++;
      } else if (i % 10 == 1) {
        o.setReference(null);
        // Counted as such where the tier passed it on (a served one is skipped as served first).
        unreferenced += o.getTierAnswers().get(0).getDeferred() ? 1 : 0;
      }
      collector.accept(o);
    }
    TierOutcomeReport report = TierOutcomeReport.compute(collector, 50, 1);
    assertThat(report.skipped()).containsEntry(TierOutcomeReport.STOPPED_EARLY, (long) stopped)
        .containsEntry(TierOutcomeReport.NO_REFERENCE, (long) unreferenced);
    assertThat(report.stoppedEarlyWarning()).get().asString().contains(stopped + " outcomes")
        .contains("escalation.early-defer=false");
    assertThat(report.toTable()).contains("tier 1:").contains("chow-sum, by the share passed on");
    assertThat(report.toJson().get("by_share_passed_on")).hasSize(TierOutcomeReport.SHARES.length);
  }
}
