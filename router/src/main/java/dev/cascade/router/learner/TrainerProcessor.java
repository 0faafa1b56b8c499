package dev.cascade.router.learner;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cascade.router.learning.ChallengerTrial;
import dev.cascade.router.learning.DeferralExample;
import dev.cascade.router.learning.DoublyRobust;
import dev.cascade.router.learning.LabelledOutcomes;
import dev.cascade.router.learning.LearnedRule;
import dev.cascade.router.learning.RuleArtifacts;
import dev.cascade.router.learning.RuleCatalog;
import dev.cascade.router.learning.RuleResolver;
import dev.cascade.router.policy.DeferralPolicy;
import dev.cascade.router.rules.DeferralRule;
import dev.cascade.router.policy.ThresholdCalibrator;
import dev.cascade.router.rules.DeferralRules;
import dev.cascade.router.topology.CascadeTopology;
import dev.cascade.router.topology.DeadLetters;
import dev.cascade.router.topology.IdleAwarePunctuator;
import dev.cascade.router.topology.PolicyRecords;
import dev.cascade.schemas.avro.LabelledExample;
import dev.cascade.schemas.serde.CascadeSerdes;
import dev.cascade.schemas.serde.SchemaDecodingException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The learner's one task: keeps the newest labelled examples, the rules and the policy in
 * changelogged stores, and retrains every K new labels or T minutes. A round runs on a worker
 * thread ({@link ChallengerTrial}); its result is acted on from a punctuator, so the rule record,
 * the policy naming it and the learner's own state are written in one transaction (exactly once):
 * a crash before the commit publishes nothing, and the restarted learner, whose restored state
 * still says a round is due, trains again and publishes that version once.
 */
final class TrainerProcessor implements Processor<String, byte[], String, Object> {

  static final String EXAMPLES = "learner-examples";
  static final String RULES = "learner-rules";
  static final String POLICY = "learner-policy";
  static final String STATE = "learner-state";

  private static final Logger LOG = LoggerFactory.getLogger(TrainerProcessor.class);
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String STATE_KEY = "state";
  private static final Duration TICK = Duration.ofMillis(500);

  /**
   * The learner's progress, kept in its state store.
   *
   * @param nextSeq the sequence number the next example gets
   * @param labelsSinceTraining examples that arrived since the last round's snapshot
   * @param lastTrainingMs when the last round finished (0: never)
   * @param published rounds whose challenger was published
   * @param rejected rounds whose challenger lost
   * @param skipped rounds that could not compare (too few labels)
   * @param lastPublishedVersion the last published version, −1 for none
   */
  record LearnerState(long nextSeq, long labelsSinceTraining, long lastTrainingMs, long published, long rejected,
      long skipped, long lastPublishedVersion) {
    static LearnerState initial() {
      return new LearnerState(0, 0, 0, 0, 0, 0, -1);
    }
  }

  /**
   * A finished round: the verdict, the policy to publish with it, and where its snapshot ended.
   *
   * @param policy the policy it decided on, or null
   * @param basis the policy in force when it started, whose threshold (or target rate) the decided one keeps
   */
  private record Round(ChallengerTrial.Verdict verdict, DeferralPolicy policy, DeferralPolicy basis,
      long snapshotNextSeq) {}

