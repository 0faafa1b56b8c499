package dev.cascade.router.learner;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.cascade.router.learning.SyntheticTierOutcomes;
import dev.cascade.router.learning.SyntheticTierOutcomes.Request;
import dev.cascade.router.learning.TierOutcomeReport;
import dev.cascade.router.learning.TierTuning;
import dev.cascade.router.policy.DeferralPolicy;
import dev.cascade.router.policy.TierPolicy;
import dev.cascade.schemas.avro.RoutingOutcome;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The middle tiers' tuner deciding from outcomes as the router writes them: medium is right with
 * probability exp(−score / 3), large with 0.75, and large's call costs 10. For a right answer worth
 * V, passing a request on pays where V × (0.75 − exp(−score / 3)) > 10, so the best threshold is
 * −3 ln(0.75 − 10 / V): 1.29 for V = 100, 2.08 for V = 40.
 */
class TierTunerTest {

  private static final double LARGE_COST = SyntheticTierOutcomes.LARGE_COST;

  /** The threshold where passing on starts to pay for a right answer worth {@code value}. */
  static double optimum(double value) {
    return -3 * Math.log(0.75 - LARGE_COST / value);
  }

  private static List<Request> population(int n, long seed) {
    return SyntheticTierOutcomes.population(n, seed, "q" + seed + "-");
  }

  private static RoutingOutcome outcome(Request r, TierPolicy policy, double ruleThreshold) {
    return SyntheticTierOutcomes.outcome(r, policy, ruleThreshold);
  }

  private static DeferralPolicy policy(TierPolicy tier) {
    return new DeferralPolicy("chow-sum", 0.0, 1.0, 0.0, 0.0, 7, "operator", 0, "", null, List.of(), "chow-sum",
        null, List.of(tier));
  }

  private static TierTuner.Settings settings(double value) {
    return new TierTuner.Settings(value, Duration.ofMinutes(1), 20_000, 0.25, 500, 200, 50.0);
  }

  private static TierTuner.Round round(List<Request> requests, TierPolicy tier, double ruleThreshold, double value) {
    TierOutcomeReport.Collector collector = new TierOutcomeReport.Collector(1);
    requests.forEach(r -> collector.accept(outcome(r, tier, ruleThreshold)));
    return TierTuner.decide(policy(tier), List.of(collector), settings(value), 1234L, 8);
  }

  @Test
  void aTierServingTooMuchIsRetunedToTheThresholdThatPaysFromItsExploredRequests() {
    TierPolicy tier = new TierPolicy("chow-sum", 0.0, 4.0, 0.0, 0.2);
    for (double value : new double[] {100, 40}) {
      TierTuner.Round round = round(population(8_000, 3), tier, 4.0, value);

      TierTuning.Decision d = round.decisions().get(0);
      assertThat(d.result()).as("value %s: %s", value, d.reason()).isEqualTo(TierTuning.Result.RETUNED);
      assertThat(d.threshold()).as("value %s", value).isCloseTo(optimum(value), within(0.4));
      assertThat(d.gainLow()).isPositive();
      DeferralPolicy next = round.policy();
      assertThat(next.version()).isEqualTo(8);
      assertThat(next.updatedBy()).isEqualTo(PinHold.LEARNER);
      assertThat(next.tierPolicies().get(0).threshold()).isEqualTo(d.threshold());
      assertThat(next.tierPolicies().get(0).explorationRate()).isEqualTo(0.2);
      assertThat(next.tierPolicies().get(0).rule()).isEqualTo("chow-sum");
      assertThat(next.rule()).isEqualTo("chow-sum");
      assertThat(next.reason()).contains("tier 1 threshold").contains("was 4.0000");
    }
  }

