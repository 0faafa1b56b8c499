package dev.cascade.schemas.serde;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import java.util.stream.Stream;
import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.SchemaCompatibility.SchemaCompatibilityType;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificRecord;
import org.junit.jupiter.api.Test;

/**
 * Guards the evolution rules: every schema in {@code src/main/avro} is recorded in its history,
 * and every recorded version reads and is read by the current one. The history files are the
 * published writer schemas, so they carry no Java code-generation properties.
 */
class SchemaHistoryTest {

  private static final Path HISTORY = Path.of("src/main/resources", SchemaHistory.RESOURCE_ROOT);
  /** Properties the Java build adds ({@code avro.java.string}: the build's stringType). */
  private static final String JAVA_PROPERTY_PREFIX = "avro.java.";
  private static final ObjectMapper JSON = new ObjectMapper();

  @Test
  void currentSchemaOfEveryTypeIsARecordedVersion() {
    List<String> missing = new ArrayList<>();
    for (Class<? extends SpecificRecord> type : CascadeSerdes.RECORD_TYPES) {
      Schema current = SpecificData.getForClass(type).getSchema(type);
      SchemaHistory history = SchemaHistory.of(type);
      OptionalInt version = history.versionOf(SchemaNormalization.parsingFingerprint64(current));
      if (version.isEmpty()) {
        missing.add(type.getSimpleName() + " changed: add "
            + SchemaHistory.RESOURCE_ROOT + "/" + type.getSimpleName() + "/v"
            + (history.versions().size() + 1) + ".avsc (src/main/resources) holding:\n"
            + published(current));
      }
    }
    assertThat(missing).as("schemas not recorded in their history").isEmpty();
  }

  /**
   * Python's avro 1.11 puts a primitive with properties in the canonical form as
   * {@code {"type":"string"}}, not {@code "string"}: its fingerprint of such a file is not the
   * one Java writes, and it cannot read records written with that version.
   */
  @Test
  void noHistoryFileCarriesJavaProperties() throws IOException {
    List<String> found = new ArrayList<>();
    try (Stream<Path> files = Files.walk(HISTORY)) {
      for (Path file : files.filter(f -> f.toString().endsWith(".avsc")).sorted().toList()) {
        List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        for (int i = 0; i < lines.size(); i++) {
          if (lines.get(i).contains("\"" + JAVA_PROPERTY_PREFIX)) {
            found.add(file + ":" + (i + 1) + ": " + lines.get(i).strip());
          }
        }
      }
    }
    assertThat(found).as("Java code-generation properties in the published history").isEmpty();
  }

  @Test
  void theFilePrintedForANewVersionHasTheCurrentFingerprintAndNoJavaProperties() {
    for (Class<? extends SpecificRecord> type : CascadeSerdes.RECORD_TYPES) {
      Schema current = SpecificData.getForClass(type).getSchema(type);
      String file = published(current);

      assertThat(file).as(type.getSimpleName()).doesNotContain(JAVA_PROPERTY_PREFIX);
      assertThat(SchemaNormalization.parsingFingerprint64(new Schema.Parser().parse(file)))
          .as(type.getSimpleName())
          .isEqualTo(SchemaNormalization.parsingFingerprint64(current));
    }
  }

  @Test
  void everyRecordedVersionIsFullyCompatibleWithTheCurrentSchema() {
    List<String> problems = new ArrayList<>();
    for (Class<? extends SpecificRecord> type : CascadeSerdes.RECORD_TYPES) {
      Schema current = SpecificData.getForClass(type).getSchema(type);
      SchemaHistory history = SchemaHistory.of(type);
      assertThat(history.versions()).as(type.getSimpleName()).isNotEmpty();
      for (int v = 1; v <= history.versions().size(); v++) {
        Schema old = history.version(v);
        check(problems, type.getSimpleName() + " current reading v" + v, current, old);
        check(problems, type.getSimpleName() + " v" + v + " reading current", old, current);
      }
    }
    assertThat(problems).isEmpty();
  }

  @Test
  void everyFieldIsDocumented() {
    List<String> undocumented = new ArrayList<>();
    for (Class<? extends SpecificRecord> type : CascadeSerdes.RECORD_TYPES) {
      collectUndocumented(SpecificData.getForClass(type).getSchema(type), undocumented);
    }
    assertThat(undocumented).isEmpty();
  }

  @Test
  void loadsConsecutiveVersionsAndStopsAtTheFirstGap() {
    SchemaHistory history = SchemaHistory.load(
        getClass().getClassLoader(), "cascade/schemas/test-history", "CascadeRequest");

    assertThat(history.versions()).hasSize(2);
    assertThat(history.version(2).getField("priority")).isNotNull();
    assertThat(history.version(1).getFullName()).isEqualTo("dev.cascade.schemas.avro.CascadeRequest");
    assertThat(SchemaHistory.load(getClass().getClassLoader(), "no/such/root", "X").versions())
        .isEmpty();
  }

  /** A schema as a history file: pretty JSON without the Java build's properties. */
  private static String published(Schema schema) {
    try {
      return JSON.writerWithDefaultPrettyPrinter()
          .writeValueAsString(withoutJavaProperties(JSON.readTree(schema.toString())));
    } catch (IOException e) {
      throw new IllegalStateException("Cannot reformat " + schema.getFullName(), e);
    }
  }

  private static JsonNode withoutJavaProperties(JsonNode node) {
    if (node instanceof ArrayNode array) {
      for (int i = 0; i < array.size(); i++) {
        array.set(i, withoutJavaProperties(array.get(i)));
      }
      return array;
    }
    if (node instanceof ObjectNode object) {
      object.properties().removeIf(e -> e.getKey().startsWith(JAVA_PROPERTY_PREFIX));
      object.properties().forEach(e -> e.setValue(withoutJavaProperties(e.getValue())));
      // {"type": "string"} is the primitive "string" once its properties are gone
      if (object.size() == 1 && object.get("type") instanceof TextNode primitive) {
        return primitive;
      }
    }
    return node;
  }

  private static void check(List<String> problems, String what, Schema reader, Schema writer) {
    var result = SchemaCompatibility.checkReaderWriterCompatibility(reader, writer);
    if (result.getType() != SchemaCompatibilityType.COMPATIBLE) {
      problems.add(what + ": " + result.getDescription());
    }
  }

  private static void collectUndocumented(Schema schema, List<String> out) {
    switch (schema.getType()) {
      case RECORD -> {
        if (schema.getDoc() == null || schema.getDoc().isBlank()) {
          out.add(schema.getFullName());
        }
        for (Schema.Field field : schema.getFields()) {
          if (field.doc() == null || field.doc().isBlank()) {
            out.add(schema.getName() + "." + field.name());
          }
          collectUndocumented(field.schema(), out);
        }
      }
      case ARRAY -> collectUndocumented(schema.getElementType(), out);
      case MAP -> collectUndocumented(schema.getValueType(), out);
      case UNION -> schema.getTypes().forEach(t -> collectUndocumented(t, out));
      default -> { }
    }
  }
}
