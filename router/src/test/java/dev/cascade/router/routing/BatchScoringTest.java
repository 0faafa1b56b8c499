package dev.cascade.router.routing;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.models.Generation;
import dev.cascade.models.ModelInfo;
import dev.cascade.models.TextGenerator;
import dev.cascade.models.TextGenerators;
import dev.cascade.router.cache.ResponseCache;
import dev.cascade.router.demo.Example;
import dev.cascade.router.demo.Examples;
import dev.cascade.router.features.FeatureExtractor;
import dev.cascade.router.features.UncertaintyFeatures;
import dev.cascade.router.learning.LearnedRule;
import dev.cascade.router.learning.LearnedRules;
import dev.cascade.router.policy.DeferralPolicy;
import dev.cascade.router.policy.TargetRateController;
import dev.cascade.router.rules.DeferralRule;
import dev.cascade.router.rules.DeferralRules;
import dev.cascade.schemas.avro.CascadeRequest;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Scoring a micro-batch with one call to the rule decides exactly as scoring each request alone:
 * the batch scores equal the one-by-one scores for the learned rules and the Chow rules, and the
 * router's decisions, scores and shadow scores are the same whether a batch is routed at once or
 * request by request.
 */
class BatchScoringTest {

  /** The bundled small model's answers to validation prompts (real features and embeddings). */
  private static List<String> prompts;
  private static Map<String, Generation> answers;

  @BeforeAll
  static void generate() {
    prompts = Examples.bundled("validation").subList(0, 300).stream().map(Example::prompt).toList();
    answers = new HashMap<>();
    try (TextGenerator small = TextGenerators.load("small", "OnnxRuntime")) {
      List<Generation> out = small.generate(prompts, small.info().maxNewTokensLimit());
      for (int i = 0; i < prompts.size(); i++) {
        answers.put(prompts.get(i), out.get(i));
      }
    }
  }

  private static List<DeferralRule> rules() {
    DeferralRules registry = LearnedRules.bundled();
    List<DeferralRule> rules = new ArrayList<>(LearnedRules.bundledRules());
    rules.add(registry.create("chow-sum", 0));
    rules.add(registry.create("chow-average", 0));
    for (double alpha : new double[] {0, 0.1, 0.25, 0.5, 1}) {
      rules.add(registry.create("chow-quantile", alpha));
    }
    return rules;
  }

  @Test
  void batchScoresEqualOneByOneScores() {
    List<UncertaintyFeatures> features = new ArrayList<>();
    List<float[]> embeddings = new ArrayList<>();
    for (String p : prompts) {
      Generation g = answers.get(p);
      features.add(FeatureExtractor.extract(g.tokenLogprobs(), g.entropies()));
      embeddings.add(g.embedding());
    }
    // Synthetic generations too: lengths 1 to 48, extreme log-probabilities and entropies.
    Random random = new Random(7);
    int embeddingLength = embeddings.get(0).length;
    for (int i = 0; i < 100; i++) {
      int n = 1 + random.nextInt(48);
      float[] logprobs = new float[n];
      float[] entropies = new float[n];
      for (int t = 0; t < n; t++) {
        logprobs[t] = (float) (-random.nextDouble() * (i % 10 == 0 ? 30 : 3));
        entropies[t] = (float) (random.nextDouble() * 4);
      }
      float[] embedding = new float[embeddingLength];
      for (int d = 0; d < embeddingLength; d++) {
        embedding[d] = (float) random.nextGaussian();
      }
      features.add(FeatureExtractor.extract(logprobs, entropies));
      embeddings.add(i % 7 == 0 ? null : embedding);
    }
    List<DeferralRule> rules = rules();
    assertThat(rules.stream().filter(r -> r instanceof LearnedRule)).hasSize(2);
    for (DeferralRule rule : rules) {
      double[] batch = rule.scores(features, embeddings);
      double[] batchWithout = rule.scores(features, null);
      assertThat(batch).as(rule.name()).hasSize(features.size());
      for (int i = 0; i < features.size(); i++) {
        assertThat(batch[i]).as(rule.name() + " item " + i).isEqualTo(rule.score(features.get(i), embeddings.get(i)));
        assertThat(batchWithout[i]).as(rule.name() + " item " + i + " without embedding")
            .isEqualTo(rule.score(features.get(i), null));
      }
      // Not a constant: the comparison above is between scores that vary.
      assertThat(java.util.Arrays.stream(batch).distinct().count()).as(rule.name()).isGreaterThan(10);
    }
  }