  private final LearnerSettings settings;
  private final String examplesTopic;
  private final String rulesTopic;
  private final String policyTopic;
  private final LearnerMetrics metrics;
  private final String rulesSink;
  private final String policySink;
  private final String deadLetterSink;
  /** The policies this process wrote and the topic may not show yet: the tuner's, and this trainer's own. */
  private final PolicyWrites writes;
  private ProcessorContext<String, Object> context;
  private KeyValueStore<Long, byte[]> examples;
  private KeyValueStore<String, byte[]> rules;
  private KeyValueStore<String, byte[]> policy;
  private KeyValueStore<String, String> state;
  /** The learner's progress: read from its store once, at init, then kept here as {@link #save} writes it. */
  private LearnerState progress;
  private RuleCatalog catalog;
  private ExecutorService worker;
  private Future<Round> running;
  private IdleAwarePunctuator ticker;
  /** What the rules topic held when the task started ({@link RulesOnTopic}), read at {@link #init}. */
  private final java.util.function.Supplier<java.util.Set<String>> rulesOnTopic;
  /**
   * The rules topic's keys as read when the task started, on a thread of its own so that the
   * stream thread never waits on that read; taken by the first round that finds it done.
   */
  private java.util.concurrent.CompletableFuture<java.util.Set<String>> rulesAtStart;
  /** The rule keys this task has read since init, from its store or its source. */
  private final java.util.Set<String> readRules = new java.util.HashSet<>();
  /** The rules the topic held at init that this task has not read yet. */
  private final java.util.Set<String> unreadRules = new java.util.HashSet<>();
  private long initMs;
  private boolean toldWaiting;

  /**
   * The longest a round waits for the rules on the topic at start: a rule dead-lettered before
   * (never in the store) would otherwise hold it for ever.
   */
  static final Duration RULES_CATCH_UP = Duration.ofSeconds(60);

  TrainerProcessor(LearnerSettings settings, String examplesTopic, String rulesTopic, String policyTopic,
      LearnerMetrics metrics, String rulesSink, String policySink, String deadLetterSink) {
    this(settings, examplesTopic, rulesTopic, policyTopic, metrics, rulesSink, policySink, deadLetterSink,
        new PolicyWrites());
  }

  /** As above, writing its policies through {@code writes}, which this process's tier tuner writes through too. */
  TrainerProcessor(LearnerSettings settings, String examplesTopic, String rulesTopic, String policyTopic,
      LearnerMetrics metrics, String rulesSink, String policySink, String deadLetterSink, PolicyWrites writes) {
    this(settings, examplesTopic, rulesTopic, policyTopic, metrics, rulesSink, policySink, deadLetterSink, writes,
        RulesOnTopic.NONE);
  }

  /**
   * As above, holding its first round until its rules source has delivered every rule {@code
   * rulesOnTopic} says the rules topic holds when the task starts ({@link RulesOnTopic}), for at
   * most {@link #RULES_CATCH_UP}.
   */
  TrainerProcessor(LearnerSettings settings, String examplesTopic, String rulesTopic, String policyTopic,
      LearnerMetrics metrics, String rulesSink, String policySink, String deadLetterSink, PolicyWrites writes,
      java.util.function.Supplier<java.util.Set<String>> rulesOnTopic) {
    this.rulesOnTopic = rulesOnTopic;
    this.writes = writes;
    this.settings = settings;
    this.examplesTopic = examplesTopic;
    this.rulesTopic = rulesTopic;
    this.policyTopic = policyTopic;
    this.metrics = metrics;
    this.rulesSink = rulesSink;
    this.policySink = policySink;
    this.deadLetterSink = deadLetterSink;
  }

  @Override
  public void init(ProcessorContext<String, Object> context) {
    this.context = context;
    examples = context.getStateStore(EXAMPLES);
    rules = context.getStateStore(RULES);
    policy = context.getStateStore(POLICY);
    state = context.getStateStore(STATE);
    progress = load();
    // After a restart the gauge starts from the restored state, not from "none yet".
    metrics.published(progress.lastPublishedVersion());
    catalog = RuleCatalog.withBundled(settings.modelFingerprint());
    initMs = context.currentSystemTimeMs();
    try (KeyValueIterator<String, byte[]> all = rules.all()) {
      all.forEachRemaining(kv -> {
        readRules.add(kv.key);
        load(kv.value);
      });
    }
    metrics.examples(examples.approximateNumEntries());
    prior(examples.approximateNumEntries());
    worker = Executors.newSingleThreadExecutor(r -> {
      Thread t = new Thread(r, "learner-training");
      t.setDaemon(true);
      return t;
    });
    // On the training thread, which runs no round before this read is taken (start).
    rulesAtStart = java.util.concurrent.CompletableFuture.supplyAsync(rulesOnTopic, worker)
        .exceptionally(e -> java.util.Set.of());
    // Every 500 ms while a round runs or is due; once, at the due time, when only the time trigger
    // is pending; not at all when nothing is (each punctuation makes the task commit a transaction).
    ticker = new IdleAwarePunctuator(context, TICK, this::tick, this::cadence);
    ticker.refresh(context.currentSystemTimeMs());
  }

