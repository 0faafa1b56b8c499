package dev.cascade.router.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import dev.cascade.proto.v1.GetPolicyRequest;
import dev.cascade.proto.v1.Policy;
import dev.cascade.proto.v1.PolicyAdminGrpc;
import dev.cascade.proto.v1.PublishRuleRequest;
import dev.cascade.proto.v1.UpdatePolicyRequest;
import dev.cascade.router.learning.LearnedRules;
import dev.cascade.router.learning.RuleCatalog;
import dev.cascade.router.learning.RuleResolver;
import dev.cascade.router.logging.LogLimiter;
import dev.cascade.router.learning.RuleArtifacts;
import dev.cascade.router.policy.DeferralPolicy;
import dev.cascade.router.routing.RequestValidator;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * PolicyAdmin's write attempts over a loopback socket, the Kafka side faked: each one, refused or
 * not, is one log line naming the caller and the outcome (never the token) and one count in
 * {@code cascade_admin_requests_total{method, result}}.
 */
class AdminAuditTest {

  private static final String TOKEN = "the-real-admin-token-0123456789";
  private static final String WRONG = "attackerknowsthis";

  private final PrometheusRegistry registry = new PrometheusRegistry();
  private FakeKafkaServer server;
  private ManagedChannel channel;
  private final ByteArrayOutputStream log = new ByteArrayOutputStream();
  private PrintStream stderr;