  @Test
  void offeredAnotherRuleTheTunerGivesTheTierTheOneWhoseScoresTellRightFromWrong() {
    // Medium's answers have 1 to 20 tokens, each with the request's score as its -log p: the mean
    // (chow-average) is the score, the sum (chow-sum, in force) the score times a length that says
    // nothing of being right. Offered chow-average, the tuner gives it to the tier, near its optimum.
    TierPolicy tier = new TierPolicy("chow-sum", 0.0, 40.0, 0.0, 0.2);
    java.util.SplittableRandom lengths = new java.util.SplittableRandom(11);
    TierOutcomeReport.Collector collector = new TierOutcomeReport.Collector(1);
    for (Request r : population(8_000, 3)) {
      int n = 1 + lengths.nextInt(20);
      List<Float> logprobs = java.util.Collections.nCopies(n, (float) -r.score());
      collector.accept(SyntheticTierOutcomes.outcome(r, tier, 40.0, logprobs));
    }
    TierTuner.Settings offered = settings(100).withRules(List.of("chow-sum", "chow-average", "chow-quantile-0.5"));
    TierTuner.Round round = TierTuner.decide(policy(tier), List.of(collector), offered, 1234L, 8);

    TierTuning.Decision d = round.decisions().get(0);
    assertThat(d.result()).as(d.reason()).isEqualTo(TierTuning.Result.RETUNED);
    assertThat(d.rule()).isIn("chow-average", "chow-quantile-0.5"); // every token's -log p is the same
    assertThat(d.currentRule()).isEqualTo("chow-sum");
    assertThat(d.changesRule()).isTrue();
    TierPolicy tuned = round.policy().tierPolicies().get(0);
    assertThat(tuned.ruleName()).isEqualTo(d.rule());
    assertThat(tuned.threshold()).isCloseTo(optimum(100), within(0.4));
    assertThat(tuned.explorationRate()).isEqualTo(0.2);
    assertThat(round.policy().reason()).contains("tier 1 rule " + d.rule() + " (was chow-sum) threshold");

    // Not offered, the rule is kept and only its threshold moves.
    TierTuner.Round kept = TierTuner.decide(policy(tier), List.of(collector), settings(100), 1234L, 8);
    assertThat(kept.decisions().get(0).changesRule()).isFalse();
    if (kept.policy() != null) {
      assertThat(kept.policy().tierPolicies().get(0).rule()).isEqualTo("chow-sum");
    }
  }

  @Test
  void aTierWhosePassedOnAnswersStoppedEarlyUnsampledIsNotTuned() {
    // Early deferral stopped every answer the rule passed on: without label sampling nothing above
    // the threshold is known, so the tuner says so instead of only ever lowering it.
    TierPolicy tier = new TierPolicy("chow-sum", 0.0, 4.0, 0.0, 0.2);
    TierOutcomeReport.Collector stopped = new TierOutcomeReport.Collector(1);
    TierOutcomeReport.Collector sampled = new TierOutcomeReport.Collector(1);
    int k = 0;
    for (Request r : population(8_000, 3)) {
      RoutingOutcome o = outcome(r, tier, 4.0);
      dev.cascade.schemas.avro.TierAnswer medium = o.getTierAnswers().get(0);
      if (medium.getDeferred() && !medium.getExplored()) {
        medium.setStoppedEarly(true);
        if (k++ % 5 == 0) {
          // Label sampling at 0.2: this one decoded whole, standing for five.
          RoutingOutcome whole = outcome(r, tier, 4.0);
          whole.getTierAnswers().get(0).setLabelPropensity(0.2);
          sampled.accept(whole);
          stopped.accept(o);
          continue;
        }
      }
      stopped.accept(o);
      sampled.accept(o);
    }
    TierTuner.Round round = TierTuner.decide(policy(tier), List.of(stopped), settings(100), 1234L, 8);
    TierTuning.Decision d = round.decisions().get(0);
    assertThat(d.result()).isEqualTo(TierTuning.Result.SKIPPED);
    assertThat(d.reason()).contains("stopped early").contains("escalation.early-defer-label-share");
    assertThat(round.policy()).isNull();

    TierTuning.Decision withSampling = TierTuner.decide(policy(tier), List.of(sampled), settings(100), 1234L, 8)
        .decisions().get(0);
    assertThat(withSampling.result()).as(withSampling.reason()).isEqualTo(TierTuning.Result.RETUNED);
    assertThat(withSampling.threshold()).isCloseTo(optimum(100), within(0.5));
  }

