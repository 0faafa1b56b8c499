package dev.cascade.schemas.serde;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cascade.schemas.avro.CascadeResponse;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.specific.SpecificRecord;
import org.junit.jupiter.api.Test;

/**
 * Writing an earlier version of the history (a rolling upgrade): the bytes carry that version's
 * fingerprint and hold what that version's own reader, which knows no later version, reads; the
 * current serde reads them back with the fields that version has.
 */
class WriteVersionTest {

  private static final List<SpecificRecord> SAMPLES = List.of(SampleRecords.request(), SampleRecords.response(),
      SampleRecords.outcome(), SampleRecords.escalation(), SampleRecords.policy(), SampleRecords.ruleModel(),
      SampleRecords.feedback(), SampleRecords.deadLetter(), SampleRecords.labelledExample());

  @Test
  void everyVersionOfEveryTypeIsWrittenAsItsOwnReaderReadsIt() throws IOException {
    assertThat(SAMPLES).hasSameSizeAs(CascadeSerdes.RECORD_TYPES);
    for (SpecificRecord sample : SAMPLES) {
      AvroSerde<SpecificRecord> serde = serdeOf(sample);
      for (int v = 1; v <= serde.history().versions().size(); v++) {
        serde.writeVersion(v);
        assertThat(serde.writtenVersion()).isEqualTo(v);
        byte[] bytes = serde.encode(sample);
        Schema then = serde.history().version(v);
        String what = sample.getSchema().getName() + " v" + v;
        assertThat(fingerprint(bytes)).as(what).isEqualTo(SchemaNormalization.parsingFingerprint64(then));

        // An instance of the release that wrote v reads with v alone.
        GenericRecord old = new GenericDatumReader<GenericRecord>(then).read(null,
            DecoderFactory.get().binaryDecoder(bytes, AvroSerde.HEADER_LENGTH, bytes.length - AvroSerde.HEADER_LENGTH,
                null));
        // This release reads them too; each field v has is the sample's, as the old reader saw it.
        SpecificRecord back = serde.decode(bytes);
        for (Schema.Field field : then.getFields()) {
          Schema.Field now = sample.getSchema().getField(field.name());
          assertThat(normal(old.get(field.name()))).as(what + " " + field.name())
              .isEqualTo(normal(sample.get(now.pos())));
          assertThat(back.get(now.pos())).as(what + " " + field.name()).isEqualTo(sample.get(now.pos()));
        }
      }
      serde.writeVersion(serde.currentVersion());
      assertThat(fingerprint(serde.encode(sample))).isEqualTo(serde.fingerprint());
      assertThat(serde.decode(serde.encode(sample))).isEqualTo(sample);
    }
  }

  @Test
  void anEarlierVersionLeavesOutTheFieldsItLacks() {
    AvroSerde<CascadeResponse> serde = AvroSerde.forType(CascadeResponse.class);
    CascadeResponse sample = SampleRecords.response();
    sample.setDecision(dev.cascade.schemas.avro.Decision.ACCEPT); // added in v7
    serde.writeVersion(6);
    assertThat(serde.decode(serde.encode(sample)).getDecision()).isNull();
    serde.writeVersion(7);
    assertThat(serde.decode(serde.encode(sample)).getDecision()).isEqualTo(dev.cascade.schemas.avro.Decision.ACCEPT);
  }

  @Test
  void aVersionTheHistoryLacksOrAnUnknownTypeIsRefusedNamingWhatThereIs() {
    AvroSerde<CascadeResponse> serde = AvroSerde.forType(CascadeResponse.class);
    assertThatThrownBy(() -> serde.writeVersion(0)).hasMessageContaining("CascadeResponse has versions 1..");
    assertThatThrownBy(() -> CascadeSerdes.checkWriteVersions(Map.of("CascadeResponse", 99)))
        .hasMessage("CascadeResponse has versions 1.." + serde.currentVersion() + ", not 99");
    assertThatThrownBy(() -> CascadeSerdes.checkWriteVersions(Map.of("Response", 1)))
        .hasMessageStartingWith("unknown record type 'Response'; the types are [CascadeRequest, CascadeResponse,");
  }

  @Test
  void theSharedSerdesWriteTheVersionsNamedAndTheCurrentOneOfTheOthers() {
    try {
      CascadeSerdes.writeVersions(Map.of("CascadeResponse", 6));
      assertThat(CascadeSerdes.responses().writtenVersion()).isEqualTo(6);
      assertThat(fingerprint(CascadeSerdes.responses().encode(SampleRecords.response())))
          .isEqualTo(SchemaNormalization.parsingFingerprint64(CascadeSerdes.responses().history().version(6)));
      assertThat(CascadeSerdes.outcomes().writtenVersion()).isEqualTo(CascadeSerdes.outcomes().currentVersion());
      assertThatThrownBy(() -> CascadeSerdes.writeVersions(Map.of("CascadeResponse", 5, "Nope", 1)))
          .isInstanceOf(IllegalArgumentException.class);
      assertThat(CascadeSerdes.responses().writtenVersion()).as("a refused map changes nothing").isEqualTo(6);
    } finally {
      CascadeSerdes.writeVersions(Map.of());
    }
    assertThat(CascadeSerdes.responses().writtenVersion()).isEqualTo(CascadeSerdes.responses().currentVersion());
  }

  @SuppressWarnings("unchecked")
  private static AvroSerde<SpecificRecord> serdeOf(SpecificRecord sample) {
    return AvroSerde.forType((Class<SpecificRecord>) sample.getClass());
  }

  /** A value as plain Java, whatever record, string and map classes the reader chose. */
  private static Object normal(Object value) {
    if (value instanceof org.apache.avro.generic.IndexedRecord r) {
      Map<String, Object> fields = new java.util.TreeMap<>();
      r.getSchema().getFields().forEach(f -> fields.put(f.name(), normal(r.get(f.pos()))));
      return fields;
    }
    if (value instanceof Map<?, ?> m) {
      Map<String, Object> entries = new java.util.TreeMap<>();
      m.forEach((k, v) -> entries.put(k.toString(), normal(v)));
      return entries;
    }
    if (value instanceof List<?> l) {
      return l.stream().map(WriteVersionTest::normal).toList();
    }
    return value instanceof CharSequence || value instanceof Enum<?>
        || value instanceof org.apache.avro.generic.GenericEnumSymbol<?> ? value.toString() : value;
  }

  private static long fingerprint(byte[] bytes) {
    return ByteBuffer.wrap(bytes, 2, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
  }
}
