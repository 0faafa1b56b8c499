package dev.cascade.router.routing;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.models.Generation;
import dev.cascade.models.ModelInfo;
import dev.cascade.models.TextGenerator;
import dev.cascade.router.cache.ResponseCache;
import dev.cascade.router.learning.LearnedRules;
import dev.cascade.router.policy.DeferralPolicy;
import dev.cascade.router.policy.TargetRateController;
import dev.cascade.schemas.avro.CascadeRequest;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * A learned rule whose embedding size does not match the small model's: every request is still
 * decided, by the policy's fallback rule, and says why; none is lost or dead-lettered.
 */
class SmallModelRouterFallbackTest {

  /** A small model whose embeddings have 3 dimensions, not the shipped embed rule's. */
  private static final class ThreeDimensions implements TextGenerator {
    @Override
    public List<Generation> generate(List<String> prompts, int maxNewTokens) {
      return generate(prompts, maxNewTokens, Cancellation.NONE);
    }

    @Override
    public List<Generation> generate(List<String> prompts, int maxNewTokens, Cancellation cancellation) {
      List<Generation> out = new ArrayList<>();
      for (String p : prompts) {
        out.add(new Generation(p, new int[] {1, 2}, new float[] {-0.5f, -2f}, new float[] {0.5f, 0.5f},
            new float[] {0.1f, 0.2f, 0.3f}));
      }
      return out;
    }

    @Override
    public Optional<String> checkPrompt(String prompt) {
      return Optional.empty();
    }

    @Override
    public ModelInfo info() {
      return new ModelInfo("three", "none", 0, 64, 48, true);
    }

    @Override
    public void close() {}
  }

  @Test
  void aRuleForAnotherEmbeddingSizeFallsBackForEveryRequestAndLosesNone() {
    SmallModelRouter router = new SmallModelRouter(new ThreeDimensions(), LearnedRules.bundled(),
        new TargetRateController(), new RoutingRecords(new CostModel(1, 10), String::length), 48, Clock.systemUTC(),
        ResponseCache.disabled());
    DeferralPolicy policy = new DeferralPolicy("posthoc-embed", 0, 0.5, 0, 0, 1, "test", 0, "");
    List<PendingRequest> batch = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      batch.add(new PendingRequest(CascadeRequest.newBuilder().setRequestId("r" + i).setPrompt("p" + i)
          .setMetadata(Map.of()).setCreatedAtMs(0).build(), 0));
    }
    List<Routed> routed = router.route(batch, policy);
    assertThat(routed).hasSize(5);
    for (Routed r : routed) {
      String rule = r instanceof Routed.Answered a ? a.outcome().getRule() : ((Routed.Escalated) r).escalation().getRule();
      String reason = r instanceof Routed.Answered a ? a.outcome().getRuleFallbackReason()
          : ((Routed.Escalated) r).escalation().getRuleFallbackReason();
      assertThat(rule).isEqualTo("chow-sum");
      assertThat(reason).contains("posthoc-embed");
    }
  }
}
