package dev.cascade.schemas.serde;

import dev.cascade.schemas.avro.CascadeRequest;
import dev.cascade.schemas.serde.SchemaDecodingException.Reason;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.StringJoiner;
import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificRecord;
import org.apache.avro.util.ClassSecurityValidator;
import org.apache.avro.util.ClassSecurityValidator.ClassSecurityPredicate;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serializer;

/**
 * Kafka {@link Serde} for one generated Avro record type, in Avro single-object encoding.
 *
 * <p>Wire format: {@code C3 01}, the 8-byte little-endian CRC-64-AVRO fingerprint of the writer
 * schema's parsing canonical form, then the Avro binary body. Writes use the current schema,
 * or an earlier version of the history once {@link #writeVersion(int) pinned} to it (for a
 * rolling upgrade: the fields that version lacks are left out); reads accept any version in the
 * type's {@link SchemaHistory} and resolve it to the current one by Avro's schema-resolution
 * rules. {@code null} bytes decode to {@code null} and a {@code null} record encodes to
 * {@code null} (tombstones).
 *
 * <p>Bad bytes raise {@link SchemaDecodingException}, never anything else. Instances are
 * thread-safe; one can be shared by every stream thread. The version written is the only thing
 * that changes.
 *
 * @param <T> the generated record class
 */
public final class AvroSerde<T extends SpecificRecord> implements Serde<T> {

  /** System property Avro reads to decide which packages it may instantiate classes from. */
  public static final String TRUSTED_PACKAGES_PROPERTY = "org.apache.avro.SERIALIZABLE_PACKAGES";

  /** The packages trusted by default: the generated classes and what their fields use. */
  public static final String TRUSTED_PACKAGES =
      "dev.cascade.schemas.avro,java.lang,java.util,org.apache.avro.util";

  /** Length of the single-object header: two marker bytes and an 8-byte fingerprint. */
  public static final int HEADER_LENGTH = 10;

  private static final byte[] MAGIC = {(byte) 0xC3, (byte) 0x01};
  private static final HexFormat HEX = HexFormat.ofDelimiter(" ").withUpperCase();

  static {
    trustGeneratedClasses();
  }

  private final Class<T> type;
  private final Schema schema;
  private final long fingerprint;
  private final SchemaHistory history;
  /** The history's version the current schema is; one past the newest while it is unreleased. */
  private final int currentVersion;
  private final Map<Long, KnownVersion> versions;
  private final BinaryMessageEncoder<T> encoder;
  private final BinaryMessageDecoder<T> decoder;
  /** The version written when it is not the current schema; null: the current schema. */
  private volatile Pinned pinned;
  private final Serializer<T> serializer = this::encode;
  private final Deserializer<T> deserializer = this::decode;

  private AvroSerde(Class<T> type, SchemaHistory history) {
    this.type = Objects.requireNonNull(type, "type");
    this.history = Objects.requireNonNull(history, "history");
    if (!history.typeName().equals(type.getSimpleName())) {
      throw new IllegalArgumentException(
          "History of " + history.typeName() + " given for " + type.getName());
    }
    SpecificData model = SpecificData.getForClass(type);
    this.schema = model.getSchema(type);
    this.fingerprint = SchemaNormalization.parsingFingerprint64(schema);
    this.encoder = new BinaryMessageEncoder<>(model, schema);
    this.decoder = new BinaryMessageDecoder<>(model, schema);

    Map<Long, KnownVersion> known = new LinkedHashMap<>();
    for (int v = 1; v <= history.versions().size(); v++) {
      Schema writer = history.version(v);
      decoder.addSchema(writer);
      known.put(SchemaNormalization.parsingFingerprint64(writer), new KnownVersion("v" + v, writer));
    }
    // The current schema is normally a recorded version; until it is, it is still readable.
    known.putIfAbsent(fingerprint,
        new KnownVersion("v" + (history.versions().size() + 1) + " (unreleased)", schema));
    this.versions = Collections.unmodifiableMap(known);
    this.currentVersion = history.versionOf(fingerprint).orElse(history.versions().size() + 1);
  }

  /** A serde for {@code type} that reads every version in {@link SchemaHistory#of(Class)}. */
  public static <T extends SpecificRecord> AvroSerde<T> forType(Class<T> type) {
    return new AvroSerde<>(type, SchemaHistory.of(type));
  }

  /** A serde for {@code type} that reads every version in {@code history} and the current one. */
  public static <T extends SpecificRecord> AvroSerde<T> forType(
      Class<T> type, SchemaHistory history) {
    return new AvroSerde<>(type, history);
  }

  /** The generated record class. */
  public Class<T> type() {
    return type;
  }

  /** The schema every write uses, and every read resolves to. */
  public Schema schema() {
    return schema;
  }

  /** CRC-64-AVRO fingerprint of {@link #schema()}'s parsing canonical form, as in the header. */
  public long fingerprint() {
    return fingerprint;
  }

