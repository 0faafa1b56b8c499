package dev.cascade.router.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cascade.router.api.CommandLineRun;
import dev.cascade.schemas.serde.CascadeSerdes;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * {@code cascade schemas}: the versions this release reads and writes, and the
 * {@code schemas.write-versions} line that makes a later release write them.
 */
class SchemasCommandTest {

  @AfterEach
  void writeTheCurrentVersionsAgain() {
    CascadeSerdes.writeVersions(Map.of()); // the setting applies to the whole JVM
  }

  @Test
  void itListsEveryTypeAndEndsWithTheLineThatPinsALaterReleaseToThisOne() {
    CommandLineRun run = CommandLineRun.of("schemas");
    assertThat(run.exitCode()).as(run.err()).isZero();
    List<String> lines = run.out().strip().lines().toList();
    int response = CascadeSerdes.responses().currentVersion();
    assertThat(lines).anyMatch(l -> l.matches("CascadeResponse +v1-v" + response + " +v" + response + " +0x[0-9A-F]{16}"));
    assertThat(lines.get(lines.size() - 1)).startsWith("schemas.write-versions=CascadeRequest=")
        .contains(",CascadeResponse=" + response + ",");
    // What that line says, a release takes: nothing changes for this one, which writes them already.
    String pins = lines.get(lines.size() - 1).substring("schemas.write-versions=".length());
    CommandLineRun same = CommandLineRun.of("schemas", "--set", "schemas.write-versions=" + pins);
    assertThat(same.exitCode()).as(same.err()).isZero();
    assertThat(same.out()).doesNotContain("*");
  }

  @Test
  void anEarlierVersionIsMarkedAndWritten() throws Exception {
    CommandLineRun run = CommandLineRun.of("schemas", "--set", "schemas.write-versions=CascadeResponse=6", "--json");
    assertThat(run.exitCode()).as(run.err()).isZero();
    JsonNode json = new ObjectMapper().readTree(run.out());
    JsonNode responses = json.get("types").get(1);
    assertThat(responses.get("name").asText()).isEqualTo("CascadeResponse");
    assertThat(responses.get("writes").asInt()).isEqualTo(6);
    assertThat(responses.get("pinned").asBoolean()).isTrue();
    assertThat(json.get("types").get(0).get("pinned").asBoolean()).as("CascadeRequest, not named").isFalse();
    assertThat(responses.get("reads_to").asInt()).isEqualTo(CascadeSerdes.responses().currentVersion());
    assertThat(CascadeSerdes.responses().writtenVersion()).isEqualTo(6);
    assertThat(json.get("write_versions").asText()).contains("CascadeResponse="
        + CascadeSerdes.responses().currentVersion());
  }

  @Test
  void aBadSettingIsOneLineNamingTheKey() {
    CommandLineRun run = CommandLineRun.of("schemas", "--set", "schemas.write-versions=CascadeResponse=99");
    assertThat(run.exitCode()).isEqualTo(2);
    assertThat(run.err().strip()).startsWith("error: schemas.write-versions: CascadeResponse has versions 1..")
        .doesNotContain("\n");
  }
}
