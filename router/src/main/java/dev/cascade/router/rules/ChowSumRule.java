package dev.cascade.router.rules;

import dev.cascade.router.features.UncertaintyFeatures;

/**
 * Chow-Sum: the negated sequence log-probability, {@code −Σ log p(token)}. Biased by length: every
 * extra token adds to the score, so a long confident answer can score worse than a short unsure one
 * (Gupta et al., ICLR 2024).
 */
public record ChowSumRule() implements DeferralRule {

  /** The registry name, {@code chow-sum}. */
  public static final String NAME = "chow-sum";

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public double score(UncertaintyFeatures features) {
    return -features.logprobSum();
  }
}
