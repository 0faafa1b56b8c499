package dev.cascade.router.routing;

import dev.cascade.models.Generation;
import dev.cascade.models.TextGenerator;
import dev.cascade.router.cache.ResponseCache;
import dev.cascade.router.features.FeatureExtractor;
import dev.cascade.router.features.UncertaintyFeatures;
import dev.cascade.router.policy.Decision;
import dev.cascade.router.policy.DeferralPolicy;
import dev.cascade.router.policy.EarlyDeferral;
import dev.cascade.router.policy.PolicyDecider;
import dev.cascade.router.policy.TargetRateController;
import dev.cascade.router.learning.PromptFeatures;
import dev.cascade.router.learning.RuleResolver;
import dev.cascade.router.rules.DeferralRule;
import dev.cascade.router.rules.DeferralRules;
import java.time.Clock;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The accept-or-defer step for one micro-batch: runs the small model once per distinct token
 * limit in the batch, computes each answer's uncertainty features, scores them with the policy's
 * rule and decides. Prompts found in the response cache skip the model but not the rule and
 * policy. Knows nothing of Kafka; the topology hands it batches and forwards what it
 * returns. Not thread-safe: one instance per stream task.
 *
 * <p>With a pre-generation skip in the policy ({@link dev.cascade.router.policy.PregenSkipPolicy}),
 * the prompts about to be decoded (not those answered from the cache) first get one prompt pass of
 * the small model ({@link TextGenerator#scorePrompts}, a separate forward pass, not the decoder's
 * prefill) and the skip rule's score; those above the skip threshold are escalated at once without
 * decoding ({@link RoutingRecords#skippedBeforeGeneration}), the rest are decoded and decided as
 * without the skip, their outcomes carrying the skip score. A skip rule that cannot be applied or
 * cannot score skips nothing: the requests are decoded, and counted. A target escalation rate holds
 * over skipped and decoded requests together: the controller is told of each skipped one
 * ({@link TargetRateController#observeSkipped}).
 *
 * <p>A request whose {@code deadline_ms} has passed when its group of the batch is about to run
 * ({@link ExpiredRequests}, by this router's clock) is answered {@code deadline_exceeded} at once
 * ({@link RoutingRecords#deadlineExceeded}): no cache lookup, no prompt pass, no decoding, no score,
 * and the target-rate controller is not told of it (it was neither accepted nor escalated). So is
 * one not answered from the cache whose deadline is nearer than the small model's median time to
 * generate a batch of its token limit over the last batches ({@link GenerationTimes}, {@link
 * ExpiredRequests#tooShort}).
 */
public final class SmallModelRouter {

  private final TextGenerator smallModel;
  private final RuleResolver rules;
  private final TargetRateController targetRate;
  private final RoutingRecords records;
  private final int defaultMaxNewTokens;
  private final Clock clock;
  private final ResponseCache cache;
  private final boolean earlyDefer;
  private final int earlyDeferEvery;
  private final double configuredLabelShare;
  private final ExpiredRequests expiredRequests;
  private final GenerationTimes generationTimes;

  public SmallModelRouter(TextGenerator smallModel, DeferralRules rules, TargetRateController targetRate,
      RoutingRecords records, int defaultMaxNewTokens, Clock clock) {
    this(smallModel, RuleResolver.of(rules), targetRate, records, defaultMaxNewTokens, clock, ResponseCache.disabled());
  }

  /** As below, with the rules of a registry alone (no versioned rules). */
  public SmallModelRouter(TextGenerator smallModel, DeferralRules rules, TargetRateController targetRate,
      RoutingRecords records, int defaultMaxNewTokens, Clock clock, ResponseCache cache) {
    this(smallModel, RuleResolver.of(rules), targetRate, records, defaultMaxNewTokens, clock, cache);
  }

  /**
   * As above, with a cache of the small model's generations in front of the model: a request
   * whose prompt and token limit are cached (and that does not ask to bypass the cache) is scored
   * from the cached generation without running the model, and its answer is marked a cache hit.
   * Rules are resolved through {@code rules} for every batch, so a new rule version on the rules
   * topic applies from the next batch. Early deferral is on.
   */
  public SmallModelRouter(TextGenerator smallModel, RuleResolver rules, TargetRateController targetRate,
      RoutingRecords records, int defaultMaxNewTokens, Clock clock, ResponseCache cache) {
    this(smallModel, rules, targetRate, records, defaultMaxNewTokens, clock, cache, true);
  }

  /** As below, a rule with an early-deferral margin asked every {@link EarlyDeferral#DEFAULT_EVERY} tokens. */
  public SmallModelRouter(TextGenerator smallModel, RuleResolver rules, TargetRateController targetRate,
      RoutingRecords records, int defaultMaxNewTokens, Clock clock, ResponseCache cache, boolean earlyDefer) {
    this(smallModel, rules, targetRate, records, defaultMaxNewTokens, clock, cache, earlyDefer,
        EarlyDeferral.DEFAULT_EVERY);
  }

  /**
   * As above; with {@code earlyDefer} the small model stops decoding a request once its deferral
   * is decided ({@link EarlyDeferral}; {@code small.early-defer}), a rule with a margin asked after
   * every {@code earlyDeferEvery}-th token ({@code small.early-defer-every}). Such a generation is
   * unfinished: it is not put in the response cache.
   */
  public SmallModelRouter(TextGenerator smallModel, RuleResolver rules, TargetRateController targetRate,
      RoutingRecords records, int defaultMaxNewTokens, Clock clock, ResponseCache cache, boolean earlyDefer,
      int earlyDeferEvery) {
    this(smallModel, rules, targetRate, records, defaultMaxNewTokens, clock, cache, earlyDefer, earlyDeferEvery,
        ExpiredRequests.SKIP);
  }

  /**
   * As above; {@code expiredRequests} says whether a request whose deadline has passed by {@code
   * clock} is answered {@code deadline_exceeded} instead of generated ({@code small.expired-requests},
   * {@code small.deadline-grace-ms}).
   */
  public SmallModelRouter(TextGenerator smallModel, RuleResolver rules, TargetRateController targetRate,
      RoutingRecords records, int defaultMaxNewTokens, Clock clock, ResponseCache cache, boolean earlyDefer,
      int earlyDeferEvery, ExpiredRequests expiredRequests) {
    this(smallModel, rules, targetRate, records, defaultMaxNewTokens, clock, cache, earlyDefer, earlyDeferEvery,
        expiredRequests, new GenerationTimes());
  }

  /**
   * As above; {@code generationTimes} (shared by the routers of one process, as they share the
   * small model) is told of each batch's generation time and gives the estimate {@link
   * ExpiredRequests#tooShort} compares with.
   */
  public SmallModelRouter(TextGenerator smallModel, RuleResolver rules, TargetRateController targetRate,
      RoutingRecords records, int defaultMaxNewTokens, Clock clock, ResponseCache cache, boolean earlyDefer,
      int earlyDeferEvery, ExpiredRequests expiredRequests, GenerationTimes generationTimes) {
    this(smallModel, rules, targetRate, records, defaultMaxNewTokens, clock, cache, earlyDefer, earlyDeferEvery,
        expiredRequests, generationTimes, 0.0);
  }

  /**
   * As above; {@code labelShare} ({@code small.early-defer-label-share}) of the requests that early
   * deferral stops are decoded to their end all the same, drawn by request id ({@link
   * EarlyDeferral#labelDraw}), so that the continuous learner has their whole answers: each one
   * that the condition would have stopped ({@link EarlyDeferral#wouldStop}) records the share as
   * its label propensity, and is not put in the response cache (a stopped one is not either). A
   * sampled request is decided on its whole answer, as without early deferral: for the exact rules
   * that is the same decision. A policy that sets its own share ({@link
   * DeferralPolicy#earlyDeferLabelShare()}) overrides {@code labelShare} for the batches it decides.
   *
   * @throws IllegalArgumentException if {@code labelShare} is outside [0, 1]
   */
  public SmallModelRouter(TextGenerator smallModel, RuleResolver rules, TargetRateController targetRate,
      RoutingRecords records, int defaultMaxNewTokens, Clock clock, ResponseCache cache, boolean earlyDefer,
      int earlyDeferEvery, ExpiredRequests expiredRequests, GenerationTimes generationTimes, double labelShare) {
    if (earlyDeferEvery < 1) {
      throw new IllegalArgumentException("earlyDeferEvery must be >= 1, was " + earlyDeferEvery);
    }
    if (!(labelShare >= 0 && labelShare <= 1)) {
      throw new IllegalArgumentException("labelShare must be in [0, 1], was " + labelShare);
    }
    this.configuredLabelShare = labelShare;
    this.earlyDefer = earlyDefer;
    this.earlyDeferEvery = earlyDeferEvery;
    this.expiredRequests = expiredRequests;
    this.generationTimes = generationTimes;
    this.cache = cache;
    this.smallModel = smallModel;
    this.rules = rules;
    this.targetRate = targetRate;
    this.records = records;
    this.defaultMaxNewTokens = defaultMaxNewTokens;
    this.clock = clock;
  }

  /**
   * Routes a batch under {@code policy}; the result is in the batch's order. The batch's
   * generations (cached or fresh) are scored with one call to each rule ({@link
   * DeferralRule#scores}), then decided one by one in the order the requests were taken, so a
   * target-rate controller sees the same sequence as when each was scored alone.
   */
  public List<Routed> route(List<PendingRequest> batch, DeferralPolicy policy) {
    Map<Integer, List<Integer>> byLimit = new LinkedHashMap<>();
    for (int i = 0; i < batch.size(); i++) {
      byLimit.computeIfAbsent(maxNewTokens(batch.get(i)), k -> new ArrayList<>()).add(i);
    }
    Rules rule = new Rules(rules.ruleOf(policy), rules.shadowsOf(policy));
    // Under a target rate: the controller's stop threshold as the batch starts, a margin above its
    // decision threshold (none while its window warms up).
    double targetStop = earlyDefer && policy.holdsTargetRate() && EarlyDeferral.isExact(rule.main().rule())
        ? targetRate.stopThresholdFor(TargetRateController.Target.of(policy), rule.main().key())
        : Double.POSITIVE_INFINITY;
    java.util.OptionalDouble stopAt = EarlyDeferral.stopThreshold(rule.main().rule(), policy, earlyDefer, targetStop);
    Optional<EarlyDeferral.Condition> earlyStop = stopAt.stream()
        .mapToObj(stop -> EarlyDeferral.condition(rule.main().rule(), stop, earlyDeferEvery)).findFirst();
    Double stopThreshold = stopAt.isPresent() ? stopAt.getAsDouble() : null;
    Optional<RuleResolver.ResolvedSkip> skipRule = skipRuleOf(policy, batch.size());
    double labelShare = policy.earlyDeferLabelShare(configuredLabelShare);
    Map<Integer, Routed> notDecoded = new LinkedHashMap<>();
    List<Generated> generated = new ArrayList<>(batch.size());
    for (Map.Entry<Integer, List<Integer>> group : byLimit.entrySet()) {
      int limit = group.getKey();
      long batchStartMs = clock.millis();
      // NaN when short requests are not shed: tooShort is then false, and no median is computed.
      double generationMs = expiredRequests.shedShort() ? generationTimes.medianMs(limit) : Double.NaN;
      List<Integer> fresh = new ArrayList<>();
      for (int i : group.getValue()) {
        PendingRequest pending = batch.get(i);
        if (expiredRequests.expired(pending.request(), batchStartMs)) {
          // Its caller has stopped waiting: no model runs for an answer nobody would read.
          double queueMs = Math.max(0, batchStartMs - pending.receivedAtMs());
          notDecoded.put(i, records.deadlineExceeded(pending, policy, queueMs, clock.millis()));
          continue;
        }
        Optional<Generation> cached = pending.request().getBypassCache() ? Optional.empty()
            : cache.get(new ResponseCache.Key(pending.request().getPrompt(), limit));
        if (cached.isPresent()) {
          generated.add(new Generated(i, pending, cached.get(), limit, batchStartMs, 0, true, null, false));
        } else if (expiredRequests.tooShort(pending.request(), batchStartMs, generationMs)) {
          // Its answer would most likely come after its caller stopped waiting: shed as the expired.
          double queueMs = Math.max(0, batchStartMs - pending.receivedAtMs());
          notDecoded.put(i, records.tooShort(pending, policy, queueMs, clock.millis(), generationMs));
        } else {
          fresh.add(i);
        }
      }
      Map<Integer, PregenVerdict> verdicts = new java.util.HashMap<>();
      double passMsEach = 0;
      if (skipRule.isPresent() && !fresh.isEmpty()) {
        long passStart = System.nanoTime();
        double[] skipScores = skipScores(skipRule.get(), batch, fresh);
        passMsEach = (System.nanoTime() - passStart) / 1e6 / fresh.size();
        List<Integer> decode = new ArrayList<>();
        for (int j = 0; j < fresh.size(); j++) {
          int i = fresh.get(j);
          if (skipScores == null || !Double.isFinite(skipScores[j])) {
            // The rule could not score it: decoded as without the skip, never lost.
            records.observer().pregenSkipFailed(1);
            decode.add(i);
            continue;
          }
          PregenVerdict verdict = new PregenVerdict(skipRule.get().spec(), skipScores[j], policy.pregenSkip().threshold());
          if (verdict.skipped()) {
            PendingRequest pending = batch.get(i);
            double queueMs = Math.max(0, batchStartMs - pending.receivedAtMs());
            notDecoded.put(i, records.skippedBeforeGeneration(pending, policy, verdict, queueMs, passMsEach,
                clock.millis()));
            // Escalated without a score: a target rate holds over these too, not over decoded ones only.
            targetRate.observeSkipped(policy, rule.main().key());
          } else {
            verdicts.put(i, verdict);
            decode.add(i);
          }
        }
        fresh = decode;
      }
      if (fresh.isEmpty()) {
        continue;
      }
      List<String> prompts = new ArrayList<>();
      for (int i : fresh) {
        prompts.add(batch.get(i).request().getPrompt());
      }
      // Label sampling: these rows decode to their end whatever the condition says.
      boolean[] sampled = new boolean[prompts.size()];
      if (earlyStop.isPresent() && labelShare > 0) {
        for (int j = 0; j < sampled.length; j++) {
          sampled[j] = EarlyDeferral.labelDraw(batch.get(fresh.get(j)).request().getRequestId()) < labelShare;
        }
      }
      long t0 = System.nanoTime();
      List<Generation> generations = earlyStop.isPresent()
          ? smallModel.generate(prompts, limit, TextGenerator.Cancellation.NONE, perRow(earlyStop.get(), sampled))
          : smallModel.generate(prompts, limit);
      // A request the skip rule scored also paid its share of the prompt pass.
      double smallMs = (System.nanoTime() - t0) / 1e6;
      if (expiredRequests.shedShort()) {
        generationTimes.record(limit, smallMs);
      }
      for (int j = 0; j < prompts.size(); j++) {
        PendingRequest pending = batch.get(fresh.get(j));
        Generation generation = generations.get(j);
        boolean forLabel = sampled[j] && EarlyDeferral.wouldStop(earlyStop.get(), generation.tokenLogprobs(),
            generation.entropies(), limit);
        // Nor is one decoded whole for its label: a repeat of its prompt is then decoded and drawn
        // afresh, as it would be without the sampling, instead of being answered whole from the cache.
        if (!pending.request().getBypassCache() && !generation.stoppedEarly() && !forLabel) {
          cache.put(new ResponseCache.Key(prompts.get(j), limit), generation);
        }
        PregenVerdict verdict = verdicts.get(fresh.get(j));
        generated.add(new Generated(fresh.get(j), pending, generation, limit, batchStartMs,
            smallMs + (verdict == null ? 0 : passMsEach), false, verdict, forLabel));
      }
    }
    Routed[] out = new Routed[batch.size()];
    notDecoded.forEach((i, routed) -> out[i] = routed);
    if (generated.isEmpty()) {
      return List.of(out); // every request skipped or expired: nothing to score (a tree model warns on an empty batch)
    }
    long t0 = System.nanoTime();
    List<UncertaintyFeatures> features = new ArrayList<>(generated.size());
    List<float[]> embeddings = new ArrayList<>(generated.size());
    for (Generated g : generated) {
      features.add(FeatureExtractor.extract(g.generation().tokenLogprobs(), g.generation().entropies()));
      embeddings.add(g.generation().embedding());
    }
    double[] main = batchScores(rule.main(), features, embeddings);
    List<double[]> shadows = new ArrayList<>(rule.shadows().size());
    for (RuleResolver.Resolved shadow : rule.shadows()) {
      shadows.add(batchScores(shadow, features, embeddings));
    }
    double scoringMsEach = (System.nanoTime() - t0) / 1e6 / generated.size();
    for (int k = 0; k < generated.size(); k++) {
      Generated g = generated.get(k);
      Scored scored = decide(g.pending().request().getRequestId(), features.get(k), embeddings.get(k), main,
          shadows, k, rule, policy, scoringMsEach, g.generation().stoppedEarly());
      double queueMs = Math.max(0, g.batchStartMs() - g.pending().receivedAtMs());
      SmallStop stop = SmallStop.of(g.generation(), g.limit()).askedToStopAbove(g.cacheHit() ? null : stopThreshold);
      stop = g.sampledForLabel() ? stop.sampledForLabel(labelShare) : stop;
      out[g.index()] = scored.decision() == Decision.ACCEPT
          ? records.answered(g.pending(), g.generation(), scored, queueMs, g.smallMs(), clock.millis(), g.cacheHit(),
              stop, g.pregen())
          : records.escalated(g.pending(), g.generation(), scored, queueMs, g.smallMs(), clock.millis(), stop,
              g.pregen());
    }
    return List.of(out);
  }

  /** The rules of one batch: the policy's (or its fallback) and the shadows. */
  private record Rules(RuleResolver.Resolved main, List<RuleResolver.Resolved> shadows) {}

  /** One request of the batch with its generation, in the order the batch is decided. */
  private record Generated(int index, PendingRequest pending, Generation generation, int limit, long batchStartMs,
      double smallMs, boolean cacheHit, PregenVerdict pregen, boolean sampledForLabel) {}

  /** The batch's early stop: {@code condition} for each row, none for the rows sampled for labels. */
  private static TextGenerator.EarlyStop perRow(EarlyDeferral.Condition condition, boolean[] sampled) {
    return new TextGenerator.EarlyStop() {
      @Override
      public Check newCheck() {
        return condition.newCheck()::afterToken;
      }

      @Override
      public TextGenerator.EarlyStop forRow(int row) {
        return sampled[row] ? NEVER : this;
      }
    };
  }

  /**
   * The policy's pre-generation skip rule, resolved for this batch; empty when the policy names none,
   * or when it names one this router cannot apply (missing, or made for another model or over other
   * inputs): then the batch is decoded as without it, each request counted.
   */
  private Optional<RuleResolver.ResolvedSkip> skipRuleOf(DeferralPolicy policy, int requests) {
    if (policy.pregenSkip() == null) {
      return Optional.empty();
    }
    try {
      return Optional.of(rules.resolveSkip(policy.pregenSkip().rule()));
    } catch (IllegalArgumentException e) {
      records.observer().pregenSkipFailed(requests);
      return Optional.empty();
    }
  }

  /**
   * The skip rule's scores of the {@code fresh} requests' prompts (one prompt pass of the small
   * model, then the rule on the batch); null when the pass or the rule failed, so none is skipped.
   */
  private double[] skipScores(RuleResolver.ResolvedSkip rule, List<PendingRequest> batch, List<Integer> fresh) {
    List<String> prompts = new ArrayList<>(fresh.size());
    for (int i : fresh) {
      prompts.add(batch.get(i).request().getPrompt());
    }
    try {
      // A rule over the prompt's text alone needs no pass of the model.
      double[] scores = PromptFeatures.scores(rule.rule(), prompts,
          PromptFeatures.needsPass(rule.rule()) ? smallModel.scorePrompts(prompts) : null);
      return scores.length == prompts.size() ? scores : null;
    } catch (RuntimeException e) {
      return null;
    }
  }

  /**
   * The rule's scores of the whole batch in one call; null when that call failed (each request is
   * then scored alone, as {@link #decide} does for a score that is not finite).
   */
  private static double[] batchScores(RuleResolver.Resolved rule, List<UncertaintyFeatures> features,
      List<float[]> embeddings) {
    try {
      double[] scores = rule.rule().scores(features, embeddings);
      if (scores.length != features.size()) {
        throw new IllegalStateException("rule " + rule.spec() + " returned " + scores.length + " scores for "
            + features.size());
      }
      return scores;
    } catch (RuntimeException e) {
      return null;
    }
  }

  /**
   * Decides one request from its batch scores. A request whose batch score is missing or not finite
   * is scored alone, which names the failure and falls back exactly as before batch scoring.
   */
  private Scored decide(String requestId, UncertaintyFeatures features, float[] embedding, double[] mainScores,
      List<double[]> shadowScores, int k, Rules rules, DeferralPolicy policy, double scoringMs, boolean stoppedEarly) {
    long t0 = System.nanoTime();
    RuleResolver.Resolved rule = rules.main();
    double score = mainScores == null ? Double.NaN : mainScores[k];
    if (!Double.isFinite(score)) {
      try {
        score = checkedScore(rule, features, embedding);
      } catch (RuntimeException e) {
        // A rule that cannot score this request (an embedding of another size, a broken model) never
        // loses it: the policy's fallback rule scores it instead, and the reason is recorded.
        rule = this.rules.fallbackOf(policy, "rule " + rule.spec() + " failed to score: " + e.getMessage());
        score = checkedScore(rule, features, embedding);
      }
    }
    Map<String, Double> shadows = new LinkedHashMap<>();
    for (int s = 0; s < rules.shadows().size(); s++) {
      RuleResolver.Resolved shadow = rules.shadows().get(s);
      double[] batchScores = shadowScores.get(s);
      if (batchScores != null) {
        if (Double.isFinite(batchScores[k])) {
          shadows.put(shadow.spec(), batchScores[k]);
        }
        continue;
      }
      try {
        shadows.put(shadow.spec(), checkedScore(shadow, features, embedding));
      } catch (RuntimeException e) {
        // A shadow that cannot score is left out of this outcome; it never acts on anything.
      }
    }
    // Every score enters the controller's window, so a switch to a target rate starts warm; a
    // new rule or version (its key) starts a fresh window, as their scores are not comparable.
    String ruleKey = rule.key();
    double threshold = targetRate.threshold(policy, ruleKey);
    Decision decision = PolicyDecider.decide(requestId, score, threshold, policy.explorationRate(), stoppedEarly);
    targetRate.observe(policy, ruleKey, score, decision.escalates());
    double propensity = decision == Decision.DEFER ? 1.0 : policy.explorationRate();
    if (rule.problem() != null) {
      records.observer().ruleFallback(rule.problem());
    }
    return new Scored(features, rule.name(), rule.alpha(), score, threshold, policy.version(), decision,
        scoringMs + (System.nanoTime() - t0) / 1e6, rule.version(), propensity, shadows, rule.fallbackReason());
  }

  private static double checkedScore(RuleResolver.Resolved rule, UncertaintyFeatures features, float[] embedding) {
    double score = rule.rule().score(features, embedding);
    if (!Double.isFinite(score)) {
      throw new IllegalArgumentException("score is " + score);
    }
    return score;
  }

  private int maxNewTokens(PendingRequest p) {
    int asked = p.request().getMaxNewTokens();
    return asked > 0 ? Math.min(asked, smallModel.info().maxNewTokensLimit()) : defaultMaxNewTokens;
  }
}
