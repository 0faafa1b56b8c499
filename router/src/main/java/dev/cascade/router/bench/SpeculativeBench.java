package dev.cascade.router.bench;

import dev.cascade.models.CacheSettings;
import dev.cascade.models.DraftWindow;
import dev.cascade.models.Generation;
import dev.cascade.models.TextGenerator;
import dev.cascade.models.TextGenerators;
import dev.cascade.models.LoadOptions;
import dev.cascade.router.demo.Example;
import dev.cascade.router.demo.Examples;
import dev.cascade.router.features.FeatureExtractor;
import dev.cascade.router.rules.DeferralRule;
import dev.cascade.router.rules.DeferralRules;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Locale;

/**
 * The large model's time per escalated request with and without the small model's answer as a
 * draft (speculative escalation), both models in this process.
 *
 * <p>The small model answers every test-split prompt (batched, as the router does); a Chow rule
 * scores each answer, and the {@code escalate} share with the highest scores are the escalated
 * items (1.0: all of them). Then the large model answers each escalated item twice, without and
 * with the draft: <b>sequentially</b> (one call per request, the two alternating which goes first
 * so that a drift of the machine's load hits both alike), and <b>batched</b> ({@code batch}
 * requests per call, whose rows share forward passes as concurrent escalations do in the
 * large-model server). The draft is the small model's tokens, cut to the large model's limit;
 * nothing else differs. It counts the outputs that are identical token for token, and how much of
 * each draft the large model kept.
 */
public final class SpeculativeBench {

  /**
   * What to run.
   *
   * @param rule the Chow rule that picks the escalated items, e.g. chow-quantile-0
   * @param escalate the share of the test split escalated (the highest scores), in (0, 1]
   * @param requests at most this many escalated items (0: all)
   * @param batch requests per call in the batched phase
   * @param kvCache false to run both models without their key/value cache
   * @param draftWindow how many draft tokens the large model checks per pass
   */
  public record Options(String rule, double escalate, int requests, int batch, boolean kvCache,
      DraftWindow draftWindow) {
    public Options {
      java.util.Objects.requireNonNull(draftWindow, "draftWindow");
      if (!(escalate > 0 && escalate <= 1)) {
        throw new IllegalArgumentException("--escalate: must be in (0, 1], got " + escalate);
      }
      if (requests < 0) {
        throw new IllegalArgumentException("--requests: must be 0 (all) or more, got " + requests);
      }
      if (batch < 1) {
        throw new IllegalArgumentException("--batch: must be at least 1, got " + batch);
      }
    }
  }

  /**
   * Milliseconds per request of one phase, without and with the draft.
   *
   * @param withoutMeanMs mean without the draft (batched: the phase's wall time ÷ requests)
   * @param withoutP50Ms median without (batched: of each call's time ÷ its requests)
   * @param identical requests whose output with the draft equals the one without, token for token
   */
  public record Phase(double withoutMeanMs, double withoutP50Ms, double withMeanMs, double withP50Ms,
      int identical) {
    /** The share of the time without the draft that the draft saves (mean). */
    public double timeSaved() {
      return 1 - withMeanMs / withoutMeanMs;
    }
  }

  /**
   * The measurement.
   *
   * @param items escalated items measured
   * @param threshold the rule's score above which an item counts as escalated (the cut of the share)
   * @param draftTokens draft tokens sent, over all items
   * @param acceptedTokens of which the large model kept
   * @param wholeDraftKept items whose whole draft the large model kept
   * @param largeTokens tokens the large model generated, over all items
   */
  public record Result(int testItems, int items, String rule, double threshold, int cores, boolean kvCache,
      DraftWindow draftWindow, long draftTokens, long acceptedTokens, int wholeDraftKept, long largeTokens, Phase sequential, int batch,
      Phase batched) {
    /** The share of the draft tokens sent that the large model kept. */
    public double acceptanceRate() {
      return draftTokens == 0 ? 0 : (double) acceptedTokens / draftTokens;
    }
  }

  private SpeculativeBench() {}

