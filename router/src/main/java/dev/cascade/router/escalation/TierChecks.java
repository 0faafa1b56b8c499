package dev.cascade.router.escalation;

import dev.cascade.router.config.CascadeConfig;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;
import java.util.function.IntPredicate;

/**
 * What a router checks of its tiers once their servers say what they serve ({@code
 * LargeModel/Info}): one line per tier with the served model's name, parameters and tokenizer
 * hash; a warning when a tier's configured name is not the served model's, or its tokenizer is not
 * the small model's (no drafts, and no prompt check at the door, for it); and a warning when the
 * models' sizes do not increase along the cascade (smallest first: a list in the wrong order
 * escalates hard prompts to a smaller model). The per-token costs, which are configuration, are
 * checked before any of this ({@link #costOrderProblem}).
 *
 * <p>A model's size is what its server says ({@code LargeModel/Info}'s {@code parameters}), else
 * what {@code large.parameters} gives for its tier (kserve:// and openai:// servers cannot say),
 * else unknown: such a tier is left out of the order check. Sizes given in {@code large.parameters}
 * are checked at once ({@link #watch}), before any server answers.
 *
 * <p>{@link #watch} asks every tier's server in the background, off the caller's thread: a tier
 * that does not answer (down at start) is asked again after 1 s, then after twice the last wait, up
 * to every 30 s, until it answers, so its checks run soon after it is up whether or not requests
 * reach it. One warning per tier says it is being waited for (the escalation client logs the
 * failed askings, at most one line per 30 s); {@link #close} stops the asking.
 */
public final class TierChecks implements AutoCloseable {

  /** How a line is logged: a warning or not. */
  public enum Level { INFO, WARN }

  private final EscalationTiers tiers;
  private final String smallName;
  private final long smallParameters;
  private final Optional<String> smallTokenizerSha256;
  private final boolean namesConfigured;
  private final BiConsumer<Level, String> log;
  /** Each tier's parameters as {@code large.parameters} gives them, tier 1 at 0; 0 when it does not. */
  private final long[] configured;
  /** Each tier's server's answer, tier 1 at 0; null until it answers. */
  private final LargeModelTransport.ServerInfo[] answered;
  private String lastOrderWarning;
  private final Duration firstRetry;
  private final Duration maxRetry;
  /** Asks the tiers that have not answered again; its thread is made with the first retry. */
  private final ScheduledExecutorService retries = Executors.newSingleThreadScheduledExecutor(r -> {
    Thread t = new Thread(r, "tier-checks");
    t.setDaemon(true);
    return t;
  });
  private volatile boolean closed;

  /** First wait before a tier that did not answer {@code Info} is asked again; doubled after each failure. */
  static final Duration FIRST_RETRY = Duration.ofSeconds(1);

  /** Longest wait between two askings of a tier that does not answer. */
  static final Duration MAX_RETRY = Duration.ofSeconds(30);

  /**
   * @param smallName the small model's name (tier 0)
   * @param smallParameters its parameters; 0 or less when unknown
   * @param smallTokenizerSha256 its tokenizer hash; empty when unknown
   * @param namesConfigured whether the tiers' names come from {@code tiers} (a single tier's default
   *     name, {@code large}, is not compared with the served model's)
   */
  public TierChecks(EscalationTiers tiers, String smallName, long smallParameters,
      Optional<String> smallTokenizerSha256, boolean namesConfigured, BiConsumer<Level, String> log) {
    this(tiers, smallName, smallParameters, smallTokenizerSha256, namesConfigured, List.of(), log);
  }

  /**
   * As above, with each tier's parameters as {@code large.parameters} gives them.
   *
   * @param configuredParameters one per tier, tier 1 first, 0 for one not given; or empty for none
   */
  public TierChecks(EscalationTiers tiers, String smallName, long smallParameters,
      Optional<String> smallTokenizerSha256, boolean namesConfigured, List<Long> configuredParameters,
      BiConsumer<Level, String> log) {
    this(tiers, smallName, smallParameters, smallTokenizerSha256, namesConfigured, configuredParameters, log,
        FIRST_RETRY, MAX_RETRY);
  }

