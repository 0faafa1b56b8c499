package dev.cascade.router.learning;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cascade.router.evaluation.BootstrapComparison;
import dev.cascade.router.evaluation.CascadeEvaluation;
import dev.cascade.router.evaluation.DeferralCurve;
import dev.cascade.router.evaluation.RuleMetrics;
import dev.cascade.router.features.UncertaintyFeatures;
import dev.cascade.router.rules.DeferralRules;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * The evaluation of every deferral rule on one labelled set, as {@code cascade eval} prints it:
 * for random deferral, the Chow rules, the learned rules and the oracle, the deferral curve and its
 * metrics, and for each learned rule a paired-bootstrap comparison of its AUC-DF with the best Chow
 * rule's. Computed on all items, and again on each kind of item (words, phrases) where the data
 * says. Immutable.
 */
public final class CascadeReport {

  /** The rule that defers at random: every item scores alike. */
  public static final String RANDOM = "random";

  /** The oracle: defers the items only the large model gets right first. */
  public static final String ORACLE = "oracle";

  /** The Chow rules evaluated, by their registry names. */
  public static final List<String> CHOW_RULES = List.of("chow-sum", "chow-average",
      "chow-quantile-0", "chow-quantile-0.1", "chow-quantile-0.5");

  /**
   * One rule's results on one set.
   *
   * @param name the rule's name
   * @param metrics AUC-DF, gains, APGR, CPT, accuracy at 20%
   * @param curve the deferral curve
   * @param vsBestChow for a learned rule, AUC-DF minus the best Chow rule's with its 95% interval;
   *     otherwise null
   */
  public record RuleResult(String name, RuleMetrics metrics, DeferralCurve curve,
      BootstrapComparison vsBestChow) {}

  /**
   * The results on one set of items.
   *
   * @param label {@code all}, or the kind of item
   * @param n the number of items
   * @param smallAccuracy the small model's accuracy
   * @param largeAccuracy the large model's accuracy
   * @param bestChow the Chow rule with the highest AUC-DF here
   * @param rules every rule's results, in report order
   */
  public record Section(String label, int n, double smallAccuracy, double largeAccuracy,
      String bestChow, List<RuleResult> rules) {

    /**
     * Whether the two models' accuracies differ, so that there is a gap to recover: APGR and CPT
     * are not defined without one (null in the JSON, {@code -} in the table).
     */
    public boolean hasGap() {
      return smallAccuracy != largeAccuracy;
    }

    /** The results of the rule called {@code name}. */
    public RuleResult rule(String name) {
      return rules.stream().filter(r -> r.name().equals(name)).findFirst()
          .orElseThrow(() -> new IllegalArgumentException("no rule '" + name + "' in the report"));
    }
  }

  private final Section overall;
  private final Map<String, Section> byKind;

  private CascadeReport(Section overall, Map<String, Section> byKind) {
    this.overall = overall;
    this.byKind = byKind;
  }

