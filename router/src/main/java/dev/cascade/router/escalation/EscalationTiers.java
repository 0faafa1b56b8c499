package dev.cascade.router.escalation;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * The models after the small one, in cascade order: tier 1 (the model the small one defers to)
 * up to tier K − 1 (the last, whose answer is always served). Two models make one tier here, the
 * {@code large.target}; more come from the {@code tiers} key. Each tier has its own client (its own
 * deadlines, retries and circuit breaker) and its own cost per token.
 */
public final class EscalationTiers implements AutoCloseable {

  /**
   * One model after the small one.
   *
   * @param tier its place: 1 for the first model after the small one
   * @param name its name, as configured (logged, and written into responses and outcomes)
   * @param client calls it
   * @param costPerToken cost units of one of its tokens, prompt and output
   */
  public record Tier(int tier, String name, EscalationClient client, double costPerToken) {
    public Tier {
      Objects.requireNonNull(name, "name");
      Objects.requireNonNull(client, "client");
    }
  }

  /**
   * A model named in the {@code tiers} key.
   *
   * @param name a name for logs and records: letters, digits, '.', '_' or '-'
   * @param target where it is served: host:port or a URI ({@link LargeTarget})
   */
  public record Target(String name, String target) {}

  private static final Pattern NAME = Pattern.compile("[A-Za-z0-9._-]{1,64}");

  private final List<Tier> tiers;
  private final dev.cascade.router.policy.TierThresholds thresholds;
  private final double labelShare;

  /** @param tiers tier 1 first; at least one */
  public EscalationTiers(List<Tier> tiers) {
    this(tiers, new dev.cascade.router.policy.TierThresholds());
  }

  /**
   * @param tiers tier 1 first; at least one
   * @param thresholds the middle tiers' thresholds (their target-rate controllers)
   */
  public EscalationTiers(List<Tier> tiers, dev.cascade.router.policy.TierThresholds thresholds) {
    this(tiers, thresholds, 0.0);
  }

  /**
   * @param tiers tier 1 first; at least one
   * @param thresholds the middle tiers' thresholds (their target-rate controllers)
   * @param labelShare the share of a middle tier's early deferrals decoded to the end all the same,
   *     in [0, 1] ({@code escalation.early-defer-label-share}; {@link #labelSampled})
   */
  public EscalationTiers(List<Tier> tiers, dev.cascade.router.policy.TierThresholds thresholds, double labelShare) {
    this.thresholds = java.util.Objects.requireNonNull(thresholds, "thresholds");
    if (!(labelShare >= 0.0 && labelShare <= 1.0)) {
      throw new IllegalArgumentException("labelShare must be in [0, 1], was " + labelShare);
    }
    this.labelShare = labelShare;
    if (tiers.isEmpty()) {
      throw new IllegalArgumentException("a cascade has at least one model after the small one");
    }
    for (int i = 0; i < tiers.size(); i++) {
      if (tiers.get(i).tier() != i + 1) {
        throw new IllegalArgumentException("tier " + (i + 1) + " is numbered " + tiers.get(i).tier());
      }
    }
    this.tiers = List.copyOf(tiers);
  }

  /** Two models: the small one and {@code client}'s. */
  public static EscalationTiers single(EscalationClient client, String name, double costPerToken) {
    return new EscalationTiers(List.of(new Tier(1, name, client, costPerToken)));
  }

  /**
   * Parses the {@code tiers} key: {@code NAME=TARGET,NAME=TARGET,...}, tier 1 first; empty for none.
   *
   * @throws IllegalArgumentException saying which entry is wrong and why
   */
  public static List<Target> parse(String text) {
    List<Target> targets = new ArrayList<>();
    if (text.isBlank()) {
      return targets;
    }
    for (String entry : text.split(",")) {
      int eq = entry.indexOf('=');
      String name = eq < 0 ? "" : entry.substring(0, eq).trim();
      String target = eq < 0 ? "" : entry.substring(eq + 1).trim();
      if (!NAME.matcher(name).matches() || target.isEmpty()) {
        throw new IllegalArgumentException("entry '" + entry.trim() + "' is not NAME=TARGET (e.g. medium=localhost:50052;"
            + " a name is 1 to 64 letters, digits, '.', '_' or '-')");
      }
      if (targets.stream().anyMatch(t -> t.name().equals(name))) {
        throw new IllegalArgumentException("tier name '" + name + "' is given twice");
      }
      try {
        LargeTarget.parse(target);
      } catch (RuntimeException e) {
        throw new IllegalArgumentException("tier '" + name + "': " + e.getMessage(), e);
      }
      targets.add(new Target(name, target));
    }
    return targets;
  }

