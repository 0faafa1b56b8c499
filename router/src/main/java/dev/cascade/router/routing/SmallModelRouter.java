package dev.cascade.router.routing;

import dev.cascade.models.Generation;
import dev.cascade.models.TextGenerator;
import dev.cascade.router.features.FeatureExtractor;
import dev.cascade.router.features.UncertaintyFeatures;
import dev.cascade.router.policy.Decision;
import dev.cascade.router.policy.DeferralPolicy;
import dev.cascade.router.policy.PolicyDecider;
import dev.cascade.router.policy.TargetRateController;
import dev.cascade.router.rules.DeferralRule;
import dev.cascade.router.rules.DeferralRules;
import java.time.Clock;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The accept-or-defer step for one micro-batch: runs the small model once per distinct token
 * limit in the batch, computes each answer's uncertainty features, scores them with the policy's
 * rule and decides. Knows nothing of Kafka; the topology hands it batches and forwards what it
 * returns. Not thread-safe: one instance per stream task.
 */
public final class SmallModelRouter {

  private final TextGenerator smallModel;
  private final DeferralRules rules;
  private final TargetRateController targetRate;
  private final RoutingRecords records;
  private final int defaultMaxNewTokens;
  private final Clock clock;
  private final Map<String, DeferralRule> ruleCache = new LinkedHashMap<>();

  public SmallModelRouter(TextGenerator smallModel, DeferralRules rules, TargetRateController targetRate,
      RoutingRecords records, int defaultMaxNewTokens, Clock clock) {
    this.smallModel = smallModel;
    this.rules = rules;
    this.targetRate = targetRate;
    this.records = records;
    this.defaultMaxNewTokens = defaultMaxNewTokens;
    this.clock = clock;
  }

  /** Routes a batch under {@code policy}; the result is in the batch's order. */
  public List<Routed> route(List<PendingRequest> batch, DeferralPolicy policy) {
    Map<Integer, List<Integer>> byLimit = new LinkedHashMap<>();
    for (int i = 0; i < batch.size(); i++) {
      byLimit.computeIfAbsent(maxNewTokens(batch.get(i)), k -> new ArrayList<>()).add(i);
    }
    Routed[] out = new Routed[batch.size()];
    DeferralRule rule = rule(policy);
    for (Map.Entry<Integer, List<Integer>> group : byLimit.entrySet()) {
      List<String> prompts = new ArrayList<>();
      for (int i : group.getValue()) {
        prompts.add(batch.get(i).request().getPrompt());
      }
      long batchStartMs = clock.millis();
      long t0 = System.nanoTime();
      List<Generation> generations = smallModel.generate(prompts, group.getKey());
      double smallMs = (System.nanoTime() - t0) / 1e6;
      for (int j = 0; j < prompts.size(); j++) {
        PendingRequest pending = batch.get(group.getValue().get(j));
        Generation generation = generations.get(j);
        Scored scored = score(pending.request().getRequestId(), generation, rule, policy);
        double queueMs = Math.max(0, batchStartMs - pending.receivedAtMs());
        out[group.getValue().get(j)] = scored.decision() == Decision.ACCEPT
            ? records.answered(pending, generation, scored, queueMs, smallMs, clock.millis())
            : records.escalated(pending, generation, scored, queueMs, smallMs, clock.millis());
      }
    }
    return List.of(out);
  }

  private Scored score(String requestId, Generation generation, DeferralRule rule, DeferralPolicy policy) {
    long t0 = System.nanoTime();
    UncertaintyFeatures features = FeatureExtractor.extract(generation.tokenLogprobs(), generation.entropies());
    double score = rule.score(features, generation.embedding());
    double threshold = policy.threshold();
    if (policy.holdsTargetRate()) {
      targetRate.observe(policy, score);
      threshold = targetRate.threshold(policy);
    }
    Decision decision = PolicyDecider.decide(requestId, score, threshold, policy.explorationRate());
    return new Scored(features, policy.rule(), policy.alpha(), score, threshold, policy.version(), decision,
        (System.nanoTime() - t0) / 1e6);
  }

  private DeferralRule rule(DeferralPolicy policy) {
    return ruleCache.computeIfAbsent(policy.rule() + "@" + policy.alpha(), k -> rules.create(policy.rule(), policy.alpha()));
  }

  private int maxNewTokens(PendingRequest p) {
    int asked = p.request().getMaxNewTokens();
    return asked > 0 ? Math.min(asked, smallModel.info().maxNewTokensLimit()) : defaultMaxNewTokens;
  }
}