  /** The recorded versions this serde reads (besides its current schema). */
  public SchemaHistory history() {
    return history;
  }

  /**
   * The version of the history this serde's current schema is (the newest, once released); that
   * number plus one while it is unreleased.
   */
  public int currentVersion() {
    return currentVersion;
  }

  /** The version every write uses: {@link #currentVersion()} unless {@link #writeVersion(int) pinned}. */
  public int writtenVersion() {
    Pinned p = pinned;
    return p == null ? currentVersion() : p.version();
  }

  /** The fingerprint every write carries: {@link #fingerprint()} unless {@link #writeVersion(int) pinned}. */
  public long writtenFingerprint() {
    Pinned p = pinned;
    return p == null ? fingerprint : p.fingerprint();
  }

  /**
   * Writes version {@code version} of the history from now on: each record as that version's
   * reader would see it (Avro's schema resolution from the current schema: the fields it lacks are
   * left out), under that version's fingerprint, so that instances of an earlier release, which
   * know no later version, can read what this one writes. {@link #currentVersion()} writes the
   * current schema again.
   *
   * @throws IllegalArgumentException when the history has no such version
   */
  public void writeVersion(int version) {
    if (version == currentVersion()) {
      pinned = null;
      return;
    }
    Schema older = history.version(version); // names the versions there are when there is none
    pinned = new Pinned(version, SchemaNormalization.parsingFingerprint64(older),
        new org.apache.avro.generic.GenericDatumReader<>(schema, older),
        new org.apache.avro.generic.GenericDatumWriter<>(older));
  }

  /** Encodes a record as a single object; {@code null} gives {@code null}. */
  public byte[] encode(T record) {
    return encode(null, record);
  }

  /**
   * Decodes a single object written with any known version; {@code null} gives {@code null}.
   *
   * @throws SchemaDecodingException when the bytes are not such an object
   */
  public T decode(byte[] bytes) {
    return decode(null, bytes);
  }

  @Override
  public Serializer<T> serializer() {
    return serializer;
  }

  @Override
  public Deserializer<T> deserializer() {
    return deserializer;
  }

  @Override
  public String toString() {
    return "AvroSerde[" + schema.getFullName() + " " + versions.get(fingerprint).label()
        + " " + hex(fingerprint) + "]";
  }