  private static RoutingOutcome createdAt(RoutingOutcome o, long ms) {
    o.setCreatedAtMs(ms);
    return o;
  }

  @Test
  void withAHalfLifeTheChoiceFollowsTheNewestTraffic() {
    // 8,000 older requests as above (best threshold 1.29 at V = 100), then 2,000 on which medium is
    // right less often at the same score (exp(-score), best threshold -ln(0.65) = 0.43). Alike, the
    // outcomes choose near the older traffic's best; halving every 300 outcomes, near the newest's.
    TierPolicy tier = new TierPolicy("chow-sum", 0.0, 4.0, 0.0, 0.2);
    TierOutcomeReport.Collector collector = new TierOutcomeReport.Collector(1);
    long at = 0;
    for (Request r : population(8_000, 3)) {
      collector.accept(createdAt(SyntheticTierOutcomes.outcome(r, tier, 4.0), at++));
    }
    List<Request> shifted = SyntheticTierOutcomes.population(2_000, 9, "shift-", 1);
    java.util.Collections.shuffle(shifted, new java.util.Random(1)); // read order is not time order
    for (Request r : shifted) {
      collector.accept(createdAt(SyntheticTierOutcomes.outcome(r, tier, 4.0),
          8_000 + Integer.parseInt(r.id().substring("shift-".length()))));
    }
    double newest = -Math.log(0.75 - LARGE_COST / 100);

    TierTuning.Decision alike = TierTuner.decide(policy(tier), List.of(collector), settings(100), 1234L, 8)
        .decisions().get(0);
    TierTuning.Decision recent = TierTuner.decide(policy(tier), List.of(collector),
        settings(100).withHalfLife(300), 1234L, 8).decisions().get(0);

    // Alike, the older traffic's 1.29 pulls the choice up (1.28 here); recent, it is near 0.43 (0.55).
    assertThat(alike.threshold()).as(alike.reason()).isGreaterThan(0.9);
    assertThat(recent.threshold()).as(recent.reason()).isLessThan(alike.threshold() - 0.4);
    assertThat(recent.result()).as(recent.reason()).isEqualTo(TierTuning.Result.RETUNED);
    assertThat(recent.threshold()).as(recent.reason()).isCloseTo(newest, within(0.3));
  }

  @Test
  void theConfiguredTierRulesAreWeighedWheneverOtherRulesAre() {
    dev.cascade.router.config.CascadeConfig offered = dev.cascade.router.config.CascadeConfig.load(null,
        java.util.Map.of(), java.util.Map.of("policy.tier-rules", "chow-sum:3.0", "learn.tier-rules",
            "chow-average,chow-quantile-0.1"));
    assertThat(TierTuner.Settings.from(offered).rules()).containsExactly("chow-average", "chow-quantile-0.1",
        "chow-sum");
    dev.cascade.router.config.CascadeConfig thresholdOnly = dev.cascade.router.config.CascadeConfig.load(null,
        java.util.Map.of(), java.util.Map.of("policy.tier-rules", "chow-sum:3.0"));
    assertThat(TierTuner.Settings.from(thresholdOnly).rules()).isEmpty();
  }

  @Test
  void aThresholdAlreadyAtItsBestIsKept() {
    double best = optimum(100);
    TierPolicy tier = new TierPolicy("chow-sum", 0.0, best, 0.0, 0.2);
    TierTuner.Round round = round(population(8_000, 5), tier, best, 100);

    TierTuning.Decision d = round.decisions().get(0);
    assertThat(d.result()).as(d.reason()).isEqualTo(TierTuning.Result.KEPT);
    assertThat(round.policy()).isNull();
  }

  @Test
  void aTierThatDoesNotExploreIsNotTuned() {
    TierPolicy tier = new TierPolicy("chow-sum", 0.0, 4.0, 0.0, 0.0);
    TierTuner.Round round = round(population(8_000, 3), tier, 4.0, 100);

    assertThat(round.decisions()).hasSize(1).containsNull();
    assertThat(round.policy()).isNull();
  }

