package dev.cascade.schemas.serde;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cascade.schemas.avro.CascadeRequest;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.generic.GenericRecordBuilder;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.BinaryMessageEncoder;
import org.junit.jupiter.api.Test;

/**
 * Reading across schema versions, with two imagined CascadeRequest versions in the test
 * resources ({@code cascade/schemas/test-history}): v1, older, lacks {@code bypass_cache} and
 * {@code reply_to}; v2, newer, adds {@code priority} (staged for a rollout: readers first).
 */
class SchemaEvolutionTest {

  private static final SchemaHistory OLD_HISTORY = SchemaHistory.load(
      SchemaEvolutionTest.class.getClassLoader(), "cascade/schemas/test-history", "CascadeRequest");
  private static final Schema OLD = OLD_HISTORY.version(1);
  private static final Schema NEWER = OLD_HISTORY.version(2);

  @Test
  void olderWriterIsReadByNewerReaderWithDefaultsForAddedFields() throws IOException {
    GenericRecord old = new GenericRecordBuilder(OLD)
        .set("request_id", "req-old").set("prompt", "spell: gnome").set("max_new_tokens", 16)
        .set("reference", "n oU m").set("metadata", Map.of("tenant", "legacy"))
        .set("created_at_ms", 42L).build();
    byte[] bytes = encode(OLD, old);
    AvroSerde<CascadeRequest> serde = AvroSerde.forType(CascadeRequest.class, OLD_HISTORY);

    CascadeRequest read = serde.deserializer().deserialize("requests", bytes);

    assertThat(read.getRequestId()).isEqualTo("req-old");
    assertThat(read.getPrompt()).isEqualTo("spell: gnome");
    assertThat(read.getMaxNewTokens()).isEqualTo(16);
    assertThat(read.getReference()).isEqualTo("n oU m");
    assertThat(read.getMetadata()).containsEntry("tenant", "legacy");
    assertThat(read.getCreatedAtMs()).isEqualTo(42L);
    assertThat(read.getBypassCache()).isFalse();
    assertThat(read.getReplyTo()).isNull();
  }

  @Test
  void olderWriterIsRejectedByAReaderThatDoesNotKnowItsVersion() throws IOException {
    GenericRecord old = new GenericRecordBuilder(OLD)
        .set("request_id", "r").set("prompt", "p").set("created_at_ms", 1L).build();

    assertThatThrownBy(() -> CascadeSerdes.requests().decode(encode(OLD, old)))
        .isInstanceOfSatisfying(SchemaDecodingException.class, e ->
            assertThat(e.reason()).isEqualTo(SchemaDecodingException.Reason.UNKNOWN_FINGERPRINT));
  }

  @Test
  void newerWriterIsReadByOlderReaderIgnoringAddedFields() throws IOException {
    byte[] bytes = CascadeSerdes.requests().encode(SampleRecords.request());
    BinaryMessageDecoder<GenericRecord> oldReader =
        new BinaryMessageDecoder<>(GenericData.get(), OLD);
    oldReader.addSchema(CascadeRequest.getClassSchema());

    GenericRecord read = oldReader.decode(bytes);

    assertThat(read.getSchema()).isEqualTo(OLD);
    assertThat(read.get("request_id")).hasToString("req-1");
    assertThat(read.get("prompt")).hasToString("spell: knight");
    assertThat(read.get("max_new_tokens")).isEqualTo(32);
    assertThat(read.get("reference")).hasToString("n ai t");
    assertThat(read.get("created_at_ms")).isEqualTo(SampleRecords.CREATED);
    assertThat(read.getSchema().getField("reply_to")).isNull();
  }

  @Test
  void newerWriterStagedInTheHistoryIsReadByTheCurrentClass() throws IOException {
    CascadeRequest current = SampleRecords.request();
    GenericRecordBuilder newer = new GenericRecordBuilder(NEWER).set("priority", 9);
    for (Schema.Field field : CascadeRequest.getClassSchema().getFields()) {
      newer.set(field.name(), current.get(field.name()));
    }
    byte[] bytes = encode(NEWER, newer.build());
    AvroSerde<CascadeRequest> serde = AvroSerde.forType(CascadeRequest.class, OLD_HISTORY);

    assertThat(serde.decode(bytes)).isEqualTo(current);
  }

  private static byte[] encode(Schema schema, GenericRecord record) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    new BinaryMessageEncoder<GenericRecord>(GenericData.get(), schema).encode(record, out);
    return out.toByteArray();
  }
}
