package dev.cascade.router.learning;

import dev.cascade.models.Generation;
import dev.cascade.models.TextGenerator;
import dev.cascade.models.TextGenerators;
import dev.cascade.router.evaluation.EarlyDeferralEvaluation;
import dev.cascade.router.policy.EarlyDeferral;
import dev.cascade.router.routing.SmallStop;
import dev.cascade.router.rules.ChowAverageRule;
import dev.cascade.router.rules.ChowQuantileRule;
import dev.cascade.router.rules.DeferralRule;
import java.util.ArrayList;
import java.util.List;

/**
 * Runs {@link EarlyDeferralEvaluation} with the small model on answered items ({@code eval
 * --early-defer}): Chow-Sum at deferral rates 10% to 90% and Chow-Quantile at α = 0 (exact), and
 * Chow-Average and the learned rules given, each at 30% deferred with two margins (not exact),
 * once per check interval asked for ({@code --early-defer-every}).
 */
public final class EarlyDeferralRuns {

  /** The margins tried for Chow-Average (its score is a mean −log p, in nats). */
  static final double[] CHOW_AVERAGE_MARGINS = {0.1, 0.3};
  /** The margins tried for a learned rule (its score is a probability that deferring helps). */
  static final double[] LEARNED_MARGINS = {0.05, 0.15};
  /** The deferral rate of the cases that are not Chow-Sum's. */
  static final double RATE = 0.3;

  private EarlyDeferralRuns() {}

  /** As below, the rules with a margin asked every {@link EarlyDeferral#DEFAULT_EVERY} tokens. */
  public static EarlyDeferralEvaluation.Report evaluate(List<AnsweredItem> answered, CascadeAnswers.Settings settings,
      List<? extends DeferralRule> learned, CascadeAnswers.Progress progress) {
    return evaluate(answered, settings, learned, List.of(EarlyDeferral.DEFAULT_EVERY), progress);
  }

  /**
   * Loads the small model of {@code settings} and evaluates early deferral on {@code answered}
   * (whose large answers say whether deferring was right), passes of {@code settings.batchSize()}
   * prompts at a time.
   *
   * @param learned learned rules to try with a margin (those that need an embedding are skipped:
   *     they cannot score a partial generation)
   * @param every the check intervals to try each rule with a margin at ({@code small.early-defer-every})
   */
  public static EarlyDeferralEvaluation.Report evaluate(List<AnsweredItem> answered, CascadeAnswers.Settings settings,
      List<? extends DeferralRule> learned, List<Integer> every, CascadeAnswers.Progress progress) {
    List<String> prompts = answered.stream().map(a -> a.item().prompt()).toList();
    boolean[] smallCorrect = new boolean[answered.size()];
    boolean[] largeCorrect = new boolean[answered.size()];
    for (int i = 0; i < answered.size(); i++) {
      smallCorrect[i] = answered.get(i).smallCorrect();
      largeCorrect[i] = answered.get(i).largeCorrect();
    }
    List<EarlyDeferralEvaluation.Case> cases = new ArrayList<>(EarlyDeferralEvaluation.chowSumCases());
    cases.add(new EarlyDeferralEvaluation.Case(new ChowQuantileRule(0.0), RATE, null));
    for (int k : every) {
      for (double margin : CHOW_AVERAGE_MARGINS) {
        cases.add(new EarlyDeferralEvaluation.Case(new ChowAverageRule(), RATE, margin, k));
      }
      for (DeferralRule rule : learned) {
        if (rule.usesEmbedding()) {
          continue;
        }
        for (double margin : LEARNED_MARGINS) {
          cases.add(new EarlyDeferralEvaluation.Case(rule, RATE, margin, k));
        }
      }
    }
    try (TextGenerator small = TextGenerators.load(settings.smallModel(), settings.engine(), settings.batchSize())) {
      int limit = settings.maxNewTokens() == 0 ? small.info().maxNewTokensLimit()
          : Math.min(settings.maxNewTokens(), small.info().maxNewTokensLimit());
      return EarlyDeferralEvaluation.run(stop -> {
        long t0 = System.nanoTime();
        List<Generation> out = CascadeAnswers.generate(small, settings.smallModel(), prompts, settings, progress,
            stop == EarlyDeferral.Condition.NEVER ? TextGenerator.EarlyStop.NEVER : () -> stop.newCheck()::afterToken);
        double wallMs = (System.nanoTime() - t0) / 1e6;
        List<EarlyDeferralEvaluation.Row> rows = new ArrayList<>(out.size());
        for (Generation g : out) {
          rows.add(new EarlyDeferralEvaluation.Row(g.tokenLogprobs(), g.entropies(), g.embedding(), g.length(),
              SmallStop.of(g, limit).step(), g.stoppedEarly()));
        }
        return new EarlyDeferralEvaluation.Pass(rows, wallMs);
      }, smallCorrect, largeCorrect, cases);
    }
  }
}