  /** How long until {@link #tick} is needed next, or null when nothing can make a round due but a new label. */
  private Duration cadence(long now) {
    if (running != null) {
      return TICK;
    }
    LearnerState s = progress;
    if (s.labelsSinceTraining() == 0 || s.nextSeq() < settings.trial().minLabels()) {
      return null;
    }
    if (s.labelsSinceTraining() >= settings.retrainEveryLabels()) {
      return TICK;
    }
    if (s.lastTrainingMs() == 0) {
      return null;
    }
    return Duration.ofMillis(Math.max(TICK.toMillis(), s.lastTrainingMs() + settings.retrainEvery().toMillis() - now));
  }

  @Override
  public void process(Record<String, byte[]> record) {
    String topic = context.recordMetadata().map(m -> m.topic()).orElse("");
    if (topic.equals(examplesTopic)) {
      if (record.value() != null) {
        addExample(record.value());
      }
    } else if (topic.equals(rulesTopic)) {
      onRule(record);
    } else if (topic.equals(policyTopic)) {
      if (CascadeTopology.POLICY_KEY.equals(record.key())) {
        onPolicy(record);
      }
    }
  }

  private void addExample(byte[] bytes) {
    LearnerState s = progress;
    LabelledExample example = CascadeSerdes.labelledExamples().decode(bytes);
    example.setSeq(s.nextSeq());
    examples.put(s.nextSeq(), CascadeSerdes.labelledExamples().encode(example));
    long evict = s.nextSeq() - settings.maxExamples();
    if (evict >= 0) {
      examples.delete(evict);
    }
    save(new LearnerState(s.nextSeq() + 1, s.labelsSinceTraining() + 1, s.lastTrainingMs(), s.published(),
        s.rejected(), s.skipped(), s.lastPublishedVersion()));
    metrics.examples(Math.min(s.nextSeq() + 1, settings.maxExamples()));
    prior(Math.min(s.nextSeq() + 1, settings.maxExamples()));
    ticker.refresh(context.currentSystemTimeMs());
  }

  /**
   * Keeps the policy record, unless it cannot be decoded: then it goes to the dead-letter topic
   * (this one process, not every router, reports it) and the policy kept stays, as on the routers.
   */
  private void onPolicy(Record<String, byte[]> record) {
    if (record.value() != null) {
      try {
        CascadeSerdes.policies().decode(record.value());
      } catch (SchemaDecodingException e) {
        LOG.error("policy topic record cannot be decoded; sent to the dead-letter topic, the policy kept stays: {}",
            e.getMessage());
        deadLetter(record, "policy", "policy", e, "policy record cannot be decoded: " + e.getMessage());
        return;
      }
    }
    policy.put(CascadeTopology.POLICY_KEY, record.value());
  }

  /** Sends a rules- or policy-topic record (its key not null) to the dead-letter topic, counted under {@code input}. */
  private void deadLetter(Record<String, byte[]> record, String input, String stage, Exception e, String reason) {
    metrics.deadLetter(input);
    context.forward(new Record<String, Object>(record.key(), DeadLetters.ofStringKeyed(context, record, stage, e, reason),
        context.currentSystemTimeMs()), deadLetterSink);
  }

