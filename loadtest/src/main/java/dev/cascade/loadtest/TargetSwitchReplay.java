package dev.cascade.loadtest;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cascade.models.Generation;
import dev.cascade.models.TextGenerator;
import dev.cascade.models.TextGenerators;
import dev.cascade.router.demo.Example;
import dev.cascade.router.demo.Examples;
import dev.cascade.router.features.FeatureExtractor;
import dev.cascade.router.learning.CascadeAnswers;
import dev.cascade.router.policy.EarlyDeferral;
import dev.cascade.router.policy.TierPolicy;
import dev.cascade.router.policy.TierThresholds;
import dev.cascade.router.rules.DeferralRule;
import dev.cascade.router.rules.DeferralRules;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A target escalation rate set live after a spell at a fixed threshold with early deferral: how
 * near the target the first decisions come when the controller reads its threshold from the
 * spell's scores (the stopped answers' prefixes among them, what the router does) and when it
 * starts a fresh window instead.
 *
 * <pre>
 * java -cp ... dev.cascade.loadtest.TargetSwitchReplay [--spell N] [--cases S:R,S:R,...] [--json]
 * </pre>
 *
 * The bundled small model's answers to the test split (generated once, then read from the
 * generation cache, as {@link TargetRateReplay} does), in file order, scored under the exact rules
 * ({@code chow-sum}, {@code chow-quantile} at α = 0) and fed to a middle tier's controller ({@link
 * TierThresholds}, defaults: window 1,000, warm-up 200), as a router's escalator feeds it. The
 * first N (default 1,000) are decided at the fixed threshold that passes on share S of them, each
 * answer above it stopped where {@link EarlyDeferral#exact} stops it, so that it scores its
 * prefix. The rest are decided under a target R with the same configured threshold. Cases default
 * to {@code 0.5:0.1,0.5:0.3,0.2:0.4}. Prints, per rule and case, the share passed on over the
 * spell, over the first 250 after the switch, and over all after it, for the spell's window and a
 * fresh one. With {@code --json}, exactly one JSON object on standard output.
 */
public final class TargetSwitchReplay {

  private static final int FIRST = 250;

  private TargetSwitchReplay() {}

  public static void main(String[] args) throws Exception {
    System.setProperty("ai.djl.offline", "true");
    int spell = 1_000;
    String cases = "0.5:0.1,0.5:0.3,0.2:0.4";
    boolean json = false;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--json" -> json = true;
        case "--spell" -> spell = Integer.parseInt(args[++i]);
        case "--cases" -> cases = args[++i];
        default -> throw new IllegalArgumentException("unknown argument " + args[i]
            + "; usage: TargetSwitchReplay [--spell N] [--cases S:R,S:R,...] [--json]");
      }
    }
    java.io.PrintStream out = json ? System.err : System.out;
    List<Example> examples = Examples.bundled("test");
    if (spell < 1 || spell >= examples.size()) {
      throw new IllegalArgumentException("--spell must be in [1, " + (examples.size() - 1) + "], was " + spell);
    }
    List<Generation> answers;
    try (TextGenerator small = TextGenerators.load("small", "auto")) {
      answers = CascadeAnswers.generateCached(small, "small", examples.stream().map(Example::prompt).toList(),
          new CascadeAnswers.Settings("small", "large", "auto", 48, 64, CascadeAnswers.userCacheDir()),
          TargetRateReplay.progress());
    }
    Map<String, Object> result = new LinkedHashMap<>();
    result.put("spell", spell);
    result.put("requests", answers.size());
    List<Map<String, Object>> runs = new ArrayList<>();
    for (String rule : List.of("chow-sum", "chow-quantile-0")) {
      DeferralRule scorer = DeferralRules.of(rule.startsWith("chow-quantile") ? "chow-quantile" : rule, 0);
      double[] whole = answers.stream()
          .mapToDouble(g -> scorer.score(FeatureExtractor.extract(g.tokenLogprobs(), g.entropies()))).toArray();
      for (String c : cases.split(",")) {
        String[] parts = c.split(":");
        double share = Double.parseDouble(parts[0]);
        double target = Double.parseDouble(parts[1]);
        double fixed = TargetRateReplay.quantileAbove(Arrays.copyOf(whole, spell), share);
        double[] scores = new double[whole.length];
        boolean[] stopped = new boolean[whole.length];
        for (int i = 0; i < whole.length; i++) {
          Generation g = answers.get(i);
          int stop = i < spell ? stopStep(scorer, fixed, g.tokenLogprobs()) : -1;
          stopped[i] = stop >= 0;
          scores[i] = stopped[i] ? scorer.score(FeatureExtractor.extract(Arrays.copyOf(g.tokenLogprobs(), stop + 1),
              Arrays.copyOf(g.entropies(), stop + 1))) : whole[i];
        }
        Map<String, Object> run = new LinkedHashMap<>();
        run.put("rule", rule);
        run.put("spell_share", share);
        run.put("fixed_threshold", round(fixed));
        run.put("target", target);
        boolean[] kept = replay(scores, stopped, spell, fixed, target, rule, false);
        boolean[] fresh = replay(scores, stopped, spell, fixed, target, rule, true);
        run.put("spell_passed_on", round(share(kept, 0, spell)));
        run.put("spell_stopped", count(stopped));
        run.put("first_250_spells_window", round(share(kept, spell, spell + FIRST)));
        run.put("first_250_fresh_window", round(share(fresh, spell, spell + FIRST)));
        run.put("after_spells_window", round(share(kept, spell, whole.length)));
        run.put("after_fresh_window", round(share(fresh, spell, whole.length)));
        out.printf(Locale.ROOT, "%-16s spell %.2f at %.4f (%d stopped) -> target %.2f: first %d %.4f (spell's window)"
            + " %.4f (fresh); after %.4f / %.4f%n", rule, share(kept, 0, spell), fixed, count(stopped), target, FIRST,
            share(kept, spell, spell + FIRST), share(fresh, spell, spell + FIRST), share(kept, spell, whole.length),
            share(fresh, spell, whole.length));
        runs.add(run);
      }
    }
    result.put("runs", runs);
    if (json) {
      System.out.println(new ObjectMapper().writeValueAsString(result));
    }
  }

  /** The token index (0-based) after which early deferral at {@code threshold} stops the answer; -1 if never. */
  private static int stopStep(DeferralRule rule, double threshold, float[] logprobs) {
    EarlyDeferral.Check check = EarlyDeferral.exact(rule, threshold).newCheck();
    for (int t = 0; t < logprobs.length; t++) {
      if (check.afterToken(logprobs[t], 0f)) {
        return t;
      }
    }
    return -1;
  }

  /** Each request's pass-on decision: the spell at {@code fixed}, then the target; a fresh controller at the switch when {@code fresh}. */
  private static boolean[] replay(double[] scores, boolean[] stopped, int spell, double fixed, double target,
      String rule, boolean fresh) {
    TierThresholds thresholds = new TierThresholds();
    TierPolicy before = TierPolicy.parse(rule + ":" + fixed);
    TierPolicy after = before.withTargetEscalationRate(target);
    boolean[] passed = new boolean[scores.length];
    for (int i = 0; i < scores.length; i++) {
      if (fresh && i == spell) {
        thresholds = new TierThresholds();
      }
      passed[i] = thresholds.decide(null, 1, i < spell ? before : after, scores[i], stopped[i]).passOn();
    }
    return passed;
  }

  private static double share(boolean[] passed, int from, int to) {
    int n = 0;
    for (int i = from; i < Math.min(to, passed.length); i++) {
      n += passed[i] ? 1 : 0;
    }
    return n / (double) (Math.min(to, passed.length) - from);
  }

  private static int count(boolean[] values) {
    int n = 0;
    for (boolean v : values) {
      n += v ? 1 : 0;
    }
    return n;
  }

  private static double round(double value) {
    return Math.round(value * 10_000) / 10_000.0;
  }
}