  /** Runs the benchmark; progress lines go to {@code log}. */
  public static Result run(Options options, PrintWriter log) {
    DeferralRule rule;
    try {
      rule = DeferralRules.builtIn().create(options.rule());
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("--rule: " + e.getMessage(), e);
    }
    List<String> prompts = Examples.bundled("test").stream().map(Example::prompt).toList();
    CacheSettings cache = options.kvCache() ? CacheSettings.DEFAULT : CacheSettings.DISABLED;
    int cores = Runtime.getRuntime().availableProcessors();
    List<Generation> small;
    try (TextGenerator smallModel = TextGenerators.load("small", "OnnxRuntime",
        LoadOptions.DEFAULT.withThreads(ModelBench.THREADS).withCache(cache))) {
      log.printf(Locale.ROOT, "small model: %d test prompts%n", prompts.size());
      log.flush();
      small = smallModel.generate(prompts, smallModel.info().maxNewTokensLimit());
    }
    double[] scores = new double[prompts.size()];
    for (int i = 0; i < scores.length; i++) {
      Generation g = small.get(i);
      scores[i] = rule.score(FeatureExtractor.extract(g.tokenLogprobs(), g.entropies()), g.embedding());
    }
    double threshold = cut(scores, options.escalate());
    List<Integer> escalated = new ArrayList<>();
    for (int i = 0; i < scores.length; i++) {
      if (options.escalate() >= 1 || scores[i] > threshold) {
        escalated.add(i);
      }
    }
    if (options.requests() > 0 && escalated.size() > options.requests()) {
      escalated = escalated.subList(0, options.requests());
    }
    int n = escalated.size();
    if (n == 0) {
      throw new IllegalArgumentException("--escalate: no test item scores above the cut " + threshold);
    }
    try (TextGenerator large = TextGenerators.load("large", "OnnxRuntime", LoadOptions.DEFAULT
        .withMaxBatch(Math.max(TextGenerators.DEFAULT_MAX_BATCH, options.batch())).withThreads(ModelBench.THREADS)
        .withCache(cache).withDraftWindow(options.draftWindow()))) {
      int maxNew = large.info().maxNewTokensLimit();
      List<String> items = new ArrayList<>(n);
      List<int[]> drafts = new ArrayList<>(n);
      for (int i : escalated) {
        items.add(prompts.get(i));
        int[] tokens = small.get(i).tokens();
        drafts.add(tokens.length > maxNew ? Arrays.copyOf(tokens, maxNew) : tokens);
      }
      List<int[]> none = Collections.nCopies(n, new int[0]);
      log.printf(Locale.ROOT, "large model: %d escalated items (%s, score > %.4f), %s, draft window %s, %d cores%n", n,
          rule.name(), threshold, large.info().kvCache() ? "key/value cache" : "no cache", options.draftWindow(), cores);
      log.flush();
      // Warm-up: both paths, on a few items.
      List<String> warm = items.subList(0, Math.min(16, n));
      large.generate(warm, none.subList(0, warm.size()), maxNew, TextGenerator.Cancellation.NONE);
      large.generate(warm, drafts.subList(0, warm.size()), maxNew, TextGenerator.Cancellation.NONE);

      double[] seqWithout = new double[n];
      double[] seqWith = new double[n];
      Generation[] without = new Generation[n];
      Generation[] with = new Generation[n];
      for (int i = 0; i < n; i++) {
        List<String> one = List.of(items.get(i));
        boolean draftFirst = i % 2 == 1;
        for (int pass = 0; pass < 2; pass++) {
          boolean drafted = (pass == 0) == draftFirst;
          long t0 = System.nanoTime();
          Generation g = large.generate(one, List.of(drafted ? drafts.get(i) : new int[0]), maxNew,
              TextGenerator.Cancellation.NONE).get(0);
          double ms = (System.nanoTime() - t0) / 1e6;
          if (drafted) {
            with[i] = g;
            seqWith[i] = ms;
          } else {
            without[i] = g;
            seqWithout[i] = ms;
          }
        }
        if ((i + 1) % 200 == 0) {
          log.printf(Locale.ROOT, "sequential: %d/%d%n", i + 1, n);
          log.flush();
        }
      }
      Phase sequential = new Phase(mean(seqWithout), median(seqWithout), mean(seqWith), median(seqWith),
          identical(without, with));

      int calls = (n + options.batch() - 1) / options.batch();
      double[] batchWithout = new double[calls];
      double[] batchWith = new double[calls];
      Generation[] batchedWithout = new Generation[n];
      Generation[] batchedWith = new Generation[n];
      double totalWithout = 0;
      double totalWith = 0;
      for (int c = 0; c < calls; c++) {
        int from = c * options.batch();
        int to = Math.min(n, from + options.batch());
        boolean draftFirst = c % 2 == 1;
        for (int pass = 0; pass < 2; pass++) {
          boolean drafted = (pass == 0) == draftFirst;
          long t0 = System.nanoTime();
          List<Generation> out = large.generate(items.subList(from, to),
              drafted ? drafts.subList(from, to) : none.subList(from, to), maxNew, TextGenerator.Cancellation.NONE);
          double ms = (System.nanoTime() - t0) / 1e6;
          Generation[] into = drafted ? batchedWith : batchedWithout;
          for (int j = 0; j < out.size(); j++) {
            into[from + j] = out.get(j);
          }
          if (drafted) {
            batchWith[c] = ms / (to - from);
            totalWith += ms;
          } else {
            batchWithout[c] = ms / (to - from);
            totalWithout += ms;
          }
        }
      }
      Phase batched = new Phase(totalWithout / n, median(batchWithout), totalWith / n, median(batchWith),
          identical(batchedWithout, batchedWith));

      long draftTokens = 0;
      long accepted = 0;
      long largeTokens = 0;
      int whole = 0;
      for (int i = 0; i < n; i++) {
        draftTokens += drafts.get(i).length;
        accepted += with[i].draftAccepted();
        largeTokens += without[i].tokens().length;
        whole += with[i].draftAccepted() == drafts.get(i).length ? 1 : 0;
      }
      return new Result(prompts.size(), n, rule.name(), threshold, cores, large.info().kvCache(), options.draftWindow(), draftTokens,
          accepted, whole, largeTokens, sequential, options.batch(), batched);
    }
  }

  /** The score above which the highest {@code share} of {@code scores} lie (-infinity for all of them). */
  static double cut(double[] scores, double share) {
    if (share >= 1) {
      return Double.NEGATIVE_INFINITY;
    }
    double[] sorted = scores.clone();
    Arrays.sort(sorted);
    int keep = (int) Math.round(share * sorted.length);
    return sorted[Math.max(0, sorted.length - keep - 1)];
  }

  private static int identical(Generation[] a, Generation[] b) {
    int same = 0;
    for (int i = 0; i < a.length; i++) {
      same += Arrays.equals(a[i].tokens(), b[i].tokens()) ? 1 : 0;
    }
    return same;
  }

  private static double mean(double[] values) {
    return Arrays.stream(values).average().orElse(Double.NaN);
  }

  private static double median(double[] values) {
    double[] sorted = values.clone();
    Arrays.sort(sorted);
    int m = sorted.length / 2;
    return sorted.length % 2 == 1 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
  }
}
