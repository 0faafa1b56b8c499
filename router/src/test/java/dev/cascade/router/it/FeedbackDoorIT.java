package dev.cascade.router.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cascade.models.TextGenerator;
import dev.cascade.models.TextGenerators;
import dev.cascade.models.server.LargeModelServer;
import dev.cascade.models.server.ServerLimits;
import dev.cascade.proto.v1.CascadeGrpc;
import dev.cascade.proto.v1.FeedbackRequest;
import dev.cascade.proto.v1.FeedbackResponse;
import dev.cascade.proto.v1.GenerateRequest;
import dev.cascade.proto.v1.GenerateResponse;
import dev.cascade.proto.v1.ServedBy;
import dev.cascade.router.CascadeRouter;
import dev.cascade.router.api.FrontDoor;
import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.embedded.EmbeddedKafka;
import dev.cascade.router.learner.ContinuousLearner;
import dev.cascade.router.routing.RequestValidator;
import dev.cascade.schemas.avro.Feedback;
import dev.cascade.schemas.serde.CascadeSerdes;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.Test;

/**
 * Feedback through the gRPC door, end to end on the real broker: a prompt answered over {@code
 * Cascade.Generate} (no reference, so its outcome waits for feedback), then {@code
 * Cascade.SubmitFeedback} with the right answer; the record is on the feedback topic as a
 * {@code read_committed} reader sees it, and the learner (its own Kafka Streams application) joins
 * it with the outcome and counts a label from feedback. Feedback for an id with no outcome waits; the
 * HTTP door's {@code POST /v1/feedback} writes the same record. A request sent with its {@code reference}
 * is labelled from that, with no feedback.
 */
class FeedbackDoorIT {

