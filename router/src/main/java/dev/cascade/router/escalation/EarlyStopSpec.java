package dev.cascade.router.escalation;

import dev.cascade.proto.v1.EarlyStop;

/**
 * What a call asks of the server's decoding: stop once the score of the tokens generated so far is
 * strictly greater than {@code threshold}, the score being {@code −Σ log p} (Chow-Sum) or, with
 * {@code minimum}, {@code −min log p} (Chow-Quantile at level 0). Both only grow with each token, so
 * a middle tier of a cascade that passes on answers scoring above its threshold loses nothing by
 * stopping there: the whole answer would have been passed on too. Only {@code cascade://} servers
 * carry it ({@code LargeGenerateRequest.early_stop}); the other protocols decode to the end.
 *
 * @param minimum {@code −min log p} instead of {@code −Σ log p}
 * @param threshold finite
 */
public record EarlyStopSpec(boolean minimum, double threshold) {

  public EarlyStopSpec {
    if (!Double.isFinite(threshold)) {
      throw new IllegalArgumentException("threshold must be finite, was " + threshold);
    }
  }

  /** As the protocol carries it. */
  EarlyStop toProto() {
    return EarlyStop.newBuilder()
        .setScore(minimum ? EarlyStop.Score.NEGATIVE_LOGPROB_MIN : EarlyStop.Score.NEGATIVE_LOGPROB_SUM)
        .setThreshold(threshold).build();
  }
}