  /** How many models come after the small one (K − 1 for a cascade of K models). */
  public int count() {
    return tiers.size();
  }

  /** Tier {@code tier}, 1 to {@link #count()}. */
  public Tier tier(int tier) {
    if (tier < 1 || tier > tiers.size()) {
      throw new IndexOutOfBoundsException("tier " + tier + " of " + tiers.size());
    }
    return tiers.get(tier - 1);
  }

  /** Whether {@code tier} is the last, whose answer is always served. */
  public boolean isLast(int tier) {
    return tier == tiers.size();
  }

  /** The share of a middle tier's early deferrals decoded to the end all the same (0: none). */
  public double labelShare() {
    return labelShare;
  }

  /**
   * Whether middle tier {@code tier}'s call for {@code requestId} decodes to its end although early
   * deferral would stop it: its draw ({@link dev.cascade.router.policy.EarlyDeferral#labelDraw(String,
   * int)}) is below {@link #labelShare}.
   */
  public boolean labelSampled(String requestId, int tier) {
    return labelShare > 0.0 && dev.cascade.router.policy.EarlyDeferral.labelDraw(requestId, tier) < labelShare;
  }

  /** The thresholds the middle tiers decide by: fixed, or held at their target rates from their recent scores. */
  public dev.cascade.router.policy.TierThresholds thresholds() {
    return thresholds;
  }

  /** Every tier, tier 1 first. */
  public List<Tier> all() {
    return tiers;
  }

  /**
   * Why a prompt is over a later tier's prompt limit, or empty. A request may be escalated to any
   * tier, so a prompt that one of them would refuse is refused at the door, before the small model
   * has spent anything on it. A tier is checked only when its server has said its limit ({@code
   * LargeModel/Info}: cascade:// targets that report {@code max_prompt_tokens}), its tokenizer is the
   * small model's, so that the two counts are the same, and its limit is below {@code smallLimit}
   * (the small model's own, which it has already checked); otherwise, and until its server has
   * answered, it is not checked here and refuses such a prompt itself when called (an alarm, and a
   * degraded answer). The prompt is tokenized only when some tier needs it, at most once.
   *
   * @param smallTokenizerSha256 the small model's tokenizer hash
   * @param smallLimit the small model's own prompt limit (Integer.MAX_VALUE when it has none)
   * @param promptTokens counts the prompt's tokens with the small model's tokenizer (empty: cannot say)
   */
  public java.util.Optional<String> promptProblem(String smallTokenizerSha256, int smallLimit,
      java.util.function.Supplier<java.util.OptionalInt> promptTokens) {
    java.util.OptionalInt tokens = null;
    for (Tier t : tiers) {
      java.util.Optional<LargeModelTransport.ServerInfo> info = t.client().knownServerInfo();
      if (info.isEmpty() || info.get().maxPromptTokens().isEmpty()
          || info.get().maxPromptTokens().getAsInt() >= smallLimit
          || !info.get().tokenizerSha256().map(smallTokenizerSha256::equals).orElse(false)) {
        continue;
      }
      int limit = info.get().maxPromptTokens().getAsInt();
      tokens = tokens == null ? promptTokens.get() : tokens;
      if (tokens.isPresent() && tokens.getAsInt() > limit) {
        return java.util.Optional.of("prompt: " + tokens.getAsInt() + " tokens is over the limit of the '" + t.name()
            + "' model, which an escalation would reach (" + limit + " prompt tokens, as its server says)");
      }
    }
    return java.util.Optional.empty();
  }

  /** Closes every tier's client. */
  @Override
  public void close() {
    tiers.forEach(t -> t.client().close());
  }
}
