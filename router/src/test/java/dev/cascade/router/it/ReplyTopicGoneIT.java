package dev.cascade.router.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.embedded.EmbeddedKafka;
import dev.cascade.schemas.avro.CascadeRequest;
import dev.cascade.schemas.avro.CascadeResponse;
import dev.cascade.schemas.serde.CascadeSerdes;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A reply topic deleted after the router last wrote to it, as a reaper deletes the topic of a
 * killed front door once nothing was written to it for the grace while a router is further behind
 * than that on its requests: the router ({@code cascade serve}, a separate process on a real broker
 * that does not auto-create topics) has the topic as existing, and its producer still knows it.
 * The next reply is not lost and the router goes on: it is answered on the shared responses topic,
 * the deleted topic is not created again, no stream thread dies. (Before, that reply waited in the
 * producer, and the stream thread's commit with it: no answer in 8 minutes, and the stream thread
 * out of its group for missing max.poll.interval.ms.)
 */
class ReplyTopicGoneIT {

  private static final String REQUESTS = "cascade.requests";
  private static final String RESPONSES = "cascade.responses";
  private static final Duration GRACE = Duration.ofSeconds(20);

  @TempDir
  Path state;

  @Test
  void aReplyToATopicDeletedMeanwhileIsAnsweredOnTheSharedTopic() throws Exception {
    try (EmbeddedKafka kafka = EmbeddedKafka.start();
        Admin admin = Admin.create(Map.of("bootstrap.servers", kafka.bootstrapServers()))) {
      List<String> args = new ArrayList<>(List.of("serve"));
      for (String kv : List.of("bootstrap.servers=" + kafka.bootstrapServers(), "state.dir=" + state,
          // One partition: one task, so a stalled reply holds up the next request too.
          "topic.partitions=1", "large.target=127.0.0.1:2", "http.enabled=false", "metrics.port=0",
          // No reaper in the router's process: the test deletes the topic itself, as one with this
          // grace would (the router reads the grace too).
          "front-door.reply-topic-reaper.enabled=false", "front-door.reply-topic-reaper.grace-ms=" + GRACE.toMillis())) {
        args.add("--set");
        args.add(kv);
      }
      JvmProcess serve = JvmProcess.cascade(args);
      try (serve;
          KafkaProducer<String, CascadeRequest> producer = new KafkaProducer<>(
              Map.of("bootstrap.servers", kafka.bootstrapServers()), new StringSerializer(),
              CascadeSerdes.requests().serializer())) {
        assertThat(serve.await("grpc=", Duration.ofSeconds(240))).as(serve.output()).isTrue();
        // A front door's reply topic (of one since killed): created by the door, read by nobody here.
        String door = "front-door-m-" + UUID.randomUUID();
        String replyTopic = RESPONSES + "." + door;
        admin.createTopics(List.of(new NewTopic(replyTopic, 1, (short) 1))).all().get(30, TimeUnit.SECONDS);

        send(producer, "before", door);
        assertThat(await(kafka, List.of(replyTopic), "before", Duration.ofSeconds(180)))
            .as("the reply on the door's topic\n" + serve.output()).isPresent();

        // Deleted, as a reaper would once nothing was written to it for the grace.
        Thread.sleep(GRACE.toMillis());
        admin.deleteTopics(List.of(replyTopic)).all().get(30, TimeUnit.SECONDS);
        while (admin.listTopics().names().get(30, TimeUnit.SECONDS).contains(replyTopic)) {
          Thread.sleep(100);
        }
        long sent = System.nanoTime();
        send(producer, "after", door);
        Optional<ConsumerRecord<String, byte[]>> after = await(kafka, List.of(RESPONSES, replyTopic), "after",
            Duration.ofMinutes(4));
        System.out.printf("ReplyTopicGoneIT: the reply to a request sent after its reply topic was deleted came after"
            + " %d ms, on %s%n", (System.nanoTime() - sent) / 1_000_000, after.map(ConsumerRecord::topic).orElse("-"));
        assertThat(after).as("the reply after the topic was deleted\n" + serve.output()).isPresent();
        assertThat(after.get().topic()).isEqualTo(RESPONSES);
        assertThat(admin.listTopics().names().get(30, TimeUnit.SECONDS)).doesNotContain(replyTopic);

        send(producer, "later", door);
        assertThat(await(kafka, List.of(RESPONSES), "later", Duration.ofSeconds(60))).as(serve.output()).isPresent();
        assertThat(admin.listTopics().names().get(30, TimeUnit.SECONDS)).doesNotContain(replyTopic);
        assertThat(serve.output()).doesNotContain("stream thread failed");
      }
    }
  }

  private static void send(KafkaProducer<String, CascadeRequest> producer, String id, String door) throws Exception {
    CascadeRequest request = CascadeRequest.newBuilder().setRequestId(id).setPrompt("spell: gnome")
        .setMetadata(Map.of()).setReplyTo(door).setCreatedAtMs(System.currentTimeMillis()).build();
    producer.send(new ProducerRecord<>(REQUESTS, id, request)).get(30, TimeUnit.SECONDS);
  }

  /** The committed response to {@code id} on one of {@code topics} (read from their start), if it comes in time. */
  private static Optional<ConsumerRecord<String, byte[]>> await(EmbeddedKafka kafka, List<String> topics, String id,
      Duration timeout) throws Exception {
    Map<String, Object> props = Map.of("bootstrap.servers", kafka.bootstrapServers(),
        ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed",
        ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, false);
    try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(props, new StringDeserializer(),
        new org.apache.kafka.common.serialization.ByteArrayDeserializer())) {
      List<TopicPartition> partitions = new ArrayList<>();
      for (String topic : topics) {
        List<PartitionInfo> infos = consumer.partitionsFor(topic, Duration.ofSeconds(10));
        if (infos != null) {
          infos.forEach(p -> partitions.add(new TopicPartition(p.topic(), p.partition())));
        }
      }
      consumer.assign(partitions);
      consumer.seekToBeginning(partitions);
      long deadline = System.nanoTime() + timeout.toNanos();
      while (System.nanoTime() < deadline) {
        for (ConsumerRecord<String, byte[]> record : consumer.poll(Duration.ofMillis(500))) {
          CascadeResponse response = CascadeSerdes.responses().decode(record.value());
          if (id.equals(response.getRequestId())) {
            return Optional.of(record);
          }
        }
      }
      return Optional.empty();
    }
  }
}
