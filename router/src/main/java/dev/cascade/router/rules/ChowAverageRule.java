package dev.cascade.router.rules;

import dev.cascade.router.features.UncertaintyFeatures;

/**
 * Chow-Average: the negated mean token log-probability. Free of Chow-Sum's length bias, but it
 * over-corrects: in a long answer one very unsure token is diluted by the confident ones around it.
 */
public record ChowAverageRule() implements DeferralRule {

  /** The registry name, {@code chow-average}. */
  public static final String NAME = "chow-average";

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public double score(UncertaintyFeatures features) {
    return -features.logprobMean();
  }
}
