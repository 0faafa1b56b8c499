package dev.cascade.router.it;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cascade.router.api.CommandLineRun;
import dev.cascade.router.embedded.EmbeddedKafka;
import dev.cascade.schemas.avro.DeadLetter;
import dev.cascade.schemas.serde.CascadeSerdes;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;

/**
 * {@code cascade dead-letters} on a real broker: the newest --last records of a transactional
 * dead-letter topic spread over partitions, oldest first, as text and as JSON, and a missing topic
 * refused by name.
 */
class DeadLettersCommandIT {

  private static DeadLetter letter(String key, String reason, long failedAt) {
    return DeadLetter.newBuilder().setTopic("cascade.requests").setPartition(1).setOffset(failedAt)
        .setKey(key == null ? null : ByteBuffer.wrap(key.getBytes(StandardCharsets.UTF_8))).setValue(null)
        .setHeaders(new ArrayList<>()).setTimestampMs(failedAt).setReason(reason).setErrorClass("invalid:prompt")
        .setStage("validate").setFailedAtMs(failedAt).build();
  }

  @Test
  void theNewestDeadLettersOldestFirstAsTextAndJson() throws Exception {
    try (EmbeddedKafka kafka = EmbeddedKafka.start();
        Admin admin = Admin.create(Map.of("bootstrap.servers", kafka.bootstrapServers()))) {
      admin.createTopics(List.of(new NewTopic("cascade.dead-letters", 3, (short) 1))).all().get(60, TimeUnit.SECONDS);
      try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(Map.of("bootstrap.servers",
          kafka.bootstrapServers(), "transactional.id", "dead-letters-it"), new ByteArraySerializer(),
          new ByteArraySerializer())) {
        producer.initTransactions();
        for (int i = 0; i < 5; i++) {
          // Written in one order over three partitions; failed at 1000, 2000, ... in another.
          int at = (i * 3) % 5;
          producer.beginTransaction();
          producer.send(new ProducerRecord<>("cascade.dead-letters", i % 3, null,
              CascadeSerdes.deadLetters().encode(letter(i == 4 ? null : "r-" + at, "prompt: empty " + at,
                  1000L * (at + 1)))));
          producer.commitTransaction();
        }
      }
      CommandLineRun text = CommandLineRun.of("dead-letters", "--bootstrap-servers", kafka.bootstrapServers(),
          "--last", "3");
      assertThat(text.exitCode()).as(text.err()).isZero();
      List<String> lines = text.out().lines().toList();
      assertThat(lines).hasSize(3);
      // The last one written (failed at 3000) has no key.
      assertThat(lines.get(0)).isEqualTo("1970-01-01T00:00:03Z validate key=none prompt: empty 2 (cascade.requests"
          + " 1@3000)");
      assertThat(lines.get(1)).startsWith("1970-01-01T00:00:04Z validate key='r-3' prompt: empty 3");
      assertThat(lines.get(2)).startsWith("1970-01-01T00:00:05Z validate key='r-4' prompt: empty 4");
      assertThat(text.err()).contains("dead-letters: 3 shown of 5 read");

      CommandLineRun json = CommandLineRun.of("dead-letters", "--bootstrap-servers", kafka.bootstrapServers(),
          "--last", "1", "--json");
      assertThat(json.exitCode()).as(json.err()).isZero();
      JsonNode newest = new ObjectMapper().readTree(json.out().strip());
      assertThat(newest.get("key").asText()).isEqualTo("r-4");
      assertThat(newest.get("stage").asText()).isEqualTo("validate");
      assertThat(newest.get("reason").asText()).isEqualTo("prompt: empty 4");
      assertThat(newest.get("failed_at").asText()).isEqualTo("1970-01-01T00:00:05Z");

      CommandLineRun missing = CommandLineRun.of("dead-letters", "--bootstrap-servers", kafka.bootstrapServers(),
          "--set", "topic.dead-letters=no-such-topic");
      assertThat(missing.exitCode()).isEqualTo(2);
      assertThat(missing.err()).contains("topic 'no-such-topic' does not exist");
    }
  }
}