  private void onRule(Record<String, byte[]> record) {
    if (record.key() == null) {
      return;
    }
    readRules.add(record.key());
    unreadRules.remove(record.key());
    if (record.value() == null) {
      rules.delete(record.key());
      return;
    }
    try {
      RuleArtifacts.decode(record.value());
    } catch (IllegalArgumentException e) {
      LOG.error("rules topic record '{}' is not a rule artifact; sent to the dead-letter topic: {}", record.key(),
          e.getMessage());
      deadLetter(record, "rule", "rules", e, "rule record cannot be decoded: " + e.getMessage());
      return;
    }
    rules.put(record.key(), record.value());
    load(record.value());
  }

  private void load(byte[] bytes) {
    try {
      catalog.add(CascadeSerdes.ruleModels().decode(bytes));
    } catch (SchemaDecodingException | IllegalArgumentException e) {
      // Dead-lettered when it arrived.
    }
  }

  private void tick(long now) {
    if (running != null) {
      if (running.isDone()) {
        finish(now);
      }
      return;
    }
    LearnerState s = progress;
    boolean due = s.labelsSinceTraining() >= settings.retrainEveryLabels()
        || (s.labelsSinceTraining() > 0 && s.lastTrainingMs() > 0
            && now - s.lastTrainingMs() >= settings.retrainEvery().toMillis());
    if (!due || s.nextSeq() < settings.trial().minLabels()) {
      return;
    }
    start(s);
  }

  /** Sets the prior's gauges for {@code held} examples of traffic kept, as a round would weigh it. */
  private void prior(long held) {
    List<dev.cascade.router.learning.DeferralExample> prior = settings.prior();
    double weight = prior.isEmpty() ? 0
        : ChallengerTrial.priorWeight((int) held, settings.trial().halfLifeLabels());
    metrics.prior(prior.size(), weight);
  }

  /** Whether the learner's rule name has run out of versions (logged once). */
  private boolean versionsExhausted;
  private boolean warnedNoPolicy;

  private void start(LearnerState s) {
    boolean inCatchUp = context.currentSystemTimeMs() - initMs < RULES_CATCH_UP.toMillis();
    if (rulesAtStart != null) {
      if (!rulesAtStart.isDone() && inCatchUp) {
        return; // still reading the rules topic's keys (RulesOnTopic gives up after its own timeout)
      }
      if (rulesAtStart.isDone()) {
        unreadRules.addAll(rulesAtStart.getNow(java.util.Set.of()));
        unreadRules.removeAll(readRules);
      }
      rulesAtStart = null;
    }
    if (!unreadRules.isEmpty()) {
      if (inCatchUp) {
        if (!toldWaiting) {
          toldWaiting = true;
          LOG.info("the first round waits for the rules topic: {} rule(s) on it when this learner started not read yet"
              + " (e.g. {}), so that the round trains the version after the newest and judges the champion in force"
              + " (at most {} s)", unreadRules.size(), unreadRules.iterator().next(), RULES_CATCH_UP.toSeconds());
        }
        return;
      }
      LOG.warn("{} rule(s) on the rules topic when this learner started still not read after {} s (e.g. {}); the"
          + " round starts without them", unreadRules.size(), RULES_CATCH_UP.toSeconds(), unreadRules.iterator().next());
      unreadRules.clear();
    }
    List<LabelledExample> snapshot = new ArrayList<>();
    try (KeyValueIterator<Long, byte[]> all = examples.all()) {
      all.forEachRemaining(kv -> snapshot.add(CascadeSerdes.labelledExamples().decode(kv.value)));
    }
    // In the order the outcomes reached the learner: an escalated request's outcome comes after
    // those of requests accepted later, but in steady traffic the newest outcomes hold escalations
    // in their usual share (of earlier requests), where the newest requests would lack theirs.
    snapshot.sort(java.util.Comparator.comparingLong(LabelledExample::getSeq));
    DeferralPolicy current = currentPolicy();
    RuleResolver resolver = new RuleResolver(DeferralRules.builtIn(), catalog);
    RuleResolver.Resolved championRule = resolver.ruleOf(current);
    long trainedUpTo = -1;
    if (championRule.version() != null) {
      LearnedRule learned = catalog.get(championRule.name(), championRule.version()).orElseThrow().rule();
      trainedUpTo = learned.info().validationMetrics().getOrDefault(ChallengerTrial.TRAINED_UNTIL, -1.0).longValue();
    }
    DeferralRule fallback = null;
    // Every challenger must beat the fallback too (ChallengerTrial). Only a learned champion is
    // reverted to it: a closed-form rule in force is the operator's choice, which the learner
    // replaces only with a rule that beats it.
    try {
      fallback = resolver.resolve(current.fallbackRule()).rule();
    } catch (RuntimeException e) {
      LOG.warn("the policy's fallback rule {} cannot be resolved here ({}); neither the champion nor the challenger"
          + " is held against it", current.fallbackRule(), e.getMessage());
    }
    ChallengerTrial.Champion champion = new ChallengerTrial.Champion(championRule.spec(), championRule.rule(),
        trainedUpTo, current.fallbackRule(), fallback, championRule.version() != null);
    String name = settings.trial().set().ruleName();
    long newest = Math.max(catalog.latest(name).map(RuleCatalog.Entry::version).orElse(0L), s.lastPublishedVersion());
    if (newest == Long.MAX_VALUE) {
      if (!versionsExhausted) {
        versionsExhausted = true;
        LOG.error("rule {} has version {}, the highest a version can be, so there is no next one to publish: no round"
            + " runs until that version is removed from the rules topic (a tombstone) or the learner trains a rule of"
            + " another name (learn.rule)", name, newest);
      }
      return;
    }
    long version = newest + 1;
    long snapshotNextSeq = s.nextSeq();
    LOG.info("training {} v{} on {} labelled examples; champion {}", name, version, snapshot.size(), champion.spec());
    running = worker.submit(() -> round(snapshot, champion, version, current, snapshotNextSeq));
    metrics.trainingRunning(true);
  }

