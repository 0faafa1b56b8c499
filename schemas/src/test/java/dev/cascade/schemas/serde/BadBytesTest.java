package dev.cascade.schemas.serde;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.cascade.schemas.avro.CascadeRequest;
import dev.cascade.schemas.serde.SchemaDecodingException.Reason;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.apache.kafka.common.errors.SerializationException;
import org.junit.jupiter.api.Test;

class BadBytesTest {

  private static final AvroSerde<CascadeRequest> REQUESTS = CascadeSerdes.requests();
  private static final String TYPE = "dev.cascade.schemas.avro.CascadeRequest";

  @Test
  void fingerprintsArePrintedAsSixteenUpperCaseHexDigits() {
    for (long fingerprint : new long[] {0L, 1L, 0xABCDEFL, -1L, Long.MIN_VALUE, Long.MAX_VALUE, REQUESTS.fingerprint(),
        0x0123456789ABCDEFL, 0xFEDCBA9876543210L}) {
      assertThat(AvroSerde.hex(fingerprint)).isEqualTo(String.format("0x%016X", fingerprint));
    }
  }

  @Test
  void wrongMagicIsBadMagic() {
    byte[] json = "{\"request_id\":\"r1\",\"prompt\":\"hi\"}".getBytes(StandardCharsets.UTF_8);

    SchemaDecodingException e = decodeFailure("requests", json);

    assertThat(e.reason()).isEqualTo(Reason.BAD_MAGIC);
    assertThat(e.expectedType()).isEqualTo(TYPE);
    assertThat(e.fingerprint()).isEmpty();
    assertThat(e.getMessage())
        .contains("CascadeRequest", "topic 'requests'", "bad magic", "C3 01", "found 7B 22",
            json.length + " bytes", "7B 22 72 65");
  }

  @Test
  void singleWrongByteIsBadMagic() {
    assertThat(decodeFailure("requests", new byte[] {0x00}).reason()).isEqualTo(Reason.BAD_MAGIC);
  }

  @Test
  void unknownFingerprintNamesTheFingerprintInHex() {
    byte[] bytes = REQUESTS.encode(SampleRecords.request());
    ByteBuffer.wrap(bytes, 2, 8).order(ByteOrder.LITTLE_ENDIAN).putLong(0x0123456789ABCDEFL);

    SchemaDecodingException e = decodeFailure("requests", bytes);

    assertThat(e.reason()).isEqualTo(Reason.UNKNOWN_FINGERPRINT);
    assertThat(e.fingerprint()).hasValue(0x0123456789ABCDEFL);
    assertThat(e.getMessage())
        .contains("CascadeRequest", "unknown schema fingerprint 0x0123456789ABCDEF",
            "C3 01 EF CD AB 89 67 45 23 01", "no known schema has it",
            "v3 " + AvroSerde.hex(REQUESTS.fingerprint()));
  }

  @Test
  void recordOfAnotherCascadeTypeIsAnUnknownFingerprintThatSaysWhatItIs() {
    byte[] response = CascadeSerdes.responses().encode(SampleRecords.response());

    SchemaDecodingException e = decodeFailure("requests", response);

    assertThat(e.reason()).isEqualTo(Reason.UNKNOWN_FINGERPRINT);
    assertThat(e.getMessage()).contains("that is CascadeResponse v8");
  }

  @Test
  void cutBodyIsTruncated() {
    byte[] whole = REQUESTS.encode(SampleRecords.request());
    byte[] cut = Arrays.copyOf(whole, whole.length - 5);

    SchemaDecodingException e = decodeFailure("requests", cut);

    assertThat(e.reason()).isEqualTo(Reason.TRUNCATED);
    assertThat(e.fingerprint()).hasValue(REQUESTS.fingerprint());
    assertThat(e.getMessage())
        .contains("CascadeRequest", "truncated", "body ended early", cut.length + " bytes",
            AvroSerde.hex(REQUESTS.fingerprint()));
  }

  @Test
  void headerAloneIsTruncated() {
    byte[] whole = REQUESTS.encode(SampleRecords.request());

    assertThat(decodeFailure("requests", Arrays.copyOf(whole, 10)).reason())
        .isEqualTo(Reason.TRUNCATED);
  }

