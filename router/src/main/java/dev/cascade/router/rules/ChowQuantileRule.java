package dev.cascade.router.rules;

import dev.cascade.router.features.UncertaintyFeatures;
import java.math.BigDecimal;

/**
 * Chow-Quantile(α): the negated α-quantile of the token log-probabilities. α = 0 scores the least
 * confident token, α = 0.5 the median one. Levels off the 0.1 grid are interpolated between the
 * stored grid quantiles, as {@link UncertaintyFeatures#logprobQuantile(double)} documents.
 *
 * @param alpha the quantile level, in [0, 1]
 */
public record ChowQuantileRule(double alpha) implements DeferralRule {

  /** The registry name, {@code chow-quantile}; {@link #name()} appends α. */
  public static final String NAME = "chow-quantile";

  /**
   * @throws IllegalArgumentException if alpha is not in [0, 1]
   */
  public ChowQuantileRule {
    if (!(alpha >= 0.0 && alpha <= 1.0)) {
      throw new IllegalArgumentException("alpha must be in [0, 1], was " + alpha);
    }
    alpha += 0.0; // −0.0 becomes 0.0, so equal levels make equal rules
  }

  /** {@code chow-quantile-} and α in its shortest plain decimal form: {@code chow-quantile-0.1}. */
  @Override
  public String name() {
    return NAME + "-" + BigDecimal.valueOf(alpha).stripTrailingZeros().toPlainString();
  }

  @Override
  public double score(UncertaintyFeatures features) {
    return -features.logprobQuantile(alpha);
  }
}