  @Test
  void tooFewOutcomesDecideNothing() {
    TierPolicy tier = new TierPolicy("chow-sum", 0.0, 4.0, 0.0, 0.2);
    TierTuner.Round round = round(population(400, 3), tier, 4.0, 100);

    assertThat(round.decisions().get(0).result()).isEqualTo(TierTuning.Result.SKIPPED);
    // Only what was passed on is usable (the next tier's answer is known): 182 of the 400.
    assertThat(round.decisions().get(0).reason()).contains("182 usable outcomes").contains("fewer than 500");
    assertThat(round.policy()).isNull();
  }

  @Test
  void underATargetRateTheTunerSetsTheRateTheBestThresholdAmountsToExplorationIncluded() {
    // Target 0.1 with 0.2 explored: the rule itself passes on none below the top ~0%; the router's
    // threshold under the target is the one passing on (0.1 - 0.2)/(1 - 0.2) -> 0 of the requests.
    TierPolicy tier = new TierPolicy("chow-sum", 0.0, 4.0, 0.1, 0.2);
    double ruleThreshold = 12.0; // about what the controller holds: nothing passed on by the rule
    TierTuner.Round round = round(population(8_000, 3), tier, ruleThreshold, 100);

    TierTuning.Decision d = round.decisions().get(0);
    assertThat(d.result()).as(d.reason()).isEqualTo(TierTuning.Result.RETUNED);
    double share = Math.exp(-optimum(100) / 3); // the exponential's share above the best threshold
    TierPolicy tuned = round.policy().tierPolicies().get(0);
    assertThat(tuned.holdsTargetRate()).isTrue();
    assertThat(tuned.targetEscalationRate()).isCloseTo(share + (1 - share) * 0.2, within(0.05));
    assertThat(tuned.threshold()).isEqualTo(4.0); // the threshold until the controller warms up is kept
    assertThat(round.policy().reason()).contains("tier 1 target rate");
  }

  @Test
  void onlyTheTiersThatExploreAreTunedAndTheOthersAreKeptAsTheyAre() {
    TierPolicy first = new TierPolicy("chow-sum", 0.0, 4.0, 0.0, 0.2);
    TierPolicy second = new TierPolicy("chow-average", 0.0, 0.7, 0.0, 0.0);
    DeferralPolicy current = new DeferralPolicy("chow-sum", 0.0, 1.0, 0.0, 0.0, 7, "operator", 0, "", null,
        List.of(), "chow-sum", null, List.of(first, second));
    TierOutcomeReport.Collector one = new TierOutcomeReport.Collector(1);
    TierOutcomeReport.Collector two = new TierOutcomeReport.Collector(2);
    population(8_000, 3).forEach(r -> {
      RoutingOutcome o = outcome(r, first, 4.0);
      one.accept(o);
      two.accept(o);
    });
    TierTuner.Round round = TierTuner.decide(current, List.of(one, two), settings(100), 1234L, 8);

    assertThat(round.decisions().get(0).result()).isEqualTo(TierTuning.Result.RETUNED);
    assertThat(round.decisions().get(1)).isNull();
    assertThat(round.policy().tierPolicies().get(1)).isEqualTo(second);
  }

  /** The small model in medium's place: its outcomes as the router writes them under {@code decidedBy}. */
  private static dev.cascade.router.learning.OutcomeReport.Collector smallOutcomes(DeferralPolicy decidedBy) {
    dev.cascade.router.learning.OutcomeReport.Collector collector = new dev.cascade.router.learning.OutcomeReport.Collector();
    population(8_000, 3).forEach(r -> collector.accept(SyntheticTierOutcomes.smallOutcome(r, decidedBy)));
    return collector;
  }

  private static DeferralPolicy smallPolicy(double threshold, double exploration, double target, List<TierPolicy> tiers) {
    return new DeferralPolicy("chow-sum", 0.0, threshold, exploration, target, 7, "operator", 0, "", null, List.of(),
        "chow-average", 0.5, tiers);
  }