  @Test
  void partialHeaderIsTruncated() {
    byte[] whole = REQUESTS.encode(SampleRecords.request());

    SchemaDecodingException e = decodeFailure("requests", Arrays.copyOf(whole, 6));

    assertThat(e.reason()).isEqualTo(Reason.TRUNCATED);
    assertThat(e.getMessage()).contains("6 bytes, shorter than the 10-byte single-object header");
    assertThat(decodeFailure("requests", new byte[0]).reason()).isEqualTo(Reason.TRUNCATED);
  }

  @Test
  void trailingBytesAreMalformed() {
    byte[] whole = REQUESTS.encode(SampleRecords.request());
    byte[] longer = Arrays.copyOf(whole, whole.length + 3);

    SchemaDecodingException e = decodeFailure("requests", longer);

    assertThat(e.reason()).isEqualTo(Reason.MALFORMED);
    assertThat(e.getMessage()).contains("3 bytes left over");
  }

  @Test
  void garbageBodyIsMalformed() {
    // Valid header, then a body whose union branch index (field 'reference') is out of range.
    byte[] body = {2, 'r', 2, 'p', 0, 0x7E, 0, 0, 0, 0, 0, 0};
    byte[] bytes = concat(header(), body);

    SchemaDecodingException e = decodeFailure("requests", bytes);

    assertThat(e.reason()).isEqualTo(Reason.MALFORMED);
    assertThat(e.getMessage()).contains("malformed body");
  }

  @Test
  void hugeDeclaredStringLengthIsTruncatedNotAllocated() {
    // request_id claims 1 GiB in a 17-byte record; Avro alone would allocate it before reading.
    byte[] body = {(byte) 0x80, (byte) 0x80, (byte) 0x80, (byte) 0x80, 0x08, 'x', 'y'};

    SchemaDecodingException e = decodeFailure("requests", concat(header(), body));

    assertThat(e.reason()).isEqualTo(Reason.TRUNCATED);
  }

  @Test
  void hugeDeclaredMapSizeIsTruncatedNotAllocated() {
    // metadata claims 2^30 entries; Avro alone would size a map for them.
    byte[] body = {2, 'r', 2, 'p', 0, 0, (byte) 0x80, (byte) 0x80, (byte) 0x80, (byte) 0x80, 0x08};

    SchemaDecodingException e = decodeFailure("requests", concat(header(), body));

    assertThat(e.reason()).isEqualTo(Reason.TRUNCATED);
  }

  @Test
  void negativeStringLengthIsRejected() {
    byte[] body = {0x03, 'r', 2, 'p', 0, 0, 0, 0};

    SchemaDecodingException e = decodeFailure("requests", concat(header(), body));

    // Avro's skip reports a negative length as the end of input.
    assertThat(e.reason()).isIn(Reason.TRUNCATED, Reason.MALFORMED);
  }

  @Test
  void isAKafkaSerializationExceptionSoConsumersTreatItAsOne() {
    assertThat(decodeFailure("requests", new byte[] {1, 2, 3}))
        .isInstanceOf(SerializationException.class);
  }

  @Test
  void encodingARecordWithAMissingRequiredFieldNamesTheType() {
    CascadeRequest broken = new CascadeRequest();
    broken.setRequestId("r");

    Throwable e = org.assertj.core.api.Assertions.catchThrowable(
        () -> REQUESTS.serializer().serialize("requests", broken));

    assertThat(e).isInstanceOf(SerializationException.class)
        .isNotInstanceOf(SchemaDecodingException.class)
        .hasMessageContaining("Cannot encode CascadeRequest for topic 'requests'")
        .hasMessageContaining("prompt");
  }

  private static SchemaDecodingException decodeFailure(String topic, byte[] bytes) {
    return catchThrowableOfType(SchemaDecodingException.class,
        () -> REQUESTS.deserializer().deserialize(topic, bytes));
  }

  /** A valid header for the current CascadeRequest schema. */
  private static byte[] header() {
    return Arrays.copyOf(REQUESTS.encode(SampleRecords.request()), AvroSerde.HEADER_LENGTH);
  }

  private static byte[] concat(byte[] a, byte[] b) {
    byte[] out = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }
}
