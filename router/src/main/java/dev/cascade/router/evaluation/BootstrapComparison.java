package dev.cascade.router.evaluation;

/**
 * A paired-bootstrap comparison of two rules' AUC-DF, as {@link
 * CascadeEvaluation#pairedBootstrap(double[], double[], int, long)} computes it.
 *
 * @param delta AUC-DF of rule A minus that of rule B, on the full set
 * @param ciLow the 2.5th percentile of the bootstrapped differences
 * @param ciHigh the 97.5th percentile of the bootstrapped differences
 */
public record BootstrapComparison(double delta, double ciLow, double ciHigh) {

  /** Whether the 95% interval lies entirely above zero: rule A is better, beyond resampling noise. */
  public boolean aboveZero() {
    return ciLow > 0.0;
  }
}
