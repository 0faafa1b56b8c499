package dev.cascade.router;

import dev.cascade.models.TextGenerator;
import dev.cascade.router.cache.ResponseCache;
import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.escalation.EscalationClient;
import dev.cascade.router.escalation.EscalationSettings;
import dev.cascade.router.escalation.EscalationTiers;
import dev.cascade.router.learning.LearnedRules;
import dev.cascade.router.learning.ModelFingerprint;
import dev.cascade.router.learning.RuleCatalog;
import dev.cascade.router.learning.RuleResolver;
import dev.cascade.router.learning.TargetRateWarmStart;
import dev.cascade.router.metrics.RouterMetrics;
import dev.cascade.router.policy.DeferralPolicy;
import dev.cascade.router.policy.TargetRateController;
import dev.cascade.router.routing.CostModel;
import dev.cascade.router.routing.GenerationTimes;
import dev.cascade.router.routing.RequestValidator;
import dev.cascade.router.routing.RoutingRecords;
import dev.cascade.router.routing.SmallModelRouter;
import dev.cascade.router.rules.DeferralRules;
import dev.cascade.router.topics.TopicProvisioner;
import dev.cascade.router.topology.CascadeTopology;
import dev.cascade.router.topology.PacedClientSupplier;
import dev.cascade.router.topology.PollPacer;
import dev.cascade.router.topology.ReplyTopics;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.LogAndContinueExceptionHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One running router instance: the Kafka Streams application over the cascade topology, with its
 * small model in-process and a gRPC client of the large model. More instances with the same
 * {@code application.id} share the work.
 */