  private Round round(List<LabelledExample> snapshot, ChallengerTrial.Champion champion, long version,
      DeferralPolicy current, long snapshotNextSeq) {
    List<DeferralExample> list = new ArrayList<>(snapshot.size());
    long[] seqs = new long[snapshot.size()];
    List<DoublyRobust.Observation> observations = new ArrayList<>(snapshot.size());
    for (int i = 0; i < seqs.length; i++) {
      list.add(LabelledOutcomes.toDeferralExample(snapshot.get(i), settings.trial().maxWeight()));
      seqs[i] = snapshot.get(i).getSeq();
      observations.add(LabelledOutcomes.observation(snapshot.get(i)));
    }
    ChallengerTrial.Verdict verdict = ChallengerTrial.run(list, seqs, observations, settings.prior(), champion,
        version, settings.modelFingerprint(), settings.trial(), what -> { });
    DeferralPolicy next = null;
    if (verdict.revert()) {
      RuleResolver.Spec back = new RuleResolver(DeferralRules.builtIn(), catalog).parse(current.fallbackRule());
      next = successor(current, back.name(), back.alpha(), calibratedThreshold(verdict, current), back.version(),
          "reverted: " + verdict.reason(), nextPolicyVersion(current), System.currentTimeMillis());
    } else if (verdict.publish()) {
      LearnedRule challenger = verdict.challenger();
      next = successor(current, challenger.name(), 0.0, calibratedThreshold(verdict, current), version,
          verdict.reason(), nextPolicyVersion(current), System.currentTimeMillis());
    }
    return new Round(verdict, next, current, snapshotNextSeq);
  }

  private void finish(long now) {
    // The lock the tuner writes under, from reading the policy in force to forwarding this round's,
    // so that no policy of the tuner's comes between. Not waited for: while the tuner publishes (a
    // write and its read-back), the round finishes at a later punctuation.
    if (!writes.tryStartTrainerWrite()) {
      return;
    }
    try {
      finishWriting(now);
    } finally {
      writes.endTrainerWrite();
    }
  }