  private byte[] encode(String topic, T record) {
    if (record == null) {
      return null;
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream(256);
    Pinned p = pinned;
    try {
      encoder.encode(record, out);
      if (p != null) {
        return p.rewrite(out.toByteArray());
      }
    } catch (IOException | RuntimeException e) {
      throw new SerializationException("Cannot encode " + type.getSimpleName()
          + onTopic("for", topic) + ": " + e.getMessage(), e);
    }
    return out.toByteArray();
  }

  private T decode(String topic, byte[] bytes) {
    if (bytes == null) {
      return null;
    }
    int length = bytes.length;
    for (int i = 0; i < Math.min(MAGIC.length, length); i++) {
      if (bytes[i] != MAGIC[i]) {
        throw failure(Reason.BAD_MAGIC, topic, null,
            "bad magic: expected the single-object marker C3 01, found "
                + HEX.formatHex(bytes, 0, Math.min(MAGIC.length, length))
                + " (" + length + " bytes, starting " + preview(bytes) + ")",
            null);
      }
    }
    if (length < HEADER_LENGTH) {
      throw failure(Reason.TRUNCATED, topic, null,
          "truncated: " + length + " bytes, shorter than the " + HEADER_LENGTH
              + "-byte single-object header",
          null);
    }
    long seen = ByteBuffer.wrap(bytes, MAGIC.length, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
    KnownVersion version = versions.get(seen);
    if (version == null) {
      String other = CascadeSerdes.describeFingerprint(seen);
      throw failure(Reason.UNKNOWN_FINGERPRINT, topic, seen,
          "unknown schema fingerprint " + hex(seen) + " (header bytes "
              + HEX.formatHex(bytes, 0, HEADER_LENGTH) + "): "
              + (other == null ? "no known schema has it" : "that is " + other)
              + "; known versions of " + type.getSimpleName() + ": " + knownVersions(),
          null);
    }
    checkBody(topic, bytes, seen, version);
    try {
      return decoder.decode(bytes);
    } catch (SecurityException e) {
      throw e; // a class-trust problem in this JVM, not bad bytes
    } catch (IOException | RuntimeException e) {
      throw failure(Reason.MALFORMED, topic, seen,
          "malformed body (" + length + " bytes in all, written with " + version.label() + " "
              + hex(seen) + "): " + rootMessage(e),
          e);
    }
  }

  /**
   * Walks the body with the writer schema, allocating nothing, before the real decode: Avro
   * allocates a string, bytes or array by its declared length before reading it, so a garbage
   * length would otherwise cost up to gigabytes. After this pass every length is known to fit in
   * the bytes at hand.
   */
  private void checkBody(String topic, byte[] bytes, long seen, KnownVersion version) {
    BinaryDecoder body = DecoderFactory.get()
        .binaryDecoder(bytes, HEADER_LENGTH, bytes.length - HEADER_LENGTH, null);
    int left;
    try {
      GenericDatumReader.skip(version.writer(), body);
      left = body.isEnd() ? 0 : body.inputStream().available();
    } catch (IOException | RuntimeException e) {
      if (causedBy(e, EOFException.class)) {
        throw failure(Reason.TRUNCATED, topic, seen, "truncated: the body ended early" + where(bytes, version, seen), e);
      }
      throw failure(Reason.MALFORMED, topic, seen,
          "malformed body" + where(bytes, version, seen) + ": " + rootMessage(e), e);
    }
    if (left > 0) {
      throw failure(Reason.MALFORMED, topic, seen,
          "malformed: " + left + " bytes left over after the record" + where(bytes, version, seen), null);
    }
  }

  /** Where in the bytes a bad body was, for messages: built only on failure (it formats the fingerprint). */
  private static String where(byte[] bytes, KnownVersion version, long seen) {
    return " (" + bytes.length + " bytes in all, written with " + version.label() + " " + hex(seen) + ")";
  }

  private SchemaDecodingException failure(
      Reason reason, String topic, Long seen, String detail, Throwable cause) {
    return new SchemaDecodingException(reason, schema.getFullName(), seen,
        "Cannot decode " + type.getSimpleName() + onTopic("from", topic) + ": " + detail, cause);
  }

  private String knownVersions() {
    StringJoiner known = new StringJoiner(", ");
    versions.forEach((fp, v) -> known.add(v.label() + " " + hex(fp)));
    return known.toString();
  }

  /**
   * Sets {@value #TRUSTED_PACKAGES_PROPERTY} when absent, so decoding works outside surefire
   * (e.g. {@code ./cascade}). Avro reads that property once, when its class validator loads; if
   * that happened earlier without our package, the global validator is widened to also trust the
   * generated package (and only it).
   */
  private static void trustGeneratedClasses() {
    if (System.getProperty(TRUSTED_PACKAGES_PROPERTY) == null) {
      System.setProperty(TRUSTED_PACKAGES_PROPERTY, TRUSTED_PACKAGES);
    }
    ClassSecurityPredicate global = ClassSecurityValidator.getGlobal();
    if (!global.isTrusted(CascadeRequest.class)) {
      String generatedPackage = CascadeRequest.class.getPackageName() + ".";
      ClassSecurityValidator.setGlobal(ClassSecurityValidator.composite(
          global, c -> c.getName().startsWith(generatedPackage)));
    }
  }

  /**
   * An earlier version to write: a record encoded with the current schema is read back as that
   * version (Avro's resolution) and written with it.
   */
  private record Pinned(int version, long fingerprint,
      org.apache.avro.generic.GenericDatumReader<Object> resolver,
      org.apache.avro.generic.GenericDatumWriter<Object> datumWriter) {

    byte[] rewrite(byte[] current) throws IOException {
      BinaryDecoder in = DecoderFactory.get()
          .binaryDecoder(current, HEADER_LENGTH, current.length - HEADER_LENGTH, null);
      // The reader and writer are thread-safe once built; the decoder and encoder are per call.
      Object asThen = resolver.read(null, in);
      ByteArrayOutputStream out = new ByteArrayOutputStream(current.length);
      out.write(MAGIC);
      out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(fingerprint).array());
      org.apache.avro.io.BinaryEncoder body = org.apache.avro.io.EncoderFactory.get().binaryEncoder(out, null);
      datumWriter.write(asThen, body);
      body.flush();
      return out.toByteArray();
    }
  }

  /** A schema version this serde reads: its label for messages, and the writer schema. */
  private record KnownVersion(String label, Schema writer) {}

  private static String onTopic(String preposition, String topic) {
    return topic == null ? "" : " " + preposition + " topic '" + topic + "'";
  }

  /** A fingerprint as messages and the schema tables write it: {@code 0x} and 16 upper-case hex digits. */
  public static String hex(long fingerprint) {
    String digits = Long.toHexString(fingerprint).toUpperCase(java.util.Locale.ROOT);
    return "0x" + "0".repeat(16 - digits.length()) + digits;
  }

  private static String preview(byte[] bytes) {
    int shown = Math.min(16, bytes.length);
    return HEX.formatHex(bytes, 0, shown) + (bytes.length > shown ? " ..." : "");
  }

  private static boolean causedBy(Throwable e, Class<? extends Throwable> kind) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (kind.isInstance(t)) {
        return true;
      }
    }
    return false;
  }

  private static String rootMessage(Throwable e) {
    Throwable root = e;
    while (root.getCause() != null && root.getCause() != root) {
      root = root.getCause();
    }
    String message = root.getMessage();
    return root.getClass().getSimpleName() + (message == null ? "" : ": " + message);
  }
}
