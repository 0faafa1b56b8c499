package dev.cascade.router.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.proto.v1.CascadeGrpc;
import dev.cascade.proto.v1.GenerateRequest;
import dev.cascade.proto.v1.GenerateResponse;
import dev.cascade.proto.v1.ServedBy;
import dev.cascade.router.embedded.EmbeddedKafka;
import dev.cascade.schemas.avro.CascadeResponse;
import dev.cascade.schemas.avro.Escalation;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.serde.AvroSerde;
import dev.cascade.schemas.serde.SchemaHistory;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.DecoderFactory;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A rolling upgrade across a schema change, as it runs: a router of this release in its own JVM,
 * told by {@code schemas.write-versions} to write the versions an earlier release reads. Every
 * response, outcome and escalation it commits carries that version's fingerprint and is read by
 * that version's schema alone (all an instance of the earlier release has), and its own front
 * door still answers.
 */
class SchemaWriteVersionsIT {

  private static final Map<String, Integer> PINS = Map.of("CascadeResponse", 6, "RoutingOutcome", 13,
      "Escalation", 15);

  @TempDir
  Path state;

  @Test
  void aRouterPinnedToEarlierVersionsWritesOnlyThoseAndStillServes() throws Exception {
    try (EmbeddedKafka kafka = EmbeddedKafka.start();
        JvmProcess large = JvmProcess.cascade(List.of("large-model", "--host", "127.0.0.1", "--port", "0"))) {
      String largeAddress = large.awaitLine("large-model=", Duration.ofSeconds(120))
          .orElseThrow(() -> new AssertionError("large-model did not start:\n" + large.output()))
          .substring("large-model=".length());
      try (JvmProcess serve = JvmProcess.cascade(List.of("serve",
          "--set", "bootstrap.servers=" + kafka.bootstrapServers(), "--set", "large.target=" + largeAddress,
          "--set", "state.dir=" + state, "--set", "topic.partitions=2", "--set", "metrics.enabled=false",
          "--set", "http.enabled=false",
          "--set", "schemas.write-versions=CascadeResponse=6,RoutingOutcome=13,Escalation=15",
          // Every request escalated: an escalation record, the large model's answer, an outcome each.
          "--set", "policy.rule=chow-sum", "--set", "policy.threshold=-1000"))) {
        String grpc = serve.awaitLine("grpc=", Duration.ofSeconds(180))
            .orElseThrow(() -> new AssertionError("serve did not start:\n" + serve.output()));
        assertThat(serve.output()).contains("schemas.write-versions: writing")
            .contains("CascadeResponse v6 (this release's: v");
        int port = Integer.parseInt(grpc.substring(grpc.lastIndexOf(':') + 1));
        ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
        List<String> ids = List.of("pin-1", "pin-2", "pin-3");
        try {
          for (String id : ids) {
            GenerateResponse response = CascadeGrpc.newBlockingStub(channel).withWaitForReady()
                .withDeadlineAfter(90, TimeUnit.SECONDS)
                .generate(GenerateRequest.newBuilder().setRequestId(id).setPrompt(id.equals("pin-1") ? "upgrade" : id.equals("pin-2") ? "rolling" : "schema").build());
            assertThat(response.getServedBy()).as(id).isEqualTo(ServedBy.LARGE);
            assertThat(response.getText()).as(id).isNotBlank();
          }
        } finally {
          channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
        assertOnlyPinned(kafka.bootstrapServers(), "cascade.responses", CascadeResponse.class, ids);
        assertOnlyPinned(kafka.bootstrapServers(), "cascade.outcomes", RoutingOutcome.class, ids);
        assertOnlyPinned(kafka.bootstrapServers(), "cascade.escalations", Escalation.class, ids);
      }
    }
  }

  /**
   * Every committed record on {@code topic} and the topics named like it: the pinned version's,
   * readable by it alone; one per id at least.
   */
  private static void assertOnlyPinned(String bootstrap, String topic, Class<?> type, List<String> ids) {
    String name = type.getSimpleName();
    Schema pinned = SchemaHistory.of(type).version(PINS.get(name));
    long fingerprint = SchemaNormalization.parsingFingerprint64(pinned);
    Set<String> seen = new HashSet<>();
    List<ConsumerRecord<byte[], byte[]>> records = new ArrayList<>();
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(Map.of(
        ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap, ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed",
        ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest", ConsumerConfig.GROUP_ID_CONFIG, "pin-check-" + topic),
        new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
      // The gRPC door's replies are on its own reply topic, cascade.responses.<instance id>.
      consumer.subscribe(java.util.regex.Pattern.compile(java.util.regex.Pattern.quote(topic) + "(\\..*)?"));
      long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
      while (!seen.containsAll(ids) && System.nanoTime() < deadline) {
        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(500))) {
          if (r.value() == null) {
            continue; // a tombstone has no version
          }
          records.add(r);
          seen.add(new String(r.key(), java.nio.charset.StandardCharsets.UTF_8));
        }
      }
    }
    assertThat(seen).as(topic).containsAll(ids);
    for (ConsumerRecord<byte[], byte[]> r : records) {
      byte[] bytes = r.value();
      assertThat(ByteBuffer.wrap(bytes, 2, 8).order(ByteOrder.LITTLE_ENDIAN).getLong())
          .as(topic + " " + new String(r.key(), java.nio.charset.StandardCharsets.UTF_8)).isEqualTo(fingerprint);
      GenericRecord old;
      try {
        old = new GenericDatumReader<GenericRecord>(pinned).read(null, DecoderFactory.get()
            .binaryDecoder(bytes, AvroSerde.HEADER_LENGTH, bytes.length - AvroSerde.HEADER_LENGTH, null));
      } catch (java.io.IOException e) {
        throw new AssertionError(topic + ": not readable as " + name + " v" + PINS.get(name), e);
      }
      assertThat(old.get("request_id").toString()).isEqualTo(new String(r.key(), java.nio.charset.StandardCharsets.UTF_8));
    }
  }
}
