package dev.cascade.schemas.serde;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.SchemaFormatter;
import org.apache.avro.SchemaCompatibility.SchemaCompatibilityType;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificRecord;
import org.junit.jupiter.api.Test;

/**
 * Guards the evolution rules: every schema in {@code src/main/avro} is recorded in its history,
 * and every recorded version reads and is read by the current one.
 */
class SchemaHistoryTest {

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
            + SchemaFormatter.format("json/pretty", current));
      }
    }
    assertThat(missing).as("schemas not recorded in their history").isEmpty();
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
