package dev.cascade.router.api;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.learning.LearnedRule;
import dev.cascade.router.learning.LearnedRules;
import dev.cascade.router.learning.ModelFingerprint;
import dev.cascade.router.learning.RuleArtifacts;
import dev.cascade.router.policy.DeferralPolicy;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import dev.cascade.router.policy.TierPolicy;

/** {@code cascade ask}, {@code cascade feedback}, {@code cascade policy} and {@code cascade rules} against a loopback server whose Kafka side is faked. */
class CommandLineClientsTest {

  private FakeKafkaServer server;
  private FakeChannel requests;
  private InMemoryPolicyStore policies;
  private String target;

  @BeforeEach
  void start() throws Exception {
    InetSocketAddress loopback = new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);
    server = new FakeKafkaServer(NettyServerBuilder.forAddress(loopback),
        prompt -> prompt.isEmpty() ? Optional.of("prompt: must not be empty") : Optional.empty(),
        new DeferralPolicy("chow-quantile", 0.2, 2.0, 0.03, 0.0, 1, "config", 0, "configured default"),
        "tok", Duration.ofSeconds(5));
    requests = server.requests;
    policies = server.policies;
    target = "127.0.0.1:" + server.port();
  }

  @AfterEach
  void stop() throws Exception {
    server.stop();
  }

  /**
   * The policy in force changed by {@code change}, sent straight to the server (as a client that
   * does not check it first would): the description of the INVALID_ARGUMENT it answers.
   */
  private String refusedByServer(java.util.function.Consumer<dev.cascade.proto.v1.Policy.Builder> change) {
    io.grpc.ManagedChannel channel = io.grpc.Grpc.newChannelBuilder(target,
        io.grpc.InsecureChannelCredentials.create()).build();
    try {
      io.grpc.Metadata headers = new io.grpc.Metadata();
      headers.put(io.grpc.Metadata.Key.of("authorization", io.grpc.Metadata.ASCII_STRING_MARSHALLER), "Bearer tok");
      dev.cascade.proto.v1.PolicyAdminGrpc.PolicyAdminBlockingStub stub = dev.cascade.proto.v1.PolicyAdminGrpc
          .newBlockingStub(channel).withInterceptors(io.grpc.stub.MetadataUtils.newAttachHeadersInterceptor(headers));
      dev.cascade.proto.v1.Policy.Builder asked = stub.getPolicy(
          dev.cascade.proto.v1.GetPolicyRequest.getDefaultInstance()).toBuilder();
      change.accept(asked);
      io.grpc.StatusRuntimeException e = org.junit.jupiter.api.Assertions.assertThrows(
          io.grpc.StatusRuntimeException.class, () -> stub.updatePolicy(
              dev.cascade.proto.v1.UpdatePolicyRequest.newBuilder().setPolicy(asked).build()));
      assertThat(e.getStatus().getCode()).isEqualTo(io.grpc.Status.Code.INVALID_ARGUMENT);
      return e.getStatus().getDescription();
    } finally {
      channel.shutdownNow();
    }
  }

  private static CommandLineRun run(String... args) {
    return CommandLineRun.of(args);
  }


  @Test
  void askPrintsTheAnswerAndWithJsonTheWholeResponse() {
    CommandLineRun plain = run("ask", "--target", target, "--prompt", "cascade", "--max-new-tokens", "9");
    assertThat(plain.exitCode()).isZero();
    assertThat(plain.out().strip()).isEqualTo("CASCADE");
    assertThat(plain.err()).contains("served_by=LARGE").contains("cache_hit=true");
    assertThat(requests.submitted.get(0).getMaxNewTokens()).isEqualTo(9);

    CommandLineRun json = run("ask", "--target", target, "--prompt", "cascade", "--json", "--request-id", "j-1",
        "--bypass-cache");
    assertThat(json.exitCode()).isZero();
    assertThat(json.out()).contains("\"request_id\": \"j-1\"").contains("\"served_by\": \"LARGE\"")
        .contains("\"text\": \"CASCADE\"");
    assertThat(requests.submitted.get(1).getBypassCache()).isTrue();
    assertThat(requests.submitted.get(1).getReference()).as("no --reference").isNull();

    CommandLineRun labelled = run("ask", "--target", target, "--prompt", "cascade", "--reference", "CASCADE");
    assertThat(labelled.exitCode()).as(labelled.err()).isZero();
    assertThat(requests.submitted.get(2).getReference()).isEqualTo("CASCADE");
  }

  @Test
  void askPrintsEachTierSkippedOnTheWayAndNothingWhenNoneWas() {
    requests.reshape = r -> dev.cascade.schemas.avro.CascadeResponse.newBuilder(r).setSkippedTiers(List.of(
        dev.cascade.schemas.avro.SkippedTier.newBuilder().setTier(1).setModel("medium").setCause("max_wait")
            .setReason("medium unavailable for 801 ms, past escalation.max-wait-ms (800)").build())).build();
    CommandLineRun skipped = run("ask", "--target", target, "--prompt", "cascade");
    assertThat(skipped.exitCode()).as(skipped.err()).isZero();
    assertThat(skipped.err().lines().filter(l -> l.startsWith("skipped tier"))).containsExactly(
        "skipped tier 1 (medium), max_wait: medium unavailable for 801 ms, past escalation.max-wait-ms (800)");
    requests.reshape = r -> r;
    CommandLineRun none = run("ask", "--target", target, "--prompt", "cascade");
    assertThat(none.exitCode()).isZero();
    assertThat(none.err()).contains("served_by=").doesNotContain("skipped tier");
  }

  @Test
  void askSaysWhenTheAnswerIsAnUnfinishedPrefix() {
    requests.reshape = r -> dev.cascade.schemas.avro.CascadeResponse.newBuilder(r).setStoppedEarly(true).build();
    CommandLineRun stopped = run("ask", "--target", target, "--prompt", "cascade");
    assertThat(stopped.exitCode()).as(stopped.err()).isZero();
    assertThat(stopped.err()).contains(" stopped_early=true ").contains("note: the answer is unfinished");
    requests.reshape = r -> r;
    CommandLineRun whole = run("ask", "--target", target, "--prompt", "cascade");
    assertThat(whole.err()).doesNotContain("stopped_early").doesNotContain("unfinished");
  }

  @Test
  void askReportsAFailedCallWithItsStatus() {
    CommandLineRun run = run("ask", "--target", target, "--prompt", "");
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.err()).contains("INVALID_ARGUMENT: prompt:");
  }

  @Test
  void askSaysWhoseDeadlinePassed() {
    requests.silent = true;
    CommandLineRun late = run("ask", "--target", target, "--prompt", "cascade", "--deadline-ms", "200");
    assertThat(late.exitCode()).isEqualTo(1);
    // Whichever ends first, the call's deadline here or the door's wait for it there, in words, not
    // grpc-java's ("CallOptions deadline exceeded after ...").
    assertThat(late.err()).startsWith("error: DEADLINE_EXCEEDED: ").doesNotContain("CallOptions")
        .containsAnyOf("this command's deadline (ask and feedback: --deadline-ms)", "(the call's deadline)");
  }

  @Test
  void feedbackRecordsAVerdictOrTheRightAnswerAndRefusesNeither() {
    CommandLineRun wrong = run("feedback", "--target", target, "--request-id", "r-1", "--wrong",
        "--corrected-text", "k a s", "--source", "reviewer-7");
    assertThat(wrong.exitCode()).as(wrong.err()).isZero();
    assertThat(wrong.out()).contains("feedback for r-1 written to cascade.feedback partition 0 offset 0");
    dev.cascade.schemas.avro.Feedback first = server.feedback.written.get(0);
    assertThat(first.getRequestId()).isEqualTo("r-1");
    assertThat(first.getCorrect()).isFalse();
    assertThat(first.getCorrectedText()).isEqualTo("k a s");
    assertThat(first.getSource()).isEqualTo("reviewer-7");

    CommandLineRun right = run("feedback", "--target", target, "--request-id", "r-2", "--correct");
    assertThat(right.exitCode()).as(right.err()).isZero();
    dev.cascade.schemas.avro.Feedback second = server.feedback.written.get(1);
    assertThat(second.getCorrect()).isTrue();
    assertThat(second.getCorrectedText()).isNull();
    assertThat(second.getSource()).isEqualTo("cli");

    CommandLineRun neither = run("feedback", "--target", target, "--request-id", "r-3");
    assertThat(neither.exitCode()).isEqualTo(2);
    assertThat(neither.err()).contains("--correct, --wrong or --corrected-text");
    CommandLineRun both = run("feedback", "--target", target, "--request-id", "r-3", "--correct", "--wrong");
    assertThat(both.exitCode()).isEqualTo(2);
    CommandLineRun blank = run("feedback", "--target", target, "--request-id", "r-3", "--corrected-text", " ");
    assertThat(blank.exitCode()).isEqualTo(2);
    assertThat(blank.err()).contains("--corrected-text: must not be blank").contains("try './cascade feedback --help'");
    assertThat(server.feedback.written).hasSize(2);
  }

  @Test
  void feedbackFromAFileSendsEachLineAndNamesTheLinesRefused(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("feedback.jsonl");
    Files.writeString(file, String.join("\n",
        "{\"request_id\": \"f-1\", \"correct\": true}",
        "{\"request_id\": \"f-2\", \"correct\": false, \"corrected_text\": \"k a s\", \"source\": \"job-4\"}",
        "",
        "{\"request_id\": \"f-3\"}",
        "{\"request_id\": \"f-4\", \"correct\": \"yes\"}",
        "not json",
        "{\"request_id\": \"f-5\", \"corrected_text\": \"x\"}",
        "{\"request_id\": \"f-6\", \"corrected_text\": \" \"}",
        "{\"request_id\": \"f-7\", \"corect\": true}") + "\n");
    CommandLineRun run = run("feedback", "--target", target, "--data", file.toString(), "--source", "batch");
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.out()).contains("3 feedback records written, 5 refused");
    assertThat(run.err()).contains("line 4: INVALID_ARGUMENT: correct, corrected_text")
        .contains("line 5: correct: must be true or false").contains("line 6: not valid JSON: Unrecognized token 'not'").doesNotContain("Source")
        .contains("line 8: INVALID_ARGUMENT: corrected_text: must not be blank")
        .contains("line 9: unknown field 'corect' (a feedback line has request_id, correct, corrected_text, source)");
    assertThat(server.feedback.written).extracting(dev.cascade.schemas.avro.Feedback::getRequestId)
        .containsExactly("f-1", "f-2", "f-5");
    assertThat(server.feedback.written).extracting(dev.cascade.schemas.avro.Feedback::getSource)
        .containsExactly("batch", "job-4", "batch");
    CommandLineRun both = run("feedback", "--target", target, "--data", file.toString(), "--request-id", "x");
    assertThat(both.exitCode()).isEqualTo(2);
    assertThat(both.err()).contains("--data: the feedback comes from the file");
  }

  @Test
  void policySetChangesOnlyWhatItIsGivenAndPolicyGetShowsIt() {
    CommandLineRun set = run("policy", "set", "--target", target, "--token", "tok", "--rule", "chow-quantile", "--threshold",
        "3.5", "--reason", "cli test");
    assertThat(set.exitCode()).as(set.err()).isZero();
    assertThat(set.out()).contains("\"version\": \"2\"").contains("\"threshold\": 3.5");
    DeferralPolicy now = policies.current();
    assertThat(now.threshold()).isEqualTo(3.5);
    assertThat(now.alpha()).isEqualTo(0.2);
    assertThat(now.explorationRate()).isEqualTo(0.03);
    assertThat(now.reason()).isEqualTo("cli test");

    CommandLineRun get = run("policy", "get", "--target", target);
    assertThat(get.exitCode()).isZero();
    assertThat(get.out()).contains("\"rule\": \"chow-quantile\"").contains("\"reason\": \"cli test\"");
  }

  @Test
  void policySetWithoutRuleOrThresholdKeepsThoseInForceButANewRuleNeedsAThreshold() {
    CommandLineRun rate = run("policy", "set", "--target", target, "--token", "tok", "--target-escalation-rate", "0.3");
    assertThat(rate.exitCode()).as(rate.err()).isZero();
    DeferralPolicy now = policies.current();
    assertThat(now.rule()).isEqualTo("chow-quantile");
    assertThat(now.alpha()).isEqualTo(0.2);
    assertThat(now.threshold()).isEqualTo(2.0);
    assertThat(now.targetEscalationRate()).isEqualTo(0.3);

    CommandLineRun threshold = run("policy", "set", "--target", target, "--token", "tok", "--threshold", "2.5");
    assertThat(threshold.exitCode()).as(threshold.err()).isZero();
    assertThat(policies.current().rule()).isEqualTo("chow-quantile");
    assertThat(policies.current().threshold()).isEqualTo(2.5);
    assertThat(policies.current().targetEscalationRate()).isEqualTo(0.3);

    int published = policies.published.size();
    CommandLineRun newRule = run("policy", "set", "--target", target, "--token", "tok", "--rule", "chow-sum");
    assertThat(newRule.exitCode()).isEqualTo(2);
    assertThat(newRule.err()).startsWith("error: --threshold: needed with a new rule").contains("'chow-quantile'")
        .contains("'chow-sum'").contains("try './cascade policy set --help'");
    assertThat(policies.published).hasSize(published);
    assertThat(policies.current().rule()).isEqualTo("chow-quantile");
  }

  @Test
  void policySetChangesTheShadowRulesAndTheFallbackRuleAndKeepsThemWhenLeftOut() {
    CommandLineRun set = run("policy", "set", "--target", target, "--token", "tok", "--shadow-rules",
        "chow-sum, chow-average", "--fallback-rule", "chow-average");
    assertThat(set.exitCode()).as(set.err()).isZero();
    assertThat(policies.current().shadowRules()).containsExactly("chow-sum", "chow-average");
    assertThat(policies.current().fallbackRule()).isEqualTo("chow-average");
    assertThat(policies.current().threshold()).isEqualTo(2.0);

    CommandLineRun threshold = run("policy", "set", "--target", target, "--token", "tok", "--threshold", "2.5");
    assertThat(threshold.exitCode()).as(threshold.err()).isZero();
    assertThat(policies.current().shadowRules()).containsExactly("chow-sum", "chow-average");
    assertThat(policies.current().fallbackRule()).isEqualTo("chow-average");

    // A rule named twice is refused before the call, as the server and the policy.shadow-rules key refuse it.
    int before = policies.published.size();
    CommandLineRun twice = run("policy", "set", "--target", target, "--token", "tok", "--shadow-rules",
        "chow-sum,chow-sum");
    assertThat(twice.exitCode()).isEqualTo(2);
    assertThat(twice.err()).startsWith("error: --shadow-rules: chow-sum,chow-sum names a rule twice; name each rule once");
    assertThat(policies.published).hasSize(before);

    CommandLineRun off = run("policy", "set", "--target", target, "--token", "tok", "--shadow-rules", "off");
    assertThat(off.exitCode()).as(off.err()).isZero();
    assertThat(policies.current().shadowRules()).isEmpty();
    assertThat(policies.current().fallbackRule()).isEqualTo("chow-average");
    assertThat(policies.current().threshold()).isEqualTo(2.5);

    int published = policies.published.size();
    CommandLineRun learned = run("policy", "set", "--target", target, "--token", "tok", "--fallback-rule",
        "posthoc-quantile");
    assertThat(learned.exitCode()).isEqualTo(1);
    assertThat(learned.err()).contains("fallback_rule");
    assertThat(policies.published).hasSize(published);
  }

  @Test
  void policySetWithATierChangesThatMiddleTiersRuleAndKeepsTheRest() throws Exception {
    server.stop();
    server = new FakeKafkaServer(NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)),
        prompt -> Optional.empty(),
        new DeferralPolicy("chow-quantile", 0.2, 2.0, 0.03, 0.0, 1, "config", 0, "configured default")
            .withTierPolicies(List.of(TierPolicy.parse("chow-sum:4"), TierPolicy.parse("chow-sum:6"))),
        "tok", Duration.ofSeconds(5));
    policies = server.policies;
    target = "127.0.0.1:" + server.port();

    CommandLineRun set = run("policy", "set", "--target", target, "--token", "tok", "--tier", "2", "--rule",
        "chow-quantile", "--alpha", "0.1", "--threshold", "1.5");
    assertThat(set.exitCode()).as(set.err()).isZero();
    assertThat(set.err()).doesNotContain("does not use α");
    DeferralPolicy now = policies.current();
    assertThat(now.tierPolicies()).containsExactly(TierPolicy.parse("chow-sum:4"), new TierPolicy("chow-quantile", 0.1, 1.5));
    // An α for a rule that has none is written, with a warning that it decides nothing.
    CommandLineRun unused = run("policy", "set", "--target", target, "--token", "tok", "--tier", "1", "--alpha", "0.3");
    assertThat(unused.exitCode()).as(unused.err()).isZero();
    assertThat(unused.err()).contains("warning: --alpha 0.3: rule chow-sum does not use α");
    run("policy", "set", "--target", target, "--token", "tok", "--tier", "1", "--alpha", "0");
    assertThat(now.rule()).isEqualTo("chow-quantile");
    assertThat(now.threshold()).isEqualTo(2.0);
    assertThat(now.explorationRate()).isEqualTo(0.03);

    // The small model's rule set without --tier keeps the tiers' rules.
    assertThat(run("policy", "set", "--target", target, "--token", "tok", "--rule", "chow-sum", "--threshold", "7")
        .exitCode()).isZero();
    assertThat(policies.current().tierPolicies()).isEqualTo(now.tierPolicies());

    // A middle tier's threshold alone keeps that tier's rule; a new rule there needs a threshold.
    CommandLineRun tierThreshold = run("policy", "set", "--target", target, "--token", "tok", "--tier", "1",
        "--threshold", "5");
    assertThat(tierThreshold.exitCode()).as(tierThreshold.err()).isZero();
    assertThat(policies.current().tierPolicies()).containsExactly(TierPolicy.parse("chow-sum:5"),
        new TierPolicy("chow-quantile", 0.1, 1.5));
    CommandLineRun tierRule = run("policy", "set", "--target", target, "--token", "tok", "--tier", "1", "--rule",
        "chow-average");
    assertThat(tierRule.exitCode()).isEqualTo(2);
    assertThat(tierRule.err()).startsWith("error: --threshold: needed with a new rule (middle tier 1's rule in force is 'chow-sum'");

    CommandLineRun beyond = run("policy", "set", "--target", target, "--token", "tok", "--tier", "3", "--rule",
        "chow-sum", "--threshold", "1");
    assertThat(beyond.exitCode()).isEqualTo(2);
    assertThat(beyond.err()).contains("rules for 2 middle tiers");
    CommandLineRun learned = run("policy", "set", "--target", target, "--token", "tok", "--tier", "1", "--rule",
        "posthoc-quantile", "--threshold", "0.5");
    assertThat(learned.exitCode()).isEqualTo(1);
    assertThat(learned.err()).contains("INVALID_ARGUMENT").contains("tier_policies[0].rule");

    // A negative threshold on a Chow rule defers every answer: written, with a warning saying so.
    CommandLineRun deferAll = run("policy", "set", "--target", target, "--token", "tok", "--tier", "1",
        "--threshold", "-5");
    assertThat(deferAll.exitCode()).as(deferAll.err()).isZero();
    assertThat(deferAll.err()).contains("warning: middle tier 1's rule chow-sum has threshold -5.0")
        .contains("every answer middle tier 1 gives is passed on");
    assertThat(policies.current().tierPolicies().get(0)).isEqualTo(TierPolicy.parse("chow-sum:-5"));
    assertThat(tierThreshold.err()).doesNotContain("warning");

    // A middle tier's target rate: set alone it keeps the tier's rule and threshold (the warm-up's);
    // the other tier's stays; 0 goes back to the fixed threshold.
    CommandLineRun tierRate = run("policy", "set", "--target", target, "--token", "tok", "--tier", "2",
        "--target-escalation-rate", "0.3");
    assertThat(tierRate.exitCode()).as(tierRate.err()).isZero();
    assertThat(tierRate.out()).contains("\"target_escalation_rate\": 0.3");
    assertThat(policies.current().tierPolicies()).containsExactly(TierPolicy.parse("chow-sum:-5"),
        new TierPolicy("chow-quantile", 0.1, 1.5, 0.3));
    CommandLineRun tooMuch = run("policy", "set", "--target", target, "--token", "tok", "--tier", "2",
        "--target-escalation-rate", "1.5");
    assertThat(tooMuch.exitCode()).isEqualTo(2);
    assertThat(tooMuch.err()).contains("--target-escalation-rate: must be in [0, 1], was 1.5")
        .contains("try './cascade policy set --help'");
    assertThat(refusedByServer(p -> p.setTierPolicies(1, p.getTierPolicies(1).toBuilder().setTargetEscalationRate(1.5))))
        .contains("tier_policies[1].target_escalation_rate");
    assertThat(run("policy", "set", "--target", target, "--token", "tok", "--tier", "2",
        "--target-escalation-rate", "0").exitCode()).isZero();
    assertThat(policies.current().tierPolicies().get(1)).isEqualTo(new TierPolicy("chow-quantile", 0.1, 1.5));

    // A middle tier's exploration rate: set alone it keeps the rest of the tier's rule, and the small
    // model's exploration rate; checked by the server.
    double smallExploration = policies.current().explorationRate();
    CommandLineRun explore = run("policy", "set", "--target", target, "--token", "tok", "--tier", "2",
        "--exploration-rate", "0.1");
    assertThat(explore.exitCode()).as(explore.err()).isZero();
    assertThat(explore.out()).contains("\"exploration_rate\": 0.1");
    assertThat(policies.current().tierPolicies()).containsExactly(TierPolicy.parse("chow-sum:-5"),
        new TierPolicy("chow-quantile", 0.1, 1.5, 0.0, 0.1));
    assertThat(policies.current().explorationRate()).as("the small model's stays").isEqualTo(smallExploration);
    CommandLineRun badExplore = run("policy", "set", "--target", target, "--token", "tok", "--tier", "1",
        "--exploration-rate", "2");
    assertThat(badExplore.exitCode()).isEqualTo(2);
    assertThat(badExplore.err()).contains("--exploration-rate: must be in [0, 1], was 2.0");
    assertThat(refusedByServer(p -> p.setTierPolicies(0, p.getTierPolicies(0).toBuilder().setExplorationRate(2))))
        .contains("tier_policies[0].exploration_rate");
  }

  @Test
  void policySetEarlyDeferSetsKeepsAndClearsTheMarginAndABadOneIsRefusedNamingTheField() {
    CommandLineRun set = run("policy", "set", "--target", target, "--token", "tok", "--rule", "chow-average",
        "--threshold", "0.6", "--early-defer", "0.3");
    assertThat(set.exitCode()).as(set.err()).isZero();
    assertThat(set.out()).contains("\"early_defer_margin\": 0.3");
    assertThat(policies.current().earlyDeferMargin()).isEqualTo(0.3);

    CommandLineRun kept = run("policy", "set", "--target", target, "--token", "tok", "--rule", "chow-average",
        "--threshold", "0.7");
    assertThat(kept.exitCode()).as(kept.err()).isZero();
    assertThat(policies.current().earlyDeferMargin()).isEqualTo(0.3);
    // Without --rule the rule stays, and with it the margin.
    CommandLineRun sameRule = run("policy", "set", "--target", target, "--token", "tok", "--exploration-rate", "0.1");
    assertThat(sameRule.exitCode()).as(sameRule.err()).isZero();
    assertThat(policies.current().earlyDeferMargin()).isEqualTo(0.3);
    assertThat(policies.current().threshold()).isEqualTo(0.7);

    CommandLineRun otherRule = run("policy", "set", "--target", target, "--token", "tok", "--rule", "chow-sum",
        "--threshold", "9");
    assertThat(otherRule.exitCode()).as(otherRule.err()).isZero();
    assertThat(policies.current().earlyDeferMargin()).isNull();

    run("policy", "set", "--target", target, "--token", "tok", "--rule", "chow-sum", "--threshold", "9",
        "--early-defer", "1");
    CommandLineRun off = run("policy", "set", "--target", target, "--token", "tok", "--rule", "chow-sum",
        "--threshold", "9", "--early-defer", "off");
    assertThat(off.exitCode()).as(off.err()).isZero();
    assertThat(policies.current().earlyDeferMargin()).isNull();

    CommandLineRun negative = run("policy", "set", "--target", target, "--token", "tok", "--rule", "chow-sum",
        "--threshold", "9", "--early-defer=-1");
    assertThat(negative.exitCode()).isEqualTo(2);
    assertThat(negative.err()).contains("--early-defer: the margin must be a number >= 0 (or off), was -1");
    assertThat(refusedByServer(p -> p.setEarlyDeferMargin(-1))).contains("policy.early_defer_margin");
    CommandLineRun garbage = run("policy", "set", "--target", target, "--token", "tok", "--rule", "chow-sum",
        "--threshold", "9", "--early-defer", "soon");
    assertThat(garbage.exitCode()).isEqualTo(2);
    assertThat(garbage.err()).contains("--early-defer: 'soon'");
  }

  @Test
  void policySetEarlyDeferLabelShareSetsKeepsAcrossRulesAndGoesBackToTheConfiguredOne() {
    CommandLineRun set = run("policy", "set", "--target", target, "--token", "tok", "--early-defer-label-share", "0.2");
    assertThat(set.exitCode()).as(set.err()).isZero();
    assertThat(set.out()).contains("\"early_defer_label_share\": 0.2");
    assertThat(policies.current().earlyDeferLabelShare()).isEqualTo(0.2);

    // A share is not on a rule's scale: it stays when the rule changes.
    CommandLineRun otherRule = run("policy", "set", "--target", target, "--token", "tok", "--rule", "chow-average",
        "--threshold", "0.6");
    assertThat(otherRule.exitCode()).as(otherRule.err()).isZero();
    assertThat(policies.current().earlyDeferLabelShare()).isEqualTo(0.2);

    CommandLineRun config = run("policy", "set", "--target", target, "--token", "tok", "--early-defer-label-share",
        "config");
    assertThat(config.exitCode()).as(config.err()).isZero();
    assertThat(policies.current().earlyDeferLabelShare()).isNull();
    assertThat(config.out()).doesNotContain("early_defer_label_share");

    CommandLineRun tooBig = run("policy", "set", "--target", target, "--token", "tok", "--early-defer-label-share",
        "1.5");
    assertThat(tooBig.exitCode()).isEqualTo(2);
    assertThat(tooBig.err()).contains("--early-defer-label-share: must be in [0, 1], was 1.5");
    assertThat(refusedByServer(p -> p.setEarlyDeferLabelShare(1.5))).contains("policy.early_defer_label_share");
    CommandLineRun garbage = run("policy", "set", "--target", target, "--token", "tok", "--early-defer-label-share",
        "some");
    assertThat(garbage.exitCode()).isEqualTo(2);
    assertThat(garbage.err()).contains("--early-defer-label-share: 'some'");
    CommandLineRun tier = run("policy", "set", "--target", target, "--token", "tok", "--tier", "1",
        "--early-defer-label-share", "0.1");
    assertThat(tier.exitCode()).isEqualTo(2);
    assertThat(tier.err()).contains("only --rule, --alpha, --threshold, --exploration-rate and --target-escalation-rate"
        + " apply to a middle tier");
  }

  @Test
  void policySetWithNothingToSetIsRefusedAndOneAskingForWhatIsInForceWritesNoVersion() {
    CommandLineRun none = run("policy", "set", "--target", target, "--token", "tok");
    assertThat(none.exitCode()).isEqualTo(2);
    assertThat(none.err()).contains("policy set: nothing to set; give at least one of --rule");
    CommandLineRun same = run("policy", "set", "--target", target, "--token", "tok", "--threshold", "2.0",
        "--reason", "again");
    assertThat(same.exitCode()).isZero();
    assertThat(same.err().strip()).startsWith("nothing to change: the policy in force (version 1)");
    assertThat(same.out()).contains("\"version\": \"1\"");
    assertThat(policies.published).isEmpty();
  }

  @Test
  void policySetKeepsAPinnedRuleVersionWhenTheRuleIsNotGiven(@TempDir Path dir) throws Exception {
    Path artifact = dir.resolve("quantile.rule");
    RuleArtifacts.write(LearnedRules.bundledRules().get(0), artifact);
    assertThat(run("rules", "publish", artifact.toString(), "--version", "7", "--target", target, "--token", "tok")
        .exitCode()).isZero();
    CommandLineRun pin = run("policy", "set", "--target", target, "--token", "tok", "--rule", "posthoc-quantile@7",
        "--threshold", "0.5");
    assertThat(pin.exitCode()).as(pin.err()).isZero();
    CommandLineRun threshold = run("policy", "set", "--target", target, "--token", "tok", "--threshold", "0.6");
    assertThat(threshold.exitCode()).as(threshold.err()).isZero();
    assertThat(policies.current().ruleSpec()).isEqualTo("posthoc-quantile@7");
    assertThat(policies.current().threshold()).isEqualTo(0.6);
    CommandLineRun again = run("policy", "set", "--target", target, "--token", "tok", "--rule", "posthoc-quantile@7",
        "--threshold", "0.6");
    assertThat(again.exitCode()).isZero();
    assertThat(again.err()).contains("nothing to change");
  }

  @Test
  void policySetRefusesANegativeTierAndASkipThresholdWithoutASkipRuleInItsOwnWords() {
    CommandLineRun negative = run("policy", "set", "--target", target, "--token", "tok", "--tier", "-1",
        "--threshold", "1");
    assertThat(negative.exitCode()).isEqualTo(2);
    assertThat(negative.err()).contains("--tier: must be 0 (the small model's rule, the default) or a middle tier's"
        + " number, 1 or above; was -1").doesNotContain("no middle tiers");
    CommandLineRun tierShadows = run("policy", "set", "--target", target, "--token", "tok", "--tier", "1",
        "--shadow-rules", "chow-sum");
    assertThat(tierShadows.exitCode()).isEqualTo(2);
    assertThat(tierShadows.err()).contains("only --rule, --alpha, --threshold, --exploration-rate and"
        + " --target-escalation-rate apply to a middle tier");
    // A middle tier's exploration rate, on a policy of two models: no such tier.
    CommandLineRun tierExploration = run("policy", "set", "--target", target, "--token", "tok", "--tier", "1",
        "--exploration-rate", "0.2");
    assertThat(tierExploration.exitCode()).isEqualTo(2);
    assertThat(tierExploration.err()).contains("the policy in force has no middle tiers");

    CommandLineRun threshold = run("policy", "set", "--target", target, "--token", "tok", "--pregen-skip-threshold",
        "0.5");
    assertThat(threshold.exitCode()).isEqualTo(2);
    assertThat(threshold.err()).startsWith("error: --pregen-skip-threshold: no pre-generation skip is in force")
        .contains("--pregen-skip RULE").doesNotContain("pregenSkip");
    CommandLineRun off = run("policy", "set", "--target", target, "--token", "tok", "--pregen-skip", "off",
        "--pregen-skip-threshold", "0.5");
    assertThat(off.exitCode()).isEqualTo(2);
    assertThat(off.err()).contains("--pregen-skip off");
    assertThat(policies.published).isEmpty();
  }

  @Test
  void askRefusesMetadataWithoutAnEqualsSignNamingTheOptionOnce() {
    CommandLineRun run = run("ask", "--target", target, "--prompt", "cascade", "--metadata", "novalue");
    assertThat(run.exitCode()).isEqualTo(2);
    assertThat(run.err()).contains("'--metadata'").contains("'novalue' is not KEY=VALUE")
        .doesNotContain("option option");
    assertThat(requests.submitted).isEmpty();

    CommandLineRun ok = run("ask", "--target", target, "--prompt", "cascade", "--metadata", "team=a=b",
        "--metadata", "empty=");
    assertThat(ok.exitCode()).as(ok.err()).isZero();
    assertThat(requests.submitted.get(0).getMetadata()).containsExactly(java.util.Map.entry("team", "a=b"),
        java.util.Map.entry("empty", ""));
  }

  @Test
  void rulesGetAndPolicySetReachTheHighestVersionAndPublishSaysThereIsNoNext(@TempDir Path dir) throws Exception {
    Path artifact = dir.resolve("quantile.rule");
    RuleArtifacts.write(LearnedRules.bundledRules().get(0), artifact);
    CommandLineRun highest = run("rules", "publish", artifact.toString(), "--version", "9223372036854775807",
        "--target", target, "--token", "tok");
    assertThat(highest.out().strip()).isEqualTo("posthoc-quantile@9223372036854775807");
    CommandLineRun next = run("rules", "publish", artifact.toString(), "--target", target, "--token", "tok");
    assertThat(next.exitCode()).isEqualTo(1);
    assertThat(next.err()).contains("FAILED_PRECONDITION").contains("no next one");

    CommandLineRun get = run("rules", "get", "posthoc-quantile@9223372036854775807", "--target", target);
    assertThat(get.exitCode()).as(get.err()).isZero();
    assertThat(get.out()).startsWith("posthoc-quantile@9223372036854775807");
    CommandLineRun pin = run("policy", "set", "--target", target, "--token", "tok", "--rule",
        "posthoc-quantile@9223372036854775807", "--threshold", "0.5");
    assertThat(pin.exitCode()).as(pin.err()).isZero();
    assertThat(policies.current().ruleVersion()).isEqualTo(Long.MAX_VALUE);
    CommandLineRun above = run("rules", "get", "posthoc-quantile@9223372036854775808", "--target", target);
    assertThat(above.exitCode()).isEqualTo(2);
    assertThat(above.err()).contains("above the highest a version can be");
  }

  @Test
  void rulesListGivesTheReasonForAVersionItCannotApply() {
    LearnedRule shipped = LearnedRules.bundledRules().get(0);
    server.catalog.add(shipped.withInfo(shipped.info().withVersion(4).withModel("00".repeat(32),
        ModelFingerprint.FEATURE_LAYOUT)));
    CommandLineRun table = run("rules", "list", "--target", target);
    assertThat(table.exitCode()).as(table.err()).isZero();
    String[] lines = table.out().strip().split("\\R");
    assertThat(lines[3]).startsWith("posthoc-quantile").contains(" 4 ", " no ");
    assertThat(lines[lines.length - 1]).startsWith("posthoc-quantile@4 is not applicable here: ")
        .contains("00".repeat(32), FakeKafkaServer.bundledModelFingerprint());
  }

  @Test
  void policySetWithAWrongTokenIsRefusedAndWithoutOneDoesNotCall() {
    CommandLineRun wrong = run("policy", "set", "--target", target, "--token", "nope", "--rule", "chow-sum", "--threshold", "1");
    assertThat(wrong.exitCode()).isEqualTo(1);
    assertThat(wrong.err()).contains("UNAUTHENTICATED");
    if (System.getenv("CASCADE_ADMIN_TOKEN") == null) {
      CommandLineRun none = run("policy", "set", "--target", target, "--rule", "chow-sum", "--threshold", "1");
      assertThat(none.exitCode()).isEqualTo(2);
      assertThat(none.err()).contains("--token");
    }
    assertThat(policies.published).isEmpty();
  }

  @Test
  void rulesListPrintsATableOfEveryVersionAndWithJsonTheResponse() {
    CommandLineRun table = run("rules", "list", "--target", target);
    assertThat(table.exitCode()).as(table.err()).isZero();
    String[] lines = table.out().strip().split("\\R");
    assertThat(lines).hasSize(3);
    assertThat(lines[0]).startsWith("NAME").contains("VERSION", "LEARNER", "MODEL SHA256", "APPLICABLE", "CREATED");
    assertThat(lines[2]).startsWith("posthoc-quantile").contains(" 0 ",
        ModelFingerprint.shortForm(FakeKafkaServer.bundledModelFingerprint()), " yes ");

    CommandLineRun json = run("rules", "list", "--target", target, "--json");
    assertThat(json.exitCode()).isZero();
    assertThat(json.out()).contains("\"name\": \"posthoc-embed\"").contains("\"name\": \"posthoc-quantile\"")
        .contains("\"applicable\": true");
    // The learner's settings as written ("trees=150"), not HTML-escaped ("trees\u003d150").
    assertThat(json.out()).doesNotContain("\\u003d").contains("=");
  }

  @Test
  void rulesPublishThenGetRoundTripsTheArtifact(@TempDir Path dir) throws Exception {
    LearnedRule shipped = LearnedRules.bundledRules().get(0);
    Path artifact = dir.resolve("quantile.rule");
    RuleArtifacts.write(shipped, artifact);

    CommandLineRun published = run("rules", "publish", artifact.toString(), "--target", target, "--token", "tok");
    assertThat(published.exitCode()).as(published.err()).isZero();
    assertThat(published.out().strip()).isEqualTo("posthoc-quantile@1");
    CommandLineRun pinned = run("rules", "publish", artifact.toString(), "--version", "5", "--target", target, "--token", "tok");
    assertThat(pinned.out().strip()).isEqualTo("posthoc-quantile@5");
    CommandLineRun again = run("rules", "publish", artifact.toString(), "--version", "5", "--target", target, "--token", "tok");
    assertThat(again.exitCode()).isEqualTo(1);
    assertThat(again.err()).contains("ALREADY_EXISTS: rule 'posthoc-quantile' already has version 5");

    Path copy = dir.resolve("out/copy.rule");
    CommandLineRun get = run("rules", "get", "posthoc-quantile@1", "--target", target, "--out", copy.toString());
    assertThat(get.exitCode()).as(get.err()).isZero();
    assertThat(get.out()).startsWith("posthoc-quantile@1").contains("learner:", "applicable:      yes",
        "validation metrics:");
    assertThat(RuleArtifacts.read(copy).info()).isEqualTo(shipped.info().withVersion(1));
    assertThat(run("rules", "get", "posthoc-quantile", "--target", target).out()).startsWith("posthoc-quantile@5");
    // --json is the Rule message without the artifact: no "artifact" key at all, not an empty one.
    CommandLineRun json = run("rules", "get", "posthoc-quantile@1", "--target", target, "--json");
    assertThat(json.exitCode()).as(json.err()).isZero();
    assertThat(json.out()).contains("\"name\": \"posthoc-quantile\"").doesNotContain("\"artifact\"");
    assertThat(server.rules.published).hasSize(2);
  }

  @Test
  void rulesCommandsReportRefusalsWithTheirStatus(@TempDir Path dir) throws Exception {
    Path garbage = Files.writeString(dir.resolve("garbage.rule"), "not a rule");
    CommandLineRun bad = run("rules", "publish", garbage.toString(), "--target", target, "--token", "tok");
    assertThat(bad.exitCode()).isEqualTo(1);
    assertThat(bad.err()).contains("INVALID_ARGUMENT: artifact:");

    Path artifact = dir.resolve("quantile.rule");
    RuleArtifacts.write(LearnedRules.bundledRules().get(0), artifact);
    CommandLineRun wrong = run("rules", "publish", artifact.toString(), "--target", target, "--token", "nope");
    assertThat(wrong.exitCode()).isEqualTo(1);
    assertThat(wrong.err()).contains("UNAUTHENTICATED");
    if (System.getenv("CASCADE_ADMIN_TOKEN") == null) {
      CommandLineRun none = run("rules", "publish", artifact.toString(), "--target", target);
      assertThat(none.exitCode()).isEqualTo(2);
      assertThat(none.err()).contains("--token");
    }
    CommandLineRun missing = run("rules", "get", "posthoc-quantile@9", "--target", target);
    assertThat(missing.exitCode()).isEqualTo(1);
    assertThat(missing.err()).contains("NOT_FOUND: rule 'posthoc-quantile' has no version 9; known versions: [0]");
    assertThat(server.rules.published).isEmpty();
  }
}
