package dev.cascade.router.learning;

import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * The large model's correctness of every labelled request, estimated for comparing rules on logged
 * traffic, including the requests the large model never answered: the doubly robust estimator
 * (Robins, Rotnitzky and Zhao 1994; for off-policy evaluation, Dudík, Langford and Li 2011).
 *
 * <h2>Why</h2>
 *
 * <p>A deferral curve needs, per request, whether the small model was right and whether the large
 * one was. With references, the small model's correctness is known for every request; the large
 * model's only where the request was escalated: always where the rule deferred it, with the
 * exploration rate ε where it accepted it. Comparing rules on the escalated requests alone, each
 * weighted by the inverse of its propensity, is unbiased but throws away the small model's
 * correctness of every accepted request and lets an explored request count 1/ε times (20 at 5%):
 * its intervals are too wide to resolve differences of a few points of AUC-DF on a few hundred
 * requests.
 *
 * <h2>The estimator</h2>
 *
 * <p>Every request labelled whether or not it was escalated (by its reference) enters with weight
 * 1 and the pseudo-outcome {@code m(x) + E/p · (L − m(x))} for the large model's correctness: {@code
 * m(x)} an outcome model's probability that the large model is right, {@code E} whether it was
 * escalated, {@code p} its propensity, {@code L} the observed correctness. Its expectation over
 * the escalation coin is {@code L} whatever {@code m} is, so every AUC-DF (linear in these values
 * for a fixed ordering of the requests) stays unbiased; a good {@code m} only lowers the variance,
 * because the 1/ε weight then multiplies a small residual instead of the whole outcome. A deferred
 * request ({@code p = 1}) keeps its observed {@code L} exactly. Requests labelled only because they
 * were escalated (the large model as teacher, or feedback) cannot be imputed, since their accepted
 * peers carry no label at all; they enter as before, with their observed {@code L} and weight
 * {@code 1/p}.
 *
 * <p>The outcome model is deliberately small: the inverse-propensity-weighted share of the large
 * model right, among escalated requests, per cell of (small model right or wrong) × (quintile of a
 * stratifying score, the champion rule's), each cell shrunk toward its row and the row toward the
 * overall share. It is cross-fitted: the requests of one fold are imputed by a model fitted on the
 * other folds and the older requests, so no request's pseudo-outcome uses its own label. The
 * inverse-propensity weight is clipped at {@code maxWeight}, which biases explored residuals
 * toward zero only where ε is below {@code 1/maxWeight}.
 *
 * <p>A request that early deferral would have stopped has a whole small answer only when label
 * sampling decoded it to its end, with probability {@code q} ({@code small.early-defer-label-share}),
 * its label propensity; the others have no label. Each sampled one stands for {@code 1/q} of them:
 * its weight is multiplied by {@code 1/q}, in the outcome model's fit too (clipped at {@code maxWeight}).
 */
public final class DoublyRobust {

  /** How strongly a cell's share is pulled toward its row's (in pseudo-requests). */
  private static final double SHRINK = 5.0;
  private static final int QUANTILES = 5;

  private DoublyRobust() {}

  /**
   * How one labelled example was observed.
   *
   * @param everyRequestLabelled whether requests like it carry a label whether or not they are
   *     escalated (a reference): then it can be imputed when the large model did not answer
   * @param escalated whether it was escalated
   * @param propensity the probability that it was escalated, in (0, 1]
   * @param largeCorrect whether the large model was right, null when it did not answer
   * @param labelPropensity the probability that its small answer was whole, in (0, 1]: below 1 for a
   *     request that early deferral would have stopped and label sampling decoded to its end, which
   *     then stands for {@code 1/labelPropensity} requests, whatever its escalation
   */
  public record Observation(boolean everyRequestLabelled, boolean escalated, double propensity, Boolean largeCorrect,
      double labelPropensity) {
    public Observation {
      if (!(propensity > 0 && propensity <= 1)) {
        throw new IllegalArgumentException("propensity must be in (0, 1], was " + propensity);
      }
      if (!(labelPropensity > 0 && labelPropensity <= 1)) {
        throw new IllegalArgumentException("labelPropensity must be in (0, 1], was " + labelPropensity);
      }
    }

    /** A request whose small answer was whole whatever happened (label propensity 1). */
    public Observation(boolean everyRequestLabelled, boolean escalated, double propensity, Boolean largeCorrect) {
      this(everyRequestLabelled, escalated, propensity, largeCorrect, 1.0);
    }

    /** A fully labelled example of a data set: escalated with certainty, both answers known. */
    public static Observation complete(boolean largeCorrect) {
      return new Observation(true, true, 1.0, largeCorrect);
    }

    /** Whether it can take part in a comparison of rules. */
    public boolean comparable() {
      return everyRequestLabelled || (escalated && largeCorrect != null);
    }

    /** Whether the large model's answer was observed (it was escalated and answered). */
    public boolean largeObserved() {
      return escalated && largeCorrect != null;
    }

    /** The inverse of the escalation's propensity, clipped: for the large model's residual. */
    double inverseWeight(double maxWeight) {
      return Math.min(maxWeight, 1.0 / propensity);
    }

    /** How many requests it stands for, as labelled whether or not it was escalated: 1/labelPropensity, clipped. */
    double sampleWeight(double maxWeight) {
      return Math.min(maxWeight, 1.0 / labelPropensity);
    }

    /** How many requests it stands for, as seen only because it was escalated: 1/(propensity × labelPropensity), clipped. */
    double escalatedWeight(double maxWeight) {
      return Math.min(maxWeight, 1.0 / (propensity * labelPropensity));
    }
  }

  /**
   * What to evaluate on: the comparable examples, in the order given.
   *
   * @param positions each one's position in the list it came from
   * @param small whether the small model was right
   * @param large the large model's correctness, observed or estimated
   * @param weights how many requests each stands for
   * @param imputed how many of them the large model did not answer
   */
  public record Estimate(int[] positions, boolean[] small, double[] large, double[] weights, int imputed) {
    public int size() {
      return positions.length;
    }
  }

  /**
   * Estimates the held examples' large-model correctness.
   *
   * @param older examples before the held ones (outcome-model training only), with their observations
   *     and stratifying scores
   * @param held the examples to evaluate on
   * @param folds cross-fitting folds over {@code held} (example {@code i} is in fold {@code i % folds})
   * @param maxWeight the clip of inverse-propensity weights
   */
  public static Estimate estimate(Part older, Part held, int folds, double maxWeight) {
    Objects.requireNonNull(older, "older");
    Objects.requireNonNull(held, "held");
    int n = held.size();
    int k = Math.max(1, Math.min(folds, n));
    double[] imputation = new double[n];
    for (int f = 0; f < k; f++) {
      OutcomeModel model = OutcomeModel.fit(older, held, f, k, maxWeight);
      for (int i = f; i < n; i += k) {
        imputation[i] = model.predict(held.examples().get(i).smallCorrect(), held.strata()[i]);
      }
    }
    int count = 0;
    for (Observation o : held.observations()) {
      count += o.comparable() ? 1 : 0;
    }
    int[] positions = new int[count];
    boolean[] small = new boolean[count];
    double[] large = new double[count];
    double[] weights = new double[count];
    int imputed = 0;
    int j = 0;
    for (int i = 0; i < n; i++) {
      Observation o = held.observations().get(i);
      if (!o.comparable()) {
        continue;
      }
      positions[j] = i;
      small[j] = held.examples().get(i).smallCorrect();
      if (o.everyRequestLabelled()) {
        weights[j] = o.sampleWeight(maxWeight);
        double m = imputation[i];
        large[j] = o.largeObserved() ? m + o.inverseWeight(maxWeight) * ((o.largeCorrect() ? 1 : 0) - m) : m;
        imputed += o.largeObserved() ? 0 : 1;
      } else {
        weights[j] = o.escalatedWeight(maxWeight);
        large[j] = o.largeCorrect() ? 1 : 0;
      }
      j++;
    }
    return new Estimate(positions, small, large, weights, imputed);
  }

  /**
   * Examples with how each was observed and a stratifying score for the outcome model.
   */
  public record Part(List<DeferralExample> examples, List<Observation> observations, double[] strata) {
    public Part {
      if (examples.size() != observations.size() || examples.size() != strata.length) {
        throw new IllegalArgumentException(examples.size() + " examples, " + observations.size()
            + " observations and " + strata.length + " scores");
      }
    }

    int size() {
      return examples.size();
    }
  }

  /** P(large right | small right or wrong, score quintile), fitted by weighted shares. */
  static final class OutcomeModel {
    private final double[] cuts;
    private final double[][] share;

    private OutcomeModel(double[] cuts, double[][] share) {
      this.cuts = cuts;
      this.share = share;
    }

    /** Fitted on {@code older} and the held examples outside fold {@code fold}. */
    static OutcomeModel fit(Part older, Part held, int fold, int folds, double maxWeight) {
      int total = older.size() + held.size();
      double[] scores = new double[total];
      int[] rows = new int[total];
      double[] values = new double[total];
      double[] weights = new double[total];
      int m = 0;
      for (int i = 0; i < total; i++) {
        boolean fromOlder = i < older.size();
        int at = fromOlder ? i : i - older.size();
        if (!fromOlder && at % folds == fold) {
          continue;
        }
        Part part = fromOlder ? older : held;
        Observation o = part.observations().get(at);
        if (!o.largeObserved()) {
          continue;
        }
        scores[m] = part.strata()[at];
        rows[m] = part.examples().get(at).smallCorrect() ? 1 : 0;
        values[m] = o.largeCorrect() ? 1 : 0;
        weights[m] = o.escalatedWeight(maxWeight);
        m++;
      }
      double[] sorted = Arrays.copyOf(scores, m);
      Arrays.sort(sorted);
      double[] cuts = new double[QUANTILES - 1];
      for (int q = 1; q < QUANTILES; q++) {
        cuts[q - 1] = m == 0 ? 0 : sorted[Math.min(m - 1, (int) ((long) m * q / QUANTILES))];
      }
      double allSum = 0;
      double allWeight = 0;
      double[] rowSum = new double[2];
      double[] rowWeight = new double[2];
      double[][] cellSum = new double[2][QUANTILES];
      double[][] cellWeight = new double[2][QUANTILES];
      for (int i = 0; i < m; i++) {
        int c = cell(cuts, scores[i]);
        allSum += weights[i] * values[i];
        allWeight += weights[i];
        rowSum[rows[i]] += weights[i] * values[i];
        rowWeight[rows[i]] += weights[i];
        cellSum[rows[i]][c] += weights[i] * values[i];
        cellWeight[rows[i]][c] += weights[i];
      }
      double overall = (allSum + 0.5 * SHRINK) / (allWeight + SHRINK);
      double[][] share = new double[2][QUANTILES];
      for (int r = 0; r < 2; r++) {
        double row = (rowSum[r] + overall * SHRINK) / (rowWeight[r] + SHRINK);
        for (int c = 0; c < QUANTILES; c++) {
          share[r][c] = (cellSum[r][c] + row * SHRINK) / (cellWeight[r][c] + SHRINK);
        }
      }
      return new OutcomeModel(cuts, share);
    }

    double predict(boolean smallCorrect, double score) {
      return share[smallCorrect ? 1 : 0][cell(cuts, score)];
    }

    private static int cell(double[] cuts, double score) {
      int c = 0;
      while (c < cuts.length && score >= cuts[c]) {
        c++;
      }
      return c;
    }
  }
}
