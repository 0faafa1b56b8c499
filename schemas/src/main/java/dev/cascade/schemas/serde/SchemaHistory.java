package dev.cascade.schemas.serde;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.OptionalInt;
import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.SchemaParseException;

/**
 * Every released version of one record type's schema, oldest first.
 *
 * <p>Versions live on the class path as self-contained schemas (named types inlined) at
 * {@code cascade/schemas/history/<Type>/v1.avsc}, {@code v2.avsc}, ... with no gaps; the last is
 * the schema the generated class was built from. {@link AvroSerde} accepts bytes written with any
 * of them. A test fails when a schema in {@code src/main/avro} changes without a new version here.
 *
 * @param typeName the record's simple name, e.g. {@code CascadeRequest}
 * @param versions the schemas, version 1 first; may be empty for a type never released
 */
public record SchemaHistory(String typeName, List<Schema> versions) {

  /** Class-path folder that holds one sub-folder of versions per record type. */
  public static final String RESOURCE_ROOT = "cascade/schemas/history";

  public SchemaHistory {
    Objects.requireNonNull(typeName, "typeName");
    versions = List.copyOf(versions);
  }

  /** The history of a generated record class, from {@link #RESOURCE_ROOT}. */
  public static SchemaHistory of(Class<?> recordType) {
    return load(recordType.getClassLoader(), RESOURCE_ROOT, recordType.getSimpleName());
  }

  /**
   * Reads {@code root/typeName/v1.avsc}, {@code v2.avsc}, ... until the first missing version.
   *
   * @throws IllegalStateException when a file is not a valid schema or names another type
   */
  public static SchemaHistory load(ClassLoader loader, String root, String typeName) {
    List<Schema> versions = new ArrayList<>();
    for (int version = 1; ; version++) {
      String resource = root + "/" + typeName + "/v" + version + ".avsc";
      try (InputStream in = loader.getResourceAsStream(resource)) {
        if (in == null) {
          break;
        }
        Schema schema = new Schema.Parser().parse(in);
        if (!typeName.equals(schema.getName())) {
          throw new IllegalStateException(
              "Schema history file " + resource + " defines " + schema.getFullName()
                  + ", not " + typeName);
        }
        versions.add(schema);
      } catch (SchemaParseException e) {
        throw new IllegalStateException(
            "Schema history file " + resource + " is not a valid Avro schema: " + e.getMessage(), e);
      } catch (IOException e) {
        throw new UncheckedIOException("Cannot read schema history file " + resource, e);
      }
    }
    return new SchemaHistory(typeName, versions);
  }

  /** The schema of a version, counting from 1. */
  public Schema version(int version) {
    if (version < 1 || version > versions.size()) {
      throw new IllegalArgumentException(
          typeName + " has versions 1.." + versions.size() + ", not " + version);
    }
    return versions.get(version - 1);
  }

  /** The version (from 1) whose parsing-canonical-form fingerprint is this one, if any. */
  public OptionalInt versionOf(long fingerprint) {
    for (int i = 0; i < versions.size(); i++) {
      if (SchemaNormalization.parsingFingerprint64(versions.get(i)) == fingerprint) {
        return OptionalInt.of(i + 1);
      }
    }
    return OptionalInt.empty();
  }
}