  /**
   * Evaluates every rule.
   *
   * @param examples per item: features, embedding, whether each model was right
   * @param kinds per item its kind, or null entries (or a null list) where unknown
   * @param learned the learned rules to evaluate beside the fixed ones, in report order
   * @param resamples paired-bootstrap resamples per comparison
   * @param seed the bootstrap's seed (the same draw for every comparison)
   */
  public static CascadeReport compute(List<DeferralExample> examples, List<String> kinds,
      List<LearnedRule> learned, int resamples, long seed) {
    Objects.requireNonNull(examples, "examples");
    if (kinds != null && kinds.size() != examples.size()) {
      throw new IllegalArgumentException(examples.size() + " items but " + kinds.size() + " kinds");
    }
    List<UncertaintyFeatures> features = examples.stream().map(DeferralExample::features).toList();
    List<float[]> embeddings = new ArrayList<>(examples.size());
    for (DeferralExample e : examples) {
      embeddings.add(e.embeddingUnsafe());
    }
    Map<String, double[]> scores = new LinkedHashMap<>();
    scores.put(RANDOM, new double[examples.size()]);
    for (String chow : CHOW_RULES) {
      var rule = DeferralRules.builtIn().create(chow);
      scores.put(chow, features.stream().mapToDouble(rule::score).toArray());
    }
    for (LearnedRule rule : learned) {
      scores.put(rule.name(), rule.scores(features, embeddings));
    }
    List<String> learnedNames = learned.stream().map(LearnedRule::name).toList();

    int[] all = new int[examples.size()];
    for (int i = 0; i < all.length; i++) {
      all[i] = i;
    }
    Section overall = section("all", all, examples, scores, learnedNames, resamples, seed);
    Map<String, List<Integer>> indicesByKind = new TreeMap<>();
    for (int i = 0; kinds != null && i < kinds.size(); i++) {
      if (kinds.get(i) != null) {
        indicesByKind.computeIfAbsent(kinds.get(i), k -> new ArrayList<>()).add(i);
      }
    }
    Map<String, Section> byKind = new LinkedHashMap<>();
    indicesByKind.forEach((kind, indices) -> byKind.put(kind, section(kind,
        indices.stream().mapToInt(Integer::intValue).toArray(), examples, scores, learnedNames,
        resamples, seed)));
    return new CascadeReport(overall, java.util.Collections.unmodifiableMap(byKind));
  }

  /** The results on every item. */
  public Section overall() {
    return overall;
  }

  /** The results per kind of item (e.g. {@code phrase}, {@code word}), sorted by kind; empty when unknown. */
  public Map<String, Section> byKind() {
    return byKind;
  }

  /**
   * The report as one JSON object: {@code small_accuracy}, {@code large_accuracy}, {@code n},
   * {@code rules} (name → {@code auc_df}, {@code gain_over_random_pct}, {@code oracle_share_pct},
   * {@code apgr}, {@code cpt50}, {@code cpt80}, {@code cpt95} (null where the two models are equally
   * accurate: {@link Section#hasGap}), {@code accuracy_at_20pct}, and for a
   * learned rule {@code vs_best_chow}: {@code delta}, {@code ci_low}, {@code ci_high},
   * {@code best_chow}), and {@code by_kind} (kind → the same object, without {@code by_kind}) where
   * the items have kinds.
   */
  public ObjectNode toJson() {
    ObjectNode root = sectionJson(overall);
    if (!byKind.isEmpty()) {
      ObjectNode kinds = root.putObject("by_kind");
      byKind.forEach((kind, section) -> kinds.set(kind, sectionJson(section)));
    }
    return root;
  }

  /** The report as aligned text tables: all items first, then each kind. */
  public String toTable() {
    StringBuilder out = new StringBuilder();
    appendTable(out, overall);
    for (Section section : byKind.values()) {
      out.append('\n');
      appendTable(out, section);
    }
    return out.toString();
  }

  private static Section section(String label, int[] indices, List<DeferralExample> examples,
      Map<String, double[]> scores, List<String> learned, int resamples, long seed) {
    boolean[] small = new boolean[indices.length];
    boolean[] large = new boolean[indices.length];
    for (int j = 0; j < indices.length; j++) {
      small[j] = examples.get(indices[j]).smallCorrect();
      large[j] = examples.get(indices[j]).largeCorrect();
    }
    CascadeEvaluation evaluation = new CascadeEvaluation(small, large);
    Map<String, double[]> subset = new LinkedHashMap<>();
    scores.forEach((name, all) -> {
      double[] s = new double[indices.length];
      for (int j = 0; j < indices.length; j++) {
        s[j] = all[indices[j]];
      }
      subset.put(name, s);
    });
    subset.put(ORACLE, evaluation.oracleScores());

    String bestChow = null;
    double bestAuc = Double.NEGATIVE_INFINITY;
    for (String chow : CHOW_RULES) {
      double auc = evaluation.aucDf(subset.get(chow));
      if (auc > bestAuc) {
        bestAuc = auc;
        bestChow = chow;
      }
    }
    List<RuleResult> results = new ArrayList<>();
    for (Map.Entry<String, double[]> entry : subset.entrySet()) {
      BootstrapComparison versus = learned.contains(entry.getKey())
          ? evaluation.pairedBootstrap(entry.getValue(), subset.get(bestChow), resamples, seed)
          : null;
      results.add(new RuleResult(entry.getKey(), evaluation.metrics(entry.getValue()),
          evaluation.curve(entry.getValue()), versus));
    }
    return new Section(label, indices.length, evaluation.smallAccuracy(),
        evaluation.largeAccuracy(), bestChow, List.copyOf(results));
  }