  private void finishWriting(long now) {
    Round round;
    try {
      round = running.get();
    } catch (Exception e) {
      LOG.error("training round failed; retrying after the next {} labels", settings.retrainEveryLabels(), e);
      round = null;
    }
    running = null;
    metrics.trainingRunning(false);
    LearnerState s = progress;
    long published = s.published();
    long rejected = s.rejected();
    long skipped = s.skipped();
    long lastVersion = s.lastPublishedVersion();
    if (round != null) {
      ChallengerTrial.Verdict v = round.verdict();
      // Read when the round ends, not when it started: a pin set during the round holds too.
      String pin = (v.publish() || v.revert()) && settings.respectPins()
          ? PinHold.reason(currentPolicy(), settings.trial().set().ruleName()) : null;
      // The middle tiers as they are now, not as the round found them (the tier tuner, or an operator,
      // may have changed them while it trained), and a version above whatever was written meanwhile.
      if (round.policy() != null) {
        DeferralPolicy inForce = currentPolicy();
        round = new Round(v, asOfNow(round.policy(), round.basis(), inForce, p -> calibratedThreshold(v, p),
            nextPolicyVersion(inForce)), round.basis(), round.snapshotNextSeq());
      }
      String threshold = round.policy() == null ? null
          : String.format(Locale.ROOT, "%.4f", round.policy().threshold());
      String taken = v.publish() && catalog.get(v.challenger().name(), v.challenger().info().version()).isPresent()
          ? v.challenger().name() + "@" + v.challenger().info().version() : null;
      if (taken != null) {
        // Published by someone else (`cascade rules publish`) while the round trained: the compacted
        // topic keeps one record a key, so writing this one would replace that rule unseen.
        skipped++;
        metrics.training("skipped", Double.NaN, Double.NaN);
        LOG.warn("SKIPPED: {} reached the rules topic while the round trained it; this round's challenger is dropped,"
            + " and the next round trains the version after the newest", taken);
      } else if (v.publish()) {
        LearnedRule rule = v.challenger();
        String key = rule.name() + "@" + rule.info().version();
        byte[] bytes = RuleArtifacts.encode(rule);
        context.forward(new Record<String, Object>(key, bytes, now), rulesSink);
        rules.put(key, bytes);
        catalog.add(rule);
        published++;
        lastVersion = rule.info().version();
        metrics.published(lastVersion);
        if (pin == null) {
          context.forward(new Record<String, Object>(CascadeTopology.POLICY_KEY, PolicyRecords.toAvro(round.policy()),
              now), policySink);
          writes.trainerWrote(round.policy());
          metrics.training("published", v.comparison().delta(), v.comparison().ciLow());
          LOG.info("PUBLISHED {}; policy v{} names it with threshold {} (target rate {})", v.reason(),
              round.policy().version(), threshold, round.policy().targetEscalationRate());
        } else {
          metrics.training("published_held", v.comparison().delta(), v.comparison().ciLow());
          LOG.info("PUBLISHED {}; to the rules topic only, no policy written: {} (learn.respect-pins); to adopt it:"
              + " cascade policy set --rule {} --threshold {}", v.reason(), pin, key, threshold);
        }
      } else if (v.revert() && pin != null) {
        rejected++;
        metrics.training("revert_held", v.fallbackComparison().delta(), v.fallbackComparison().ciLow());
        LOG.info("NOT REVERTED to {}: {}; no policy written: {} (learn.respect-pins); to revert: cascade policy set"
            + " --rule {} --threshold {}", round.policy().rule(), v.reason(), pin, round.policy().fallbackRule(), threshold);
      } else if (v.revert()) {
        context.forward(new Record<String, Object>(CascadeTopology.POLICY_KEY, PolicyRecords.toAvro(round.policy()),
            now), policySink);
        writes.trainerWrote(round.policy());
        rejected++;
        metrics.training("reverted", v.fallbackComparison().delta(), v.fallbackComparison().ciLow());
        LOG.info("REVERTED to {}: {}; policy v{} names it with threshold {}", round.policy().rule(), v.reason(),
            round.policy().version(), threshold);
      } else if (v.challenger() != null) {
        rejected++;
        // Beat the champion but not the fallback: counted apart, for an operator who wonders why a
        // challenger that "beat" the champion was not published.
        metrics.training(v.rejectedByFallback() ? "rejected_fallback" : "rejected", v.comparison().delta(),
            v.comparison().ciLow());
        LOG.info("REJECTED {}", v.reason());
      } else {
        skipped++;
        metrics.training("skipped", Double.NaN, Double.NaN);
        long stopped = metrics.stoppedEarly();
        LOG.info("SKIPPED: {}{}", v.reason(), stopped == 0 ? "" : "; " + stopped
            + " outcomes since this learner started gave no label because the router stopped the small model early (small.early-defer): label"
            + " a share of them, live with `cascade policy set --early-defer-label-share 0.05` (say) or"
            + " small.early-defer-label-share on the routers, or small.early-defer=false to label them all");
      }
    }
    long since = round == null ? 0 : Math.max(0, s.nextSeq() - round.snapshotNextSeq());
    save(new LearnerState(s.nextSeq(), since, now, published, rejected, skipped, lastVersion));
  }

