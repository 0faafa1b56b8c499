package dev.cascade.router.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import com.google.protobuf.ByteString;
import dev.cascade.models.Generation;
import dev.cascade.models.ModelInfo;
import dev.cascade.models.TextGenerator;
import dev.cascade.proto.v1.CascadeGrpc;
import dev.cascade.proto.v1.GenerateRequest;
import dev.cascade.proto.v1.GenerateResponse;
import dev.cascade.proto.v1.GetPolicyRequest;
import dev.cascade.proto.v1.GetRuleRequest;
import dev.cascade.proto.v1.ListRulesRequest;
import dev.cascade.proto.v1.Policy;
import dev.cascade.proto.v1.PolicyAdminGrpc;
import dev.cascade.proto.v1.PublishRuleRequest;
import dev.cascade.proto.v1.Rule;
import dev.cascade.proto.v1.UpdatePolicyRequest;
import dev.cascade.proto.v1.WatchPolicyRequest;
import dev.cascade.router.CascadeRouter;
import dev.cascade.router.api.FrontDoor;
import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.demo.DemoWorkload;
import dev.cascade.router.demo.Example;
import dev.cascade.router.demo.Examples;
import dev.cascade.router.learning.LearnedRules;
import dev.cascade.router.learning.RuleArtifacts;
import dev.cascade.schemas.avro.CascadeResponse;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.serde.CascadeSerdes;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.utils.Utils;
import org.apache.kafka.streams.ThreadMetadata;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The doors end to end: two router instances (one application id) on a real embedded broker with
 * the real bundled models and large-model server, each with its gRPC front door on loopback.
 * One setup for the whole class, to keep it quick.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class FrontDoorIT {

  private static final Duration IDLE = Duration.ofSeconds(60);
  private static LocalCascade local;
  /** The small model of both routers, counting. */
  private static CountingModel small;
  private static CascadeConfig config;
  private static CascadeRouter routerA;
  private static CascadeRouter routerB;
  private static FrontDoor doorA;
  private static FrontDoor doorB;
  /** A third door, beside router A, with front-door.replies=shared (no reply topic of its own). */
  private static FrontDoor doorShared;
  private static ManagedChannel channelA;
  private static ManagedChannel channelB;
  private static ManagedChannel channelShared;
  private static List<Example> test;

  /** The small model, counting the prompts it is asked to generate from. */
  static final class CountingModel implements TextGenerator {
    private final TextGenerator model;
    final List<String> generated = Collections.synchronizedList(new ArrayList<>());

    CountingModel(TextGenerator model) {
      this.model = model;
    }

    long count(String prompt) {
      synchronized (generated) {
        return generated.stream().filter(prompt::equals).count();
      }
    }

    @Override
    public List<Generation> generate(List<String> prompts, int maxNewTokens) {
      generated.addAll(prompts);
      return model.generate(prompts, maxNewTokens);
    }

    @Override
    public List<Generation> generate(List<String> prompts, int maxNewTokens, Cancellation cancellation) {
      generated.addAll(prompts);
      return model.generate(prompts, maxNewTokens, cancellation);
    }

    @Override
    public Optional<String> checkPrompt(String prompt) {
      return model.checkPrompt(prompt);
    }

    @Override
    public ModelInfo info() {
      return model.info();
    }

    @Override
    public void close() {
      model.close();
    }
  }

  @BeforeAll
  static void start() throws Exception {
    local = new LocalCascade(System.getProperty("cascade.it.small-model", "small"),
        System.getProperty("cascade.it.large-model", "large"));
    small = new CountingModel(local.small);
    config = CascadeConfig.load(null, Map.of(), Map.of(
        "bootstrap.servers", local.kafka.bootstrapServers(),
        "application.id", "doors-it",
        "policy.rule", "chow-quantile", "policy.alpha", "0", "policy.threshold", "1.0",
        "topic.partitions", "2",
        "admin.token", "it-token"));
    routerA = local.router(config, small, local.largeAddress());
    routerB = local.router(config, small, local.largeAddress());
    doorA = local.door(config, small, routerA);
    doorB = local.door(config, small, routerB);
    doorShared = local.door(config.with(CascadeConfig.FRONT_DOOR_REPLIES, CascadeConfig.REPLIES_SHARED), small,
        routerA);
    channelA = ManagedChannelBuilder.forAddress("127.0.0.1", doorA.port()).usePlaintext().build();
    channelB = ManagedChannelBuilder.forAddress("127.0.0.1", doorB.port()).usePlaintext().build();
    channelShared = ManagedChannelBuilder.forAddress("127.0.0.1", doorShared.port()).usePlaintext().build();
    test = Examples.bundled("test");
    awaitBothInstancesOwnRequestPartitions();
  }

  @AfterAll
  static void stop() throws Exception {
    for (ManagedChannel c : new ManagedChannel[] {channelA, channelB, channelShared}) {
      if (c != null) {
        c.shutdownNow();
      }
    }
    if (local != null) {
      local.close();
    }
  }

  private static CascadeGrpc.CascadeBlockingStub cascade(ManagedChannel channel) {
    return CascadeGrpc.newBlockingStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS);
  }

  private static PolicyAdminGrpc.PolicyAdminBlockingStub admin(String token) {
    PolicyAdminGrpc.PolicyAdminBlockingStub stub = PolicyAdminGrpc.newBlockingStub(channelA)
        .withDeadlineAfter(30, TimeUnit.SECONDS);
    if (token == null) {
      return stub;
    }
    Metadata headers = new Metadata();
    headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + token);
    return stub.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
  }

  private static Policy update(String rule, double threshold, String reason) {
    return admin("it-token").updatePolicy(UpdatePolicyRequest.newBuilder().setPolicy(Policy.newBuilder()
        .setRule(rule).setThreshold(threshold).setReason(reason)).build());
  }

  private static GenerateRequest request(String id, String prompt) {
    return GenerateRequest.newBuilder().setRequestId(id).setPrompt(prompt).build();
  }

  private static DemoWorkload.Result send(String prefix, List<Example> examples) throws Exception {
    return DemoWorkload.run(CascadeRouter.clientProperties(config), config.topics().requests(),
        config.topics().responses(), config.topics().outcomes(), prefix, examples, IDLE, n -> { });
  }

  @Test
  @Order(1)
  void generateOverLoopbackGivesTheSameAnswerAsTheKafkaPath() throws Exception {
    List<Example> examples = test.subList(0, 12);
    DemoWorkload.Result viaKafka = send("same-kafka", examples);
    assertThat(viaKafka.responses()).hasSize(examples.size());

    for (int i = 0; i < examples.size(); i++) {
      String kafkaId = "same-kafka-" + i;
      CascadeResponse kafkaAnswer = viaKafka.responses().stream()
          .filter(r -> r.getRequestId().equals(kafkaId)).findFirst().orElseThrow();
      GenerateResponse grpcAnswer = cascade(i % 2 == 0 ? channelA : channelB).generate(GenerateRequest.newBuilder()
          .setRequestId("same-grpc-" + i).setPrompt(examples.get(i).prompt()).setBypassCache(true).build());
      assertThat(grpcAnswer.getRequestId()).isEqualTo("same-grpc-" + i);
      assertThat(grpcAnswer.getText()).isEqualTo(kafkaAnswer.getText());
      // Batch composition moves log-probs in the last float digits, so the score is compared with a
      // tolerance, and the decision only where the score is not within that tolerance of the threshold.
      assertThat(grpcAnswer.getDeferralScore()).isCloseTo(kafkaAnswer.getDeferralScore(), within(1e-4));
      if (Math.abs(kafkaAnswer.getDeferralScore() - kafkaAnswer.getThreshold()) > 1e-3) {
        assertThat(grpcAnswer.getServedBy().name()).isEqualTo(kafkaAnswer.getServedBy().name());
      }
      assertThat(grpcAnswer.getCacheHit()).isFalse();
    }
  }

  @Test
  @Order(2)
  void fiftyConcurrentCallsAllGetTheirOwnAnswers() throws Exception {
    List<Example> examples = test.subList(100, 150);
    List<Generation> smallDirect = small.generate(examples.stream().map(Example::prompt).toList(), 48);
    List<Generation> largeDirect = local.large.generate(examples.stream().map(Example::prompt).toList(), 48);
    long readByA = doorA.replyRecordsRead();
    long readByB = doorB.replyRecordsRead();
    long readByShared = doorShared.replyRecordsRead();
    ExecutorService callers = Executors.newFixedThreadPool(50);
    try {
      List<Future<GenerateResponse>> calls = new ArrayList<>();
      for (int i = 0; i < examples.size(); i++) {
        GenerateRequest r = request("fifty-" + i, examples.get(i).prompt());
        ManagedChannel channel = i % 2 == 0 ? channelA : channelB;
        calls.add(callers.submit(() -> cascade(channel).generate(r)));
      }
      for (int i = 0; i < calls.size(); i++) {
        GenerateResponse response = calls.get(i).get(90, TimeUnit.SECONDS);
        assertThat(response.getRequestId()).isEqualTo("fifty-" + i);
        String expected = switch (response.getServedBy()) {
          case LARGE -> largeDirect.get(i).text();
          default -> smallDirect.get(i).text();
        };
        assertThat(response.getText()).as("answer to fifty-%d", i).isEqualTo(expected);
      }
      // Each door's reader fetched its own 25 replies and nothing else: not the other's (on the
      // other's reply topic), and the shared-mode door none of either's (not on the shared topic).
      assertThat(doorA.replyRecordsRead() - readByA).as("records door A's reader fetched").isEqualTo(25);
      assertThat(doorB.replyRecordsRead() - readByB).as("records door B's reader fetched").isEqualTo(25);
      assertThat(doorShared.replyRecordsRead() - readByShared).as("records the shared-mode door fetched").isZero();
      assertThat(doorA.repliesSkipped() + doorB.repliesSkipped()).isZero();
      // And on the topics: each reply topic holds exactly its door's answers, the shared one none.
      Set<String> toA = new HashSet<>();
      Set<String> toB = new HashSet<>();
      for (int i = 0; i < examples.size(); i++) {
        (i % 2 == 0 ? toA : toB).add("fifty-" + i);
      }
      assertThat(responseRecords(doorA.replyTopic().orElseThrow(), "fifty-"))
          .allSatisfy(r -> assertThat(r.getReplyTo()).isEqualTo(doorA.instanceId()))
          .extracting(CascadeResponse::getRequestId).containsExactlyInAnyOrderElementsOf(toA);
      assertThat(responseRecords(doorB.replyTopic().orElseThrow(), "fifty-"))
          .allSatisfy(r -> assertThat(r.getReplyTo()).isEqualTo(doorB.instanceId()))
          .extracting(CascadeResponse::getRequestId).containsExactlyInAnyOrderElementsOf(toB);
      assertThat(responseRecords(config.topics().responses(), "fifty-")).isEmpty();
    } finally {
      callers.shutdownNow();
    }
  }

  @Test
  @Order(3)
  void aCallWhoseDeadlineExpiresGetsDeadlineExceededAndItsLateResponseReachesNobody() throws Exception {
    long unclaimedBefore = doorA.unclaimedResponses();
    long deliveredByB = doorB.deliveredResponses();
    String lateId = null;
    for (int attempt = 0; attempt < 10 && lateId == null; attempt++) {
      String id = "late-" + attempt;
      String prompt = test.get(200 + attempt).prompt();
      assertThatThrownBy(() -> CascadeGrpc.newBlockingStub(channelA).withDeadlineAfter(30, TimeUnit.MILLISECONDS)
          .generate(request(id, prompt)))
          .isInstanceOfSatisfying(StatusRuntimeException.class,
              e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED));
      Optional<CascadeResponse> written = awaitResponseRecord(doorA.replyTopic().orElseThrow(), id,
          Duration.ofSeconds(10));
      if (written.isPresent()) {
        lateId = id;
        assertThat(written.get().getReplyTo()).isEqualTo(doorA.instanceId());
      }
    }
    assertThat(lateId).as("a request sent before its deadline expired").isNotNull();
    // The router answered it (the response is on A's reply topic), but no caller got it: door A
    // dropped it as unclaimed, and door B delivered nothing of A's.
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (doorA.unclaimedResponses() == unclaimedBefore && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    assertThat(doorA.unclaimedResponses()).isGreaterThan(unclaimedBefore);
    assertThat(doorB.deliveredResponses()).isEqualTo(deliveredByB);
    GenerateResponse next = cascade(channelA).generate(request("after-late", test.get(230).prompt()));
    assertThat(next.getRequestId()).isEqualTo("after-late");
  }

  @Test
  @Order(4)
  void theSecondIdenticalPromptIsACacheHitThatDoesNotTouchTheModelAndBypassSkipsTheCache() throws Exception {
    // The cache is per router instance and requests are spread by id, so every id here lands on
    // the partition (and so the instance) of the first one.
    Example e = test.get(300);
    String[] ids = samePartition(new String[] {"cache-1-0", "cache-2-0", "cache-3", "cache-4"});
    DemoWorkload.Result first = send(ids[0].substring(0, ids[0].length() - 2), List.of(e));
    assertThat(small.count(e.prompt())).isEqualTo(1);
    assertThat(first.responses().get(0).getCacheHit()).isFalse();

    DemoWorkload.Result second = send(ids[1].substring(0, ids[1].length() - 2), List.of(e));
    assertThat(small.count(e.prompt())).isEqualTo(1);
    assertThat(second.responses().get(0).getText()).isEqualTo(first.responses().get(0).getText());
    RoutingOutcome outcome = second.outcomes().get(ids[1]);
    if (second.responses().get(0).getServedBy() == dev.cascade.schemas.avro.ServedBy.SMALL) {
      assertThat(second.responses().get(0).getCacheHit()).isTrue();
      assertThat(outcome.getCacheHit()).isTrue();
    }
    assertThat(routerA.responseCache().stats().hitCount() + routerB.responseCache().stats().hitCount())
        .isPositive();

    GenerateResponse viaGrpc = cascade(channelA).generate(request(ids[2], e.prompt()));
    assertThat(small.count(e.prompt())).isEqualTo(1);
    GenerateResponse bypassed = cascade(channelA).generate(GenerateRequest.newBuilder().setRequestId(ids[3])
        .setPrompt(e.prompt()).setBypassCache(true).build());
    assertThat(small.count(e.prompt())).isEqualTo(2);
    assertThat(bypassed.getCacheHit()).isFalse();
    assertThat(bypassed.getText()).isEqualTo(viaGrpc.getText());
  }

  @Test
  @Order(5)
  void anUpdateWithoutTheTokenOrWithAWrongOneIsRefusedAndChangesNothing() throws Exception {
    Policy before = admin(null).getPolicy(GetPolicyRequest.getDefaultInstance());
    long endBefore = policyTopicEnd();
    for (String token : new String[] {null, "not-the-token"}) {
      assertThatThrownBy(() -> admin(token).updatePolicy(UpdatePolicyRequest.newBuilder()
          .setPolicy(Policy.newBuilder().setRule("chow-sum").setThreshold(-1e9)).build()))
          .isInstanceOfSatisfying(StatusRuntimeException.class,
              e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED));
    }
    assertThat(policyTopicEnd()).isEqualTo(endBefore);
    assertThat(admin(null).getPolicy(GetPolicyRequest.getDefaultInstance())).isEqualTo(before);
  }

  @Test
  @Order(6)
  void aPolicyUpdateChangesTheFollowingDecisionsOnBothInstancesAndWatchersSeeIt() throws Exception {
    BlockingQueue<Policy> watchedA = watch(channelA);
    BlockingQueue<Policy> watchedB = watch(channelB);

    Policy all = update("chow-sum", -1e9, "escalate everything");
    assertThat(all.getVersion()).isEqualTo(admin(null).getPolicy(GetPolicyRequest.getDefaultInstance()).getVersion());
    assertThat(watchedA.poll(10, TimeUnit.SECONDS).getVersion()).isEqualTo(all.getVersion());
    assertThat(watchedB.poll(10, TimeUnit.SECONDS).getVersion()).isEqualTo(all.getVersion());
    List<Example> onBoth = onBothPartitions("escalate-all", 400, 10);
    DemoWorkload.Result escalated = sendUntilAllUnder(all.getVersion(), "escalate-all", onBoth);
    assertThat(escalated.responses()).allSatisfy(r -> {
      assertThat(r.getPolicyVersion()).isEqualTo(all.getVersion());
      assertThat(r.getRule()).isEqualTo("chow-sum");
      assertThat(r.getServedBy()).isEqualTo(dev.cascade.schemas.avro.ServedBy.LARGE);
    });

    Policy none = update("chow-sum", 1e9, "escalate nothing");
    assertThat(none.getVersion()).isEqualTo(all.getVersion() + 1);
    assertThat(watchedA.poll(10, TimeUnit.SECONDS).getVersion()).isEqualTo(none.getVersion());
    DemoWorkload.Result accepted = sendUntilAllUnder(none.getVersion(), "escalate-none",
        onBothPartitions("escalate-none", 500, 10));
    assertThat(accepted.responses()).allSatisfy(r -> {
      assertThat(r.getPolicyVersion()).isEqualTo(none.getVersion());
      assertThat(r.getServedBy()).isEqualTo(dev.cascade.schemas.avro.ServedBy.SMALL);
    });
    GenerateResponse viaGrpc = cascade(channelB).generate(request("after-update", test.get(600).prompt()));
    assertThat(viaGrpc.getPolicyVersion()).isEqualTo(none.getVersion());

    // A record on the policy topic that cannot be decoded changes nothing PolicyAdmin shows (the
    // routers skip it too); one that decodes but is no valid policy puts the default in force, and
    // the next version is numbered above it, so no two policies share a version.
    java.util.Map<String, Object> props = new java.util.HashMap<>(CascadeRouter.clientProperties(config));
    try (org.apache.kafka.clients.producer.KafkaProducer<byte[], byte[]> raw = new org.apache.kafka.clients.producer
        .KafkaProducer<>(props, new org.apache.kafka.common.serialization.ByteArraySerializer(),
        new org.apache.kafka.common.serialization.ByteArraySerializer())) {
      byte[] key = dev.cascade.router.topology.CascadeTopology.POLICY_KEY.getBytes(java.nio.charset.StandardCharsets.UTF_8);
      raw.send(new org.apache.kafka.clients.producer.ProducerRecord<>(config.topics().policy(), key,
          new byte[] {1, 2, 3})).get();
      Thread.sleep(1_000); // the admin's reader polls every 100 ms
      assertThat(admin(null).getPolicy(GetPolicyRequest.getDefaultInstance()).getVersion()).isEqualTo(none.getVersion());
      raw.send(new org.apache.kafka.clients.producer.ProducerRecord<>(config.topics().policy(), key,
          dev.cascade.schemas.serde.CascadeSerdes.policies().encode(dev.cascade.schemas.avro.DeferralPolicy.newBuilder()
              .setRule("chow-sum").setAlpha(0).setThreshold(1e9).setExplorationRate(2.0).setTargetEscalationRate(0)
              .setVersion(5_000).setUpdatedBy("it").setUpdatedAtMs(1).setReason("invalid").build()))).get();
    }
    long deadline = System.currentTimeMillis() + 10_000;
    while (admin(null).getPolicy(GetPolicyRequest.getDefaultInstance()).getVersion() != 0
        && System.currentTimeMillis() < deadline) {
      Thread.sleep(50);
    }
    assertThat(admin(null).getPolicy(GetPolicyRequest.getDefaultInstance()).getVersion()).as("the default in force")
        .isZero();
    assertThat(update("chow-sum", 1e9, "escalate nothing, again").getVersion()).isEqualTo(5_001);
  }

  @Test
  @Order(7)
  void aRulePublishedThroughOneDoorIsInBothRoutersCatalogs() throws Exception {
    byte[] artifact = RuleArtifacts.encode(LearnedRules.bundledRules().get(0));
    assertThatThrownBy(() -> admin(null).publishRule(PublishRuleRequest.newBuilder()
        .setArtifact(ByteString.copyFrom(artifact)).build()))
        .isInstanceOfSatisfying(StatusRuntimeException.class,
            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED));

    Rule published = admin("it-token").publishRule(PublishRuleRequest.newBuilder()
        .setArtifact(ByteString.copyFrom(artifact)).build());
    assertThat(published.getName() + "@" + published.getVersion()).isEqualTo("posthoc-quantile@1");
    assertThat(published.getApplicable()).isTrue();
    // Door A returns once router A's catalog has it; router B reads the same topic.
    assertThat(routerA.rules().catalog().get("posthoc-quantile", 1)).isPresent();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (routerB.rules().catalog().get("posthoc-quantile", 1).isEmpty() && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    assertThat(PolicyAdminGrpc.newBlockingStub(channelB).withDeadlineAfter(30, TimeUnit.SECONDS)
        .listRules(ListRulesRequest.getDefaultInstance()).getRulesList())
        .extracting(r -> r.getName() + "@" + r.getVersion() + ":" + r.getApplicable())
        .contains("posthoc-quantile@0:true", "posthoc-quantile@1:true");
    Rule read = PolicyAdminGrpc.newBlockingStub(channelB).withDeadlineAfter(30, TimeUnit.SECONDS)
        .getRule(GetRuleRequest.newBuilder().setName("posthoc-quantile").build());
    assertThat(RuleArtifacts.decode(read.getArtifact().toByteArray()).info())
        .isEqualTo(LearnedRules.bundledRules().get(0).info().withVersion(1));
  }

  @Test
  @Order(8)
  void aDoorInSharedModeIsAnsweredOnTheSharedTopicAndARefusalReachesEachDoorAtOnce() throws Exception {
    assertThat(doorShared.replyTopic()).isEmpty();
    assertThat(doorA.replyTopic()).contains(config.replyTopicPrefix() + doorA.instanceId());
    for (int i = 0; i < 4; i++) {
      GenerateResponse r = cascade(channelShared).generate(request("shared-" + i, test.get(700 + i).prompt()));
      assertThat(r.getRequestId()).isEqualTo("shared-" + i);
    }
    // A front door with no reply topic (this one, or one of a version before them) is answered on
    // the shared topic, as before; the other doors' reply topics got none of it.
    assertThat(responseRecords(config.topics().responses(), "shared-")).hasSize(4)
        .allSatisfy(r -> assertThat(r.getReplyTo()).isEqualTo(doorShared.instanceId()));
    assertThat(responseRecords(doorA.replyTopic().orElseThrow(), "shared-")).isEmpty();
    assertThat(responseRecords(doorB.replyTopic().orElseThrow(), "shared-")).isEmpty();

    // A repeated id is dead-lettered by the router; the door learns of it from its reply topic (a
    // copy of the dead letter) or the dead-letter topic (shared mode), not by waiting out the deadline.
    for (ManagedChannel channel : new ManagedChannel[] {channelA, channelShared}) {
      String id = "dup-" + (channel == channelA ? "a" : "shared");
      String prompt = test.get(710).prompt();
      cascade(channel).generate(request(id, prompt));
      long start = System.nanoTime();
      assertThatThrownBy(() -> CascadeGrpc.newBlockingStub(channel).withDeadlineAfter(20, TimeUnit.SECONDS)
          .generate(request(id, prompt)))
          .isInstanceOfSatisfying(StatusRuntimeException.class,
              e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.ALREADY_EXISTS));
      assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(15));
    }
  }

  /** Both router instances own a partition of the requests topic. */
  private static void awaitBothInstancesOwnRequestPartitions() throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (System.nanoTime() < deadline) {
      if (!activeTasks(routerA).isEmpty() && !activeTasks(routerB).isEmpty()
          && routerA.streams().state().isRunningOrRebalancing() && routerB.streams().state().isRunningOrRebalancing()
          && routerA.streams().state().name().equals("RUNNING") && routerB.streams().state().name().equals("RUNNING")) {
        return;
      }
      Thread.sleep(100);
    }
    throw new AssertionError("the two router instances did not share the partitions within 60 s: A "
        + activeTasks(routerA) + ", B " + activeTasks(routerB));
  }

  private static Set<String> activeTasks(CascadeRouter router) {
    Set<String> tasks = new HashSet<>();
    for (ThreadMetadata t : router.streams().metadataForLocalThreads()) {
      t.activeTasks().forEach(task -> tasks.add(task.taskId().toString()));
    }
    return tasks;
  }

  /**
   * The ids, each but the first given a suffix ({@code x}, {@code xx}, … before a trailing
   * {@code -0}) until it lands on the first id's request partition.
   */
  private static String[] samePartition(String[] ids) {
    String[] out = ids.clone();
    int target = partitionOf(ids[0]);
    for (int i = 1; i < out.length; i++) {
      String base = ids[i].endsWith("-0") ? ids[i].substring(0, ids[i].length() - 2) : ids[i];
      String tail = ids[i].endsWith("-0") ? "-0" : "";
      String candidate = ids[i];
      while (partitionOf(candidate) != target) {
        base = base + "x";
        candidate = base + tail;
      }
      out[i] = candidate;
    }
    return out;
  }

  private static int partitionOf(String id) {
    return Utils.toPositive(Utils.murmur2(id.getBytes(StandardCharsets.UTF_8))) % 2;
  }

  /** {@code n} examples from {@code from} on whose ids ({@code prefix-i}) land on both request partitions. */
  private static List<Example> onBothPartitions(String prefix, int from, int n) {
    List<Example> examples = test.subList(from, from + n);
    Set<Integer> partitions = new HashSet<>();
    for (int i = 0; i < n; i++) {
      partitions.add(partitionOf(prefix + "-" + i));
    }
    assertThat(partitions).as("partitions of %s ids", prefix).containsExactlyInAnyOrder(0, 1);
    return examples;
  }

  /**
   * Sends the examples until every response was decided under {@code version} (the instances apply
   * a change within about a second); the last round is returned.
   */
  private static DemoWorkload.Result sendUntilAllUnder(long version, String prefix, List<Example> examples)
      throws Exception {
    for (int round = 0; round < 20; round++) {
      DemoWorkload.Result result = send(prefix + (round == 0 ? "" : "-r" + round), examples);
      if (result.responses().size() == examples.size()
          && result.responses().stream().allMatch(r -> r.getPolicyVersion() == version)) {
        return result;
      }
      Thread.sleep(250);
    }
    throw new AssertionError("policy version " + version + " was not applied by every instance");
  }

  /** Starts watching; returns once the watch is in place (the current policy, sent first, is consumed). */
  private static BlockingQueue<Policy> watch(ManagedChannel channel) throws InterruptedException {
    BlockingQueue<Policy> seen = new LinkedBlockingQueue<>();
    PolicyAdminGrpc.newStub(channel).watchPolicy(WatchPolicyRequest.newBuilder().setIncludeCurrent(true).build(),
        new StreamObserver<>() {
      @Override
      public void onNext(Policy value) {
        seen.add(value);
      }

      @Override
      public void onError(Throwable t) {}

      @Override
      public void onCompleted() {}
    });
    assertThat(seen.poll(10, TimeUnit.SECONDS)).as("the current policy").isNotNull();
    return seen;
  }

  private static long policyTopicEnd() {
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(Map.of(
        ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, local.kafka.bootstrapServers()), new ByteArrayDeserializer(),
        new ByteArrayDeserializer())) {
      TopicPartition p = new TopicPartition(config.topics().policy(), 0);
      return consumer.endOffsets(List.of(p)).get(p);
    }
  }

  /** The responses on {@code topic} (from its start, committed ones) whose request ids start with {@code prefix}. */
  private static List<CascadeResponse> responseRecords(String topic, String prefix) {
    Map<String, Object> props = new HashMap<>();
    props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, local.kafka.bootstrapServers());
    props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    List<CascadeResponse> out = new ArrayList<>();
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props, new ByteArrayDeserializer(),
        new ByteArrayDeserializer())) {
      List<TopicPartition> partitions = new ArrayList<>();
      consumer.partitionsFor(topic).forEach(p -> partitions.add(new TopicPartition(p.topic(), p.partition())));
      consumer.assign(partitions);
      consumer.seekToBeginning(partitions);
      Map<TopicPartition, Long> end = consumer.endOffsets(partitions);
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (partitions.stream().anyMatch(p -> consumer.position(p) < end.get(p)) && System.nanoTime() < deadline) {
        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(100))) {
          if (r.headers().lastHeader(dev.cascade.router.topology.CascadeTopology.DEAD_LETTER_HEADER) != null) {
            continue;
          }
          CascadeResponse response = CascadeSerdes.responses().deserializer().deserialize(r.topic(), r.value());
          if (response.getRequestId().startsWith(prefix)) {
            out.add(response);
          }
        }
      }
    }
    return out;
  }

  private static Optional<CascadeResponse> awaitResponseRecord(String topic, String requestId, Duration timeout) {
    Map<String, Object> props = new HashMap<>();
    props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, local.kafka.bootstrapServers());
    props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props, new ByteArrayDeserializer(),
        new ByteArrayDeserializer())) {
      List<TopicPartition> partitions = new ArrayList<>();
      consumer.partitionsFor(topic).forEach(p -> partitions.add(new TopicPartition(p.topic(), p.partition())));
      consumer.assign(partitions);
      consumer.seekToBeginning(partitions);
      long deadline = System.nanoTime() + timeout.toNanos();
      while (System.nanoTime() < deadline) {
        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(100))) {
          CascadeResponse response = CascadeSerdes.responses().deserializer().deserialize(r.topic(), r.value());
          if (response.getRequestId().equals(requestId)) {
            return Optional.of(response);
          }
        }
      }
    }
    return Optional.empty();
  }
}