  @Test
  void feedbackSubmittedAtTheDoorReachesTheTopicAndLabelsTheOutcomeInTheLearner() throws Exception {
    try (EmbeddedKafka kafka = EmbeddedKafka.start();
        TextGenerator small = TextGenerators.load("small", "OnnxRuntime");
        TextGenerator large = TextGenerators.load("large", "OnnxRuntime")) {
      LargeModelServer largeServer = new LargeModelServer(
          NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)), large,
          new ServerLimits(2, 512)).start();
      CascadeConfig config = CascadeConfig.load(null, Map.of(), Map.of(
          "bootstrap.servers", kafka.bootstrapServers(), "application.id", "feedback-it", "topic.partitions", "2",
          // Everything accepted: the small model serves, so the right answer judges its answer.
          "policy.rule", "chow-sum", "policy.threshold", "1000", "admin.token", "it-token",
          "learn.feedback-window-ms", "120000"));
      PrometheusRegistry learnerRegistry = new PrometheusRegistry();
      ManagedChannel channel = null;
      try (CascadeRouter router = CascadeRouter.start(config, small, "127.0.0.1:" + largeServer.port());
          FrontDoor doors = FrontDoor.start(config, new RequestValidator(small), router.rules(),
              new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
          ContinuousLearner learner = ContinuousLearner.start(config, learnerRegistry)) {
        channel = NettyChannelBuilder.forAddress("127.0.0.1", doors.port()).usePlaintext().build();
        CascadeGrpc.CascadeBlockingStub stub = CascadeGrpc.newBlockingStub(channel);
        GenerateResponse answer = stub.withDeadlineAfter(60, TimeUnit.SECONDS)
            .generate(GenerateRequest.newBuilder().setRequestId("fb-1").setPrompt("cascade").build());
        assertThat(answer.getServedBy()).isEqualTo(ServedBy.SMALL);
        // A caller who knows the right answer says so in the request: the learner labels it from that.
        stub.withDeadlineAfter(60, TimeUnit.SECONDS).generate(GenerateRequest.newBuilder().setRequestId("ref-1")
            .setPrompt("cascade").setBypassCache(true).setReference(answer.getText()).build());

        FeedbackResponse written = stub.withDeadlineAfter(30, TimeUnit.SECONDS).submitFeedback(
            FeedbackRequest.newBuilder().setRequestId("fb-1").setCorrectedText(answer.getText())
                .setSource("it-reviewer").build());
        assertThat(written.getTopic()).isEqualTo(config.topics().feedback());
        stub.withDeadlineAfter(30, TimeUnit.SECONDS).submitFeedback(
            FeedbackRequest.newBuilder().setRequestId("fb-nobody").setCorrect(true).build());
        assertThatThrownBy(() -> stub.withDeadlineAfter(30, TimeUnit.SECONDS).submitFeedback(
            FeedbackRequest.newBuilder().setRequestId("fb-1").build()))
            .isInstanceOfSatisfying(StatusRuntimeException.class,
                e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT));

        // The HTTP door's own path, for callers of the OpenAI-compatible door (completion ids).
        java.net.http.HttpResponse<String> http = java.net.http.HttpClient.newHttpClient().send(
            java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://127.0.0.1:" + doors.httpPort()
                + "/v1/feedback")).header("Content-Type", "application/json").POST(
                java.net.http.HttpRequest.BodyPublishers.ofString("{\"id\": \"cmpl-fb\", \"correct\": false}")).build(),
            java.net.http.HttpResponse.BodyHandlers.ofString());
        assertThat(http.statusCode()).as(http.body()).isEqualTo(200);
        assertThat(http.body()).contains("\"topic\":\"" + config.topics().feedback() + "\"");

        List<Feedback> onTopic = readFeedback(config, 3);
        assertThat(onTopic).extracting(Feedback::getRequestId)
            .containsExactlyInAnyOrder("fb-1", "fb-nobody", "cmpl-fb");
        Feedback first = onTopic.stream().filter(f -> f.getRequestId().equals("fb-1")).findFirst().orElseThrow();
        assertThat(first.getCorrectedText()).isEqualTo(answer.getText());
        assertThat(first.getCorrect()).isNull();
        assertThat(first.getSource()).isEqualTo("it-reviewer");

        long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
        while ((counter(learnerRegistry, "cascade_learner_labels", "source", "feedback") < 1
            || counter(learnerRegistry, "cascade_learner_labels", "source", "reference") < 1
            || counter(learnerRegistry, "cascade_learner_feedback", "result", "waiting") < 2)
            && System.nanoTime() < deadline) {
          Thread.sleep(200);
        }
        assertThat(counter(learnerRegistry, "cascade_learner_feedback", "result", "joined"))
            .as("the feedback joined to fb-1's outcome").isEqualTo(1);
        assertThat(counter(learnerRegistry, "cascade_learner_labels", "source", "feedback"))
            .as("fb-1 labelled by its feedback").isEqualTo(1);
        assertThat(counter(learnerRegistry, "cascade_learner_labels", "source", "reference"))
            .as("ref-1 labelled by the reference it was sent with").isEqualTo(1);
        assertThat(counter(learnerRegistry, "cascade_learner_feedback", "result", "waiting"))
            .as("fb-nobody and cmpl-fb have no outcome: kept for the window").isEqualTo(2);
      } finally {
        if (channel != null) {
          channel.shutdownNow();
        }
        largeServer.stop();
      }
    }
  }

  private static List<Feedback> readFeedback(CascadeConfig config, int expected) {
    Map<String, Object> props = new HashMap<>(CascadeRouter.clientProperties(config));
    props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    props.put(ConsumerConfig.GROUP_ID_CONFIG, "feedback-it-reader");
    List<Feedback> found = new ArrayList<>();
    try (KafkaConsumer<String, Feedback> consumer = new KafkaConsumer<>(props, new StringDeserializer(),
        CascadeSerdes.feedback().deserializer())) {
      consumer.subscribe(List.of(config.topics().feedback()));
      long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
      while (found.size() < expected && System.nanoTime() < deadline) {
        for (ConsumerRecord<String, Feedback> r : consumer.poll(Duration.ofMillis(200))) {
          assertThat(r.key()).isEqualTo(r.value().getRequestId());
          found.add(r.value());
        }
      }
    }
    return found;
  }

  private static double counter(PrometheusRegistry registry, String name, String label, String value) {
    for (MetricSnapshot s : registry.scrape()) {
      if (s instanceof CounterSnapshot c && c.getMetadata().getName().equals(name)) {
        return c.getDataPoints().stream().filter(d -> value.equals(d.getLabels().get(label)))
            .mapToDouble(CounterSnapshot.CounterDataPointSnapshot::getValue).sum();
      }
    }
    return 0;
  }
}