  /**
   * The version of the next policy: above the one in force and above the last one on the topic,
   * which is not the one in force when it decoded but was not a valid policy (the default is then).
   */
  private long nextPolicyVersion(DeferralPolicy current) {
    long last = current.version();
    byte[] bytes = policy.get(CascadeTopology.POLICY_KEY);
    if (bytes != null) {
      try {
        last = Math.max(last, CascadeSerdes.policies().decode(bytes).getVersion());
      } catch (SchemaDecodingException e) {
        // Not kept: undecodable records are dead-lettered as they arrive.
      }
    }
    return last + 1;
  }

  /**
   * The policy in force as this process knows it: the policy topic's (its store's, or the
   * configured default while it holds none), or a newer one that this process's tuner or this
   * trainer wrote and the store has not read yet ({@link PolicyWrites}).
   */
  private DeferralPolicy currentPolicy() {
    return writes.newest(topicPolicy());
  }

  private DeferralPolicy topicPolicy() {
    byte[] bytes = policy.get(CascadeTopology.POLICY_KEY);
    if (bytes != null) {
      try {
        return PolicyRecords.fromAvro(CascadeSerdes.policies().decode(bytes));
      } catch (RuntimeException e) {
        LOG.warn("the policy on the policy topic is unusable ({}); comparing against the configured default",
            e.getMessage());
      }
    }
    DeferralPolicy configured = settings.defaultPolicy();
    if (!warnedNoPolicy) {
      warnedNoPolicy = true;
      // The routers' own policy.* settings are not on the topic; a policy this learner writes
      // carries its own, so they must be the routers' (one ConfigMap for both, as in deploy/).
      LOG.warn("the policy topic holds no policy: the routers decide by their configured policy.* settings, and a"
          + " policy this learner writes will carry its own instead (rule {}, exploration {}, target rate {},"
          + " shadow rules {}); give learn the same policy.* settings as serve, or write the policy in force"
          + " first with 'cascade policy set'", configured.rule(), configured.explorationRate(),
          configured.targetEscalationRate(), configured.shadowRules());
    }
    return configured;
  }

  private LearnerState load() {
    String json = state.get(STATE_KEY);
    if (json == null) {
      return LearnerState.initial();
    }
    try {
      return JSON.readValue(json, LearnerState.class);
    } catch (IOException e) {
      throw new UncheckedIOException("learner state is unreadable: " + json, e);
    }
  }

