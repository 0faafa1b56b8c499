package dev.cascade.router.evaluation;

import java.util.Arrays;
import java.util.Comparator;
import java.util.stream.IntStream;

/**
 * The pre-generation skip, offline: a prompt-only rule sends the requests it is surest about
 * (prompt score above a threshold) straight to the large model, without small-model decoding; the
 * rest are generated and deferred by the post-generation rule as before. Pure arithmetic over
 * per-item arrays.
 *
 * <p>Compared at the same escalation rate: with {@code k} of {@code n} requests escalated, the
 * cascade without the skip defers the {@code k} highest post-generation scores; with it, the
 * skipped ones plus the {@code k − skipped} highest post-generation scores among the rest (undefined
 * below the skipped share). What the skip saves is the skipped requests' small-model decoding
 * steps (generated tokens plus the end-of-sequence step).
 *
 * @param smallCorrect per item, whether the small model is right
 * @param largeCorrect whether the model deferred to is right
 * @param postScore the post-generation rule's score (higher: defer)
 * @param promptScore the prompt-only rule's score (higher: defer)
 * @param decodeSteps the small model's decoding steps on the item
 */
public record PregenSkip(boolean[] smallCorrect, boolean[] largeCorrect, double[] postScore, double[] promptScore,
    int[] decodeSteps) {

  /** The escalation rates a skip threshold is judged at: 0.20, 0.25, …, 0.50, the middle where cascades run. */
  public static final double[] MIDDLE_RATES = {0.20, 0.25, 0.30, 0.35, 0.40, 0.45, 0.50};

  /** The labels a prompt rule can be trained on ({@link #label}). */
  public enum Label {
    /**
     * Deferring helps: the large model right where the small one is wrong ({@code
     * DeferralExample.benefit()}), the label of the post-generation rules.
     */
    BENEFIT("benefit"),
    /**
     * Escalating the request costs nothing at the middle escalation rates: the post-generation rule
     * would defer it anyway even at the lowest of them ({@link #MIDDLE_RATES}[0]: its score among
     * that share of the highest), or deferring helps. What a skip needs to know, since skipping a
     * request the post rule defers anyway loses nothing at the same escalation rate and saves its
     * decoding.
     */
    DEFERRED_OR_BENEFIT("deferred-or-benefit");

    private final String id;

    Label(String id) {
      this.id = id;
    }

    /** The command-line name. */
    public String id() {
      return id;
    }

    /** @throws IllegalArgumentException naming the known labels */
    public static Label of(String id) {
      for (Label l : values()) {
        if (l.id.equals(id)) {
          return l;
        }
      }
      throw new IllegalArgumentException("unknown skip label '" + id + "'; known: benefit, deferred-or-benefit");
    }
  }

  public PregenSkip {
    int n = smallCorrect.length;
    if (n == 0 || largeCorrect.length != n || postScore.length != n || promptScore.length != n
        || decodeSteps.length != n) {
      throw new IllegalArgumentException("every array needs one entry per item (" + n + ")");
    }
  }

  public int size() {
    return smallCorrect.length;
  }

  /**
   * Which items the post-generation rule defers at escalation rate {@code rate} without a skip: the
   * {@code round(rate · n)} highest post scores (ties by index, as {@link #accuracyAt} takes them).
   */
  public boolean[] deferredAt(double rate) {
    int n = size();
    int escalate = (int) Math.round(rate * n);
    boolean[] out = new boolean[n];
    int[] order = postOrder();
    for (int j = 0; j < escalate; j++) {
      out[order[j]] = true;
    }
    return out;
  }

  /**
   * Per item, the prompt rule's training label: with {@link Label#BENEFIT} the small model wrong and
   * the large one right; with {@link Label#DEFERRED_OR_BENEFIT} also every item {@link #deferredAt}
   * the lowest middle rate.
   */
  public boolean[] label(Label label) {
    boolean[] deferred = label == Label.DEFERRED_OR_BENEFIT ? deferredAt(MIDDLE_RATES[0]) : new boolean[size()];
    boolean[] out = new boolean[size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = deferred[i] || (largeCorrect[i] && !smallCorrect[i]);
    }
    return out;
  }

  private int[] postOrder() {
    return IntStream.range(0, size()).boxed()
        .sorted(Comparator.comparingDouble((Integer i) -> -postScore[i]).thenComparingInt(i -> i))
        .mapToInt(Integer::intValue).toArray();
  }

  /** Which items the skip sends straight on: prompt score above {@code threshold}. */
  public boolean[] skipped(double threshold) {
    boolean[] out = new boolean[size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = promptScore[i] > threshold;
    }
    return out;
  }

  /** The share of items skipped. */
  public static double share(boolean[] skipped) {
    return IntStream.range(0, skipped.length).filter(i -> skipped[i]).count() / (double) skipped.length;
  }

  /** The skipped items' share of all small-model decoding steps. */
  public double savedShare(boolean[] skipped) {
    long saved = 0;
    long all = 0;
    for (int i = 0; i < skipped.length; i++) {
      all += decodeSteps[i];
      saved += skipped[i] ? decodeSteps[i] : 0;
    }
    return all == 0 ? 0 : (double) saved / all;
  }

  /**
   * Cascade accuracy with {@code round(rate · n)} items escalated: the skipped ones, then the
   * highest post-generation scores among the rest; NaN when more are skipped than that.
   */
  public double accuracyAt(double rate, boolean[] skipped) {
    return accuracyAt(rate, skipped, postOrder());
  }

  /**
   * Which items go on at escalation rate {@code rate}: the {@code skipped} ones, then the highest
   * post scores among the rest, {@code round(rate · n)} in all; null when more are skipped than that.
   */
  public boolean[] deferredAt(double rate, boolean[] skipped) {
    int n = size();
    int escalate = (int) Math.round(rate * n);
    boolean[] deferred = skipped.clone();
    int count = (int) IntStream.range(0, n).filter(i -> skipped[i]).count();
    if (count > escalate) {
      return null;
    }
    int[] order = postOrder();
    for (int j = 0; j < n && count < escalate; j++) {
      if (!deferred[order[j]]) {
        deferred[order[j]] = true;
        count++;
      }
    }
    return deferred;
  }

  /**
   * Mean cost per request at escalation rate {@code rate} ({@link #deferredAt}): every item not
   * skipped pays {@code smallCost}, every item {@code passCost} (a prompt pass; 0 for a rule over the
   * text alone, and without a skip), every item that goes on {@code nextCost}; NaN where undefined.
   */
  public double costAt(double rate, boolean[] skipped, double[] smallCost, double[] passCost, double[] nextCost) {
    boolean[] deferred = deferredAt(rate, skipped);
    if (deferred == null) {
      return Double.NaN;
    }
    double total = 0;
    for (int i = 0; i < deferred.length; i++) {
      total += (skipped[i] ? 0 : smallCost[i]) + passCost[i] + (deferred[i] ? nextCost[i] : 0);
    }
    return total / deferred.length;
  }

  /** The most accuracy the skip loses against no skip, over {@code rates}; +∞ where it is undefined at one. */
  public double maxLoss(boolean[] skipped, double[] rates) {
    boolean[] none = new boolean[size()];
    double worst = Double.NEGATIVE_INFINITY;
    for (double rate : rates) {
      double with = accuracyAt(rate, skipped);
      if (Double.isNaN(with)) {
        return Double.POSITIVE_INFINITY;
      }
      worst = Math.max(worst, accuracyAt(rate, none) - with);
    }
    return worst;
  }

  /** The mean accuracy the skip loses against no skip over {@code rates}; +∞ where it is undefined at one. */
  public double meanLoss(boolean[] skipped, double[] rates) {
    boolean[] none = new boolean[size()];
    double total = 0;
    for (double rate : rates) {
      double with = accuracyAt(rate, skipped);
      if (Double.isNaN(with)) {
        return Double.POSITIVE_INFINITY;
      }
      total += accuracyAt(rate, none) - with;
    }
    return total / rates.length;
  }

  /**
   * The skip threshold to use: of the prompt-score quantiles that skip {@code shares} of the items,
   * the one skipping the most (at least one item; on tied scores a quantile may skip fewer than its
   * share) whose {@link #maxLoss} over {@code rates} is at most {@code maxLoss}; {@code +∞} (skip
   * nothing) when none is. {@link #chooseThresholds} with every item of one kind.
   */
  public double chooseThreshold(double[] shares, double maxLoss, double[] rates) {
    return chooseThresholds(new int[size()], 1, shares, maxLoss, rates)[0];
  }

  /** Which items the skip sends on with a threshold per prompt kind: prompt score above {@code thresholds[kind[i]]}. */
  public boolean[] skipped(double[] thresholds, int[] kind) {
    if (kind.length != size()) {
      throw new IllegalArgumentException(kind.length + " kinds for " + size() + " items");
    }
    boolean[] out = new boolean[size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = promptScore[i] > thresholds[kind[i]];
    }
    return out;
  }

  /**
   * Thresholds per prompt kind, chosen together by the rule of {@link #chooseThreshold}: for each
   * kind the candidates are the prompt-score quantiles of that kind's items that skip {@code shares}
   * of them, and {@code +∞} (skip none of that kind); of every combination, the one skipping the most
   * items (at least one) whose {@link #maxLoss} over {@code rates}, on all the items together, is at
   * most {@code maxLoss}. Every entry {@code +∞} when none is. The search tries every combination
   * ({@code (shares + 1)^kinds}), so it is meant for a few kinds.
   *
   * @param kind per item, its kind, {@code 0 … kinds − 1}
   */
  public double[] chooseThresholds(int[] kind, int kinds, double[] shares, double maxLoss, double[] rates) {
    int n = size();
    if (kind.length != n) {
      throw new IllegalArgumentException(kind.length + " kinds for " + n + " items");
    }
    double[][] candidates = new double[kinds][];
    for (int k = 0; k < kinds; k++) {
      int kk = k;
      double[] sorted = IntStream.range(0, n).filter(i -> kind[i] == kk).mapToDouble(i -> promptScore[i]).sorted()
          .toArray();
      double[] c = new double[shares.length + 1];
      c[0] = Double.POSITIVE_INFINITY;
      int m = 1;
      for (double share : shares) {
        int keep = (int) Math.round((1 - share) * sorted.length);
        if (keep < sorted.length && keep >= 1) {
          c[m++] = sorted[keep - 1];
        }
      }
      candidates[k] = Arrays.copyOf(c, m);
    }
    int[] order = postOrder();
    double[] without = new double[rates.length];
    boolean[] none = new boolean[n];
    for (int r = 0; r < rates.length; r++) {
      without[r] = accuracyAt(rates[r], none, order);
    }
    double[] best = new double[kinds];
    Arrays.fill(best, Double.POSITIVE_INFINITY);
    int bestCount = 0;
    int[] at = new int[kinds];
    double[] thresholds = new double[kinds];
    while (true) {
      for (int k = 0; k < kinds; k++) {
        thresholds[k] = candidates[k][at[k]];
      }
      boolean[] skipped = skipped(thresholds, kind);
      int count = 0;
      for (boolean b : skipped) {
        count += b ? 1 : 0;
      }
      if (count > bestCount && lossWithin(skipped, order, without, rates, maxLoss)) {
        bestCount = count;
        best = thresholds.clone();
      }
      int k = 0;
      while (k < kinds && ++at[k] == candidates[k].length) {
        at[k] = 0;
        k++;
      }
      if (k == kinds) {
        return best;
      }
    }
  }

  private boolean lossWithin(boolean[] skipped, int[] order, double[] without, double[] rates, double maxLoss) {
    for (int r = 0; r < rates.length; r++) {
      double with = accuracyAt(rates[r], skipped, order);
      if (Double.isNaN(with) || without[r] - with > maxLoss) {
        return false;
      }
    }
    return true;
  }

  /** {@link #accuracyAt(double, boolean[])} with the post-score order already computed. */
  private double accuracyAt(double rate, boolean[] skipped, int[] order) {
    int n = size();
    int escalate = (int) Math.round(rate * n);
    int count = 0;
    int right = 0;
    for (int i = 0; i < n; i++) {
      if (skipped[i]) {
        count++;
        right += largeCorrect[i] ? 1 : 0;
      }
    }
    if (count > escalate) {
      return Double.NaN;
    }
    for (int j = 0; j < n; j++) {
      int i = order[j];
      if (skipped[i]) {
        continue;
      }
      boolean deferred = count < escalate;
      if (deferred) {
        count++;
      }
      right += (deferred ? largeCorrect[i] : smallCorrect[i]) ? 1 : 0;
    }
    return (double) right / n;
  }
}