  /** As above, asking a tier that does not answer again after {@code firstRetry}, doubled up to {@code maxRetry}. */
  TierChecks(EscalationTiers tiers, String smallName, long smallParameters, Optional<String> smallTokenizerSha256,
      boolean namesConfigured, List<Long> configuredParameters, BiConsumer<Level, String> log, Duration firstRetry,
      Duration maxRetry) {
    if (!configuredParameters.isEmpty() && configuredParameters.size() != tiers.count()) {
      throw new IllegalArgumentException(configuredParameters.size() + " parameter counts for " + tiers.count()
          + " tiers");
    }
    this.tiers = tiers;
    this.smallName = smallName;
    this.smallParameters = smallParameters;
    this.smallTokenizerSha256 = smallTokenizerSha256;
    this.namesConfigured = namesConfigured;
    this.log = log;
    this.configured = new long[tiers.count()];
    for (int i = 0; i < configuredParameters.size(); i++) {
      configured[i] = configuredParameters.get(i);
    }
    this.answered = new LargeModelTransport.ServerInfo[tiers.count()];
    this.firstRetry = firstRetry;
    this.maxRetry = maxRetry;
  }

  /**
   * Checks the sizes {@code large.parameters} gives now, and every tier once its server first says
   * what it serves; asks each server in the background until it does. Returns at once.
   */
  public void watch() {
    synchronized (this) {
      checkOrder();
    }
    for (EscalationTiers.Tier t : tiers.all()) {
      t.client().firstServerInfo().thenAccept(info -> answered(t.tier(), info));
      ask(t, true, firstRetry);
    }
  }

  /**
   * Asks tier {@code t}'s server what it serves, unless it has said or this is closed; on a
   * failure, asks again after {@code wait}, the next wait twice as long (at most the longest), and
   * on the {@code first} failure says so.
   */
  private void ask(EscalationTiers.Tier t, boolean first, Duration wait) {
    if (closed || t.client().firstServerInfo().isDone()) {
      return;
    }
    t.client().serverInfo().whenComplete((info, error) -> {
      if (error == null || closed) {
        return; // the answer is checked by firstServerInfo's callback
      }
      if (first) {
        log.accept(Level.WARN, "tier " + where(t) + " has not said what it serves (LargeModel/Info: "
            + EscalationClient.describe(error) + "): its checks (served model's name, tokenizer, sizes along the"
            + " tiers) run once it does; asking it again in the background, after " + seconds(firstRetry)
            + ", then twice as long each time up to every " + seconds(maxRetry));
      }
      Duration next = wait.multipliedBy(2).compareTo(maxRetry) > 0 ? maxRetry : wait.multipliedBy(2);
      try {
        retries.schedule(() -> ask(t, false, next), wait.toMillis(), TimeUnit.MILLISECONDS);
      } catch (RejectedExecutionException closedMeanwhile) {
        // close() was called: nothing more to ask
      }
    });
  }

  /** Whether tier {@code tier}'s server has said what it serves, so that its checks have run. */
  public synchronized boolean checked(int tier) {
    return answered[tier - 1] != null;
  }

  /**
   * Registers {@code cascade_tier_checked{tier}}: 0 for each tier until its server has said what
   * it serves and its checks have run, then 1.
   */
  public void register(PrometheusRegistry registry) {
    registerCheckedGauge(registry, tiers.all().stream().map(EscalationTiers.Tier::name).toList(), this::checked);
  }

  /** As {@link #register}, for the tiers {@code names} (tier 1 first), {@code checked} saying each tier's state. */
  public static void registerCheckedGauge(PrometheusRegistry registry, List<String> names, IntPredicate checked) {
    GaugeWithCallback.builder().name("cascade_tier_checked")
        .help("Each model after the small one, by tier name: 1 once its server has said what it serves (LargeModel/Info;"
            + " kserve:// and openai:// servers at once, having no such call) and serve has checked it, 0 until then")
        .labelNames("tier")
        .callback(cb -> {
          for (int i = 0; i < names.size(); i++) {
            cb.call(checked.test(i + 1) ? 1 : 0, names.get(i));
          }
        }).register(registry);
  }

  /** Stops asking the tiers that have not answered (at shutdown); an asking in flight is not followed up. */
  @Override
  public void close() {
    closed = true;
    retries.shutdownNow();
  }

  /** Whether the background asking has stopped ({@link #close}d, and no retry left running). */
  boolean stopped() {
    return retries.isTerminated();
  }

