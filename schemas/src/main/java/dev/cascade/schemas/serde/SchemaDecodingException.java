package dev.cascade.schemas.serde;

import java.util.Objects;
import java.util.OptionalLong;
import org.apache.kafka.common.errors.SerializationException;

/**
 * Bytes that are not a readable Avro single-object encoding of the expected record type.
 *
 * <p>Thrown by {@link AvroSerde} for every kind of bad input, so a caller needs to catch exactly
 * one type (the router routes these records to the dead-letter topic). {@link #reason()} says
 * which kind it was; the message says it in words, with the expected type, the fingerprint seen
 * (in hex) and the sizes involved.
 */
public final class SchemaDecodingException extends SerializationException {

  private static final long serialVersionUID = 1L;

  /** What was wrong with the bytes. */
  public enum Reason {
    /** The first two bytes are not the single-object marker {@code C3 01}. */
    BAD_MAGIC,
    /** The header is well formed but its fingerprint is not a known version of the type. */
    UNKNOWN_FINGERPRINT,
    /** The bytes end before the header or the record body does. */
    TRUNCATED,
    /** The body cannot be read with the writer schema, or bytes are left over after it. */
    MALFORMED
  }

  private final Reason reason;
  private final String expectedType;
  private final Long fingerprint;

  SchemaDecodingException(
      Reason reason, String expectedType, Long fingerprint, String message, Throwable cause) {
    super(message, cause);
    this.reason = Objects.requireNonNull(reason, "reason");
    this.expectedType = Objects.requireNonNull(expectedType, "expectedType");
    this.fingerprint = fingerprint;
  }

  /** The kind of failure. */
  public Reason reason() {
    return reason;
  }

  /** Full name of the record type the bytes were expected to hold. */
  public String expectedType() {
    return expectedType;
  }

  /** The CRC-64-AVRO fingerprint read from the header; empty when the header was unreadable. */
  public OptionalLong fingerprint() {
    return fingerprint == null ? OptionalLong.empty() : OptionalLong.of(fingerprint);
  }
}