  private static ObjectNode sectionJson(Section section) {
    ObjectNode node = JsonNodeFactory.instance.objectNode();
    node.put("small_accuracy", section.smallAccuracy());
    node.put("large_accuracy", section.largeAccuracy());
    node.put("n", section.n());
    ObjectNode rules = node.putObject("rules");
    for (RuleResult result : section.rules()) {
      RuleMetrics m = result.metrics();
      ObjectNode rule = rules.putObject(result.name());
      rule.put("auc_df", m.aucDf());
      rule.put("gain_over_random_pct", m.gainOverRandomPct());
      rule.put("oracle_share_pct", m.oracleSharePct());
      boolean gap = section.hasGap();
      rule.put("apgr", gap ? m.apgr() : null);
      rule.put("cpt50", gap ? m.cpt50() : null);
      rule.put("cpt80", gap ? m.cpt80() : null);
      rule.put("cpt95", gap ? m.cpt95() : null);
      rule.put("accuracy_at_20pct", m.accuracyAt20Pct());
      if (result.vsBestChow() != null) {
        ObjectNode versus = rule.putObject("vs_best_chow");
        versus.put("delta", result.vsBestChow().delta());
        versus.put("ci_low", result.vsBestChow().ciLow());
        versus.put("ci_high", result.vsBestChow().ciHigh());
        versus.put("best_chow", section.bestChow());
      }
    }
    return node;
  }

  private static void appendTable(StringBuilder out, Section s) {
    out.append(String.format(Locale.ROOT,
        "%s: n = %d, small model %.2f%%, large model %.2f%%, best Chow rule %s%n",
        s.label(), s.n(), 100 * s.smallAccuracy(), 100 * s.largeAccuracy(), s.bestChow()));
    out.append(String.format(Locale.ROOT, "%-18s %7s %9s %8s %6s %6s %6s %6s %8s  %s%n",
        "rule", "AUC-DF", "vs random", "oracle%", "APGR", "CPT50", "CPT80", "CPT95", "acc@20%",
        "AUC-DF vs best Chow [95% CI]"));
    for (RuleResult r : s.rules()) {
      RuleMetrics m = r.metrics();
      String versus = r.vsBestChow() == null ? "" : String.format(Locale.ROOT,
          "%+.4f [%+.4f, %+.4f]%s", r.vsBestChow().delta(), r.vsBestChow().ciLow(),
          r.vsBestChow().ciHigh(), r.vsBestChow().aboveZero() ? " *" : "");
      out.append(String.format(Locale.ROOT,
          "%-18s %7.4f %+8.2f%% %7.1f%% %6s %6s %6s %6s %7.2f%%  %s%n",
          r.name(), m.aucDf(), m.gainOverRandomPct(), m.oracleSharePct(), gapMetric(s, m.apgr()),
          gapMetric(s, m.cpt50()), gapMetric(s, m.cpt80()), gapMetric(s, m.cpt95()), 100 * m.accuracyAt20Pct(),
          versus).stripTrailing()).append('\n');
    }
    if (!s.hasGap()) {
      out.append("APGR and CPT are not defined here: both models are right on the same share of the items,"
          + " so there is no gap to recover\n");
    }
  }

  private static String gapMetric(Section s, double value) {
    return s.hasGap() ? String.format(Locale.ROOT, "%.3f", value) : "-";
  }
}
