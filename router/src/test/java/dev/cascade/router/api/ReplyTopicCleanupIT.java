package dev.cascade.router.api;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.embedded.EmbeddedKafka;
import dev.cascade.schemas.avro.CascadeRequest;
import dev.cascade.schemas.avro.CascadeResponse;
import dev.cascade.schemas.serde.CascadeSerdes;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A front door's reply topic on a real broker, with no router: deleted when the door closes with
 * every request it sent answered (read back there), kept while one is not, since a router may still
 * write that reply.
 */
class ReplyTopicCleanupIT {

  private static final String REQUESTS = "cleanup.requests";
  private static final String RESPONSES = "cleanup.responses";
  private static final String DEAD_LETTERS = "cleanup.dead-letters";
  private static final String PREFIX = RESPONSES + ".";
  private static EmbeddedKafka kafka;
  private static Admin admin;

  @BeforeAll
  static void broker() throws Exception {
    kafka = EmbeddedKafka.start();
    admin = Admin.create(props());
    admin.createTopics(List.of(new NewTopic(REQUESTS, 1, (short) 1), new NewTopic(RESPONSES, 1, (short) 1),
        new NewTopic(DEAD_LETTERS, 1, (short) 1))).all().get(60, TimeUnit.SECONDS);
  }

  @AfterAll
  static void stop() {
    if (admin != null) {
      admin.close();
    }
    if (kafka != null) {
      kafka.close();
    }
  }

  private static Map<String, Object> props() {
    return Map.of("bootstrap.servers", kafka.bootstrapServers());
  }

  private static KafkaRequestChannel door() {
    return KafkaRequestChannel.start(props(), REQUESTS, RESPONSES, DEAD_LETTERS, PREFIX);
  }

  private static Set<String> topics() throws Exception {
    return admin.listTopics().names().get(30, TimeUnit.SECONDS);
  }

  private static CascadeRequest request(String id) {
    return CascadeRequest.newBuilder().setRequestId(id).setPrompt("p").setMetadata(Map.of()).setCreatedAtMs(0).build();
  }

  /** What a router would do: finds request {@code id} and writes its response to the door's reply topic. */
  private static void answer(String id, String replyTopic) {
    Map<String, Object> consumerProps = Map.of("bootstrap.servers", kafka.bootstrapServers(),
        ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest", ConsumerConfig.GROUP_ID_CONFIG, "fake-router");
    try (KafkaConsumer<String, CascadeRequest> consumer = new KafkaConsumer<>(consumerProps, new StringDeserializer(),
        CascadeSerdes.requests().deserializer());
        KafkaProducer<String, CascadeResponse> producer = new KafkaProducer<>(Map.of("bootstrap.servers",
            kafka.bootstrapServers()), new StringSerializer(), CascadeSerdes.responses().serializer())) {
      consumer.subscribe(List.of(REQUESTS));
      long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
      while (System.nanoTime() < deadline) {
        for (ConsumerRecord<String, CascadeRequest> r : consumer.poll(Duration.ofMillis(200))) {
          if (!r.key().equals(id)) {
            continue;
          }
          producer.send(new ProducerRecord<>(replyTopic, r.key(), FakeChannel.answer(r.value())));
          producer.flush();
          consumer.commitSync();
          return;
        }
      }
      throw new AssertionError("no request " + id + " on " + REQUESTS);
    }
  }

  @Test
  void aDoorThatSentNothingDeletesItsTopicOnClose() throws Exception {
    KafkaRequestChannel door = door();
    String topic = door.replyTopic();
    assertThat(topics()).contains(topic);
    door.close(Duration.ZERO);
    assertThat(topics()).doesNotContain(topic);
  }

  @Test
  void aRequestAnsweredWhileTheDoorClosesIsDeliveredAndTheTopicDeleted() throws Exception {
    KafkaRequestChannel door = door();
    String topic = door.replyTopic();
    CompletableFuture<CascadeResponse> call = door.submit(request("answered-late"));
    assertThat(door.unanswered()).isEqualTo(1);
    // The door closes while the request waits for its reply; the reply comes during the drain.
    CompletableFuture<Void> closed = CompletableFuture.runAsync(() -> door.close(Duration.ofSeconds(30)));
    Thread.sleep(300);
    assertThat(door.submit(request("too-late"))).isCompletedExceptionally();
    answer("answered-late", topic);
    closed.get(60, TimeUnit.SECONDS);
    assertThat(call.get(1, TimeUnit.SECONDS).getRequestId()).isEqualTo("answered-late");
    assertThat(door.unanswered()).isZero();
    assertThat(topics()).doesNotContain(topic);
  }

  @Test
  void aDoorClosedWithARequestUnansweredKeepsItsTopic() throws Exception {
    KafkaRequestChannel door = door();
    String topic = door.replyTopic();
    CompletableFuture<CascadeResponse> call = door.submit(request("never-answered"));
    door.close(Duration.ofMillis(500));
    assertThat(call).isCompletedExceptionally();
    assertThat(door.unanswered()).isEqualTo(1);
    assertThat(topics()).contains(topic);
    admin.deleteTopics(List.of(topic)).all().get(30, TimeUnit.SECONDS);
  }
}
