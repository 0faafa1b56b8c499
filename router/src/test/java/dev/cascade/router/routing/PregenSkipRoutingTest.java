package dev.cascade.router.routing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cascade.models.Generation;
import dev.cascade.models.ModelInfo;
import dev.cascade.models.PromptScore;
import dev.cascade.models.TextGenerator;
import dev.cascade.models.TextGenerators;
import dev.cascade.router.cache.ResponseCache;
import dev.cascade.router.demo.Example;
import dev.cascade.router.demo.Examples;
import dev.cascade.router.features.FeatureExtractor;
import dev.cascade.router.learning.DeferralExample;
import dev.cascade.router.learning.LearnedRule;
import dev.cascade.router.learning.LearnerSpec;
import dev.cascade.router.learning.ModelFingerprint;
import dev.cascade.router.learning.PromptFeatures;
import dev.cascade.router.learning.RuleCatalog;
import dev.cascade.router.learning.RuleResolver;
import dev.cascade.router.learning.RuleTrainer;
import dev.cascade.router.policy.DeferralPolicy;
import dev.cascade.router.policy.InvalidPolicyException;
import dev.cascade.router.policy.PregenSkipPolicy;
import dev.cascade.router.policy.TargetRateController;
import dev.cascade.router.rules.ChowSumRule;
import dev.cascade.router.rules.DeferralRules;
import dev.cascade.schemas.avro.CascadeRequest;
import dev.cascade.schemas.avro.Decision;
import dev.cascade.schemas.avro.Escalation;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The pre-generation skip in the router, with the real small model and a real prompt rule (Tribuo,
 * over {@link PromptFeatures} from the model's prompt pass): a request the rule flags is escalated
 * without the small model decoding it, and marked; the others are decoded and decided exactly as
 * without the skip; a rule made for another model, or one that cannot score, skips nothing and
 * loses nothing.
 */
class PregenSkipRoutingTest {

  private static final int ITEMS = 160;
  private static final int BATCH = 32;
  private static TextGenerator small;
  private static List<String> prompts;
  private static LearnedRule promptRule;
  private static double[] expectedScores;
  private static double threshold;

  /**
   * A rule trained on 300 validation prompts to flag the long ones (more than 12 characters): a
   * label the prompt features predict well, so the test can say which prompts it flags. What the
   * rule learns does not matter here, only that the router applies it as {@link PromptFeatures#scores} does.
   */
  @BeforeAll
  static void load() {
    small = TextGenerators.load("small", "OnnxRuntime");
    prompts = Examples.bundled("test").subList(0, ITEMS).stream().map(Example::prompt).toList();
    List<String> training = Examples.bundled("validation").subList(0, 300).stream().map(Example::prompt).toList();
    List<PromptScore> passes = small.scorePrompts(training);
    List<DeferralExample> examples = new ArrayList<>();
    for (int i = 0; i < training.size(); i++) {
      boolean longPrompt = training.get(i).length() > 12;
      examples.add(new DeferralExample(FeatureExtractor.extract(new float[0], new float[0]),
          PromptFeatures.of(training.get(i), passes.get(i)), false, longPrompt));
    }
    int width = examples.get(0).embeddingLength() - PromptFeatures.names(0).size();
    LearnedRule trained = RuleTrainer.train("pregen-skip", PromptFeatures.modelNames(width), examples, "test", 3,
        new RuleTrainer.Options(2, 7, List.of(LearnerSpec.logisticRegression(10, 0.1))), RuleTrainer.Progress.NONE)
        .rule();
    promptRule = trained.withInfo(trained.info().withModel(ModelFingerprint.of("small"), PromptFeatures.LAYOUT));
    expectedScores = PromptFeatures.scores(promptRule, prompts, small.scorePrompts(prompts));
    double[] sorted = expectedScores.clone();
    Arrays.sort(sorted);
    // Flag about a quarter, midway between two scores (a score is not bit-identical across batch shapes).
    int kept = (int) Math.round(0.75 * ITEMS);
    threshold = (sorted[kept - 1] + sorted[kept]) / 2;
  }

  @AfterAll
  static void close() {
    small.close();
  }

  @Test
  void aFlaggedRequestIsEscalatedWithoutDecodingAndAnUnflaggedOneIsDecodedAsWithoutTheSkip() {
    Counting model = new Counting(small, false);
    Observer observer = new Observer();
    DeferralPolicy without = policy(null);
    DeferralPolicy with = policy(new PregenSkipPolicy("pregen-skip", threshold));

    List<Routed> plain = route(router(new Counting(small, false), resolver(promptRule), new Observer()), without);
    TargetRateController controller = new TargetRateController();
    List<Routed> skipping = route(router(model, resolver(promptRule), observer, controller), with);

    int skipped = 0;
    for (int i = 0; i < ITEMS; i++) {
      boolean flagged = expectedScores[i] > threshold;
      Routed r = skipping.get(i);
      if (flagged) {
        skipped++;
        assertThat(r).as(prompts.get(i)).isInstanceOf(Routed.Escalated.class);
        Escalation e = ((Routed.Escalated) r).escalation();
        assertThat(e.getSmallStop()).isEqualTo(SmallStop.PREGEN_SKIP);
        assertThat(e.getSmallStopStep()).isZero();
        assertThat(e.getSmallText()).isEmpty();
        assertThat(e.getSmallTokens()).isEmpty();
        assertThat(e.getDecision()).isEqualTo(Decision.DEFER);
        assertThat(e.getPropensity()).isEqualTo(1.0);
        assertThat(e.getSmallFailure()).isNull();
        assertThat(e.getPregenSkipRule()).isEqualTo("pregen-skip@3");
        assertThat(e.getPregenSkipScore()).isCloseTo(expectedScores[i], org.assertj.core.api.Assertions.within(1e-4));
        assertThat(e.getPregenSkipThreshold()).isEqualTo(threshold);
        assertThat(model.decoded).as("the small model never decoded it").doesNotContain(prompts.get(i));
      } else {
        assertThat(model.decoded).contains(prompts.get(i));
        Routed p = plain.get(i);
        assertThat(decision(r)).as(prompts.get(i)).isEqualTo(decision(p));
        assertThat(smallText(r)).isEqualTo(smallText(p));
        assertThat(pregenScore(r)).isCloseTo(expectedScores[i], org.assertj.core.api.Assertions.within(1e-4));
      }
    }
    assertThat(skipped).isBetween(ITEMS / 5, ITEMS / 3);
    assertThat(observer.skipped.get()).isEqualTo(skipped);
    assertThat(observer.failed.get()).isZero();
    assertThat(model.decoded).hasSize(ITEMS - skipped);
    // The target-rate controller saw every decoded request's score and was told of each skipped one.
    assertThat(controller.scoresSeen()).isEqualTo(ITEMS - skipped);
    assertThat(controller.skippedShare()).isPositive();
  }

  @Test
  void aSkipRuleMadeForAnotherModelSkipsNothingAndIsRefusedByName() {
    LearnedRule other = promptRule.withInfo(promptRule.info().withModel("0".repeat(64), PromptFeatures.LAYOUT));
    RuleResolver resolver = resolver(other);
    assertThatThrownBy(() -> resolver.resolveSkip("pregen-skip"))
        .isInstanceOfSatisfying(RuleResolver.RuleUnavailableException.class,
            e -> assertThat(e.problem()).isEqualTo(RuleResolver.Problem.OTHER_MODEL))
        .hasMessageContaining("0".repeat(64)).hasMessageContaining(ModelFingerprint.of("small"));
    DeferralPolicy with = policy(new PregenSkipPolicy("pregen-skip", threshold));
    assertThatThrownBy(() -> resolver.check(with)).isInstanceOf(RuleResolver.RuleUnavailableException.class);

    Counting model = new Counting(small, false);
    Observer observer = new Observer();
    List<Routed> routed = route(router(model, resolver, observer), with);
    assertThat(model.decoded).hasSize(ITEMS);
    assertThat(routed).noneMatch(r -> r instanceof Routed.Escalated e
        && SmallStop.PREGEN_SKIP.equals(e.escalation().getSmallStop()));
    assertThat(observer.failed.get()).isEqualTo(ITEMS);
  }

  @Test
  void aPostGenerationRuleOrAnUnknownNameIsNotASkipRule() {
    LearnedRule postLayout = promptRule.withInfo(
        promptRule.info().withModel(ModelFingerprint.of("small"), ModelFingerprint.FEATURE_LAYOUT));
    assertThatThrownBy(() -> resolver(postLayout).resolveSkip("pregen-skip"))
        .hasMessageContaining("feature layout 'uncertainty/v1'").hasMessageContaining(PromptFeatures.LAYOUT);
    assertThatThrownBy(() -> resolver(promptRule).resolveSkip(ChowSumRule.NAME))
        .hasMessageContaining("post-generation rule");
    // A version newer than any known may still be on its way (pending); an older one is missing.
    assertThatThrownBy(() -> resolver(promptRule).resolveSkip("pregen-skip@9"))
        .isInstanceOfSatisfying(RuleResolver.RuleUnavailableException.class,
            e -> assertThat(e.problem()).isEqualTo(RuleResolver.Problem.PENDING_VERSION))
        .hasMessageContaining("has no version 9 yet").hasMessageContaining("[3]");
    assertThatThrownBy(() -> resolver(promptRule).resolveSkip("pregen-skip@2"))
        .isInstanceOfSatisfying(RuleResolver.RuleUnavailableException.class,
            e -> assertThat(e.problem()).isEqualTo(RuleResolver.Problem.MISSING_VERSION))
        .hasMessageContaining("has no version 2;");
    // And the prompt rule is no deferral rule: a policy naming it as its rule falls back.
    assertThatThrownBy(() -> resolver(promptRule).resolve("pregen-skip"))
        .hasMessageContaining("uses feature layout 'prompt/v1'");
  }

  @Test
  void aSkipRuleThatCannotScoreLosesNoRequest() {
    Counting model = new Counting(small, true);
    Observer observer = new Observer();
    List<Routed> routed = route(router(model, resolver(promptRule), observer),
        policy(new PregenSkipPolicy("pregen-skip", threshold)));
    assertThat(routed).hasSize(ITEMS);
    assertThat(model.decoded).hasSize(ITEMS);
    assertThat(observer.failed.get()).isEqualTo(ITEMS);
    assertThat(observer.skipped.get()).isZero();
    assertThat(routed).allMatch(r -> pregenScore(r) == null);
  }

  @Test
  void aRuleOverThePromptTextAloneSkipsWithoutAPromptPass() {
    List<String> training = Examples.bundled("validation").subList(0, 300).stream().map(Example::prompt).toList();
    List<DeferralExample> examples = new ArrayList<>();
    for (String prompt : training) {
      examples.add(new DeferralExample(FeatureExtractor.extract(new float[0], new float[0]),
          PromptFeatures.ofText(prompt), false, prompt.length() > 12));
    }
    LearnedRule trained = RuleTrainer.train("pregen-skip", PromptFeatures.textModelNames(), examples, "test", 4,
        new RuleTrainer.Options(2, 7, List.of(LearnerSpec.logisticRegression(10, 0.1))), RuleTrainer.Progress.NONE)
        .rule();
    LearnedRule textRule = trained.withInfo(trained.info().withModel(ModelFingerprint.of("small"),
        PromptFeatures.TEXT_LAYOUT));
    assertThat(PromptFeatures.needsPass(textRule)).isFalse();
    double[] scores = PromptFeatures.scores(textRule, prompts, null);
    double[] sorted = scores.clone();
    Arrays.sort(sorted);
    int kept = (int) Math.round(0.75 * ITEMS);
    double t = (sorted[kept - 1] + sorted[kept]) / 2;

    // A model whose prompt pass fails: a text rule never asks for one.
    Counting model = new Counting(small, true);
    Observer observer = new Observer();
    List<Routed> routed = route(router(model, resolver(textRule), observer), policy(new PregenSkipPolicy("pregen-skip",
        t)));
    int skipped = 0;
    for (int i = 0; i < ITEMS; i++) {
      boolean flagged = scores[i] > t;
      skipped += flagged ? 1 : 0;
      Routed r = routed.get(i);
      boolean marked = r instanceof Routed.Escalated e && SmallStop.PREGEN_SKIP.equals(e.escalation().getSmallStop());
      assertThat(marked).as(prompts.get(i)).isEqualTo(flagged);
      assertThat(model.decoded.contains(prompts.get(i))).isEqualTo(!flagged);
    }
    // Prompts of the same length tie, so the share flagged is only about a quarter.
    assertThat(skipped).isPositive().isLessThan(ITEMS / 2);
    assertThat(observer.failed.get()).isZero();
    assertThat(observer.skipped.get()).isEqualTo(skipped);
  }

  @Test
  void aSkipNeedsBothARuleAndAFiniteThreshold() {
    assertThat(PregenSkipPolicy.of(null, null)).isNull();
    assertThatThrownBy(() -> PregenSkipPolicy.of("pregen-skip", null))
        .isInstanceOfSatisfying(InvalidPolicyException.class,
            e -> assertThat(e.field()).isEqualTo("pregenSkip.threshold"));
    assertThatThrownBy(() -> PregenSkipPolicy.of(null, 0.5))
        .isInstanceOfSatisfying(InvalidPolicyException.class, e -> assertThat(e.field()).isEqualTo("pregenSkip.rule"));
    assertThatThrownBy(() -> new PregenSkipPolicy("pregen-skip", Double.NaN)).hasMessageContaining("finite");
  }

  private static DeferralPolicy policy(PregenSkipPolicy skip) {
    return new DeferralPolicy(ChowSumRule.NAME, 0.0, 6.0, 0.0, 0.0, 1L, "test", 0L, "").withPregenSkip(skip);
  }

  private static RuleResolver resolver(LearnedRule rule) {
    RuleCatalog catalog = new RuleCatalog(ModelFingerprint.of("small"));
    catalog.add(rule);
    return new RuleResolver(DeferralRules.builtIn(), catalog);
  }

  private static SmallModelRouter router(TextGenerator model, RuleResolver rules, RoutingObserver observer) {
    return router(model, rules, observer, new TargetRateController());
  }

  private static SmallModelRouter router(TextGenerator model, RuleResolver rules, RoutingObserver observer,
      TargetRateController controller) {
    return new SmallModelRouter(model, rules, controller,
        new RoutingRecords(new CostModel(1, 20), String::length, observer), 48, Clock.systemUTC(),
        ResponseCache.disabled(), true);
  }

  private static List<Routed> route(SmallModelRouter router, DeferralPolicy policy) {
    List<Routed> out = new ArrayList<>();
    for (int start = 0; start < ITEMS; start += BATCH) {
      List<PendingRequest> batch = new ArrayList<>();
      for (int i = start; i < Math.min(ITEMS, start + BATCH); i++) {
        batch.add(new PendingRequest(CascadeRequest.newBuilder().setRequestId("req-" + i).setPrompt(prompts.get(i))
            .setMaxNewTokens(0).setMetadata(Map.of()).setCreatedAtMs(0L).build(), 0L));
      }
      List<Routed> routed = router.route(batch, policy);
      for (int j = 0; j < batch.size(); j++) {
        assertThat(routed.get(j).requestId()).isEqualTo(batch.get(j).request().getRequestId());
      }
      out.addAll(routed);
    }
    return out;
  }

  private static Decision decision(Routed r) {
    return r instanceof Routed.Escalated e ? e.escalation().getDecision()
        : ((Routed.Answered) r).outcome().getDecision();
  }

  private static String smallText(Routed r) {
    return r instanceof Routed.Escalated e ? e.escalation().getSmallText()
        : ((Routed.Answered) r).outcome().getSmallText();
  }

  private static Double pregenScore(Routed r) {
    return r instanceof Routed.Escalated e ? e.escalation().getPregenSkipScore()
        : ((Routed.Answered) r).outcome().getPregenSkipScore();
  }

  /** Counts what the router asks of the model: the prompts it decodes; optionally a prompt pass that fails. */
  private static final class Counting implements TextGenerator {
    private final TextGenerator inner;
    private final boolean passFails;
    final Set<String> decoded = Collections.synchronizedSet(new HashSet<>());

    Counting(TextGenerator inner, boolean passFails) {
      this.inner = inner;
      this.passFails = passFails;
    }

    @Override
    public List<Generation> generate(List<String> prompts, int maxNewTokens) {
      decoded.addAll(prompts);
      return inner.generate(prompts, maxNewTokens);
    }

    @Override
    public List<Generation> generate(List<String> prompts, int maxNewTokens, Cancellation cancellation) {
      decoded.addAll(prompts);
      return inner.generate(prompts, maxNewTokens, cancellation);
    }

    @Override
    public List<Generation> generate(List<String> prompts, int maxNewTokens, Cancellation cancellation,
        EarlyStop earlyStop) {
      decoded.addAll(prompts);
      return inner.generate(prompts, maxNewTokens, cancellation, earlyStop);
    }

    @Override
    public List<PromptScore> scorePrompts(List<String> prompts) {
      if (passFails) {
        throw new IllegalStateException("prompt pass failed (test)");
      }
      return inner.scorePrompts(prompts);
    }

    @Override
    public Optional<String> checkPrompt(String prompt) {
      return inner.checkPrompt(prompt);
    }

    @Override
    public ModelInfo info() {
      return inner.info();
    }

    @Override
    public void close() {}
  }

  private static final class Observer implements RoutingObserver {
    final AtomicInteger skipped = new AtomicInteger();
    final AtomicInteger failed = new AtomicInteger();

    @Override
    public void pregenSkipped() {
      skipped.incrementAndGet();
    }

    @Override
    public void pregenSkipFailed(int requests) {
      failed.addAndGet(requests);
    }
  }
}