  @Test
  void theSmallModelsThresholdIsRetunedToWhatPaysWithEverythingElseKept() {
    DeferralPolicy current = smallPolicy(4.0, 0.2, 0.0, List.of());
    TierTuner.Round round = TierTuner.decide(current, List.of(), smallOutcomes(current),
        settings(0).withSmallValue(100), 1234L, 8);

    TierTuning.Decision d = round.small();
    assertThat(d.result()).as(d.reason()).isEqualTo(TierTuning.Result.RETUNED);
    assertThat(d.threshold()).isCloseTo(optimum(100), within(0.4));
    assertThat(d.gainLow()).isPositive();
    DeferralPolicy next = round.policy();
    assertThat(next.threshold()).isEqualTo(d.threshold());
    assertThat(next.version()).isEqualTo(8);
    assertThat(next.updatedBy()).isEqualTo(PinHold.LEARNER);
    assertThat(next.rule()).isEqualTo("chow-sum");
    assertThat(next.explorationRate()).isEqualTo(0.2);
    assertThat(next.fallbackRule()).isEqualTo("chow-average");
    assertThat(next.earlyDeferMargin()).isEqualTo(0.5);
    assertThat(next.reason()).contains("small model threshold").contains("was 4.0000").contains("100.0 a right answer");
    assertThat(round.decisions()).isEmpty();

    // At a higher price the large model's better answers are worth more calls: a lower threshold.
    TierTuner.Round dearer = TierTuner.decide(current, List.of(), smallOutcomes(current),
        settings(0).withSmallValue(40), 1234L, 8);
    assertThat(dearer.small().threshold()).isCloseTo(optimum(40), within(0.4)).isGreaterThan(d.threshold());
  }

  /**
   * learn.small-max-pass-on and learn.tier-max-pass-on hold what the learner writes at or under the
   * share they give: the uncapped choices here pass on more than a quarter.
   */
  @Test
  void theCapsHoldTheSharesTheLearnerChoosesForTheSmallModelAndEachTier() {
    DeferralPolicy current = smallPolicy(4.0, 0.2, 0.0, List.of());
    TierTuner.Round free = TierTuner.decide(current, List.of(), smallOutcomes(current),
        settings(0).withSmallValue(100), 1234L, 8);
    assertThat(free.small().share()).isGreaterThan(0.25);
    TierTuner.Round capped = TierTuner.decide(current, List.of(), smallOutcomes(current),
        settings(0).withSmallValue(100).withMaxPassOn(0.25, 1.0), 1234L, 8);
    assertThat(capped.small().share()).isLessThanOrEqualTo(0.25);
    assertThat(capped.small().threshold()).isGreaterThan(free.small().threshold());
    assertThat(capped.small().reason()).contains("passing on at most 25.0% (the cap)");

    TierPolicy tier = new TierPolicy("chow-sum", 0.0, 4.0, 0.0, 0.2);
    TierOutcomeReport.Collector medium = new TierOutcomeReport.Collector(1);
    population(8_000, 3).forEach(r -> medium.accept(outcome(r, tier, 4.0)));
    DeferralPolicy withTier = smallPolicy(4.0, 0.0, 0.0, List.of(tier));
    TierTuning.Decision tierFree = TierTuner.decide(withTier, List.of(medium), null, settings(100), 1234L, 8)
        .decisions().get(0);
    TierTuning.Decision tierCapped = TierTuner.decide(withTier, List.of(medium), null,
        settings(100).withMaxPassOn(1.0, 0.25), 1234L, 8).decisions().get(0);
    assertThat(tierFree.share()).isGreaterThan(0.25);
    assertThat(tierCapped.share()).isLessThanOrEqualTo(0.25);
    assertThat(new TierTuner.Settings(100, Duration.ofMinutes(1), 20_000, 0.25, 500, 200, 50.0).smallMaxPassOn())
        .as("no cap by default").isEqualTo(1.0);
    assertThatThrownBy(() -> settings(100).withMaxPassOn(1.2, 1.0)).hasMessageContaining("[0, 1]");
  }