  /** What tier {@code tier}'s server said of its model: logged and checked. */
  public synchronized void answered(int tier, LargeModelTransport.ServerInfo info) {
    EscalationTiers.Tier t = tiers.tier(tier);
    answered[tier - 1] = info;
    String where = where(t);
    OptionalLong size = size(tier);
    String sizeSaid = parameters(size) + (info.parameters().isEmpty() && size.isPresent()
        ? " (" + CascadeConfig.LARGE_PARAMETERS.name() + ")" : "");
    String unsized = size.isPresent() ? "" : ": left out of the check of sizes along the tiers (give its parameters in "
        + CascadeConfig.LARGE_PARAMETERS.name() + ")";
    if (info.model().isEmpty() && info.tokenizerSha256().isEmpty() && info.parameters().isEmpty()) {
      log.accept(Level.INFO, "tier " + where + " does not say which model it serves ("
          + t.client().infoCall().orElse("its protocol has no call for it") + "); " + sizeSaid
          + unsized);
    } else {
      log.accept(Level.INFO, "tier " + where + " serves model " + info.model().orElse("(unnamed)") + ", "
          + sizeSaid + ", tokenizer sha256 " + info.tokenizerSha256().orElse("unknown") + unsized);
    }
    if (configured[tier - 1] > 0 && info.parameters().isPresent()
        && info.parameters().getAsLong() != configured[tier - 1]) {
      log.accept(Level.WARN, "tier " + where + " has " + parameters(OptionalLong.of(configured[tier - 1])) + " in "
          + CascadeConfig.LARGE_PARAMETERS.name() + ", but its server says " + parameters(info.parameters())
          + ": the server's count is used; check that " + CascadeConfig.LARGE_PARAMETERS.name()
          + " follows the order of tiers");
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
    checkOrder();
  }

  /** Warns of the sizes' order once per new problem. */
  private void checkOrder() {
    orderProblem().ifPresent(problem -> {
      if (!problem.equals(lastOrderWarning)) {
        lastOrderWarning = problem;
        log.accept(Level.WARN, problem);
      }
    });
  }

  /** Tier {@code tier}'s parameters: as its server said, else as configured; empty when neither says. */
  private OptionalLong size(int tier) {
    LargeModelTransport.ServerInfo info = answered[tier - 1];
    if (info != null && info.parameters().isPresent()) {
      return info.parameters();
    }
    return configured[tier - 1] > 0 ? OptionalLong.of(configured[tier - 1]) : OptionalLong.empty();
  }

  private static String where(EscalationTiers.Tier t) {
    return t.name() + " (" + t.client().target() + ")";
  }

  private static String seconds(Duration d) {
    return d.toMillis() % 1000 == 0 ? d.toSeconds() + " s" : d.toMillis() + " ms";
  }

  /**
   * A warning when the parameters known so far (the small model's, the tiers' that said them, and
   * those {@code large.parameters} gives for the others) do not increase along the cascade; empty
   * when they do, or fewer than two are known.
   */
  synchronized Optional<String> orderProblem() {
    List<String> known = new ArrayList<>();
    List<Long> sizes = new ArrayList<>();
    if (smallParameters > 0) {
      known.add(smallName + " (tier 0, " + parameters(OptionalLong.of(smallParameters)) + ")");
      sizes.add(smallParameters);
    }
    for (EscalationTiers.Tier t : tiers.all()) {
      OptionalLong size = size(t.tier());
      if (size.isPresent()) {
        known.add(t.name() + " (tier " + t.tier() + ", " + parameters(size) + ", cost "
            + cost(t.costPerToken()) + " per token)");
        sizes.add(size.getAsLong());
      }
    }
    for (int i = 1; i < sizes.size(); i++) {
      if (sizes.get(i) <= sizes.get(i - 1)) {
        return Optional.of("the cascade's models do not grow along tiers (smallest first): " + String.join(" then ",
            known) + "; a request would be escalated to a model no larger than the one it leaves. List tiers (and"
            + " cost.tiers.per-token, " + CascadeConfig.LARGE_PARAMETERS.name() + ") smallest first");
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

  /**
   * Why parameter counts, tier 1 first, are refused: a model smaller than the one before it (counts
   * of 0, not given, aside); empty when they do not fall.
   *
   * @param names the tiers' names, tier 1 first
   */
  public static Optional<String> parameterOrderProblem(List<String> names, List<Long> counts) {
    int last = -1;
    for (int i = 0; i < counts.size(); i++) {
      if (counts.get(i) <= 0) {
        continue;
      }
      if (last >= 0 && counts.get(i) < counts.get(last)) {
        return Optional.of(parameters(OptionalLong.of(counts.get(last))) + " for " + names.get(last) + " then "
            + parameters(OptionalLong.of(counts.get(i))) + " for " + names.get(i) + ": a cascade lists its models"
            + " smallest first, so tiers and its parameters go up; list both in that order");
      }
      last = i;
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