public final class CascadeRouter implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(CascadeRouter.class);

  private final KafkaStreams streams;
  private final EscalationTiers tiers;
  private final StateDirectory stateDir;
  private final Topology topology;
  private final ResponseCache cache;
  private final RuleResolver rules;
  private final RouterMetrics metrics;
  private final ExecutorService smallModelWorkers;
  private final ReplyTopics replies;
  private final StreamsFate fate;

  private CascadeRouter(KafkaStreams streams, EscalationTiers tiers, StateDirectory stateDir,
      Topology topology, ResponseCache cache, RuleResolver rules, RouterMetrics metrics,
      ExecutorService smallModelWorkers, ReplyTopics replies, StreamsFate fate) {
    this.fate = fate;
    this.replies = replies;
    this.smallModelWorkers = smallModelWorkers;
    this.metrics = metrics;
    this.cache = cache;
    this.rules = rules;
    this.streams = streams;
    this.tiers = tiers;
    this.stateDir = stateDir;
    this.topology = topology;
  }

  /** The keys {@link #configuredPolicy} reads: they apply only while the policy topic holds no policy. */
  public static final List<dev.cascade.router.config.ConfigKey<?>> POLICY_KEYS = List.of(CascadeConfig.POLICY_RULE,
      CascadeConfig.POLICY_ALPHA, CascadeConfig.POLICY_THRESHOLD, CascadeConfig.POLICY_EXPLORATION,
      CascadeConfig.POLICY_TARGET_RATE, CascadeConfig.POLICY_SHADOW_RULES, CascadeConfig.POLICY_FALLBACK_RULE,
      CascadeConfig.POLICY_EARLY_DEFER_MARGIN, CascadeConfig.POLICY_TIER_RULES, CascadeConfig.POLICY_TIER_TARGET_RATES,
      CascadeConfig.POLICY_TIER_EXPLORATION_RATES, CascadeConfig.POLICY_PREGEN_SKIP_RULE,
      CascadeConfig.POLICY_PREGEN_SKIP_THRESHOLD);

  /**
   * When the policy topic holds a policy ({@code inForce}, not the configured default) and
   * configuration gives any of {@link #POLICY_KEYS} (a file, a variable, the command line): a line
   * saying those keys are not in force, and how to change the live policy. Empty otherwise.
   */
  public static java.util.Optional<String> configuredPolicyNotInForce(CascadeConfig config, DeferralPolicy inForce) {
    if (inForce.version() == 0 && "config".equals(inForce.updatedBy())) {
      return java.util.Optional.empty();
    }
    List<String> given = new java.util.ArrayList<>();
    for (dev.cascade.router.config.ConfigKey<?> key : POLICY_KEYS) {
      if (config.given(key)) {
        given.add(key.name() + " (from " + config.sourceOf(key.name()) + ")");
      }
    }
    if (given.isEmpty()) {
      return java.util.Optional.empty();
    }
    return java.util.Optional.of("the policy topic holds policy version " + inForce.version() + " (" + inForce.rule()
        + ", threshold " + inForce.threshold() + ", set by " + inForce.updatedBy() + "), which is in force: "
        + String.join(", ", given) + " in the configuration " + (given.size() == 1 ? "applies" : "apply")
        + " only while the topic holds no policy; change the live policy with ./cascade policy set");
  }

  /** The default policy that configuration describes, in force until the policy topic has one. */
  public static DeferralPolicy configuredPolicy(CascadeConfig config) {
    String rule = config.get(CascadeConfig.POLICY_RULE);
    Long version = null;
    java.util.Optional<RuleResolver.Versioned> at = RuleResolver.splitVersion(rule);
    if (at.isPresent()) {
      version = at.get().version();
      rule = at.get().name();
    }
    String shadows = config.get(CascadeConfig.POLICY_SHADOW_RULES).trim();
    java.util.OptionalDouble margin = config.get(CascadeConfig.POLICY_EARLY_DEFER_MARGIN);
    return new DeferralPolicy(rule, config.get(CascadeConfig.POLICY_ALPHA),
        config.get(CascadeConfig.POLICY_THRESHOLD), config.get(CascadeConfig.POLICY_EXPLORATION),
        config.get(CascadeConfig.POLICY_TARGET_RATE), 0L, "config", 0L, "configured default", version,
        shadows.isEmpty() ? java.util.List.of() : java.util.Arrays.stream(shadows.split(",")).map(String::trim).toList(),
        config.get(CascadeConfig.POLICY_FALLBACK_RULE),
        margin.isPresent() ? margin.getAsDouble() : null, configuredTierPolicies(config),
        config.get(CascadeConfig.POLICY_PREGEN_SKIP_RULE).isBlank() ? null
            : new dev.cascade.router.policy.PregenSkipPolicy(config.get(CascadeConfig.POLICY_PREGEN_SKIP_RULE).trim(),
                config.get(CascadeConfig.POLICY_PREGEN_SKIP_THRESHOLD)));
  }

  /**
   * Checks, before any model loads or broker starts, that the configured policy's rules (its rule,
   * fallback and shadow rules) exist and apply to the small model {@code small.model} names, as
   * {@link #start} would find at the end of its start-up: the shipped learned versions and the
   * closed-form rules of {@link LearnedRules#bundled()}. A version the rules topic may still bring
   * passes (start logs it).
   *
   * @throws dev.cascade.router.config.ConfigException naming the key ({@code policy.rule},
   *     {@code policy.fallback-rule} or {@code policy.shadow-rules}), the problem and where the value came from
   */
  public static void checkConfiguredPolicy(CascadeConfig config) {
    String fingerprint;
    try {
      fingerprint = ModelFingerprint.of(config.get(CascadeConfig.SMALL_MODEL));
    } catch (RuntimeException e) {
      // No model to check the rules against: the model's own error comes where it loads, after the
      // other start-up checks and the configuration line, as it would without this check.
      return;
    }
    checkConfiguredRules(config, new RuleResolver(LearnedRules.bundled(), RuleCatalog.withBundled(fingerprint)));
  }

  /**
   * The configured policy's rules, each checked with {@code rules}.
   *
   * @return why a rule cannot apply yet (a version the rules topic may still bring), one line each
   * @throws dev.cascade.router.config.ConfigException for a rule that cannot apply, naming its key and source
   */
  private static List<String> checkConfiguredRules(CascadeConfig config, RuleResolver rules) {
    DeferralPolicy policy = configuredPolicy(config);
    List<String> pending = new java.util.ArrayList<>();
    checkedRule(config, CascadeConfig.POLICY_RULE, pending,
        () -> rules.resolve(policy.rule(), policy.alpha(), policy.ruleVersion()));
    checkedRule(config, CascadeConfig.POLICY_FALLBACK_RULE, pending, () -> rules.resolveFallback(policy.fallbackRule()));
    for (String spec : policy.shadowRules()) {
      checkedRule(config, CascadeConfig.POLICY_SHADOW_RULES, pending, () -> rules.resolve(spec));
    }
    return pending;
  }

  private static void checkedRule(CascadeConfig config, dev.cascade.router.config.ConfigKey<?> key, List<String> pending,
      Runnable resolve) {
    try {
      resolve.run();
    } catch (RuleResolver.RuleUnavailableException e) {
      if (e.problem() != RuleResolver.Problem.MISSING_VERSION && e.problem() != RuleResolver.Problem.PENDING_VERSION) {
        throw config.invalid(key, e.getMessage());
      }
      pending.add(key.name() + ": " + e.getMessage());
    } catch (IllegalArgumentException e) {
      throw config.invalid(key, e.getMessage());
    }
  }

  /**
   * Connects to the models after the small one: those {@code tiers} names, or, when it names none,
   * the one at {@code largeTarget}.
   *
   * @throws dev.cascade.router.config.ConfigException when the tiers, their costs
   *     ({@code cost.tiers.per-token}) and the middle tiers' rules ({@code policy.tier-rules}) do not
   *     match up, or the costs fall along the tiers (smallest first)
   */
  public static EscalationTiers connectTiers(CascadeConfig config, String largeTarget) {
    return connectTiers(config, largeTarget, "");
  }

  /**
   * As above; {@code draftTokenizer} is the small model's tokenizer hash, for speculative
   * escalation to tiers that share it (empty: no drafts).
   */
  public static EscalationTiers connectTiers(CascadeConfig config, String largeTarget, String draftTokenizer) {
    return connectTiers(config, largeTarget, draftTokenizer, null);
  }

  /** The models after the small one, in order, and each one's cost per token. */
  public record TierShape(List<EscalationTiers.Target> targets, List<Double> costs) {}

  /**
   * Checks what {@code tiers}, {@code large.target}, {@code cost.tiers.per-token},
   * {@code large.parameters} and {@code policy.tier-rules} say together, without connecting to
   * anything, so that {@code serve} can refuse a start before it loads a model or touches Kafka:
   * a model to escalate to, one cost per model in ascending order, and one rule per middle tier.
   *
   * @throws dev.cascade.router.config.ConfigException naming the key that is wrong
   */
  public static TierShape checkTiers(CascadeConfig config, String largeTarget) {
    List<EscalationTiers.Target> targets = config.get(CascadeConfig.TIERS);
    List<Double> costs = config.get(CascadeConfig.COST_TIERS);
    int rules = config.get(CascadeConfig.POLICY_TIER_RULES).size();
    if (targets.isEmpty()) {
      if (largeTarget == null || largeTarget.isBlank()) {
        throw new dev.cascade.router.config.ConfigException(CascadeConfig.LARGE_TARGET.name(),
            "is empty, and tiers names no models: the router needs a model to escalate to");
      }
      targets = List.of(new EscalationTiers.Target(RoutingRecords.LARGE, largeTarget));
      if (costs.isEmpty()) {
        costs = List.of(config.get(CascadeConfig.COST_LARGE));
      }
    }
    if (costs.size() != targets.size()) {
      throw new dev.cascade.router.config.ConfigException(CascadeConfig.COST_TIERS.name(), "has " + costs.size()
          + " costs for the " + targets.size() + " models of tiers: give one per-token cost per model, in order");
    }
    checkCostOrder(targets, costs);
    checkParameters(config.get(CascadeConfig.TIERS), config.get(CascadeConfig.LARGE_PARAMETERS));
    String hasRules = "has " + rules + (rules == 1 ? " rule" : " rules");
    if (rules > 0 && targets.size() == 1) {
      throw new dev.cascade.router.config.ConfigException(CascadeConfig.POLICY_TIER_RULES.name(), hasRules + ", but " + CascadeConfig.TIERS.name() + " names "
          + (config.get(CascadeConfig.TIERS).isEmpty() ? "no models" : "one model")
          + ": a cascade of two models has no middle tier to rule. Name every model after the small one in "
          + CascadeConfig.TIERS.name() + " (NAME=TARGET,...,NAME=TARGET), or leave "
          + CascadeConfig.POLICY_TIER_RULES.name() + " empty");
    }
    if (rules != targets.size() - 1) {
      throw new dev.cascade.router.config.ConfigException(CascadeConfig.POLICY_TIER_RULES.name(), hasRules
          + " for a cascade of " + (targets.size() + 1) + " models: each of the " + (targets.size() - 1)
          + " middle tiers (every model in " + CascadeConfig.TIERS.name() + " but the last) needs one, in order");
    }
    configuredTierPolicies(config); // policy.tier-target-rates counts the rules just checked
    return new TierShape(targets, costs);
  }

  /**
   * @param middleTiers how many middle tiers {@code whose} names
   * @throws dev.cascade.router.config.ConfigException naming {@code policy.tier-target-rates} when it
   *     gives {@code rates} rates, neither none nor one per middle tier
   */
  public static void checkTierTargetRates(int rates, int middleTiers, String whose) {
    checkTierRates(CascadeConfig.POLICY_TIER_TARGET_RATES, "0 keeps a tier's fixed threshold", rates, middleTiers, whose);
  }

  /**
   * @param middleTiers how many middle tiers {@code whose} names
   * @throws dev.cascade.router.config.ConfigException naming {@code policy.tier-exploration-rates}
   *     when it gives {@code rates} rates, neither none nor one per middle tier
   */
  public static void checkTierExplorationRates(int rates, int middleTiers, String whose) {
    checkTierRates(CascadeConfig.POLICY_TIER_EXPLORATION_RATES, "0 explores none at a tier", rates, middleTiers, whose);
  }

  private static void checkTierRates(dev.cascade.router.config.ConfigKey<?> key, String zero, int rates,
      int middleTiers, String whose) {
    if (rates != 0 && rates != middleTiers) {
      throw new dev.cascade.router.config.ConfigException(key.name(), "has "
          + rates + (rates == 1 ? " rate" : " rates") + " for the " + middleTiers + " middle tier"
          + (middleTiers == 1 ? "" : "s") + " of " + whose
          + ": give one per middle tier, in order (" + zero + "), or none");
    }
  }

  /**
   * The middle tiers' configured rules: {@code policy.tier-rules}, each with its target rate from
   * {@code policy.tier-target-rates} (empty: fixed thresholds) and its exploration rate from {@code
   * policy.tier-exploration-rates} (empty: none).
   *
   * @throws dev.cascade.router.config.ConfigException naming {@code policy.tier-target-rates} or
   *     {@code policy.tier-exploration-rates} when it does not give one rate per rule
   */
  public static List<dev.cascade.router.policy.TierPolicy> configuredTierPolicies(CascadeConfig config) {
    List<dev.cascade.router.policy.TierPolicy> rules = config.get(CascadeConfig.POLICY_TIER_RULES);
    List<Double> rates = config.get(CascadeConfig.POLICY_TIER_TARGET_RATES);
    List<Double> explorations = config.get(CascadeConfig.POLICY_TIER_EXPLORATION_RATES);
    checkTierTargetRates(rates.size(), rules.size(), CascadeConfig.POLICY_TIER_RULES.name());
    checkTierExplorationRates(explorations.size(), rules.size(), CascadeConfig.POLICY_TIER_RULES.name());
    List<dev.cascade.router.policy.TierPolicy> held = new java.util.ArrayList<>();
    for (int i = 0; i < rules.size(); i++) {
      dev.cascade.router.policy.TierPolicy rule = rules.get(i);
      rule = rates.isEmpty() ? rule : rule.withTargetEscalationRate(rates.get(i));
      held.add(explorations.isEmpty() ? rule : rule.withExplorationRate(explorations.get(i)));
    }
    return List.copyOf(held);
  }

  /**
   * As above, every tier over {@code transports} (the {@code large.tls.*} stores read once for them
   * all; null: {@link dev.cascade.router.escalation.LargeModelTransports.Options#from from the
   * configuration}).
   */
  public static EscalationTiers connectTiers(CascadeConfig config, String largeTarget, String draftTokenizer,
      dev.cascade.router.escalation.LargeModelTransports.Options transports) {
    TierShape shape = checkTiers(config, largeTarget);
    List<EscalationTiers.Target> targets = shape.targets();
    List<Double> costs = shape.costs();
    List<dev.cascade.router.policy.TierPolicy> tierRules = configuredTierPolicies(config);
    for (int i = 0; i < tierRules.size(); i++) {
      tierRules.get(i).deferAllWarning("middle tier " + (i + 1) + " (" + targets.get(i).name() + ")")
          .ifPresent(w -> LOG.warn("{}: {} (the configured default; a policy on the policy topic overrides it)",
              CascadeConfig.POLICY_TIER_RULES.name(), w));
    }
    dev.cascade.router.escalation.LargeModelTransports.Options options = transports != null ? transports
        : dev.cascade.router.escalation.LargeModelTransports.Options.from(config);
    List<EscalationTiers.Tier> tiers = new java.util.ArrayList<>();
    try {
      for (EscalationTiers.Target t : targets) {
        // The target's protocol (cascade://, kserve://, openai://) under the same deadlines, retries and breaker.
        tiers.add(new EscalationTiers.Tier(tiers.size() + 1, t.name(), EscalationClient.connect(
            dev.cascade.router.escalation.LargeTarget.parse(t.target()),
            EscalationSettings.from(config).withDraftTokenizer(draftTokenizer),
            options, t.name()),
            costs.get(tiers.size())));
      }
    } catch (RuntimeException e) {
      tiers.forEach(t -> t.client().close());
      throw e;
    }
    return new EscalationTiers(tiers, new dev.cascade.router.policy.TierThresholds(TargetRateController.DEFAULT_WINDOW,
        TargetRateController.DEFAULT_MIN_OBSERVATIONS, config.get(CascadeConfig.POLICY_TARGET_EARLY_DEFER_MARGIN)),
        config.get(CascadeConfig.ESCALATION_EARLY_DEFER_LABEL_SHARE));
  }

  /**
   * Refuses per-token costs that fall along the tiers (tier 1 first): the list is smallest first.
   * Costs that are not one per tier are left to {@link #connectTiers}, which says so.
   *
   * @throws dev.cascade.router.config.ConfigException naming {@code cost.tiers.per-token} and both tiers
   */
  public static void checkCostOrder(List<EscalationTiers.Target> targets, List<Double> costs) {
    if (targets.size() != costs.size()) {
      return;
    }
    java.util.Optional<String> falling = dev.cascade.router.escalation.TierChecks.costOrderProblem(
        targets.stream().map(EscalationTiers.Target::name).toList(), costs);
    if (falling.isPresent()) {
      throw new dev.cascade.router.config.ConfigException(CascadeConfig.COST_TIERS.name(), "has " + falling.get());
    }
  }

  /**
   * Refuses a {@code large.parameters} that does not give one count per model after the small one
   * ({@code tiers}, or the one at {@code large.target} when it is empty), or whose counts fall along
   * the tiers (counts of 0, not given, aside): the list is smallest first. Empty is accepted.
   *
   * @throws dev.cascade.router.config.ConfigException naming {@code large.parameters}
   */
  public static void checkParameters(List<EscalationTiers.Target> targets, List<Long> parameters) {
    if (parameters.isEmpty()) {
      return;
    }
    List<String> names = targets.isEmpty() ? List.of(RoutingRecords.LARGE)
        : targets.stream().map(EscalationTiers.Target::name).toList();
    if (parameters.size() != names.size()) {
      throw new dev.cascade.router.config.ConfigException(CascadeConfig.LARGE_PARAMETERS.name(), "has "
          + parameters.size() + " counts, but the cascade has " + names.size() + (names.size() == 1 ? " model" : " models")
          + " after the small one ("
          + (targets.isEmpty() ? CascadeConfig.LARGE_TARGET.name() : CascadeConfig.TIERS.name()) + "): give one per"
          + " model, in order, 0 for one not given");
    }
    java.util.Optional<String> falling = dev.cascade.router.escalation.TierChecks.parameterOrderProblem(names,
        parameters);
    if (falling.isPresent()) {
      throw new dev.cascade.router.config.ConfigException(CascadeConfig.LARGE_PARAMETERS.name(), "has "
          + falling.get());
    }
  }

  /** Kafka client settings shared by everything the router creates: brokers plus {@code kafka.*} overrides. */
  public static Map<String, Object> clientProperties(CascadeConfig config) {
    Map<String, Object> props = new HashMap<>(config.kafkaOverrides());
    props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, config.get(CascadeConfig.BOOTSTRAP_SERVERS));
    return props;
  }

  /**
   * Creates missing topics, builds the topology and starts it; returns once the instance is
   * RUNNING.
   *
   * @param smallModel the in-process small model (shared by this instance's tasks)
   * @param largeTarget the large model: host:port or a URI (cascade://, kserve://, openai://; see LargeTarget)
   */
  public static CascadeRouter start(CascadeConfig config, TextGenerator smallModel, String largeTarget) {
    return start(config, smallModel, largeTarget, LearnedRules.bundled());
  }

  /**
   * As {@link #start(CascadeConfig, TextGenerator, String)}, with the closed-form rules a policy may
   * name; the learned ones come from the shipped versions and the rules topic, for the small model
   * {@code small.model} names (its file's SHA-256).
   */
  public static CascadeRouter start(CascadeConfig config, TextGenerator smallModel, String largeTarget,
      DeferralRules registry) {
    return start(config, smallModel, largeTarget, registry, null);
  }

  /**
   * As above, reaching the models after the small one over {@code transports} ({@code serve}'s,
   * made from the {@code large.tls.*} stores it read once at start; null: from the configuration).
   */
  public static CascadeRouter start(CascadeConfig config, TextGenerator smallModel, String largeTarget,
      DeferralRules registry, dev.cascade.router.escalation.LargeModelTransports.Options transports) {
    RuleResolver withEmbedding = new RuleResolver(registry,
        RuleCatalog.withBundled(ModelFingerprint.of(config.get(CascadeConfig.SMALL_MODEL))));
    RuleResolver rules = smallModel.info().hasEmbedding() ? withEmbedding
        : withEmbedding.withoutEmbedding(smallModel.info().name());
    String bootstrap = config.get(CascadeConfig.BOOTSTRAP_SERVERS);
    if (bootstrap.isBlank()) {
      throw new dev.cascade.router.config.ConfigException(CascadeConfig.BOOTSTRAP_SERVERS.name(),
          "is empty: the router needs Kafka brokers (set it, or use 'cascade demo' for the embedded one)");
    }
    DeferralPolicy defaultPolicy = configuredPolicy(config);
    for (String pending : checkConfiguredRules(config, rules)) {
      LOG.warn("configured policy: {}; the fallback rule scores until the rules topic holds it", pending);
    }
    if (defaultPolicy.pregenSkip() != null) {
      try {
        rules.resolveSkip(defaultPolicy.pregenSkip().rule());
      } catch (RuleResolver.RuleUnavailableException e) {
        // A skip rule comes from the rules topic, which is read after start-up: until it is there,
        // every request is decoded (counted as cascade_pregen_skip_failures_total).
        LOG.warn("configured pre-generation skip: {}; requests are decoded until the rules topic holds it",
            e.getMessage());
      }
    }
    checkTiers(config, largeTarget); // before Kafka: a start it refuses leaves nothing behind
    TopicProvisioner.ensure(clientProperties(config), TopicProvisioner.specs(config.topics(),
        config.get(CascadeConfig.TOPIC_PARTITIONS), config.get(CascadeConfig.TOPIC_REPLICATION).shortValue()));
    // escalation.speculative: a tier is sent the latest answer as a draft where it shares the small model's tokenizer.
    EscalationTiers tiers = connectTiers(config, largeTarget,
        config.get(CascadeConfig.ESCALATION_SPECULATIVE) ? smallModel.tokenizerSha256().orElse("") : "", transports);
    EscalationClient escalations = tiers.tier(1).client();
    // Ask every tier's limits now, without waiting, so the doors can check prompts against them
    // from the first request on (RequestValidator).
    tiers.all().forEach(t -> t.client().serverInfo());
    RouterMetrics metrics = config.get(CascadeConfig.METRICS_ENABLED)
        ? RouterMetrics.enabled(defaultPolicy.threshold(), defaultPolicy.version(),
            tiers.all().stream().map(EscalationTiers.Tier::name).toList()) : RouterMetrics.disabled();
    // The large-only cost of a request is the last model's.
    RoutingRecords records = new RoutingRecords(new CostModel(config.get(CascadeConfig.COST_SMALL),
        tiers.tier(tiers.count()).costPerToken()), CostModel::promptTokens, metrics.observer());
    int defaultMax = config.get(CascadeConfig.MAX_NEW_TOKENS);
    TargetRateController targetRate = new TargetRateController(TargetRateController.DEFAULT_WINDOW,
        TargetRateController.DEFAULT_MIN_OBSERVATIONS, config.get(CascadeConfig.POLICY_TARGET_EARLY_DEFER_MARGIN));
    // Read beside the rest of the start (it takes about a second); joined once the router runs.
    CompletableFuture<Void> seeding = config.get(CascadeConfig.POLICY_WARM_START)
        ? CompletableFuture.runAsync(() -> warmStart(targetRate, tiers.count() > 1 ? tiers.thresholds() : null,
            config), r -> {
          Thread t = new Thread(r, "target-rate-warm-start");
          t.setDaemon(true);
          t.start();
        }) : CompletableFuture.completedFuture(null);
    ResponseCache cache = ResponseCache.create(config.get(CascadeConfig.CACHE_MAX_ENTRIES),
        Duration.ofMillis(config.get(CascadeConfig.CACHE_TTL_MS)));
    // One thread per small-model batch in flight: at most small.batch.in-flight per task.
    ExecutorService smallModelWorkers = Executors.newCachedThreadPool(new ThreadFactory() {
      private final AtomicInteger count = new AtomicInteger();

      @Override
      public Thread newThread(Runnable r) {
        Thread t = new Thread(r, "small-model-batch-" + count.incrementAndGet());
        t.setDaemon(true);
        return t;
      }
    });
    // One estimate of the small model's generation time for all tasks: they share the model.
    GenerationTimes generationTimes = new GenerationTimes();
    CascadeTopology.Parts parts = new CascadeTopology.Parts(config.topics(),
        () -> new SmallModelRouter(smallModel, rules, targetRate, records, defaultMax, Clock.systemUTC(), cache,
            config.get(CascadeConfig.EARLY_DEFER), config.get(CascadeConfig.EARLY_DEFER_EVERY),
            dev.cascade.router.routing.ExpiredRequests.of(config), generationTimes,
            config.get(CascadeConfig.EARLY_DEFER_LABEL_SHARE)),
        new RequestValidator(smallModel, tiers), rules, defaultPolicy,
        config.get(CascadeConfig.BATCH_SIZE), Duration.ofMillis(config.get(CascadeConfig.BATCH_WAIT_MS)),
        escalations, records, config.get(CascadeConfig.ESCALATION_MAX_IN_FLIGHT), defaultMax, smallModelWorkers,
        Duration.ofMillis(config.get(CascadeConfig.BATCH_TIMEOUT_MS)), tiers, config.get(CascadeConfig.BATCH_IN_FLIGHT));
    // Responses to a front door with a reply topic of its own go there; the rest to topic.responses.
    // A reply topic unwritten from here for the reapers' grace may be gone: asked about before the next write.
    ReplyTopics replies = ReplyTopics.withAdmin(config.topics().responses(), config.replyTopicPrefix(),
        java.util.Set.copyOf(config.topics().all()), clientProperties(config))
        .reCheckingIdleAfter(Duration.ofMillis(config.get(CascadeConfig.REPLY_TOPIC_REAPER_GRACE_MS)));
    Topology topology = CascadeTopology.build(parts, replies);

    StateDirectory stateDir = StateDirectory.of(config.get(CascadeConfig.STATE_DIR), "cascade-streams-");
    Properties props = streamsProperties(config, stateDir.path());
    PollPacer pacer = pollPacer(config, props);
    props.put(PollPacer.CONFIG_KEY, pacer);
    props.put(dev.cascade.router.topology.StreamErrorHandlers.REPLY_TOPICS, replies);
    KafkaStreams streams = new KafkaStreams(topology, props, new PacedClientSupplier(pacer));
    StreamsFate fate = new StreamsFate();
    streams.setStateListener(fate);
    CascadeRouter router = new CascadeRouter(streams, tiers, stateDir, topology,
        cache, rules, metrics, smallModelWorkers, replies, fate);
    try {
      metrics.serve(cache, smallModel, tiers, streams, config.bindAddress(CascadeConfig.METRICS_HOST),
          config.get(CascadeConfig.METRICS_PORT));
    } catch (RuntimeException e) {
      router.close();
      throw e;
    }
    // A stream thread is replaced; the global thread cannot be, and its death closes the instance
    // to ERROR, which unplannedStop() reports (serve then exits 3).
    streams.setUncaughtExceptionHandler(e -> {
      LOG.error("stream thread failed; replacing it (if it is the global thread, Kafka Streams stops instead)", e);
      return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.REPLACE_THREAD;
    });
    streams.start();
    StreamsStartup.awaitRunning(streams, Duration.ofMillis(config.get(CascadeConfig.STREAMS_STARTUP_TIMEOUT_MS)),
        "router", router::close);
    try {
      seeding.get(15, java.util.concurrent.TimeUnit.SECONDS);
    } catch (java.util.concurrent.TimeoutException | java.util.concurrent.ExecutionException e) {
      LOG.warn("the target-rate warm start did not finish with the start ({}); it seeds the controller when it does",
          e.toString());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    return router;
  }

  /**
   * Seeds the target-rate controller (and the middle tiers', {@code middleTiers}; null for a cascade
   * of two) with the scores of the newest outcomes, so that an instance added to a running
   * deployment, or restarted, holds a target rate from its first request. A failure only costs the
   * warm-up it would have saved.
   */
  private static void warmStart(TargetRateController targetRate,
      dev.cascade.router.policy.TierThresholds middleTiers, CascadeConfig config) {
    try {
      TargetRateWarmStart.Seeded seeded = TargetRateWarmStart.seed(targetRate, middleTiers, clientProperties(config),
          config.topics().outcomes(), TargetRateController.DEFAULT_WINDOW);
      if (!seeded.tierScores().isEmpty()) {
        LOG.info("middle tiers' target-rate windows seeded from the newest outcomes with scores per tier and rule {}",
            seeded.tierScores());
      }
      if (seeded.scores() > 0) {
        LOG.info("target-rate controller seeded from the newest outcomes with scores per rule key {} ({} read in {}"
            + " ms)", seeded.scoresByKey(), seeded.outcomesRead(), seeded.millis());
      } else if (seeded.outcomesRead() > 0) {
        LOG.info("no scored outcomes on {} to seed the target-rate controller with ({} read in {} ms); it warms up"
            + " on this instance's own requests", config.topics().outcomes(), seeded.outcomesRead(), seeded.millis());
      } else {
        LOG.debug("no outcomes on {} yet: the target-rate controller warms up on this instance's own requests",
            config.topics().outcomes());
      }
    } catch (RuntimeException e) {
      LOG.warn("could not seed the target-rate controller from {}: {}; it warms up on this instance's own requests",
          config.topics().outcomes(), e.toString());
    }
  }

  /** How long after its last work a router counts as idle, unless its commit interval is longer. */
  static final Duration IDLE_AFTER = Duration.ofSeconds(1);

  /**
   * The stream threads' poll pacer: polls block up to {@code streams.idle-poll-ms} once the router
   * has been idle for a second ({@link #IDLE_AFTER}), and {@code poll.ms} until then. The second is
   * longer than the commit interval (the commit that makes the last work's answers visible is not
   * held back) and than the gaps of a light but steady load: at 5 requests a second a quiet of one
   * commit interval let the stream thread sleep between requests, and the median latency rose by
   * about 10 ms (README, "Configuration"); with it, only a router idle for a second sleeps.
   */
  static PollPacer pollPacer(CascadeConfig config, Properties props) {
    long pollMs = Long.parseLong(props.get(StreamsConfig.POLL_MS_CONFIG).toString());
    long commitMs = Long.parseLong(props.get(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG).toString());
    return new PollPacer(Duration.ofMillis(config.get(CascadeConfig.STREAMS_IDLE_POLL_MS)),
        Duration.ofMillis(Math.max(IDLE_AFTER.toMillis(), commitMs + 2 * pollMs)));
  }

  /** The router's exactly-once commit interval unless {@code kafka.commit.interval.ms} sets one. */
  static final int DEFAULT_COMMIT_INTERVAL_MS = 100;

  /**
   * The Kafka Streams settings: brokers and {@code kafka.*} overrides, then what the router needs
   * (application id, exactly-once, state directory, threads), then the router's tuning defaults,
   * which an override of the same setting wins over.
   */
  static Properties streamsProperties(CascadeConfig config, Path stateDir) {
    Properties props = new Properties();
    props.putAll(clientProperties(config));
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, config.get(CascadeConfig.APPLICATION_ID));
    props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
    props.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, config.get(CascadeConfig.TOPIC_REPLICATION));
    props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, config.get(CascadeConfig.STREAM_THREADS));
    props.put(StreamsConfig.DEFAULT_DESERIALIZATION_EXCEPTION_HANDLER_CLASS_CONFIG, LogAndContinueExceptionHandler.class);
    // Under exactly-once a read_committed reader (the front doors' reply readers, the escalation
    // step reading the escalations topic) sees an answer only when its transaction commits. 20 ms
    // halved the p50 at 40 requests/s but raised the p95 and p99 there (README), so Kafka Streams'
    // 100 ms stays the default and kafka.commit.interval.ms trades one for the other.
    props.putIfAbsent(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, DEFAULT_COMMIT_INTERVAL_MS);
    // Right after a commit the transaction coordinator is still writing its markers, so the next
    // transaction's first AddPartitionsToTxn / AddOffsetsToTxn is often refused with
    // CONCURRENT_TRANSACTIONS and retried after retry.backoff.ms (100 ms by default), the stream
    // thread blocked meanwhile. At a 20 ms commit interval that backoff doubled the p95 at 40
    // requests/s; 5 ms (growing to retry.backoff.max.ms on repeated failures) removes most of it.
    putUnlessSet(props, ProducerConfig.RETRY_BACKOFF_MS_CONFIG,
        StreamsConfig.producerPrefix(ProducerConfig.RETRY_BACKOFF_MS_CONFIG), 5L);
    String maxPoll = ConsumerConfig.MAX_POLL_RECORDS_CONFIG;
    if (!props.containsKey(maxPoll)) {
      props.putIfAbsent(StreamsConfig.consumerPrefix(maxPoll), 500);
    }
    if (!props.containsKey(ProducerConfig.LINGER_MS_CONFIG)) {
      props.putIfAbsent(StreamsConfig.producerPrefix(ProducerConfig.LINGER_MS_CONFIG), 5);
    }
    putFastFailover(props);
    // Nothing may send a stream thread into a replacement loop: an output the broker refuses as too
    // large, and the input of a processor that throws, go to the dead-letter topic instead.
    props.putIfAbsent(StreamsConfig.PRODUCTION_EXCEPTION_HANDLER_CLASS_CONFIG,
        dev.cascade.router.topology.StreamErrorHandlers.Production.class);
    props.putIfAbsent(StreamsConfig.PROCESSING_EXCEPTION_HANDLER_CLASS_CONFIG,
        dev.cascade.router.topology.StreamErrorHandlers.Processing.class);
    props.put(dev.cascade.router.topology.StreamErrorHandlers.DEAD_LETTERS_TOPIC, config.topics().deadLetters());
    // Finished small-model batches and large-model calls are forwarded from wall-clock punctuators,
    // which run between polls: with the default 100 ms, an idle input would hold answers back.
    props.putIfAbsent(StreamsConfig.POLL_MS_CONFIG, 5L);
    return props;
  }

  /**
   * Fast failover, for every Kafka Streams application of the project (the router's and the
   * learner's): a killed instance's partitions move to the survivors, or to its own restarted
   * process, once the group coordinator misses its heartbeats for session.timeout.ms (default 45 s;
   * 6 s is the broker's default minimum), and its open transaction blocks read_committed readers of
   * what it wrote until transaction.timeout.ms aborts it (Streams' default 10 s under exactly-once).
   * Measured with loadtest's FaultHarness (RELIABILITY.md); each may be set with kafka.* keys, which
   * {@code props} already holds.
   */
  public static void putFastFailover(Properties props) {
    putUnlessSet(props, ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, StreamsConfig.consumerPrefix(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG), 6_000);
    putUnlessSet(props, ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, StreamsConfig.consumerPrefix(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG), 1_500);
    putUnlessSet(props, ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, StreamsConfig.producerPrefix(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG), 5_000);
  }

  private static void putUnlessSet(Properties props, String plain, String prefixed, Object value) {
    if (!props.containsKey(plain) && !props.containsKey(prefixed)) {
      props.put(prefixed, value);
    }
  }

  public KafkaStreams streams() {
    return streams;
  }

  /** The topology's description (node, store and sink names). */
  public String describe() {
    return topology.describe().toString();
  }

  /** The client of tier 1, the model the small one defers to. */
  public EscalationClient escalations() {
    return tiers.tier(1).client();
  }

  /** The models after the small one. */
  public EscalationTiers tiers() {
    return tiers;
  }

  /** The cache of small-model generations shared by this instance's tasks; {@code stats()} for metrics. */
  public ResponseCache responseCache() {
    return cache;
  }

  /** This instance's metrics (its registry and endpoint are empty when {@code metrics.enabled} is false). */
  public RouterMetrics metrics() {
    return metrics;
  }

  /** The rules a policy may name on this instance (the catalog follows the rules topic). */
  public RuleResolver rules() {
    return rules;
  }

  /**
   * Completes, with the state it went to, when this instance's Kafka Streams stops without
   * {@link #close()} having asked it to (e.g. ERROR after the global thread died); see {@link StreamsFate}.
   */
  public java.util.concurrent.CompletableFuture<KafkaStreams.State> unplannedStop() {
    return fate.unplannedStop();
  }

  /** How long {@link #close()} waits for the stream threads' last commit and for leaving the group. */
  public static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(30);

  @Override
  public void close() {
    close(CLOSE_TIMEOUT);
  }

  /**
   * Closes, waiting at most {@code timeout} for the stream threads' last commit and for leaving the
   * group: shorter where the cluster is known to be gone, as neither can then be done. Exactly-once
   * loses nothing either way: what was not committed is aborted and done again by the next owner.
   */
  public void close(Duration timeout) {
    fate.closing();
    // Leave the consumer group now, so another instance takes over this one's partitions (and
    // restores its pending batches and escalations) at once, not after the session timeout.
    streams.close(org.apache.kafka.streams.CloseOptions.groupMembershipOperation(
        org.apache.kafka.streams.CloseOptions.GroupMembershipOperation.LEAVE_GROUP).withTimeout(timeout));
    smallModelWorkers.shutdownNow();
    replies.close();
    tiers.close();
    metrics.close();
    stateDir.removeIfOwned();

  }
}
