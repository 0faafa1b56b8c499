package dev.cascade.schemas.serde;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.schemas.avro.CascadeRequest;
import dev.cascade.schemas.avro.CascadeResponse;
import dev.cascade.schemas.avro.DeadLetter;
import dev.cascade.schemas.avro.Feedback;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.stream.Stream;
import org.apache.avro.specific.SpecificRecord;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class CascadeSerdesTest {

  static Stream<Arguments> everyRecordType() {
    return Stream.of(
        of(CascadeSerdes.requests(), SampleRecords.request()),
        of(CascadeSerdes.responses(), SampleRecords.response()),
        of(CascadeSerdes.outcomes(), SampleRecords.outcome()),
        of(CascadeSerdes.escalations(), SampleRecords.escalation()),
        of(CascadeSerdes.policies(), SampleRecords.policy()),
        of(CascadeSerdes.ruleModels(), SampleRecords.ruleModel()),
        of(CascadeSerdes.feedback(), SampleRecords.feedback()),
        of(CascadeSerdes.deadLetters(), SampleRecords.deadLetter()),
        of(CascadeSerdes.labelledExamples(), SampleRecords.labelledExample()));
  }

  private static Arguments of(AvroSerde<?> serde, SpecificRecord record) {
    return Arguments.of(Named.of(serde.type().getSimpleName(), serde), record);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("everyRecordType")
  <T extends SpecificRecord> void roundTripsThroughKafkaSerde(AvroSerde<T> serde, T record) {
    byte[] bytes = serde.serializer().serialize("topic", record);
    T back = serde.deserializer().deserialize("topic", bytes);

    assertThat(back).isEqualTo(record);
    assertThat(back.getClass()).isEqualTo(record.getClass());
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("everyRecordType")
  <T extends SpecificRecord> void writesSingleObjectHeaderWithCurrentFingerprint(
      AvroSerde<T> serde, T record) {
    byte[] bytes = serde.encode(record);

    assertThat(Arrays.copyOf(bytes, 2)).containsExactly(0xC3, 0x01);
    long fingerprint = ByteBuffer.wrap(bytes, 2, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
    assertThat(fingerprint).isEqualTo(serde.fingerprint());
    // Avro's own single-object encoder for the generated class writes the same bytes.
    assertThat(bytes).isEqualTo(encodeWithGeneratedClass(record));
  }

  @Test
  void everyTopicTypeHasASerdeAndDistinctFingerprints() {
    assertThat(CascadeSerdes.RECORD_TYPES).hasSize(9);
    assertThat(everyRecordType().map(a -> ((AvroSerde<?>) ((Named<?>) a.get()[0]).getPayload()).fingerprint()).distinct())
        .hasSize(9);
  }

  @Test
  void optionalFieldsLeftUnsetRoundTripAsDefaults() {
    CascadeRequest minimal = CascadeRequest.newBuilder()
        .setRequestId("r").setPrompt("p").setCreatedAtMs(1L).build();
    CascadeRequest back = CascadeSerdes.requests().decode(CascadeSerdes.requests().encode(minimal));

    assertThat(back.getMaxNewTokens()).isZero();
    assertThat(back.getReference()).isNull();
    assertThat(back.getReplyTo()).isNull();
    assertThat(back.getBypassCache()).isFalse();
    assertThat(back.getMetadata()).isEmpty();
    assertThat(back).isEqualTo(minimal);
  }

  @Test
  void deadLetterKeepsOriginalBytesExactly() {
    byte[] original = new byte[256];
    for (int i = 0; i < original.length; i++) {
      original[i] = (byte) i;
    }
    DeadLetter letter = DeadLetter.newBuilder(SampleRecords.deadLetter())
        .setValue(ByteBuffer.wrap(original)).setKey(null).build();
    DeadLetter back = CascadeSerdes.deadLetters().decode(CascadeSerdes.deadLetters().encode(letter));

    assertThat(back.getKey()).isNull();
    ByteBuffer value = back.getValue();
    byte[] copy = new byte[value.remaining()];
    value.get(copy);
    assertThat(copy).isEqualTo(original);
  }

  @Test
  void nullIsATombstoneBothWays() {
    AvroSerde<Feedback> serde = CascadeSerdes.feedback();

    assertThat(serde.serializer().serialize("feedback", null)).isNull();
    assertThat(serde.deserializer().deserialize("feedback", null)).isNull();
    assertThat(serde.encode(null)).isNull();
    assertThat(serde.decode(null)).isNull();
  }

  @Test
  void serdesAreSharedInstances() {
    assertThat(CascadeSerdes.responses()).isSameAs(CascadeSerdes.responses());
    assertThat(CascadeSerdes.responses().type()).isEqualTo(CascadeResponse.class);
    assertThat(CascadeSerdes.responses().toString()).contains("CascadeResponse", "v8", "0x");
  }

  private static byte[] encodeWithGeneratedClass(SpecificRecord record) {
    try {
      ByteBuffer buffer = (ByteBuffer) record.getClass().getMethod("toByteBuffer").invoke(record);
      byte[] bytes = new byte[buffer.remaining()];
      buffer.get(bytes);
      return bytes;
    } catch (ReflectiveOperationException e) {
      throw new AssertionError(e);
    }
  }
}