  /** Serves the answers generated above, whatever the batch (so batching cannot change them). */
  private static final class Replay implements TextGenerator {
    int calls;

    @Override
    public List<Generation> generate(List<String> batch, int maxNewTokens) {
      return generate(batch, maxNewTokens, Cancellation.NONE);
    }

    @Override
    public List<Generation> generate(List<String> batch, int maxNewTokens, Cancellation cancellation) {
      calls++;
      return batch.stream().map(answers::get).toList();
    }

    @Override
    public Optional<String> checkPrompt(String prompt) {
      return Optional.empty();
    }

    @Override
    public ModelInfo info() {
      return new ModelInfo("replay", "none", 0, 64, 48, true);
    }

    @Override
    public void close() {}
  }

  private static SmallModelRouter router(Replay model) {
    return new SmallModelRouter(model, LearnedRules.bundled(), new TargetRateController(),
        new RoutingRecords(new CostModel(1, 10), String::length), 48, Clock.systemUTC(), ResponseCache.disabled());
  }

  private record Verdict(boolean answered, String rule, double score, double threshold, Map<String, Double> shadows) {}

  private static Verdict verdict(Routed r) {
    if (r instanceof Routed.Answered a) {
      return new Verdict(true, a.outcome().getRule(), a.outcome().getScore(), a.outcome().getThreshold(),
          Map.copyOf(a.outcome().getShadowScores()));
    }
    var e = ((Routed.Escalated) r).escalation();
    return new Verdict(false, e.getRule(), e.getScore(), e.getThreshold(), Map.copyOf(e.getShadowScores()));
  }

  @Test
  void routingABatchDecidesAsRoutingEachRequestAlone() {
    // A target rate, so each decision after the controller's 200 warm-up requests depends on the scores
    // observed before it; shadows of each kind.
    DeferralPolicy policy = new DeferralPolicy("posthoc-quantile", 0, 0.5, 0.05, 0.3, 1, "test", 0, "", null,
        List.of("posthoc-embed", "chow-sum", "chow-quantile-0.1"), "chow-sum");
    List<PendingRequest> requests = new ArrayList<>();
    for (int i = 0; i < prompts.size(); i++) {
      requests.add(new PendingRequest(CascadeRequest.newBuilder().setRequestId("r" + i).setPrompt(prompts.get(i))
          .setMaxNewTokens(i % 3 == 0 ? 0 : 48).setMetadata(Map.of()).setCreatedAtMs(0).build(), 0));
    }
    Replay batchModel = new Replay();
    SmallModelRouter batched = router(batchModel);
    List<Routed> together = new ArrayList<>();
    for (int start = 0; start < requests.size(); start += 32) {
      together.addAll(batched.route(requests.subList(start, Math.min(requests.size(), start + 32)), policy));
    }
    SmallModelRouter single = router(new Replay());
    List<Routed> alone = new ArrayList<>();
    for (PendingRequest p : requests) {
      alone.addAll(single.route(List.of(p), policy));
    }
    assertThat(together).hasSameSizeAs(alone);
    int escalated = 0;
    for (int i = 0; i < alone.size(); i++) {
      assertThat(together.get(i).requestId()).isEqualTo("r" + i);
      Verdict v = verdict(together.get(i));
      assertThat(v).as("request r" + i).isEqualTo(verdict(alone.get(i)));
      assertThat(v.rule()).isEqualTo("posthoc-quantile");
      assertThat(v.shadows()).containsOnlyKeys("posthoc-embed", "chow-sum", "chow-quantile-0.1");
      escalated += v.answered() ? 0 : 1;
    }
    assertThat(escalated).isBetween(10, alone.size() - 10);
  }
}