  @BeforeEach
  void start() throws Exception {
    server = new FakeKafkaServer(NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)),
        new RequestValidator(FakeKafkaServer.model(prompt -> Optional.empty())),
        new DeferralPolicy("chow-sum", 0.0, 2.0, 0.0, 0.0, 4, "config", 0, "configured default"), TOKEN,
        Duration.ofSeconds(5), null, registry);
    channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
    // slf4j-simple writes to whatever System.err is at the time of each line.
    stderr = System.err;
    System.setErr(new PrintStream(log, true, StandardCharsets.UTF_8));
  }

  @AfterEach
  void stop() throws Exception {
    System.setErr(stderr);
    channel.shutdownNow();
    server.stop();
  }

  private PolicyAdminGrpc.PolicyAdminBlockingStub admin(String token) {
    return FakeKafkaServer.admin(channel, token, 10);
  }

  private static UpdatePolicyRequest update(double threshold, String reason) {
    return UpdatePolicyRequest.newBuilder().setPolicy(Policy.newBuilder().setRule("chow-sum").setThreshold(threshold)
        .setReason(reason)).build();
  }

  private static void assertCode(Runnable call, Status.Code code) {
    assertThatThrownBy(call::run).isInstanceOfSatisfying(StatusRuntimeException.class,
        e -> assertThat(e.getStatus().getCode()).isEqualTo(code));
  }

  private String logged() {
    System.err.flush();
    return log.toString(StandardCharsets.UTF_8);
  }

  private String scrape() throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    new PrometheusTextFormatWriter(false).write(out, registry.scrape());
    return out.toString(StandardCharsets.UTF_8);
  }

  @Test
  void everyWriteAttemptIsLoggedWithTheCallerAndOutcomeAndCountedNeverWithTheToken() throws Exception {
    assertCode(() -> admin(null).updatePolicy(update(3, "no token")), Status.Code.UNAUTHENTICATED);
    assertCode(() -> admin(WRONG).updatePolicy(update(3, "wrong token")), Status.Code.UNAUTHENTICATED);
    assertCode(() -> admin(WRONG).publishRule(PublishRuleRequest.newBuilder()
        .setArtifact(ByteString.copyFrom(RuleArtifacts.encode(LearnedRules.bundledRules().get(0)))).build()),
        Status.Code.UNAUTHENTICATED);
    assertCode(() -> admin(TOKEN).updatePolicy(update(3, "r").toBuilder()
        .setPolicy(Policy.newBuilder().setRule("chow-sum").setThreshold(3).setExplorationRate(1.5)).build()),
        Status.Code.INVALID_ARGUMENT);
    Policy written = admin(TOKEN).updatePolicy(update(3.5, "raise the bar\nFORGED: policy version 99 in force"));
    assertThat(written.getVersion()).isEqualTo(5);
    var rule = admin(TOKEN).publishRule(PublishRuleRequest.newBuilder()
        .setArtifact(ByteString.copyFrom(RuleArtifacts.encode(LearnedRules.bundledRules().get(0)))).setVersion(7)
        .build());
    assertThat(rule.getVersion()).isEqualTo(7);
    // Reads are neither logged nor counted.
    admin(null).getPolicy(GetPolicyRequest.getDefaultInstance());

    String lines = logged();
    assertThat(lines).doesNotContain(TOKEN).doesNotContain(WRONG);
    assertThat(lines.lines().filter(l -> l.contains("PolicyAdmin."))).hasSize(6);
    assertThat(lines).containsPattern("WARN AdminAudit - PolicyAdmin\\.UpdatePolicy from 127\\.0\\.0\\.1:\\d+:"
        + " UNAUTHENTICATED \"missing 'authorization: Bearer <admin token>' metadata\"");
    assertThat(lines).containsPattern("WARN AdminAudit - PolicyAdmin\\.UpdatePolicy from 127\\.0\\.0\\.1:\\d+:"
        + " UNAUTHENTICATED \"wrong admin token\"");
    assertThat(lines).containsPattern("WARN AdminAudit - PolicyAdmin\\.PublishRule from 127\\.0\\.0\\.1:\\d+:"
        + " UNAUTHENTICATED \"wrong admin token\"");
    assertThat(lines).containsPattern("INFO AdminAudit - PolicyAdmin\\.UpdatePolicy from 127\\.0\\.0\\.1:\\d+"
        + " \\(updated_by admin@127\\.0\\.0\\.1\\): INVALID_ARGUMENT \"policy\\.exploration_rate");
    // The reason a caller gave is quoted with its line break escaped: it cannot forge a line of its own.
    assertThat(lines).containsPattern("INFO AdminAudit - PolicyAdmin\\.UpdatePolicy from 127\\.0\\.0\\.1:\\d+"
        + " \\(updated_by admin@127\\.0\\.0\\.1\\): ok, policy version 5 written: rule chow-sum threshold 3\\.5 .*,"
        + " reason \"raise the bar\\\\nFORGED: policy version 99 in force\"");
    assertThat(lines.lines().filter(l -> l.startsWith("FORGED"))).isEmpty();
    assertThat(lines).containsPattern("INFO AdminAudit - PolicyAdmin\\.PublishRule from 127\\.0\\.0\\.1:\\d+"
        + " \\(updated_by admin@127\\.0\\.0\\.1\\): ok, rule \"posthoc-quantile\" version 7 published");

    String metrics = scrape();
    assertThat(metrics)
        .contains("cascade_admin_requests_total{method=\"UpdatePolicy\",result=\"unauthenticated\"} 2.0")
        .contains("cascade_admin_requests_total{method=\"UpdatePolicy\",result=\"invalid\"} 1.0")
        .contains("cascade_admin_requests_total{method=\"UpdatePolicy\",result=\"ok\"} 1.0")
        .contains("cascade_admin_requests_total{method=\"PublishRule\",result=\"unauthenticated\"} 1.0")
        .contains("cascade_admin_requests_total{method=\"PublishRule\",result=\"ok\"} 1.0")
        .contains("cascade_admin_requests_total{method=\"PublishRule\",result=\"unavailable\"} 0.0")
        .doesNotContain(TOKEN).doesNotContain(WRONG);
  }

  @Test
  void aPolicyWrittenWithTierRulesAndAPregenerationSkipNamesThem() {
    var shipped = LearnedRules.bundledRules().get(0);
    var i = shipped.info();
    var skip = shipped.withInfo(new dev.cascade.router.learning.RuleInfo("pregen-skip", i.version(), i.learner(),
        i.featureNames(), i.trainingDataRange(), i.validationMetrics(), i.createdAtMs(),
        FakeKafkaServer.bundledModelFingerprint(), dev.cascade.router.learning.PromptFeatures.LAYOUT,
        i.calibrationScores(), i.calibrationWeights(), i.trainingPrompts()));
    admin(TOKEN).publishRule(PublishRuleRequest.newBuilder().setArtifact(ByteString.copyFrom(RuleArtifacts.encode(skip)))
        .build());
    admin(TOKEN).updatePolicy(update(3, "skip the hard ones").toBuilder().setPolicy(update(3, "skip the hard ones")
        .getPolicy().toBuilder().setPregenSkipRule("pregen-skip@1").setPregenSkipThreshold(0.25)
        .addTierPolicies(dev.cascade.proto.v1.TierPolicy.newBuilder().setRule("chow-sum").setThreshold(-5))).build());
    assertThat(logged()).containsPattern("ok, policy version 5 written: rule chow-sum threshold 3\\.0 .* tier rules"
        + " \\[chow-sum:-5\\.0\\] pregen skip pregen-skip@1 threshold 0\\.25, reason \"skip the hard ones\"");
  }

  @Test
  void aRuleRefusedAsAlreadyPublishedCountsAsRefused() throws Exception {
    PublishRuleRequest request = PublishRuleRequest.newBuilder()
        .setArtifact(ByteString.copyFrom(RuleArtifacts.encode(LearnedRules.bundledRules().get(0)))).setVersion(3)
        .build();
    admin(TOKEN).publishRule(request);
    assertCode(() -> admin(TOKEN).publishRule(request), Status.Code.ALREADY_EXISTS);
    assertThat(logged()).containsPattern("INFO AdminAudit - PolicyAdmin\\.PublishRule from 127\\.0\\.0\\.1:\\d+"
        + " \\(updated_by admin@127\\.0\\.0\\.1\\): ALREADY_EXISTS \"rule 'posthoc-quantile' already has version 3");
    assertThat(scrape()).contains("cascade_admin_requests_total{method=\"PublishRule\",result=\"refused\"} 1.0");
  }

  @Test
  void attemptsRefusedForTheirTokenAreLoggedAFewAMinutePerSourceThenSummedUpAndAllCounted() throws Exception {
    AtomicLong nanos = new AtomicLong();
    PrometheusRegistry own = new PrometheusRegistry();
    AdminAudit audit = new AdminAudit(own, new LogLimiter<>(AdminAudit.REFUSED_LOG_INTERVAL,
        AdminAudit.REFUSED_LOG_BURST, 16, nanos::get));
    RuleCatalog catalog = RuleCatalog.withBundled(FakeKafkaServer.bundledModelFingerprint());
    ServerServiceDefinition service = ServerInterceptors.intercept(new PolicyAdminService(
        new InMemoryPolicyStore(new DeferralPolicy("chow-sum", 0.0, 2.0, 0.0, 0.0, 4, "config", 0, "default")),
        new InMemoryRuleStore(catalog), new RuleResolver(LearnedRules.bundled(), catalog), Clock.systemUTC(), -1),
        new AdminTokenInterceptor(TOKEN), audit);
    // Two sources: 127.0.0.1 over a socket, and an in-process caller ("local").
    Server socket = NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
        .addService(service).build().start();
    String name = InProcessServerBuilder.generateName();
    Server inProcess = InProcessServerBuilder.forName(name).addService(service).build().start();
    ManagedChannel loopback = ManagedChannelBuilder.forAddress("127.0.0.1", socket.getPort()).usePlaintext().build();
    ManagedChannel local = InProcessChannelBuilder.forName(name).build();
    try {
      int hammered = 4 * AdminAudit.REFUSED_LOG_BURST;
      for (int i = 0; i < hammered; i++) {
        assertCode(() -> FakeKafkaServer.admin(loopback, WRONG, 10).updatePolicy(update(3, "guess")),
            Status.Code.UNAUTHENTICATED);
      }
      assertCode(() -> FakeKafkaServer.admin(local, WRONG, 10).updatePolicy(update(3, "guess")),
          Status.Code.UNAUTHENTICATED);
      String lines = logged();
      assertThat(lines.lines().filter(l -> l.contains("PolicyAdmin.UpdatePolicy from 127.0.0.1:")))
          .as("the first of a minute from one source").hasSize(AdminAudit.REFUSED_LOG_BURST)
          .allMatch(l -> l.contains("WARN AdminAudit") && l.contains("UNAUTHENTICATED \"wrong admin token\""));
      assertThat(lines.lines().filter(l -> l.contains("PolicyAdmin.UpdatePolicy from local:")))
          .as("another source has lines of its own").hasSize(1);
      assertThat(lines).doesNotContain("more attempts refused");

      audit.logSuppressed();
      assertThat(logged()).as("not before the minute has passed").doesNotContain("more attempts refused");
      nanos.addAndGet(AdminAudit.REFUSED_LOG_INTERVAL.toNanos());
      audit.logSuppressed();
      audit.logSuppressed();
      assertThat(logged().lines().filter(l -> l.contains("more attempts refused"))).singleElement().asString()
          .contains("WARN AdminAudit - PolicyAdmin: " + (hammered - AdminAudit.REFUSED_LOG_BURST)
              + " more attempts refused for their admin token from 127.0.0.1 in the last 60 s")
          .doesNotContain(WRONG);
      // The metric counts every attempt, logged or not.
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      new PrometheusTextFormatWriter(false).write(out, own.scrape());
      assertThat(out.toString(StandardCharsets.UTF_8))
          .contains("cascade_admin_requests_total{method=\"UpdatePolicy\",result=\"unauthenticated\"} "
              + (hammered + 1) + ".0");
    } finally {
      loopback.shutdownNow();
      local.shutdownNow();
      socket.shutdownNow();
      inProcess.shutdownNow();
    }
  }

  @Test
  void logTextIsQuotedWithControlCharactersEscapedAndBounded() {
    assertThat(AdminAudit.quoted("a\"b\\c\r\nd\te\u0007\u2028")).isEqualTo("\"a\\\"b\\\\c\\r\\nd\\te\\u0007\\u2028\"");
    assertThat(AdminAudit.quoted(null)).isEqualTo("\"\"");
    assertThat(AdminAudit.quoted("x".repeat(5000))).hasSize(1024 + 5);
    assertThat(AdminAudit.result(Status.Code.UNAVAILABLE)).isEqualTo("unavailable");
    assertThat(AdminAudit.result(Status.Code.FAILED_PRECONDITION)).isEqualTo("refused");
    assertThat(AdminAudit.result(Status.Code.INTERNAL)).isEqualTo("error");
    assertThat(AdminAudit.RESULTS).contains("ok", "unauthenticated", "invalid", "refused", "unavailable",
        "cancelled", "error");
  }
}
