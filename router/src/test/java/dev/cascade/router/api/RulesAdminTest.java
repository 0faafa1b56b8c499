package dev.cascade.router.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import dev.cascade.proto.v1.GetRuleRequest;
import dev.cascade.proto.v1.ListRulesRequest;
import dev.cascade.proto.v1.Policy;
import dev.cascade.proto.v1.PolicyAdminGrpc;
import dev.cascade.proto.v1.PublishRuleRequest;
import dev.cascade.proto.v1.Rule;
import dev.cascade.proto.v1.UpdatePolicyRequest;
import dev.cascade.router.learning.LearnedRule;
import dev.cascade.router.learning.LearnedRules;
import dev.cascade.router.learning.ModelFingerprint;
import dev.cascade.router.learning.PromptFeatures;
import dev.cascade.router.learning.RuleArtifacts;
import dev.cascade.router.learning.RuleInfo;
import dev.cascade.router.policy.DeferralPolicy;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** PolicyAdmin's rule calls (ListRules, GetRule, PublishRule) over an in-process channel, the rules topic faked. */
class RulesAdminTest {

  private static final String TOKEN = "s3cret-token";
  private static final String QUANTILE = "posthoc-quantile";

  private FakeKafkaServer server;
  private InMemoryRuleStore store;
  private ManagedChannel channel;

  @BeforeEach
  void start() throws Exception {
    String name = InProcessServerBuilder.generateName();
    server = new FakeKafkaServer(InProcessServerBuilder.forName(name), prompt -> Optional.empty(),
        new DeferralPolicy("chow-sum", 0.0, 2.0, 0.0, 0.0, 1, "config", 0, "configured default"),
        TOKEN, Duration.ofSeconds(5));
    store = server.rules;
    channel = InProcessChannelBuilder.forName(name).build();
  }

  @AfterEach
  void stop() throws Exception {
    channel.shutdownNow();
    server.stop();
  }

  private PolicyAdminGrpc.PolicyAdminBlockingStub admin(String token) {
    return FakeKafkaServer.admin(channel, token, 10);
  }

  private static LearnedRule shippedQuantile() {
    return LearnedRules.bundledRules().get(0);
  }

  private static PublishRuleRequest publish(LearnedRule rule, long version) {
    return PublishRuleRequest.newBuilder().setArtifact(ByteString.copyFrom(RuleArtifacts.encode(rule)))
        .setVersion(version).build();
  }

  private static LearnedRule renamed(LearnedRule rule, String name) {
    RuleInfo i = rule.info();
    return rule.withInfo(new RuleInfo(name, i.version(), i.learner(), i.featureNames(), i.trainingDataRange(),
        i.validationMetrics(), i.createdAtMs(), i.modelFingerprint(), i.featureLayout(), i.calibrationScores(),
        i.calibrationWeights(), i.trainingPrompts()));
  }

  /** {@code NAME@VERSION} of a rule message. */
  private static String spec(Rule rule) {
    return rule.getName() + "@" + rule.getVersion();
  }

