package dev.cascade.router.embedded;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.topics.TopicProvisioner;
import dev.cascade.schemas.avro.CascadeRequest;
import dev.cascade.schemas.serde.CascadeSerdes;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The embedded broker over a real connection: topics, Avro records through the serde, restart over the same data. */
class EmbeddedKafkaIT {

  @TempDir
  Path dir;

  @Test
  void startsCreatesTopicsCarriesAvroAndKeepsDataAcrossARestart() throws Exception {
    CascadeConfig config = CascadeConfig.defaults();
    Path logDir = dir.resolve("kafka");
    Files.createDirectories(logDir);
    int brokerPort = EmbeddedKafka.freePort();
    int controllerPort = EmbeddedKafka.freePort();
    List<CascadeRequest> sent = new ArrayList<>();
    try (EmbeddedKafka kafka = EmbeddedKafka.start(logDir, brokerPort, controllerPort)) {
      assertThat(kafka.bootstrapServers()).isEqualTo("127.0.0.1:" + brokerPort);
      try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()))) {
        List<String> created = TopicProvisioner.ensure(admin, TopicProvisioner.specs(config.topics(), 3, (short) 1));
        assertThat(created).containsExactlyInAnyOrderElementsOf(config.topics().all());
        assertThat(TopicProvisioner.ensure(admin, TopicProvisioner.specs(config.topics(), 3, (short) 1))).isEmpty();
        // Another process creates a topic between this one's listing and its creation (two routers
        // started at once): it is there, not a failure.
        Admin racedBy = new org.apache.kafka.clients.admin.ForwardingAdmin(Map.of(
            AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers())) {
          @Override
          public org.apache.kafka.clients.admin.CreateTopicsResult createTopics(java.util.Collection<NewTopic> topics) {
            try {
              admin.createTopics(topics).all().get();
            } catch (Exception e) {
              throw new IllegalStateException(e);
            }
            return super.createTopics(topics);
          }
        };
        try (racedBy) {
          assertThat(TopicProvisioner.ensure(racedBy, List.of(new NewTopic("raced", 1, (short) 1)))).isEmpty();
        }
        long listed = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(10);
        while (!admin.listTopics().names().get().contains("raced") && System.nanoTime() < listed) {
          Thread.sleep(50); // a new topic reaches the broker's metadata a moment after its creation
        }
        assertThat(admin.listTopics().names().get()).contains("raced");
        Map<String, TopicDescription> topics = admin.describeTopics(config.topics().all()).allTopicNames().get();
        assertThat(topics.get(config.topics().requests()).partitions()).hasSize(3);
        assertThat(topics.get(config.topics().policy()).partitions()).hasSize(1);
        ConfigResource policy = new ConfigResource(ConfigResource.Type.TOPIC, config.topics().policy());
        assertThat(admin.describeConfigs(Set.of(policy)).all().get().get(policy).get("cleanup.policy").value())
            .isEqualTo("compact");
      }
      try (KafkaProducer<String, CascadeRequest> producer = new KafkaProducer<>(Map.of(
          ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(), ProducerConfig.ACKS_CONFIG, "all"),
          new StringSerializer(), CascadeSerdes.requests().serializer())) {
        for (int i = 0; i < 10; i++) {
          CascadeRequest r = CascadeRequest.newBuilder().setRequestId("r" + i).setPrompt("word " + i)
              .setMaxNewTokens(i).setMetadata(Map.of("i", Integer.toString(i))).setCreatedAtMs(i).build();
          sent.add(r);
          producer.send(new ProducerRecord<>(config.topics().requests(), r.getRequestId(), r)).get();
        }
      }
      assertThat(readAll(kafka.bootstrapServers(), config.topics().requests(), 10)).containsExactlyInAnyOrderElementsOf(sent);
    }
    assertThat(logDir).isNotEmptyDirectory();

    try (EmbeddedKafka restarted = EmbeddedKafka.start(logDir, brokerPort, controllerPort)) {
      assertThat(readAll(restarted.bootstrapServers(), config.topics().requests(), 10))
          .containsExactlyInAnyOrderElementsOf(sent);
    }
  }

  @Test
  void aTemporaryLogDirectoryIsRemovedOnClose() {
    Path logDir;
    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
      logDir = kafka.logDir();
      assertThat(logDir).exists();
    }
    assertThat(logDir).doesNotExist();
  }

  private static List<CascadeRequest> readAll(String bootstrap, String topic, int expected) {
    List<CascadeRequest> out = new ArrayList<>();
    try (KafkaConsumer<String, CascadeRequest> consumer = new KafkaConsumer<>(Map.of(
        ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
        ConsumerConfig.GROUP_ID_CONFIG, "reader-" + System.nanoTime(),
        ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest"),
        new StringDeserializer(), CascadeSerdes.requests().deserializer())) {
      consumer.subscribe(List.of(topic));
      long deadline = System.currentTimeMillis() + 30_000;
      while (out.size() < expected && System.currentTimeMillis() < deadline) {
        for (ConsumerRecord<String, CascadeRequest> r : consumer.poll(Duration.ofMillis(200))) {
          out.add(r.value());
        }
      }
    }
    return out;
  }
}
