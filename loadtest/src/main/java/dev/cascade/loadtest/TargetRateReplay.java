package dev.cascade.loadtest;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cascade.models.Generation;
import dev.cascade.models.TextGenerator;
import dev.cascade.models.TextGenerators;
import dev.cascade.router.demo.Example;
import dev.cascade.router.demo.Examples;
import dev.cascade.router.features.FeatureExtractor;
import dev.cascade.router.learning.CascadeAnswers;
import dev.cascade.router.learning.LearnedRules;
import dev.cascade.router.policy.DeferralPolicy;
import dev.cascade.router.policy.PolicyDecider;
import dev.cascade.router.policy.TargetRateController;
import dev.cascade.router.rules.DeferralRule;
import dev.cascade.router.rules.DeferralRules;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Replays real scores through a {@link TargetRateController} across an abrupt shift in traffic.
 *
 * <pre>
 * java -cp ... dev.cascade.loadtest.TargetRateReplay [--target R] [--exploration E] [--json]
 * </pre>
 *
 * The bundled test split (2,444 words, 1,056 phrases, shuffled), the bundled small model's answers
 * to it (generated once, then read from the generation cache the demo and eval use: {@code
 * ~/.cache/cascade/generations}, or {@code -Dcascade.cache=DIR}), and their scores under {@code
 * chow-sum} and the shipped {@code posthoc-quantile}. For each rule, two streams, each kind in file
 * order: all words then all phrases, and all phrases then all words. Each request is decided as the
 * router decides it (the controller's threshold, {@link PolicyDecider}, then observe), request ids
 * {@code "r" + position}, target R (default 0.3), exploration E (default 0.05), the controller's
 * defaults. The configured threshold, used during warm-up, is the score quantile that would give R
 * over the whole split (offline calibration on both kinds).
 *
 * <p>Prints, per stream, the escalation rate in windows of 250 requests, the rate from the end of
 * the warm-up (200 requests) to the shift, the rate over the 1,000 requests that begin 1,000 after
 * the shift (to the end of the stream where it is shorter, and
 * says so), over [shift + 250, end) and [shift + 500, end), the positions where the controller
 * detected a shift, and for comparison the rate after the shift of the fixed threshold that gave R
 * on the first kind. With {@code --json}, exactly one JSON object on standard output at the end
 * (the table goes to standard error).
 */
public final class TargetRateReplay {

  private static final int WINDOW = 250;

  private TargetRateReplay() {}

  public static void main(String[] args) throws Exception {
    System.setProperty("ai.djl.offline", "true");
    double target = 0.3;
    double exploration = 0.05;
    boolean json = false;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--json" -> json = true;
        case "--target" -> target = Double.parseDouble(args[++i]);
        case "--exploration" -> exploration = Double.parseDouble(args[++i]);
        default -> throw new IllegalArgumentException("unknown argument " + args[i]
            + "; usage: TargetRateReplay [--target R] [--exploration E] [--json]");
      }
    }
    java.io.PrintStream out = json ? System.err : System.out;

    List<Example> examples = Examples.bundled("test");
    List<Generation> answers;
    try (TextGenerator small = TextGenerators.load("small", "auto")) {
      answers = CascadeAnswers.generateCached(small, "small", examples.stream().map(Example::prompt).toList(),
          new CascadeAnswers.Settings("small", "large", "auto", 48, 64, CascadeAnswers.userCacheDir()),
          progress());
    }
    Map<String, DeferralRule> rules = new LinkedHashMap<>();
    rules.put("chow-sum", DeferralRules.of("chow-sum", 0));
    rules.put("posthoc-quantile", LearnedRules.bundled().create("posthoc-quantile", 0));

    Map<String, Object> result = new LinkedHashMap<>();
    result.put("target", target);
    result.put("exploration", exploration);
    result.put("window", TargetRateController.DEFAULT_WINDOW);
    result.put("min_observations", TargetRateController.DEFAULT_MIN_OBSERVATIONS);
    result.put("rate_window", WINDOW);
    List<Map<String, Object>> streams = new ArrayList<>();
    for (Map.Entry<String, DeferralRule> rule : rules.entrySet()) {
      List<Double> words = new ArrayList<>();
      List<Double> phrases = new ArrayList<>();
      double[] all = new double[examples.size()];
      for (int i = 0; i < examples.size(); i++) {
        Generation g = answers.get(i);
        double score = rule.getValue().score(FeatureExtractor.extract(g.tokenLogprobs(), g.entropies()), g.embedding());
        all[i] = score;
        ("phrase".equals(examples.get(i).kind()) ? phrases : words).add(score);
      }
      double configured = quantileAbove(all, (target - exploration) / (1 - exploration));
      out.printf(Locale.ROOT, "%n%s: words %d, phrases %d; score mean words %.4f, phrases %.4f;"
          + " configured (warm-up) threshold %.4f%n", rule.getKey(), words.size(), phrases.size(),
          mean(words), mean(phrases), configured);
      streams.add(replay(out, rule.getKey(), "words then phrases", words, phrases, configured, target, exploration));
      streams.add(replay(out, rule.getKey(), "phrases then words", phrases, words, configured, target, exploration));
    }
    result.put("streams", streams);
    if (json) {
      System.out.println(new ObjectMapper().writeValueAsString(result));
    }
  }

  private static Map<String, Object> replay(java.io.PrintStream out, String rule, String order, List<Double> first,
      List<Double> second, double configured, double target, double exploration) {
    List<Double> stream = new ArrayList<>(first);
    stream.addAll(second);
    int shift = first.size();
    int n = stream.size();
    DeferralPolicy policy = new DeferralPolicy(rule, 0.0, configured, exploration, target, 1, "replay", 0,
        "TargetRateReplay");
    String ruleKey = rule + "@0.0";
    TargetRateController controller = new TargetRateController();
    boolean[] escalated = new boolean[n];
    List<Integer> detections = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      double score = stream.get(i);
      double threshold = controller.threshold(policy, ruleKey);
      escalated[i] = PolicyDecider.decide("r" + i, score, threshold, exploration).escalates();
      long before = controller.shiftsDetected();
      controller.observe(policy, ruleKey, score, escalated[i]);
      if (controller.shiftsDetected() > before) {
        detections.add(i);
      }
    }
    // The fixed threshold that gave the target on the first kind, held after the shift.
    double fixed = quantileAbove(first.stream().mapToDouble(Double::doubleValue).toArray(),
        (target - exploration) / (1 - exploration));
    boolean[] fixedEscalated = new boolean[n];
    for (int i = 0; i < n; i++) {
      fixedEscalated[i] = PolicyDecider.decide("r" + i, stream.get(i), fixed, exploration).escalates();
    }

    List<Double> windows = new ArrayList<>();
    StringBuilder line = new StringBuilder();
    for (int from = 0; from < n; from += WINDOW) {
      int to = Math.min(n, from + WINDOW);
      double rate = rate(escalated, from, to);
      windows.add(round(rate));
      line.append(String.format(Locale.ROOT, from == shift || (from < shift && to > shift) ? " |%.3f" : " %.3f", rate));
    }
    int mainFrom = Math.min(n, shift + 1000);
    int mainTo = Math.min(n, shift + 2000);
    Map<String, Object> r = new LinkedHashMap<>();
    r.put("rule", rule);
    r.put("order", order);
    r.put("requests", n);
    r.put("shift_at", shift);
    r.put("window_rates", windows);
    int warm = Math.min(shift, TargetRateController.DEFAULT_MIN_OBSERVATIONS);
    r.put("rate_after_warm_up_before_shift", round(rate(escalated, warm, shift)));
    r.put("rate_shift_plus_1000_to_2000", round(rate(escalated, mainFrom, mainTo)));
    r.put("requests_in_shift_plus_1000_to_2000", mainTo - mainFrom);
    r.put("rate_shift_plus_250_to_end", round(rate(escalated, Math.min(n, shift + 250), n)));
    r.put("rate_shift_plus_500_to_end", round(rate(escalated, Math.min(n, shift + 500), n)));
    r.put("rate_shift_to_end", round(rate(escalated, shift, n)));
    r.put("shifts_detected_at", detections);
    r.put("fixed_threshold", fixed);
    r.put("fixed_threshold_rate_before_shift", round(rate(fixedEscalated, 0, shift)));
    r.put("fixed_threshold_rate_after_shift", round(rate(fixedEscalated, shift, n)));

    out.printf(Locale.ROOT, "%n%s, %s: %d requests, shift at %d (| marks the window holding it)%n", rule, order, n,
        shift);
    out.println("  rate per " + WINDOW + ":" + line);
    out.printf(Locale.ROOT, "  [%d (end of warm-up), shift): %.3f%n", warm, r.get("rate_after_warm_up_before_shift"));
    out.printf(Locale.ROOT, "  [shift+1000, shift+2000): %s%n", mainTo > mainFrom
        ? String.format(Locale.ROOT, "%.3f over %d requests%s", r.get("rate_shift_plus_1000_to_2000"), mainTo - mainFrom,
            mainTo - mainFrom < 1000 ? " (the stream ends at shift+" + (n - shift) + ")" : "")
        : "none (the stream ends first)");
    out.printf(Locale.ROOT, "  [shift+250, end): %.3f over %d; [shift+500, end): %.3f over %d; [shift, end): %.3f%n",
        r.get("rate_shift_plus_250_to_end"), n - Math.min(n, shift + 250), r.get("rate_shift_plus_500_to_end"),
        n - Math.min(n, shift + 500), r.get("rate_shift_to_end"));
    out.printf(Locale.ROOT, "  shifts detected at %s%n", detections);
    out.printf(Locale.ROOT, "  fixed threshold %.4f (right for the first kind): %.3f before, %.3f after the shift%n", fixed,
        r.get("fixed_threshold_rate_before_shift"), r.get("fixed_threshold_rate_after_shift"));
    return r;
  }

  private static double rate(boolean[] escalated, int from, int to) {
    if (to <= from) {
      return Double.NaN;
    }
    int count = 0;
    for (int i = from; i < to; i++) {
      count += escalated[i] ? 1 : 0;
    }
    return count / (double) (to - from);
  }

  /** The score with {@code fraction} of {@code scores} strictly above it (an order statistic). */
  static double quantileAbove(double[] scores, double fraction) {
    double[] sorted = scores.clone();
    Arrays.sort(sorted);
    int index = (int) Math.floor((1 - fraction) * sorted.length) - 1;
    return sorted[Math.max(0, Math.min(sorted.length - 1, index))];
  }

  private static double mean(List<Double> values) {
    return values.stream().mapToDouble(Double::doubleValue).average().orElse(Double.NaN);
  }

  /** Four decimals; null for no requests (NaN). */
  private static Double round(double value) {
    return Double.isNaN(value) ? null : Math.round(value * 10_000) / 10_000.0;
  }

  /** Progress of generating answers, on standard error (shared with {@link LearnLoopReplay}). */
  static CascadeAnswers.Progress progress() {
    return new CascadeAnswers.Progress() {
      private long total;
      private long done;

      @Override
      public void begin(String task, long total) {
        this.total = total;
        System.err.println(task + ": generating " + total + " answers (cached for the next run)");
      }

      @Override
      public void advance(long steps) {
        done += steps;
        if (done == total || done % 512 < steps) {
          System.err.printf(Locale.ROOT, "  %d / %d%n", done, total);
        }
      }

      @Override
      public void end() {}
    };
  }
}
