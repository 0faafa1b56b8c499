package dev.cascade.router.escalation;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.function.BiConsumer;

/**
 * What a router checks of its tiers once their servers say what they serve ({@code
 * LargeModel/Info}, which a tier down at start answers once it is back): one line per tier with
 * the served model's name, parameters and tokenizer hash; a warning when a tier's configured name
 * is not the served model's, or its tokenizer is not the small model's (no drafts, and no prompt
 * check at the door, for it); and a warning when the models' sizes do not increase along the
 * cascade (smallest first: a list in the wrong order escalates hard prompts to a smaller model).
 * The per-token costs, which are configuration, are checked before any of this ({@link
 * #costOrderProblem}).
 */
public final class TierChecks {

  /** How a line is logged: a warning or not. */
  public enum Level { INFO, WARN }

  private final EscalationTiers tiers;
  private final String smallName;
  private final long smallParameters;
  private final Optional<String> smallTokenizerSha256;
  private final boolean namesConfigured;
  private final BiConsumer<Level, String> log;
  /** Each tier's server's answer, tier 1 at 0; null until it answers. */
  private final LargeModelTransport.ServerInfo[] answered;
  private String lastOrderWarning;

  /**
   * @param smallName the small model's name (tier 0)
   * @param smallParameters its parameters; 0 or less when unknown
   * @param smallTokenizerSha256 its tokenizer hash; empty when unknown
   * @param namesConfigured whether the tiers' names come from {@code tiers} (a single tier's default
   *     name, {@code large}, is not compared with the served model's)
   */
  public TierChecks(EscalationTiers tiers, String smallName, long smallParameters,
      Optional<String> smallTokenizerSha256, boolean namesConfigured, BiConsumer<Level, String> log) {
    this.tiers = tiers;
    this.smallName = smallName;
    this.smallParameters = smallParameters;
    this.smallTokenizerSha256 = smallTokenizerSha256;
    this.namesConfigured = namesConfigured;
    this.log = log;
    this.answered = new LargeModelTransport.ServerInfo[tiers.count()];
  }

  /** Checks every tier once its server first says what it serves. */
  public void watch() {
    for (EscalationTiers.Tier t : tiers.all()) {
      t.client().firstServerInfo().thenAccept(info -> answered(t.tier(), info));
      t.client().knownServerInfo(); // asks now; a failed asking is repeated with the next request
    }
  }

  /** What tier {@code tier}'s server said of its model: logged and checked. */
  public synchronized void answered(int tier, LargeModelTransport.ServerInfo info) {
    EscalationTiers.Tier t = tiers.tier(tier);
    answered[tier - 1] = info;
    String where = t.name() + " (" + t.client().target() + ")";
    if (info.model().isEmpty() && info.tokenizerSha256().isEmpty() && info.parameters().isEmpty()) {
      log.accept(Level.INFO, "tier " + where + " does not say which model it serves (LargeModel/Info)");
    } else {
      log.accept(Level.INFO, "tier " + where + " serves model " + info.model().orElse("(unnamed)") + ", "
          + parameters(info.parameters()) + ", tokenizer sha256 " + info.tokenizerSha256().orElse("unknown"));
    }
    if (namesConfigured && info.model().isPresent() && !info.model().get().equals(t.name())) {
      log.accept(Level.WARN, "tier " + where + " is named " + t.name() + " in tiers, but its server serves model "
          + info.model().get() + ": check that tiers points each name at its model");
    }
    if (smallTokenizerSha256.isPresent() && info.tokenizerSha256().isPresent()
        && !info.tokenizerSha256().get().equals(smallTokenizerSha256.get())) {
      log.accept(Level.WARN, "tier " + where + " has another tokenizer than the small model " + smallName + " (sha256 "
          + info.tokenizerSha256().get() + ", not " + smallTokenizerSha256.get() + "): escalations to it carry no"
          + " speculative draft, and the doors do not check prompts against its prompt limit");
    }
    orderProblem().ifPresent(problem -> {
      if (!problem.equals(lastOrderWarning)) {
        lastOrderWarning = problem;
        log.accept(Level.WARN, problem);
      }
    });
  }

  /**
   * A warning when the parameters known so far (the small model's and the tiers' that said them)
   * do not increase along the cascade; empty when they do, or fewer than two are known.
   */
  synchronized Optional<String> orderProblem() {
    List<String> known = new ArrayList<>();
    List<Long> sizes = new ArrayList<>();
    if (smallParameters > 0) {
      known.add(smallName + " (tier 0, " + parameters(OptionalLong.of(smallParameters)) + ")");
      sizes.add(smallParameters);
    }
    for (EscalationTiers.Tier t : tiers.all()) {
      LargeModelTransport.ServerInfo info = answered[t.tier() - 1];
      if (info != null && info.parameters().isPresent()) {
        known.add(t.name() + " (tier " + t.tier() + ", " + parameters(info.parameters()) + ", cost "
            + cost(t.costPerToken()) + " per token)");
        sizes.add(info.parameters().getAsLong());
      }
    }
    for (int i = 1; i < sizes.size(); i++) {
      if (sizes.get(i) <= sizes.get(i - 1)) {
        return Optional.of("the cascade's models do not grow along tiers (smallest first): " + String.join(" then ",
            known) + "; a request would be escalated to a model no larger than the one it leaves. List tiers (and"
            + " cost.tiers.per-token) smallest first");
      }
    }
    return Optional.empty();
  }

  /**
   * Why per-token costs, tier 1 first, are refused: a tier cheaper than the one before it (the list
   * is smallest first, so its costs grow); empty when they do not fall.
   *
   * @param names the tiers' names, tier 1 first
   */
  public static Optional<String> costOrderProblem(List<String> names, List<Double> costs) {
    for (int i = 1; i < costs.size(); i++) {
      if (costs.get(i) < costs.get(i - 1)) {
        return Optional.of("costs " + cost(costs.get(i - 1)) + " for " + names.get(i - 1) + " then " + cost(costs.get(i))
            + " for " + names.get(i) + ": a cascade lists its models smallest (cheapest) first, so tiers and its"
            + " costs go up; list both in that order");
      }
    }
    return Optional.empty();
  }

  private static String parameters(OptionalLong parameters) {
    return parameters.isPresent() ? String.format(Locale.ROOT, "%,d parameters", parameters.getAsLong())
        : "parameters unknown";
  }

  private static String cost(double cost) {
    return cost == Math.rint(cost) && Math.abs(cost) < 1e15 ? Long.toString((long) cost) : Double.toString(cost);
  }
}