  private static void assertRefused(Runnable call, Status.Code code, String... descriptionParts) {
    assertThatThrownBy(call::run).isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
      assertThat(e.getStatus().getCode()).isEqualTo(code);
      for (String part : descriptionParts) {
        assertThat(e.getStatus().getDescription()).contains(part);
      }
    });
  }

  @Test
  void listRulesShowsTheShippedVersionsByNameWithoutArtifacts() {
    var rules = admin(null).listRules(ListRulesRequest.getDefaultInstance()).getRulesList();

    assertThat(rules).extracting(RulesAdminTest::spec).containsExactly("posthoc-embed@0", "posthoc-quantile@0");
    Rule quantile = rules.get(1);
    RuleInfo shipped = shippedQuantile().info();
    assertThat(quantile.getApplicable()).isTrue();
    assertThat(quantile.getNotApplicableReason()).isEmpty();
    assertThat(quantile.getArtifact().isEmpty()).isTrue();
    assertThat(quantile.getLearner()).isEqualTo(shipped.learner());
    assertThat(quantile.getModelFingerprint()).isEqualTo(FakeKafkaServer.bundledModelFingerprint());
    assertThat(quantile.getFeatureLayout()).isEqualTo(ModelFingerprint.FEATURE_LAYOUT);
    assertThat(quantile.getFeatureNamesList()).isEqualTo(shipped.featureNames());
    assertThat(quantile.getValidationMetricsMap()).isEqualTo(shipped.validationMetrics());
    assertThat(quantile.getCreatedAtMs()).isEqualTo(shipped.createdAtMs());
  }

  @Test
  void listRulesMarksAVersionMadeForAnotherModelAsNotApplicable() {
    LearnedRule other = shippedQuantile().withInfo(shippedQuantile().info().withVersion(4)
        .withModel("00".repeat(32), ModelFingerprint.FEATURE_LAYOUT));
    server.catalog.add(other);

    Rule listed = admin(null).listRules(ListRulesRequest.getDefaultInstance()).getRulesList().stream()
        .filter(r -> r.getName().equals(QUANTILE) && r.getVersion() == 4).findFirst().orElseThrow();
    assertThat(listed.getApplicable()).isFalse();
    assertThat(listed.getNotApplicableReason()).contains("00".repeat(32), FakeKafkaServer.bundledModelFingerprint());
  }

  @Test
  void getRuleReturnsTheVersionWithItsArtifactAndTheNewestWhenNoneIsGiven() throws Exception {
    admin(TOKEN).publishRule(publish(shippedQuantile(), 3));

    Rule latest = admin(null).getRule(GetRuleRequest.newBuilder().setName(QUANTILE).build());
    assertThat(latest.getVersion()).isEqualTo(3);
    LearnedRule decoded = RuleArtifacts.decode(latest.getArtifact().toByteArray());
    assertThat(decoded.info()).isEqualTo(shippedQuantile().info().withVersion(3));

    Rule shipped = admin(null).getRule(GetRuleRequest.newBuilder().setName(QUANTILE).setVersion(0).build());
    assertThat(shipped.getVersion()).isZero();
    assertThat(RuleArtifacts.decode(shipped.getArtifact().toByteArray()).info()).isEqualTo(shippedQuantile().info());
  }

  @Test
  void getRuleOfAnUnknownNameOrVersionIsNotFoundNamingWhatIsKnown() {
    assertRefused(() -> admin(null).getRule(GetRuleRequest.newBuilder().setName(QUANTILE).setVersion(9).build()),
        Status.Code.NOT_FOUND, "'posthoc-quantile'", "no version 9", "known versions: [0]");
    assertRefused(() -> admin(null).getRule(GetRuleRequest.newBuilder().setName("no-such-rule").build()),
        Status.Code.NOT_FOUND, "'no-such-rule'", "posthoc-embed, posthoc-quantile");
    assertRefused(() -> admin(null).getRule(GetRuleRequest.getDefaultInstance()), Status.Code.INVALID_ARGUMENT,
        "name: missing");
  }

  @Test
  void publishWithoutAVersionGivesTheNextOneAndWithAVersionThatOne() {
    Rule first = admin(TOKEN).publishRule(publish(shippedQuantile(), 0));
    assertThat(spec(first)).isEqualTo("posthoc-quantile@1");
    assertThat(first.getApplicable()).isTrue();
    assertThat(first.getArtifact().isEmpty()).isTrue();
    assertThat(spec(admin(TOKEN).publishRule(publish(shippedQuantile(), 7))))
        .isEqualTo("posthoc-quantile@7");
    assertThat(spec(admin(TOKEN).publishRule(publish(shippedQuantile(), 0))))
        .isEqualTo("posthoc-quantile@8");
    assertThat(spec(admin(TOKEN).publishRule(publish(renamed(shippedQuantile(), "posthoc-fresh"), 0))))
        .isEqualTo("posthoc-fresh@1");

    assertThat(store.published).extracting(r -> r.name() + "@" + r.info().version())
        .containsExactly("posthoc-quantile@1", "posthoc-quantile@7", "posthoc-quantile@8", "posthoc-fresh@1");
    assertThat(server.catalog.versions(QUANTILE)).containsExactly(0L, 1L, 7L, 8L);
    assertThat(admin(null).listRules(ListRulesRequest.getDefaultInstance()).getRulesList())
        .extracting(RulesAdminTest::spec).containsExactly("posthoc-embed@0", "posthoc-fresh@1", "posthoc-quantile@0",
            "posthoc-quantile@1", "posthoc-quantile@7", "posthoc-quantile@8");
  }

  @Test
  void aPublishedVersionCanBePinnedByAPolicy() {
    admin(TOKEN).publishRule(publish(shippedQuantile(), 7));
    Policy pinned = admin(TOKEN).updatePolicy(UpdatePolicyRequest.newBuilder().setPolicy(Policy.newBuilder()
        .setRule("posthoc-quantile@7").setThreshold(0.5)).build());
    assertThat(pinned.getRule()).isEqualTo(QUANTILE);
    assertThat(pinned.getRuleVersion()).isEqualTo(7);
  }

  @Test
  void theHighestVersionALongHoldsIsGettableAndPinnableAndHasNoNextVersion() {
    Rule highest = admin(TOKEN).publishRule(publish(shippedQuantile(), Long.MAX_VALUE));
    assertThat(highest.getVersion()).isEqualTo(Long.MAX_VALUE);

    // Without a version there is no next one: refused, nothing written, not wrapped round to a negative version.
    assertRefused(() -> admin(TOKEN).publishRule(publish(shippedQuantile(), 0)), Status.Code.FAILED_PRECONDITION,
        "version: ", "'posthoc-quantile'", "9223372036854775807", "no next one");
    assertThat(store.published).hasSize(1);
    assertThat(server.catalog.versions(QUANTILE)).containsExactly(0L, Long.MAX_VALUE);
    // An unused version may still be given.
    assertThat(spec(admin(TOKEN).publishRule(publish(shippedQuantile(), 3)))).isEqualTo("posthoc-quantile@3");

    assertThat(admin(null).getRule(GetRuleRequest.newBuilder().setName(QUANTILE).setVersion(Long.MAX_VALUE).build())
        .getVersion()).isEqualTo(Long.MAX_VALUE);
    Policy pinned = admin(TOKEN).updatePolicy(UpdatePolicyRequest.newBuilder().setPolicy(Policy.newBuilder()
        .setRule("posthoc-quantile@9223372036854775807").setThreshold(0.5)).build());
    assertThat(pinned.getRule()).isEqualTo(QUANTILE);
    assertThat(pinned.getRuleVersion()).isEqualTo(Long.MAX_VALUE);
    Policy shadowed = admin(TOKEN).updatePolicy(UpdatePolicyRequest.newBuilder().setPolicy(Policy.newBuilder()
        .setRule("chow-sum").setThreshold(2).addShadowRules("posthoc-quantile@9223372036854775807")).build());
    assertThat(shadowed.getShadowRulesList()).containsExactly("posthoc-quantile@9223372036854775807");
    // One above it is no version at all, and said so.
    assertRefused(() -> admin(TOKEN).updatePolicy(UpdatePolicyRequest.newBuilder().setPolicy(Policy.newBuilder()
        .setRule("posthoc-quantile@9223372036854775808").setThreshold(0.5)).build()), Status.Code.INVALID_ARGUMENT,
        "policy.rule: ", "9223372036854775808", "above the highest");
  }

  @Test
  void aRuleVersionBelowZeroIsNotAdmittedToTheCatalog() {
    LearnedRule negative = shippedQuantile().withInfo(shippedQuantile().info().withVersion(Long.MIN_VALUE));
    assertThatThrownBy(() -> server.catalog.add(negative)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("versions are 0 or above");
    assertThat(server.catalog.versions(QUANTILE)).containsExactly(0L);
  }

  @Test
  void aBadShadowOrFallbackRuleIsRefusedNamingThatField() {
    assertRefused(() -> admin(TOKEN).updatePolicy(UpdatePolicyRequest.newBuilder().setPolicy(Policy.newBuilder()
        .setRule("chow-sum").setThreshold(2).addShadowRules("bogus")).build()), Status.Code.INVALID_ARGUMENT,
        "policy.shadow_rules[0]: ", "'bogus'");
    assertRefused(() -> admin(TOKEN).updatePolicy(UpdatePolicyRequest.newBuilder().setPolicy(Policy.newBuilder()
        .setRule("chow-sum").setThreshold(2).addShadowRules("chow-average").addShadowRules("posthoc-quantile@9"))
        .build()), Status.Code.INVALID_ARGUMENT, "policy.shadow_rules[1]: ", "no version 9");
    assertRefused(() -> admin(TOKEN).updatePolicy(UpdatePolicyRequest.newBuilder().setPolicy(Policy.newBuilder()
        .setRule("chow-sum").setThreshold(2).setFallbackRule("bogus")).build()), Status.Code.INVALID_ARGUMENT,
        "policy.fallback_rule: ", "'bogus'");
    // A learned rule as the fallback is a wrong argument (any small model must be able to apply it).
    assertRefused(() -> admin(TOKEN).updatePolicy(UpdatePolicyRequest.newBuilder().setPolicy(Policy.newBuilder()
        .setRule("chow-sum").setThreshold(2).setFallbackRule(QUANTILE)).build()), Status.Code.INVALID_ARGUMENT,
        "policy.fallback_rule: ", "closed-form");
    assertThat(server.policies.published).isEmpty();
  }

  @Test
  void aPolicyNamingAMissingRuleOrVersionIsInvalidAndOneForAnotherModelAFailedPrecondition() {
    assertRefused(() -> admin(TOKEN).updatePolicy(UpdatePolicyRequest.newBuilder().setPolicy(Policy.newBuilder()
        .setRule("posthoc-quantile@9").setThreshold(0.5)).build()), Status.Code.INVALID_ARGUMENT,
        "policy.rule", "no version 9", "[0]");
    assertRefused(() -> admin(TOKEN).updatePolicy(UpdatePolicyRequest.newBuilder().setPolicy(Policy.newBuilder()
        .setRule("no-such-rule").setThreshold(0.5)).build()), Status.Code.INVALID_ARGUMENT, "no-such-rule");
    LearnedRule other = shippedQuantile().withInfo(shippedQuantile().info().withVersion(5)
        .withModel("00".repeat(32), ModelFingerprint.FEATURE_LAYOUT));
    server.catalog.add(other);
    assertRefused(() -> admin(TOKEN).updatePolicy(UpdatePolicyRequest.newBuilder().setPolicy(Policy.newBuilder()
        .setRule("posthoc-quantile@5").setThreshold(0.5)).build()), Status.Code.FAILED_PRECONDITION,
        "00".repeat(32), FakeKafkaServer.bundledModelFingerprint());
    assertRefused(() -> admin(TOKEN).updatePolicy(UpdatePolicyRequest.newBuilder().setPolicy(Policy.newBuilder()
        .setRule("chow-sum").addShadowRules("posthoc-quantile@5").setThreshold(0.5)).build()),
        Status.Code.FAILED_PRECONDITION, "00".repeat(32));
  }

  @Test
  void aPromptRuleIsPublishedAsASkipRuleThatAPolicyNamesAsOneAndOnlyAsOne() {
    LearnedRule skip = renamed(shippedQuantile(), "pregen-skip");
    skip = skip.withInfo(skip.info().withModel(FakeKafkaServer.bundledModelFingerprint(), PromptFeatures.LAYOUT));
    Rule published = admin(TOKEN).publishRule(publish(skip, 0));
    assertThat(spec(published)).isEqualTo("pregen-skip@1");
    assertThat(published.getApplicable()).isTrue();

    Policy withSkip = admin(TOKEN).updatePolicy(UpdatePolicyRequest.newBuilder().setPolicy(Policy.newBuilder()
        .setRule("chow-sum").setThreshold(2.0).setPregenSkipRule("pregen-skip").setPregenSkipThreshold(0.7)).build());
    assertThat(withSkip.getPregenSkipRule()).isEqualTo("pregen-skip");
    assertThat(withSkip.getPregenSkipThreshold()).isEqualTo(0.7);
    assertThat(server.policies.current().pregenSkip())
        .isEqualTo(new dev.cascade.router.policy.PregenSkipPolicy("pregen-skip", 0.7));

    // Not as the deferral rule; and a deferral rule is no skip rule.
    assertRefused(() -> admin(TOKEN).updatePolicy(UpdatePolicyRequest.newBuilder().setPolicy(Policy.newBuilder()
        .setRule("pregen-skip").setThreshold(0.5)).build()), Status.Code.FAILED_PRECONDITION,
        "policy.rule", "pre-generation skip rule");
    assertRefused(() -> admin(TOKEN).updatePolicy(UpdatePolicyRequest.newBuilder().setPolicy(Policy.newBuilder()
        .setRule("chow-sum").setThreshold(2.0).setPregenSkipRule(QUANTILE).setPregenSkipThreshold(0.7)).build()),
        Status.Code.FAILED_PRECONDITION, "policy.pregen_skip_rule", "'" + ModelFingerprint.FEATURE_LAYOUT + "'",
        PromptFeatures.LAYOUT);
    // One made for another small model is refused naming both fingerprints, as a deferral rule is.
    server.catalog.add(skip.withInfo(skip.info().withVersion(5).withModel("00".repeat(32), PromptFeatures.LAYOUT)));
    assertRefused(() -> admin(TOKEN).updatePolicy(UpdatePolicyRequest.newBuilder().setPolicy(Policy.newBuilder()
        .setRule("chow-sum").setThreshold(2.0).setPregenSkipRule("pregen-skip@5").setPregenSkipThreshold(0.7))
        .build()), Status.Code.FAILED_PRECONDITION, "policy.pregen_skip_rule", "00".repeat(32),
        FakeKafkaServer.bundledModelFingerprint());
    assertRefused(() -> admin(TOKEN).updatePolicy(UpdatePolicyRequest.newBuilder().setPolicy(Policy.newBuilder()
        .setRule("chow-sum").setThreshold(2.0).setPregenSkipRule("pregen-skip")).build()),
        Status.Code.INVALID_ARGUMENT, "policy.pregen_skip_threshold", "'pregen-skip@1' records no threshold");
    assertThat(server.policies.current().pregenSkip().threshold()).isEqualTo(0.7);
  }

  @Test
  void aSkipRuleNamedWithoutAThresholdGetsTheOneItsArtifactRecordsPinnedToThatVersion() {
    LearnedRule skip = renamed(shippedQuantile(), "pregen-skip");
    skip = skip.withInfo(skip.info().withModel(FakeKafkaServer.bundledModelFingerprint(), PromptFeatures.LAYOUT)
        .withMetrics(java.util.Map.of(PromptFeatures.SKIP_THRESHOLD_METRIC, 0.31)));
    assertThat(spec(admin(TOKEN).publishRule(publish(skip, 0)))).isEqualTo("pregen-skip@1");

    Policy withSkip = admin(TOKEN).updatePolicy(UpdatePolicyRequest.newBuilder().setPolicy(Policy.newBuilder()
        .setRule("chow-sum").setThreshold(2.0).setPregenSkipRule("pregen-skip")).build());
    assertThat(withSkip.getPregenSkipRule()).isEqualTo("pregen-skip@1");
    assertThat(withSkip.getPregenSkipThreshold()).isEqualTo(0.31);
    assertThat(server.policies.current().pregenSkip())
        .isEqualTo(new dev.cascade.router.policy.PregenSkipPolicy("pregen-skip@1", 0.31));
    // A newer version records another threshold: naming the rule alone takes the newest with its own.
    admin(TOKEN).publishRule(publish(skip.withInfo(skip.info().withMetrics(
        java.util.Map.of(PromptFeatures.SKIP_THRESHOLD_METRIC, 0.44))), 0));
    assertThat(admin(TOKEN).updatePolicy(UpdatePolicyRequest.newBuilder().setPolicy(Policy.newBuilder()
        .setRule("chow-sum").setThreshold(2.0).setPregenSkipRule("pregen-skip")).build()).getPregenSkipThreshold())
        .isEqualTo(0.44);
    // A threshold given wins over the recorded one; a rule the router cannot apply is refused naming the rule.
    assertThat(admin(TOKEN).updatePolicy(UpdatePolicyRequest.newBuilder().setPolicy(Policy.newBuilder()
        .setRule("chow-sum").setThreshold(2.0).setPregenSkipRule("pregen-skip@1").setPregenSkipThreshold(0.9))
        .build()).getPregenSkipThreshold()).isEqualTo(0.9);
    assertRefused(() -> admin(TOKEN).updatePolicy(UpdatePolicyRequest.newBuilder().setPolicy(Policy.newBuilder()
        .setRule("chow-sum").setThreshold(2.0).setPregenSkipRule("no-such-skip")).build()),
        Status.Code.INVALID_ARGUMENT, "policy.pregen_skip_rule", "no-such-skip");
  }

  @Test
  void publishingAnExistingVersionIsRefusedAndChangesNothing() {
    admin(TOKEN).publishRule(publish(shippedQuantile(), 2));
    assertRefused(() -> admin(TOKEN).publishRule(publish(shippedQuantile(), 2)), Status.Code.ALREADY_EXISTS,
        "'posthoc-quantile'", "version 2", "[0, 2]");
    assertThat(store.published).hasSize(1);
  }

  @Test
  void anArtifactThatIsNotARuleIsRefusedNamingTheArtifact() {
    PublishRuleRequest garbage = PublishRuleRequest.newBuilder()
        .setArtifact(ByteString.copyFromUtf8("not a rule artifact at all")).build();
    assertRefused(() -> admin(TOKEN).publishRule(garbage), Status.Code.INVALID_ARGUMENT, "artifact: ");
    assertRefused(() -> admin(TOKEN).publishRule(PublishRuleRequest.getDefaultInstance()),
        Status.Code.INVALID_ARGUMENT, "artifact: missing");
    assertRefused(() -> admin(TOKEN).publishRule(publish(shippedQuantile(), -1)), Status.Code.INVALID_ARGUMENT,
        "version: ");
    assertRefused(() -> admin(TOKEN).publishRule(publish(renamed(shippedQuantile(), "chow-sum"), 0)),
        Status.Code.INVALID_ARGUMENT, "artifact: ", "'chow-sum'");
    assertRefused(() -> admin(TOKEN).publishRule(publish(renamed(shippedQuantile(), "chow-quantile-0.1"), 0)),
        Status.Code.INVALID_ARGUMENT, "artifact: ", "'chow-quantile-0.1'");
    assertThat(store.published).isEmpty();
  }

  @Test
  void aRuleMadeForAnotherSmallModelIsAFailedPreconditionNamingBothFingerprints() {
    LearnedRule other = shippedQuantile().withInfo(shippedQuantile().info()
        .withModel("00".repeat(32), ModelFingerprint.FEATURE_LAYOUT));
    assertRefused(() -> admin(TOKEN).publishRule(publish(other, 0)), Status.Code.FAILED_PRECONDITION,
        "00".repeat(32), FakeKafkaServer.bundledModelFingerprint());
    LearnedRule otherLayout = shippedQuantile().withInfo(shippedQuantile().info()
        .withModel(FakeKafkaServer.bundledModelFingerprint(), "uncertainty/v0"));
    assertRefused(() -> admin(TOKEN).publishRule(publish(otherLayout, 0)), Status.Code.FAILED_PRECONDITION,
        "uncertainty/v0", ModelFingerprint.FEATURE_LAYOUT);
    assertThat(store.published).isEmpty();
    assertThat(server.catalog.versions(QUANTILE)).containsExactly(0L);
  }

  @Test
  void publishingWithoutTheTokenOrWithAWrongOneIsRefusedAndWritesNothing() {
    for (String token : new String[] {null, "wrong", ""}) {
      assertRefused(() -> admin(token).publishRule(publish(shippedQuantile(), 0)), Status.Code.UNAUTHENTICATED);
    }
    assertThat(store.published).isEmpty();
  }

  @Test
  void aStoreThatCannotWriteIsUnavailable() {
    store.failure = new IllegalStateException("broker down");
    assertRefused(() -> admin(TOKEN).publishRule(publish(shippedQuantile(), 0)), Status.Code.UNAVAILABLE,
        "broker down");
    assertThat(server.catalog.versions(QUANTILE)).containsExactly(0L);
  }
}
