package dev.cascade.router.evaluation;

/**
 * One rule's summary metrics on one evaluation set, as {@link CascadeEvaluation#metrics(double[])}
 * computes them. Every value is finite (the degenerate cases are defined there).
 *
 * @param aucDf area under the deferral curve over the deferred fraction 0..1
 * @param gainOverRandomPct {@code 100 · (aucDf − random) / random}
 * @param oracleSharePct {@code 100 · (aucDf − random) / (oracle − random)}
 * @param apgr average performance gap recovered, {@link DeferralCurve#apgr()}
 * @param cpt50 the fraction deferred to recover 50% of the gap, {@link DeferralCurve#cpt(double)}
 * @param cpt80 the same for 80%
 * @param cpt95 the same for 95%
 * @param accuracyAt20Pct cascade accuracy with 20% deferred, {@link DeferralCurve#accuracyAt(double)}
 */
public record RuleMetrics(
    double aucDf,
    double gainOverRandomPct,
    double oracleSharePct,
    double apgr,
    double cpt50,
    double cpt80,
    double cpt95,
    double accuracyAt20Pct) {}