  @Test
  void underATargetRateTheSmallModelGetsTheTargetItsBestThresholdAmountsTo() {
    DeferralPolicy decidedBy = smallPolicy(4.0, 0.2, 0.0, List.of());
    DeferralPolicy current = smallPolicy(4.0, 0.2, 0.2, List.of());
    TierTuner.Round round = TierTuner.decide(current, List.of(), smallOutcomes(decidedBy),
        settings(0).withSmallValue(100), 1234L, 8);

    assertThat(round.small().result()).as(round.small().reason()).isEqualTo(TierTuning.Result.RETUNED);
    double share = Math.exp(-optimum(100) / 3);
    assertThat(round.policy().targetEscalationRate()).isCloseTo(share + (1 - share) * 0.2, within(0.05));
    assertThat(round.policy().threshold()).isEqualTo(4.0);
    assertThat(round.policy().reason()).contains("small model target rate");
  }

  @Test
  void withoutExplorationTheSmallModelIsNotTunedAndOneRoundCanMoveItAndATierTogether() {
    DeferralPolicy decidedBy = smallPolicy(4.0, 0.2, 0.0, List.of());
    TierTuner.Round none = TierTuner.decide(smallPolicy(4.0, 0.0, 0.0, List.of()), List.of(),
        smallOutcomes(decidedBy), settings(0).withSmallValue(100), 1234L, 8);
    assertThat(none.small().result()).isEqualTo(TierTuning.Result.SKIPPED);
    assertThat(none.small().reason()).contains("does not explore");
    assertThat(none.policy()).isNull();

    TierPolicy tier = new TierPolicy("chow-sum", 0.0, 4.0, 0.0, 0.2);
    TierOutcomeReport.Collector medium = new TierOutcomeReport.Collector(1);
    population(8_000, 3).forEach(r -> medium.accept(outcome(r, tier, 4.0)));
    DeferralPolicy current = smallPolicy(4.0, 0.2, 0.0, List.of(tier));
    TierTuner.Round both = TierTuner.decide(current, List.of(medium), smallOutcomes(decidedBy),
        settings(100).withSmallValue(40), 1234L, 8);
    assertThat(both.policy().threshold()).isCloseTo(optimum(40), within(0.4));
    assertThat(both.policy().tierPolicies().get(0).threshold()).isCloseTo(optimum(100), within(0.4));
    assertThat(both.policy().reason()).contains("small model threshold").contains("tier 1 threshold");
  }

  @Test
  void withAHalfLifeTheSmallModelsChoiceFollowsTheNewestTrafficToo() {
    // As for a middle tier: 8,000 older requests (best 1.29 at V = 100), then 2,000 on which the
    // small model is right less often at the same score (best 0.43).
    DeferralPolicy current = smallPolicy(4.0, 0.2, 0.0, List.of());
    dev.cascade.router.learning.OutcomeReport.Collector collector = new dev.cascade.router.learning.OutcomeReport.Collector();
    long at = 0;
    for (Request r : population(8_000, 3)) {
      collector.accept(createdAt(SyntheticTierOutcomes.smallOutcome(r, current), at++));
    }
    List<Request> shifted = SyntheticTierOutcomes.population(2_000, 9, "shift-", 1);
    java.util.Collections.shuffle(shifted, new java.util.Random(1)); // read order is not time order
    for (Request r : shifted) {
      collector.accept(createdAt(SyntheticTierOutcomes.smallOutcome(r, current),
          8_000 + Integer.parseInt(r.id().substring("shift-".length()))));
    }
    double newest = -Math.log(0.75 - LARGE_COST / 100);

    TierTuning.Decision alike = TierTuner.decide(current, List.of(), collector, settings(0).withSmallValue(100), 1234L,
        8).small();
    TierTuning.Decision recent = TierTuner.decide(current, List.of(), collector,
        settings(0).withSmallValue(100).withHalfLife(300), 1234L, 8).small();

    assertThat(alike.threshold()).as(alike.reason()).isGreaterThan(0.9);
    assertThat(recent.threshold()).as(recent.reason()).isLessThan(alike.threshold() - 0.4);
    assertThat(recent.result()).as(recent.reason()).isEqualTo(TierTuning.Result.RETUNED);
    assertThat(recent.threshold()).as(recent.reason()).isCloseTo(newest, within(0.3));
  }
}
