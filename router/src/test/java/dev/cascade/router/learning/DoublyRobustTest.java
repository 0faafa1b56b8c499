package dev.cascade.router.learning;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.cascade.router.evaluation.CascadeEvaluation;
import dev.cascade.router.features.UncertaintyFeatures;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class DoublyRobustTest {

  private static final double EPSILON = 0.05;
  private static final double MAX_WEIGHT = 50;

  /** A population: both models' correctness known, a good rule's and a weaker champion's scores. */
  private record Population(boolean[] small, boolean[] large, double[] good, double[] champion) {
    static Population draw(int n, long seed) {
      SplittableRandom random = new SplittableRandom(seed);
      boolean[] small = new boolean[n];
      boolean[] large = new boolean[n];
      double[] good = new double[n];
      double[] champion = new double[n];
      for (int i = 0; i < n; i++) {
        double hardness = random.nextDouble();
        small[i] = random.nextDouble() > hardness;
        large[i] = random.nextDouble() > hardness * 0.5;
        good[i] = hardness + 0.15 * random.nextGaussian();
        champion[i] = hardness + 0.6 * random.nextGaussian();
      }
      return new Population(small, large, good, champion);
    }

    int size() {
      return small.length;
    }

    double delta() {
      CascadeEvaluation all = new CascadeEvaluation(small, large);
      return all.aucDf(good) - all.aucDf(champion);
    }
  }

  /** One log of the population under the champion deferring its top 25%, exploring ε of the rest. */
  private static List<DoublyRobust.Observation> log(Population p, SplittableRandom random, boolean reference) {
    double[] sorted = p.champion().clone();
    Arrays.sort(sorted);
    double threshold = sorted[(int) (sorted.length * 0.75)];
    List<DoublyRobust.Observation> out = new ArrayList<>();
    for (int i = 0; i < p.size(); i++) {
      boolean deferred = p.champion()[i] >= threshold;
      boolean escalated = deferred || random.nextDouble() < EPSILON;
      out.add(new DoublyRobust.Observation(reference, escalated, deferred ? 1.0 : EPSILON,
          escalated ? p.large()[i] : null));
    }
    return out;
  }

  private static List<DeferralExample> examples(Population p) {
    List<DeferralExample> out = new ArrayList<>();
    UncertaintyFeatures features = SyntheticExamples.labelled(1, 1, 0, e -> false).get(0).features();
    for (int i = 0; i < p.size(); i++) {
      out.add(new DeferralExample(features, null, p.small()[i], p.large()[i]));
    }
    return out;
  }

  private static double doublyRobust(Population p, List<DeferralExample> examples, List<DoublyRobust.Observation> log) {
    int half = p.size() / 2;
    DoublyRobust.Estimate e = DoublyRobust.estimate(
        new DoublyRobust.Part(examples.subList(0, half), log.subList(0, half),
            Arrays.copyOfRange(p.champion(), 0, half)),
        new DoublyRobust.Part(examples.subList(half, p.size()), log.subList(half, p.size()),
            Arrays.copyOfRange(p.champion(), half, p.size())),
        5, MAX_WEIGHT);
    double[] good = new double[e.size()];
    double[] champion = new double[e.size()];
    for (int k = 0; k < e.size(); k++) {
      good[k] = p.good()[half + e.positions()[k]];
      champion[k] = p.champion()[half + e.positions()[k]];
    }
    CascadeEvaluation evaluation = CascadeEvaluation.withEstimatedLarge(e.small(), e.large());
    return evaluation.aucDf(good, e.weights()) - evaluation.aucDf(champion, e.weights());
  }

  /** The escalated examples alone, each weighted by the inverse of its propensity. */
  private static double inversePropensity(Population p, List<DoublyRobust.Observation> log) {
    int half = p.size() / 2;
    List<Integer> kept = new ArrayList<>();
    for (int i = half; i < p.size(); i++) {
      if (log.get(i).escalated()) {
        kept.add(i);
      }
    }
    boolean[] small = new boolean[kept.size()];
    boolean[] large = new boolean[kept.size()];
    double[] weights = new double[kept.size()];
    double[] good = new double[kept.size()];
    double[] champion = new double[kept.size()];
    for (int k = 0; k < kept.size(); k++) {
      int i = kept.get(k);
      small[k] = p.small()[i];
      large[k] = p.large()[i];
      weights[k] = 1.0 / log.get(i).propensity();
      good[k] = p.good()[i];
      champion[k] = p.champion()[i];
    }
    CascadeEvaluation evaluation = new CascadeEvaluation(small, large);
    return evaluation.aucDf(good, weights) - evaluation.aucDf(champion, weights);
  }

  @Test
  void theEstimateIsCentredOnTheFullyLabelledDifferenceAndTighterThanInversePropensityAlone() {
    Population p = Population.draw(1600, 3);
    double truth = new Population(
        Arrays.copyOfRange(p.small(), 800, 1600), Arrays.copyOfRange(p.large(), 800, 1600),
        Arrays.copyOfRange(p.good(), 800, 1600), Arrays.copyOfRange(p.champion(), 800, 1600)).delta();
    List<DeferralExample> examples = examples(p);
    SplittableRandom random = new SplittableRandom(11);
    int logs = 300;
    double[] dr = new double[logs];
    double[] ipw = new double[logs];
    for (int r = 0; r < logs; r++) {
      List<DoublyRobust.Observation> log = log(p, random, true);
      dr[r] = doublyRobust(p, examples, log);
      ipw[r] = inversePropensity(p, log);
    }
    double drMean = Arrays.stream(dr).average().orElseThrow();
    double drSd = sd(dr, drMean);
    double ipwSd = sd(ipw, Arrays.stream(ipw).average().orElseThrow());
    assertThat(truth).as("the good rule is better on the full labels").isGreaterThan(0.01);
    // Unbiased over the escalation coin: the mean of 300 logs within 4 standard errors of the truth.
    assertThat(drMean).isCloseTo(truth, within(4 * drSd / Math.sqrt(logs)));
    // The small model's correctness of every accepted request is used: less spread. (How much less
    // depends on how well the outcome model predicts the large model; here by 20%.)
    assertThat(drSd).isLessThan(ipwSd * 0.9);
  }

  @Test
  void deferredRequestsKeepTheirObservedLabelAndEscalationOnlyLabelsAreReweighted() {
    Population p = Population.draw(40, 5);
    List<DeferralExample> examples = examples(p);
    List<DoublyRobust.Observation> held = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      held.add(switch (i % 4) {
        case 0 -> new DoublyRobust.Observation(true, true, 1.0, p.large()[i]); // deferred
        case 1 -> new DoublyRobust.Observation(true, false, 0.05, null); // accepted, referenced
        case 2 -> new DoublyRobust.Observation(false, true, 0.1, p.large()[i]); // teacher, explored
        default -> new DoublyRobust.Observation(false, false, 0.1, null); // teacher, accepted: no label
      });
    }
    List<DoublyRobust.Observation> older = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      older.add(DoublyRobust.Observation.complete(p.large()[i]));
    }
    DoublyRobust.Estimate e = DoublyRobust.estimate(new DoublyRobust.Part(examples, older, p.champion()),
        new DoublyRobust.Part(examples, held, p.champion()), 4, MAX_WEIGHT);
    assertThat(e.size()).isEqualTo(30);
    assertThat(e.imputed()).isEqualTo(10);
    for (int k = 0; k < e.size(); k++) {
      int i = e.positions()[k];
      assertThat(i % 4).isNotEqualTo(3);
      assertThat(e.small()[k]).isEqualTo(p.small()[i]);
      switch (i % 4) {
        case 0 -> {
          assertThat(e.large()[k]).isCloseTo(p.large()[i] ? 1 : 0, within(1e-12));
          assertThat(e.weights()[k]).isEqualTo(1.0);
        }
        case 1 -> {
          assertThat(e.large()[k]).isStrictlyBetween(0.0, 1.0);
          assertThat(e.weights()[k]).isEqualTo(1.0);
        }
        default -> {
          assertThat(e.large()[k]).isEqualTo(p.large()[i] ? 1.0 : 0.0);
          assertThat(e.weights()[k]).isCloseTo(10.0, within(1e-9));
        }
      }
    }
  }

  @Test
  void aRequestDecodedWholeByLabelSamplingStandsForOneOverItsLabelPropensity() {
    Population p = Population.draw(40, 7);
    List<DeferralExample> examples = examples(p);
    List<DoublyRobust.Observation> held = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      held.add(i % 2 == 0
          ? new DoublyRobust.Observation(true, true, 1.0, p.large()[i], 0.2) // referenced, sampled 1 in 5
          : new DoublyRobust.Observation(false, true, 0.5, p.large()[i], 0.25)); // teacher, explored, sampled
    }
    List<DoublyRobust.Observation> older = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      older.add(DoublyRobust.Observation.complete(p.large()[i]));
    }
    DoublyRobust.Estimate e = DoublyRobust.estimate(new DoublyRobust.Part(examples, older, p.champion()),
        new DoublyRobust.Part(examples, held, p.champion()), 4, MAX_WEIGHT);
    assertThat(e.size()).isEqualTo(40);
    for (int k = 0; k < e.size(); k++) {
      int i = e.positions()[k];
      // Deferred (propensity 1): the observed label exactly, whatever the sampling; weights 5 and 1/(0.5 × 0.25).
      assertThat(e.large()[k]).isCloseTo(p.large()[i] ? 1 : 0, within(1e-12));
      assertThat(e.weights()[k]).isCloseTo(i % 2 == 0 ? 5.0 : 8.0, within(1e-9));
    }
    DoublyRobust.Estimate clipped = DoublyRobust.estimate(new DoublyRobust.Part(examples, older, p.champion()),
        new DoublyRobust.Part(examples, held, p.champion()), 4, 6.0);
    assertThat(clipped.weights()).containsOnly(5.0, 6.0);
    assertThatThrownBy(() -> new DoublyRobust.Observation(true, true, 1.0, true, 0.0))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("labelPropensity");
  }

  private static double sd(double[] values, double mean) {
    double s = 0;
    for (double v : values) {
      s += (v - mean) * (v - mean);
    }
    return Math.sqrt(s / (values.length - 1));
  }
}
