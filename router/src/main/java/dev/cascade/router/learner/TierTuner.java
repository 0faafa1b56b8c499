package dev.cascade.router.learner;

import dev.cascade.router.CascadeRouter;
import dev.cascade.router.api.PolicyTopic;
import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.learning.CascadeAnswers;
import dev.cascade.router.learning.FeedbackJoin;
import dev.cascade.router.learning.OutcomeReport;
import dev.cascade.router.learning.TopicSnapshot;
import dev.cascade.router.learning.TierOutcomeReport;
import dev.cascade.router.learning.TierPhases;
import dev.cascade.router.learning.TierTuning;
import dev.cascade.router.policy.DeferralPolicy;
import dev.cascade.router.policy.TierPolicy;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The thresholds' half of the online loop ({@code learn.tier-answer-value} for the middle tiers,
 * {@code learn.small-answer-value} for the small model): every {@code learn.tier-every-ms} it reads
 * the newest outcomes (and the feedback) from the topics, and for each middle tier that explores
 * ({@code policy.tier-exploration-rates}), and the small model when it explores ({@code
 * policy.exploration-rate}), chooses the threshold with the highest value per request for the
 * operator's price of a right answer ({@link TierTuning}). Where the choice beats the threshold in
 * force on held-out outcomes (cross-fitted: each outcome checks the choice made without its fold)
 * it writes a policy with the new thresholds (under a target rate, the share the threshold passes
 * on) to the policy topic, as the {@code learner}; every other setting of the policy in force is
 * kept. The small model's rule stays the trainer's ({@link TrainerProcessor}), whose rules keep the
 * share the threshold in force passes on.
 *
 * <p>It keeps no state: each round decides from what the topics hold, so a restart (after {@code
 * kill -9} too) goes on where the topics are. A policy that changed while a round read the outcomes
 * (an operator's, or the learner's rule) is not overwritten: the round's decision is dropped and
 * the next round decides on the new policy. That includes a policy the trainer of this process
 * has written but not yet committed ({@link PolicyWrites}).
 */
