package dev.cascade.router.routing;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.models.Generation;
import dev.cascade.models.ModelInfo;
import dev.cascade.models.TextGenerator;
import dev.cascade.router.cache.ResponseCache;
import dev.cascade.router.policy.DeferralPolicy;
import dev.cascade.router.policy.TargetRateController;
import dev.cascade.router.rules.DeferralRules;
import dev.cascade.schemas.avro.CascadeRequest;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The response cache inside the small-model step: hits skip the model, never the rule and policy. */
class SmallModelRouterCacheTest {

  /** Answers the prompt reversed, every token at log-probability -1 (Chow-Quantile-0 score 1); counts prompts generated. */
  static final class CountingModel implements TextGenerator {
    final List<String> generated = new ArrayList<>();

    @Override
    public List<Generation> generate(List<String> prompts, int maxNewTokens) {
      return generate(prompts, maxNewTokens, Cancellation.NONE);
    }

    @Override
    public synchronized List<Generation> generate(List<String> prompts, int maxNewTokens, Cancellation cancellation) {
      generated.addAll(prompts);
      List<Generation> out = new ArrayList<>();
      for (String p : prompts) {
        out.add(new Generation(new StringBuilder(p).reverse().toString(), new int[] {1, 2}, new float[] {-1f, -1f},
            new float[] {0.5f, 0.5f}, null));
      }
      return out;
    }

    @Override
    public Optional<String> checkPrompt(String prompt) {
      return prompt.isEmpty() ? Optional.of("prompt: must not be empty") : Optional.empty();
    }

    @Override
    public ModelInfo info() {
      return new ModelInfo("counting", "none", 0, 64, 48, false);
    }

    @Override
    public void close() {}
  }

  private final CountingModel model = new CountingModel();
  private final SmallModelRouter router = new SmallModelRouter(model, DeferralRules.builtIn(),
      new TargetRateController(), new RoutingRecords(new CostModel(1, 10), String::length), 48, Clock.systemUTC(),
      ResponseCache.create(100, Duration.ofMinutes(5)));

  private static PendingRequest request(String id, String prompt, int maxNewTokens, boolean bypass) {
    return new PendingRequest(CascadeRequest.newBuilder().setRequestId(id).setPrompt(prompt)
        .setMaxNewTokens(maxNewTokens).setMetadata(Map.of()).setBypassCache(bypass)
        .setCreatedAtMs(System.currentTimeMillis()).build(), System.currentTimeMillis());
  }

  private static DeferralPolicy threshold(double t, long version) {
    return new DeferralPolicy("chow-quantile", 0, t, 0, 0, version, "test", 0, "");
  }

  @Test
  void aRepeatedPromptIsAnsweredFromTheCacheWithoutRunningTheModel() {
    Routed first = router.route(List.of(request("a", "cascade", 0, false)), threshold(5, 1)).get(0);
    Routed second = router.route(List.of(request("b", "cascade", 0, false)), threshold(5, 1)).get(0);

    assertThat(model.generated).containsExactly("cascade");
    Routed.Answered a = (Routed.Answered) first;
    Routed.Answered b = (Routed.Answered) second;
    assertThat(a.response().getCacheHit()).isFalse();
    assertThat(a.outcome().getCacheHit()).isFalse();
    assertThat(b.response().getCacheHit()).isTrue();
    assertThat(b.outcome().getCacheHit()).isTrue();
    assertThat(b.response().getText()).isEqualTo(a.response().getText());
    assertThat(b.response().getRequestId()).isEqualTo("b");
    assertThat(b.outcome().getLatencies().getSmallModelMs()).isZero();
    // The count stored with the cached generation (2 tokens for an answer of one piece), as fresh.
    assertThat(a.response().getCompletionTokens()).isEqualTo(2);
    assertThat(b.response().getCompletionTokens()).isEqualTo(2);
    // Decoded under early deferral (on, an exact rule), the first was asked to stop above the
    // threshold; the cached answer was decoded by no one.
    assertThat(a.outcome().getSmallStopThreshold()).isEqualTo(5.0);
    assertThat(b.outcome().getSmallStopThreshold()).isNull();
  }

  @Test
  void theTokenLimitIsPartOfTheKeyAndTheDefaultLimitIsResolvedFirst() {
    router.route(List.of(request("a", "cascade", 0, false)), threshold(5, 1));
    router.route(List.of(request("b", "cascade", 48, false)), threshold(5, 1));
    router.route(List.of(request("c", "cascade", 12, false)), threshold(5, 1));

    assertThat(model.generated).containsExactly("cascade", "cascade");
  }

  @Test
  void bypassRunsTheModelAndLeavesTheCacheAsItWas() {
    router.route(List.of(request("a", "cascade", 0, false)), threshold(5, 1));
    Routed.Answered bypassed = (Routed.Answered) router.route(List.of(request("b", "cascade", 0, true)),
        threshold(5, 1)).get(0);
    Routed.Answered fresh = (Routed.Answered) router.route(List.of(request("c", "other", 0, true)),
        threshold(5, 1)).get(0);
    Routed.Answered afterBypass = (Routed.Answered) router.route(List.of(request("d", "other", 0, false)),
        threshold(5, 1)).get(0);

    assertThat(bypassed.response().getCacheHit()).isFalse();
    assertThat(fresh.response().getCacheHit()).isFalse();
    assertThat(afterBypass.response().getCacheHit()).isFalse();
    assertThat(model.generated).containsExactly("cascade", "cascade", "other", "other");
  }

  @Test
  void aCachedGenerationIsStillDecidedByThePolicyInForce() {
    router.route(List.of(request("a", "cascade", 0, false)), threshold(5, 1));
    Routed underStrictPolicy = router.route(List.of(request("b", "cascade", 0, false)), threshold(0.5, 2)).get(0);

    assertThat(model.generated).hasSize(1);
    assertThat(underStrictPolicy).isInstanceOf(Routed.Escalated.class);
    assertThat(((Routed.Escalated) underStrictPolicy).escalation().getPolicyVersion()).isEqualTo(2);
  }

  @Test
  void aBatchMixingHitsAndMissesRunsTheModelOnTheMissesOnlyAndKeepsTheBatchOrder() {
    router.route(List.of(request("a", "one", 0, false)), threshold(5, 1));
    List<Routed> routed = router.route(List.of(request("b", "two", 0, false), request("c", "one", 0, false),
        request("d", "three", 0, false)), threshold(5, 1));

    assertThat(model.generated).containsExactly("one", "two", "three");
    assertThat(routed).extracting(Routed::requestId).containsExactly("b", "c", "d");
    assertThat(routed).extracting(r -> ((Routed.Answered) r).response().getCacheHit())
        .containsExactly(false, true, false);
  }

  @Test
  void theDisabledCacheNeverHits() {
    SmallModelRouter uncached = new SmallModelRouter(model, DeferralRules.builtIn(), new TargetRateController(),
        new RoutingRecords(new CostModel(1, 10), String::length), 48, Clock.systemUTC(), ResponseCache.create(0,
            Duration.ofMinutes(5)));
    uncached.route(List.of(request("a", "cascade", 0, false)), threshold(5, 1));
    uncached.route(List.of(request("b", "cascade", 0, false)), threshold(5, 1));

    assertThat(model.generated).hasSize(2);
  }
}
