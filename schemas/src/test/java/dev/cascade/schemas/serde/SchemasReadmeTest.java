package dev.cascade.schemas.serde;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.specific.SpecificData;
import org.junit.jupiter.api.Test;

/** The README's table of current fingerprints is the fingerprint of each record's schema as built, and its version. */
class SchemasReadmeTest {

  private static final List<Class<?>> RECORDS = List.of(dev.cascade.schemas.avro.CascadeRequest.class,
      dev.cascade.schemas.avro.CascadeResponse.class, dev.cascade.schemas.avro.RoutingOutcome.class,
      dev.cascade.schemas.avro.Escalation.class, dev.cascade.schemas.avro.DeferralPolicy.class,
      dev.cascade.schemas.avro.RuleModel.class, dev.cascade.schemas.avro.Feedback.class,
      dev.cascade.schemas.avro.DeadLetter.class, dev.cascade.schemas.avro.LabelledExample.class);

  @Test
  void theTableListsEveryRecordsCurrentVersionAndFingerprint() throws Exception {
    String readme = Files.readString(Path.of("README.md"));
    List<String> rows = new ArrayList<>();
    for (Class<?> type : RECORDS) {
      Schema schema = SpecificData.get().getSchema(type);
      long fingerprint = SchemaNormalization.parsingFingerprint64(schema);
      SchemaHistory history = SchemaHistory.of(type);
      String version = history.versionOf(fingerprint).isPresent() ? "v" + history.versionOf(fingerprint).getAsInt()
          : "v" + (history.versions().size() + 1) + " (unreleased)";
      StringBuilder header = new StringBuilder("C3 01");
      for (int i = 0; i < 8; i++) {
        header.append(String.format(Locale.ROOT, " %02X", (fingerprint >>> (8 * i)) & 0xff));
      }
      rows.add(String.format(Locale.ROOT, "| `%s` | %s | `0x%016X` | `%s` |", type.getSimpleName(), version,
          fingerprint, header));
    }
    assertThat(readme).as("schemas/README.md, table of current fingerprints").contains(rows);
  }
}