public final class TierTuner implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(TierTuner.class);
  private static final Duration PUBLISH_TIMEOUT = Duration.ofSeconds(30);

  /**
   * What the tuner is told.
   *
   * @param value what a right answer is worth, in cost units
   * @param every how often a round runs
   * @param newest about how many of the newest outcomes a round reads
   * @param holdoutFraction the share of outcomes each fold of the cross-fitted check holds out
   * @param minItems fewest usable outcomes of a tier to decide on
   * @param minHoldout fewest usable outcomes to check a choice on
   * @param maxWeight the largest weight of an outcome
   * @param rules the rules a tier may be given besides the one in force ({@code learn.tier-rules}, as the
   *     command line spells them); empty: the rule in force only, its threshold retuned
   * @param halfLife a tier's usable outcomes weigh half for every this many newer ones ({@code
   *     learn.tier-half-life}); 0: every outcome alike
   * @param smallValue what a right answer is worth when the small model's threshold is retuned ({@code
   *     learn.small-answer-value}); 0: it is not
   * @param smallMaxPassOn the largest share the small model's rule may pass on at a threshold chosen
   *     ({@code learn.small-max-pass-on}); 1: no cap
   * @param tierMaxPassOn the same for each middle tier, of the requests reaching it ({@code
   *     learn.tier-max-pass-on}); 1: no cap
   */
  public record Settings(double value, Duration every, int newest, double holdoutFraction, int minItems,
      int minHoldout, double maxWeight, List<String> rules, double halfLife, double smallValue, double smallMaxPassOn,
      double tierMaxPassOn) {

    public Settings {
      rules = List.copyOf(rules);
      for (double cap : new double[] {smallMaxPassOn, tierMaxPassOn}) {
        if (!(cap >= 0 && cap <= 1)) {
          throw new IllegalArgumentException("a pass-on cap must be in [0, 1], was " + cap);
        }
      }
    }

    /** Settings that retune the threshold of the rule in force only, every outcome alike, no cap. */
    public Settings(double value, Duration every, int newest, double holdoutFraction, int minItems, int minHoldout,
        double maxWeight) {
      this(value, every, newest, holdoutFraction, minItems, minHoldout, maxWeight, List.of(), 0, 0, 1, 1);
    }

    /** These settings with a right answer worth {@code answerValue}. */
    public Settings withValue(double answerValue) {
      return new Settings(answerValue, every, newest, holdoutFraction, minItems, minHoldout, maxWeight, rules,
          halfLife, smallValue, smallMaxPassOn, tierMaxPassOn);
    }

    /** These settings offering {@code ruleNames} besides the rule in force. */
    public Settings withRules(List<String> ruleNames) {
      return new Settings(value, every, newest, holdoutFraction, minItems, minHoldout, maxWeight, ruleNames,
          halfLife, smallValue, smallMaxPassOn, tierMaxPassOn);
    }

    /** These settings with outcomes weighing half for every {@code outcomes} newer ones (0: alike). */
    public Settings withHalfLife(double outcomes) {
      return new Settings(value, every, newest, holdoutFraction, minItems, minHoldout, maxWeight, rules, outcomes,
          smallValue, smallMaxPassOn, tierMaxPassOn);
    }

    /** These settings retuning the small model's threshold too, for a right answer worth {@code answerValue}. */
    public Settings withSmallValue(double answerValue) {
      return new Settings(value, every, newest, holdoutFraction, minItems, minHoldout, maxWeight, rules, halfLife,
          answerValue, smallMaxPassOn, tierMaxPassOn);
    }

    /** These settings with the small model's and each middle tier's pass-on caps (1: none). */
    public Settings withMaxPassOn(double small, double tier) {
      return new Settings(value, every, newest, holdoutFraction, minItems, minHoldout, maxWeight, rules, halfLife,
          smallValue, small, tier);
    }

    /**
     * The {@code learn.*} keys' settings. With {@code learn.tier-rules} set, the configured tiers'
     * rules ({@code policy.tier-rules}) are weighed too, so that a tier given another rule can be
     * given its configured one back.
     */
    public static Settings from(CascadeConfig config) {
      List<String> rules = new ArrayList<>(config.get(CascadeConfig.LEARN_TIER_RULES));
      if (!rules.isEmpty()) {
        config.get(CascadeConfig.POLICY_TIER_RULES).stream().map(TierPolicy::ruleName)
            .filter(r -> !rules.contains(r)).forEach(rules::add);
      }
      return new Settings(config.get(CascadeConfig.LEARN_TIER_ANSWER_VALUE),
          Duration.ofMillis(config.get(CascadeConfig.LEARN_TIER_EVERY_MS)), config.get(CascadeConfig.LEARN_TIER_OUTCOMES),
          config.get(CascadeConfig.LEARN_HOLDOUT), config.get(CascadeConfig.LEARN_MIN_LABELS),
          config.get(CascadeConfig.LEARN_MIN_HOLDOUT), config.get(CascadeConfig.LEARN_MAX_WEIGHT), rules,
          config.get(CascadeConfig.LEARN_TIER_HALF_LIFE), config.get(CascadeConfig.LEARN_SMALL_ANSWER_VALUE),
          config.get(CascadeConfig.LEARN_SMALL_MAX_PASS_ON), config.get(CascadeConfig.LEARN_TIER_MAX_PASS_ON));
    }
  }

  /**
   * One round's result.
   *
   * @param policy the policy to publish, or null when no tier was retuned
   * @param decisions one per middle tier, in tier order; null for a tier that does not explore
   * @param small the small model's decision; null when it was not asked for
   */
  record Round(DeferralPolicy policy, List<TierTuning.Decision> decisions, TierTuning.Decision small) {}

  private final Settings settings;
  private final Map<String, Object> client;
  private final String outcomesTopic;
  private final String feedbackTopic;
  private final PolicyTopic policies;
  private final LearnerMetrics metrics;
  private final java.util.function.BooleanSupplier active;
  /** Shared with the trainer of this learner process, if any: neither writes over the other's policy unseen. */
  private final PolicyWrites writes;
  /** The rule the learner trains, whose pins hold against the small model's retuning; null: pins do not hold. */
  private final String pinRule;
  private final Thread thread;
  private final List<DeferralPolicy> written = new java.util.concurrent.CopyOnWriteArrayList<>();
  /** The standing reasons already logged at INFO (no middle tier, a tier that does not explore): DEBUG after. */
  private final java.util.Set<String> told = new java.util.HashSet<>();
  private volatile boolean running = true;
  /**
   * The policy version and the outcomes' and feedback's end offsets the last round decided on; a
   * round that finds them unchanged is not run (its decision could not differ).
   */
  private String lastInputs;
  /** Asks those end offsets each round over one consumer; opened by the first round, closed as the loop ends. */
  private TopicSnapshot.EndOffsets ends;
  /** What the loop waits on between rounds; {@link #close()} notifies it. */
  private final Object wake = new Object();

  private TierTuner(Settings settings, Map<String, Object> client, String outcomesTopic, String feedbackTopic,
      PolicyTopic policies, LearnerMetrics metrics, java.util.function.BooleanSupplier active, PolicyWrites writes,
      String pinRule) {
    this.writes = writes;
    this.settings = settings;
    this.pinRule = pinRule;
    this.client = client;
    this.outcomesTopic = outcomesTopic;
    this.feedbackTopic = feedbackTopic;
    this.policies = policies;
    this.metrics = metrics;
    this.active = active;
    this.thread = new Thread(this::loop, "learner-tier-tuner");
    this.thread.setDaemon(true);
  }

  /** Starts the tuner when {@code learn.tier-answer-value} or {@code learn.small-answer-value} is above 0; null otherwise. */
  public static TierTuner startIfAsked(CascadeConfig config, LearnerMetrics metrics) {
    return startIfAsked(config, metrics, () -> true, new PolicyWrites());
  }

  /**
   * As above, running its rounds only while {@code active} says so: of two learners with one
   * application id, the one the trainer's task is on, so that one policy is written, not two; and
   * writing through {@code writes}, which the trainer of this process writes through too.
   */
  static TierTuner startIfAsked(CascadeConfig config, LearnerMetrics metrics, java.util.function.BooleanSupplier active,
      PolicyWrites writes) {
    Settings settings = Settings.from(config);
    if (!(settings.value() > 0) && !(settings.smallValue() > 0)) {
      return null;
    }
    Map<String, Object> client = CascadeRouter.clientProperties(config);
    PolicyTopic policies = PolicyTopic.start(client, config.topics().policy(), CascadeRouter.configuredPolicy(config));
    TierTuner tuner = new TierTuner(settings, client, config.topics().outcomes(), config.topics().feedback(), policies,
        metrics, active, writes,
        config.get(CascadeConfig.LEARN_RESPECT_PINS) ? config.get(CascadeConfig.LEARN_RULE) : null);
    tuner.thread.start();
    List<String> what = new ArrayList<>();
    if (settings.smallValue() > 0) {
      what.add("the small model's threshold for " + settings.smallValue() + " cost units a right answer");
    }
    if (settings.value() > 0) {
      what.add("the middle tiers that explore for " + settings.value() + " cost units a right answer");
    }
    LOG.info("tier tuner: every {} s, {} retuned from about the newest {} outcomes", settings.every().toSeconds(),
        String.join(", and ", what), settings.newest());
    return tuner;
  }

  private void loop() {
    try {
      rounds();
    } finally {
      if (ends != null) {
        try {
          ends.close();
        } catch (RuntimeException e) {
          LOG.debug("tier tuner: closing its end-offsets consumer: {}", e.toString()); // interrupted by close()
        }
      }
    }
  }

  private void rounds() {
    while (running) {
      synchronized (wake) {
        try {
          // close() wakes it: a round in progress is left to finish rather than interrupted, since
          // an interrupted Kafka client fails loudly while it closes.
          if (running) {
            wake.wait(settings.every().toMillis());
          }
        } catch (InterruptedException e) {
          return;
        }
      }
      if (!running) {
        return;
      }
      if (!active.getAsBoolean()) {
        continue; // another learner with this id holds the trainer, and tunes
      }
      try {
        runOnce();
      } catch (RuntimeException e) {
        if (running) {
          LOG.warn("tier tuner: round failed ({}); trying again in {} s", e.toString(), settings.every().toSeconds());
        }
      }
    }
  }

  /** Reads the topics, decides, and publishes a policy when a tier (or the small model) was retuned. */
  void runOnce() {
    DeferralPolicy current = policies.current();
    boolean tiers = settings.value() > 0 && !current.tierPolicies().isEmpty();
    if (settings.value() > 0 && current.tierPolicies().isEmpty()) {
      once("tier tuner: the policy in force (v" + current.version() + ") has no middle tier; no middle tier to tune");
    }
    boolean small = settings.smallValue() > 0;
    String pin = small && pinRule != null ? PinHold.reason(current, pinRule) : null;
    if (pin != null) {
      small = false;
      metrics.tierTuning(0, TierTuning.Result.SKIPPED.label(), Double.NaN);
      once("tier tuner: the small model's threshold not tuned: " + pin + " (learn.respect-pins)");
    }
    if (!tiers && !small) {
      return;
    }
    // Nothing new to read and the same policy: the round would decide as the last one did.
    if (ends == null) {
      ends = new TopicSnapshot.EndOffsets(client);
    }
    String inputs = "v" + current.version() + " outcomes " + ends.of(outcomesTopic) + " feedback "
        + ends.of(feedbackTopic);
    if (inputs.equals(lastInputs)) {
      LOG.debug("tier tuner: no new outcome or feedback and the same policy since the last round ({}); nothing to"
          + " decide", inputs);
      return;
    }
    FeedbackJoin feedback = FeedbackJoin.read(client, feedbackTopic, CascadeAnswers.Progress.NONE, settings.newest());
    List<TierOutcomeReport.Collector> collectors = new ArrayList<>();
    for (int tier = 1; tiers && tier <= current.tierPolicies().size(); tier++) {
      collectors.add(new TierOutcomeReport.Collector(tier, feedback::on));
    }
    OutcomeReport.Collector smallCollector = small ? new OutcomeReport.Collector(feedback) : null;
    // What each policy version's requests got, by tier (0: the small model), for the log.
    Map<Integer, TierPhases.Accumulator> phases = new java.util.TreeMap<>();
    if (small) {
      phases.put(0, TierPhases.accumulator(0, feedback::on));
    }
    for (int tier = 1; tiers && tier <= current.tierPolicies().size(); tier++) {
      phases.put(tier, TierPhases.accumulator(tier, feedback::on));
    }
    TopicSnapshot.readNewest(client, outcomesTopic, o -> {
      collectors.forEach(c -> c.accept(o));
      if (smallCollector != null) {
        smallCollector.accept(o);
      }
      phases.values().forEach(p -> p.accept(o));
    }, settings.newest());
    phases.forEach((tier, p) -> LOG.info("tier tuner: {} by policy version, over the newest outcomes: {}",
        tier == 0 ? "small model" : "tier " + tier, TierPhases.summary(p.phases(),
            tier == 0 ? settings.smallValue() : settings.value())));
    Round round = decide(current, collectors, smallCollector, settings, System.currentTimeMillis(),
        policies.highestVersion() + 1);
    lastInputs = inputs;
    if (round.small() != null) {
      TierTuning.Decision d = round.small();
      metrics.tierTuning(0, d.result().label(), d.result() == TierTuning.Result.SKIPPED ? Double.NaN : d.gain());
      LOG.info("tier tuner: small model {}: {}", d.result().label().toUpperCase(Locale.ROOT), d.reason());
    }
    for (int i = 0; i < round.decisions().size(); i++) {
      TierTuning.Decision d = round.decisions().get(i);
      int tier = i + 1;
      if (d == null) {
        metrics.tierTuning(tier, TierTuning.Result.SKIPPED.label(), Double.NaN);
        once("tier tuner: tier " + tier + " not tuned: it does not explore (policy.tier-exploration-rates, or `cascade"
            + " policy set --tier " + tier + " --exploration-rate 0.1`): where its rule serves an answer the next tier's"
            + " is never seen");
        continue;
      }
      metrics.tierTuning(tier, d.result().label(),
          d.result() == TierTuning.Result.SKIPPED ? Double.NaN : d.gain());
      LOG.info("tier tuner: tier {} {}: {}", tier, d.result().label().toUpperCase(Locale.ROOT), d.reason());
    }
    if (round.policy() == null) {
      return;
    }
    if (!running) {
      return; // closed during the round: its decision is left to the next start, which reads the topics again
    }
    String refused = writes.tunerWrites(current, policies.current(), round.policy(),
        p -> policies.publish(p, PUBLISH_TIMEOUT));
    if (refused != null) {
      metrics.tierPolicyDropped();
      LOG.info("tier tuner: {}; policy v{} not written, the next round decides again", refused,
          round.policy().version());
      return;
    }
    written.add(round.policy());
    LOG.info("tier tuner: policy v{} written: {}", round.policy().version(), round.policy().reason());
  }

  /** Logs a standing reason at INFO the first time, at DEBUG every round after. */
  private void once(String line) {
    if (told.add(line)) {
      LOG.info(line);
    } else {
      LOG.debug(line);
    }
  }

  /**
   * Decides every middle tier of {@code current} from the collected outcomes.
   *
   * @param collectors one per middle tier, in tier order
   * @param nextVersion the version a policy written now gets
   */
  static Round decide(DeferralPolicy current, List<TierOutcomeReport.Collector> collectors, Settings settings,
      long nowMs, long nextVersion) {
    return decide(current, collectors, null, settings, nowMs, nextVersion);
  }

  /**
   * Decides every middle tier of {@code current} whose collector is given, and the small model's
   * threshold when {@code small} is given (for {@link Settings#smallValue()} a right answer).
   *
   * @param collectors one per middle tier, in tier order; empty: the middle tiers are not tuned
   * @param small the outcomes for the small model's threshold; null: it is not tuned
   */
  static Round decide(DeferralPolicy current, List<TierOutcomeReport.Collector> collectors,
      OutcomeReport.Collector small, Settings settings, long nowMs, long nextVersion) {
    Objects.requireNonNull(current, "current");
    List<String> changes = new ArrayList<>();
    DeferralPolicy base = current;
    TierTuning.Decision smallDecision = small == null ? null : decideSmall(current, small, settings.smallValue(),
        settings);
    if (smallDecision != null && smallDecision.result() == TierTuning.Result.RETUNED) {
      if (current.holdsTargetRate()) {
        double rate = targetFor(smallDecision.share(), current.explorationRate());
        base = current.withThreshold(current.threshold(), rate);
        changes.add(String.format(Locale.ROOT, "small model target rate %.3f (was %.3f), %s a right answer", rate,
            current.targetEscalationRate(), settings.smallValue()));
      } else {
        base = current.withThreshold(smallDecision.threshold(), 0.0);
        changes.add(String.format(Locale.ROOT, "small model threshold %.4f (was %.4f), %s a right answer",
            smallDecision.threshold(), current.threshold(), settings.smallValue()));
      }
    }
    List<TierPolicy> tiers = current.tierPolicies();
    List<TierPolicy> next = new ArrayList<>(tiers);
    List<TierTuning.Decision> decisions = new ArrayList<>();
    for (int i = 0; i < tiers.size() && i < collectors.size(); i++) {
      TierPolicy tp = tiers.get(i);
      TierTuning.Decision d = decideTier(tp, collectors.get(i), settings);
      decisions.add(d);
      if (d == null || d.result() != TierTuning.Result.RETUNED) {
        continue;
      }
      double e = tp.explorationRate();
      // Another rule's scores are not the old one's: with it comes the threshold chosen for it
      // (under a target, the one the tier uses until its window of the new rule's scores is warm).
      dev.cascade.router.rules.DeferralRules.RuleName rule = d.changesRule()
          ? dev.cascade.router.rules.DeferralRules.parseName(d.rule())
          : new dev.cascade.router.rules.DeferralRules.RuleName(tp.rule(), tp.alpha());
      String ruleChange = d.changesRule() ? " rule " + d.rule() + " (was " + tp.ruleName() + ")" : "";
      TierPolicy tuned;
      if (tp.holdsTargetRate()) {
        // A target of 0 would mean the fixed threshold: the least share a target can name instead.
        double rate = targetFor(d.share(), e);
        tuned = new TierPolicy(rule.rule(), rule.alpha(), d.changesRule() ? d.threshold() : tp.threshold(), rate, e);
        changes.add(String.format(Locale.ROOT, "tier %d%s target rate %.3f (was %.3f)", i + 1, ruleChange, rate,
            tp.targetEscalationRate()));
      } else {
        tuned = new TierPolicy(rule.rule(), rule.alpha(), d.threshold(), 0.0, e);
        changes.add(String.format(Locale.ROOT, "tier %d%s threshold %.4f (was %.4f)", i + 1, ruleChange, d.threshold(),
            tp.threshold()));
      }
      next.set(i, tuned);
    }
    if (changes.isEmpty()) {
      return new Round(null, decisions, smallDecision);
    }
    String reason = (collectors.isEmpty() ? "tier tuner: " : String.format(Locale.ROOT,
        "tier tuner, %s cost units a right answer: ", settings.value())) + String.join("; ", changes);
    return new Round(base.withTierPolicies(next).writtenAs(nextVersion, PinHold.LEARNER, nowMs, reason), decisions,
        smallDecision);
  }

  /**
   * The target escalation rate that passes on {@code share} of the requests the rule decides, when
   * {@code explorationRate} of the others are passed on too. A target of 0 would mean the fixed
   * threshold: the least share a target can name instead.
   */
  static double targetFor(double share, double explorationRate) {
    return Math.max(0.001, Math.min(1.0, share + (1 - share) * explorationRate));
  }

  /**
   * The small model's threshold worth most on the collected outcomes for a right answer worth
   * {@code value} ({@code eval --outcomes --answer-value V} shows it too), chosen and checked as a
   * middle tier's is ({@link TierTuning}), the rest of the cascade in the next tier's place: for the
   * rule of {@code policy} (the newest version among the outcomes where it names none), on the
   * outcomes that rule decided; against its threshold, or under a target rate the threshold that
   * target amounts to on them. Skipped, with the reason, where the outcomes cannot tell.
   */
  public static TierTuning.Decision decideSmall(DeferralPolicy policy, OutcomeReport.Collector collected, double value,
      Settings settings) {
    return decideSmall(policy, collected, value, settings, "");
  }

  /**
   * As above, {@code noneDecided} appended to the reason when none of the usable outcomes was decided
   * by the policy's rule (what the caller should do about it).
   */
  public static TierTuning.Decision decideSmall(DeferralPolicy policy, OutcomeReport.Collector collected, double value,
      Settings settings, String noneDecided) {
    String rule = collected.specFor(policy.rule(), policy.alpha(), policy.ruleVersion());
    List<TierTuning.Item> items = collected.tuningItems(rule, settings.maxWeight(), settings.halfLife());
    double e = policy.explorationRate();
    double inForce = TierTuning.thresholdInForce(items, policy.threshold(),
        policy.holdsTargetRate() ? policy.targetEscalationRate() : 0, e);
    Map<String, Long> bySpec = items.isEmpty() ? collected.usableBySpec() : Map.of();
    if (!bySpec.isEmpty()) {
      return TierTuning.Decision.skipped("no usable outcome was decided by " + rule + ", the rule of the policy in"
          + " force (v" + policy.version() + (policy.version() == 0 ? ": the configured policy.*, the policy topic"
          + " holding none" : "") + "); they were decided by " + bySpec + noneDecided, inForce, 0, rule, 0);
    }
    if (e == 0.0) {
      return TierTuning.Decision.skipped("the small model does not explore (policy.exploration-rate, or `cascade"
          + " policy set --exploration-rate 0.05`): where its rule accepts an answer the large model's is never seen,"
          + " so no threshold can be chosen from the outcomes", inForce, 0, rule, items.size());
    }
    long stopped = collected.stoppedEarlyUnsampled();
    if (stopped > 0) {
      return TierTuning.Decision.skipped(stopped + " outcomes stopped early (small.early-defer) and label sampling"
          + " decoded none whole to stand for them, so nothing is known above the threshold in force; set"
          + " small.early-defer-label-share above 0 on the routers (e.g. 0.2), or small.early-defer=false", inForce, 0,
          rule, items.size());
    }
    return TierTuning.decide(items, value, inForce, settings.holdoutFraction(), settings.minItems(),
        settings.minHoldout(), settings.smallMaxPassOn());
  }

  /** The policies this tuner has written, in order. */
  public List<DeferralPolicy> written() {
    return List.copyOf(written);
  }

  /**
   * One middle tier's decision on its collected outcomes ({@code eval --outcomes --tier N
   * --answer-value V} shows it too), or null when the tier does not explore.
   */
  public static TierTuning.Decision decideTier(TierPolicy tp, TierOutcomeReport.Collector collected,
      Settings settings) {
    if (tp.explorationRate() == 0.0) {
      return null;
    }
    long stopped = collected.stoppedEarlyUnsampled();
    if (stopped > 0) {
      // The requests its rule passed on stopped early (prefixes, right or wrong unknown), so the only
      // outcomes above the threshold are missing: a threshold could only ever move down.
      return TierTuning.Decision.skipped(stopped + " of the tier's answers stopped early (escalation.early-defer) and"
          + " label sampling decoded none whole to stand for them, so nothing is known above the threshold in force;"
          + " set escalation.early-defer-label-share above 0 on the routers (e.g. 0.2), or escalation.early-defer=false",
          tp.threshold(), 0, tp.ruleName(), collected.used());
    }
    List<TierTuning.Item> items = collected.tuningItems(tp, settings.maxWeight(), settings.halfLife());
    List<TierTuning.Candidate> candidates = new ArrayList<>();
    candidates.add(new TierTuning.Candidate(tp.ruleName(), items));
    for (String rule : settings.rules()) {
      if (!rule.equals(tp.ruleName())) {
        dev.cascade.router.rules.DeferralRules.RuleName name = dev.cascade.router.rules.DeferralRules.parseName(rule);
        TierPolicy other = new TierPolicy(name.rule(), name.alpha(), tp.threshold());
        candidates.add(new TierTuning.Candidate(other.ruleName(), collected.tuningItems(other, settings.maxWeight(),
            settings.halfLife())));
      }
    }
    double inForce = TierTuning.thresholdInForce(items, tp.threshold(),
        tp.holdsTargetRate() ? tp.targetEscalationRate() : 0, tp.explorationRate());
    return TierTuning.decideAmong(candidates, settings.value(), inForce, settings.holdoutFraction(),
        settings.minItems(), settings.minHoldout(), settings.tierMaxPassOn());
  }

  @Override
  public void close() {
    synchronized (wake) {
      running = false;
      wake.notifyAll();
    }
    try {
      thread.join(30_000);
      if (thread.isAlive()) {
        thread.interrupt(); // a round still reading after 30 s
        thread.join(10_000);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    policies.close();
  }
}