  private void save(LearnerState s) {
    try {
      state.put(STATE_KEY, JSON.writeValueAsString(s));
      progress = s;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static String abbreviate(String s) {
    return s.length() <= 1000 ? s : s.substring(0, 1000) + "…";
  }

  @Override
  public void close() {
    writes.trainerClosed();
    if (running != null) {
      if (!running.isDone()) {
        LOG.info("stopping with a training round running: it is dropped without a verdict; the next owner of this"
            + " task trains again once a round is due");
      }
      running.cancel(true);
    }
    if (worker != null) {
      worker.shutdownNow();
    }
  }

  /**
   * The policy the learner writes in place of {@code current}: another rule, α, threshold and rule
   * version, by the learner, and every other setting of {@code current} kept (exploration, target
   * rate, shadow and fallback rules, middle tiers, the pre-generation skip, the label-sampling share;
   * the early-deferral margin only when the rule stays the same).
   */
  static DeferralPolicy successor(DeferralPolicy current, String rule, double alpha, double threshold,
      Long ruleVersion, String reason, long policyVersion, long nowMs) {
    return new DeferralPolicy(rule, alpha, threshold, current.explorationRate(), current.targetEscalationRate(),
        policyVersion, PinHold.LEARNER, nowMs, abbreviate(reason), ruleVersion, current.shadowRules(),
        current.fallbackRule(), marginFor(rule, current), current.tierPolicies(), current.pregenSkip(),
        current.earlyDeferLabelShare());
  }

  /**
   * The policy a round decided on, as written when the round ends: its rule and the rest as the
   * round chose them, the middle tiers of the policy in force now, and a version at least {@code
   * nextVersion}. Its threshold is the round's, calibrated on {@code basis} (the policy in force when
   * it started), unless the small model's threshold or target rate moved since under the same rule
   * (the learner's tuner, {@code learn.small-answer-value}, or an operator's {@code policy set
   * --threshold}): then {@code calibrate} gives the threshold that keeps the share passed on at the
   * threshold in force now, and the target rate is the one in force now.
   */
  static DeferralPolicy asOfNow(DeferralPolicy decided, DeferralPolicy basis, DeferralPolicy inForce,
      java.util.function.ToDoubleFunction<DeferralPolicy> calibrate, long nextVersion) {
    DeferralPolicy kept = decided;
    if (sameRule(basis, inForce) && (basis.threshold() != inForce.threshold()
        || basis.targetEscalationRate() != inForce.targetEscalationRate())) {
      kept = decided.withThreshold(calibrate.applyAsDouble(inForce), inForce.targetEscalationRate());
    }
    return kept.withTierPolicies(inForce.tierPolicies()).writtenAs(Math.max(decided.version(), nextVersion),
        decided.updatedBy(), decided.updatedAtMs(), decided.reason());
  }

  /**
   * The threshold the rule a round publishes (or reverts to) gets: the one that passes on the share
   * of the compared examples the champion passed on at {@code basis}'s threshold, or {@code basis}'s
   * target rate when it holds one (the router then reads its threshold from its own window).
   */
  static double calibratedThreshold(ChallengerTrial.Verdict verdict, DeferralPolicy basis) {
    LearnedRule challenger = verdict.challenger();
    double[] weights = challenger.info().calibrationWeights();
    double fraction = basis.holdsTargetRate() ? basis.targetEscalationRate()
        : ChallengerTrial.fractionAbove(verdict.championScores(), weights, basis.threshold());
    if (verdict.revert()) {
      return ThresholdCalibrator.threshold(verdict.fallbackScores(), weights, fraction);
    }
    double[] scores = challenger.info().calibrationScores();
    return weights.length == 0 ? ThresholdCalibrator.threshold(scores, fraction)
        : ThresholdCalibrator.threshold(scores, weights, fraction);
  }

  /** Whether two policies name the same rule, α and version: the champion's scores read the same. */
  static boolean sameRule(DeferralPolicy a, DeferralPolicy b) {
    return a.rule().equals(b.rule()) && a.alpha() == b.alpha() && java.util.Objects.equals(a.ruleVersion(),
        b.ruleVersion());
  }

  /** The early-deferral margin kept for a policy naming {@code rule}: a margin is on one rule's score scale. */
  private static Double marginFor(String rule, DeferralPolicy current) {
    return rule.equals(current.rule()) ? current.earlyDeferMargin() : null;
  }
}
