package dev.cascade.schemas.serde;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cascade.schemas.avro.CascadeRequest;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.avro.specific.SpecificRecord;
import org.apache.avro.util.RandomData;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The Python client in {@code examples/python} and the Java serde read each other's bytes.
 * Skipped where no Python 3 with the {@code avro} package is installed (Debian: python3-avro).
 */
class PythonClientTest {

  private static final Path SCRIPT = Path.of("examples/python/cascade_avro.py");
  private static final Path HISTORY = Path.of("src/main/resources", SchemaHistory.RESOURCE_ROOT);
  private static String python;

  @BeforeAll
  static void findPythonWithAvro() throws Exception {
    for (String candidate : List.of("/usr/bin/python3", "python3")) {
      try {
        if (run(List.of(candidate, "-c", "import avro.io"), null).exitCode == 0) {
          python = candidate;
          break;
        }
      } catch (IOException notInstalled) {
        // try the next one
      }
    }
  }

  @Test
  void pythonReadsAResponseWrittenByJava() throws Exception {
    assumeTrue(python != null, "no python3 with the avro package");
    byte[] bytes = CascadeSerdes.responses().encode(SampleRecords.response());

    Result result = run(List.of(python, SCRIPT.toString(), HISTORY.toString(), "decode",
        "CascadeResponse"), bytes);

    assertThat(result.exitCode).as(result.text()).isZero();
    JsonNode response = new ObjectMapper().readTree(result.output);
    assertThat(response.get("request_id").asText()).isEqualTo("req-1");
    assertThat(response.get("served_by").asText()).isEqualTo("LARGE");
    assertThat(response.get("latencies").get("total_ms").asDouble()).isEqualTo(494.0);
    assertThat(response.get("reply_to").asText()).isEqualTo("frontdoor-7");
    assertThat(response.get("completion_tokens").asInt()).isEqualTo(3);
    assertThat(response.get("prompt_tokens").asInt()).isEqualTo(6);
  }

  @Test
  void javaReadsARequestWrittenByPython() throws Exception {
    assumeTrue(python != null, "no python3 with the avro package");

    Result result = run(List.of(python, SCRIPT.toString(), HISTORY.toString(), "request",
        "req-py", "spell: gnome"), null);

    assertThat(result.exitCode).as(result.text()).isZero();
    CascadeRequest request = CascadeSerdes.requests().decode(result.output);
    assertThat(request.getRequestId()).isEqualTo("req-py");
    assertThat(request.getPrompt()).isEqualTo("spell: gnome");
    assertThat(request.getMetadata()).containsEntry("client", "python");
    assertThat(request.getReplyTo()).isNull();
  }

  /**
   * A record written with each recorded version of each type (random contents) is read by the
   * Python client, which finds the writer schema by fingerprint and resolves it to the latest
   * version, as the Java serde does: its string fields hold what Java reads from the same bytes.
   */
  @Test
  void pythonReadsEveryRecordedVersion() throws Exception {
    assumeTrue(python != null, "no python3 with the avro package");
    ObjectMapper json = new ObjectMapper();
    Path dir = Files.createTempDirectory("python-client");
    try {
      for (Class<? extends SpecificRecord> type : CascadeSerdes.RECORD_TYPES) {
        String name = type.getSimpleName();
        SchemaHistory history = SchemaHistory.of(type);
        List<String> command = new ArrayList<>(
            List.of(python, SCRIPT.toString(), HISTORY.toString(), "decode", name));
        List<byte[]> written = new ArrayList<>();
        for (int v = 1; v <= history.versions().size(); v++) {
          Schema writer = history.version(v);
          GenericRecord datum = (GenericRecord) new RandomData(writer, 1, 7L * v).iterator().next();
          ByteArrayOutputStream bytes = new ByteArrayOutputStream();
          new BinaryMessageEncoder<GenericRecord>(GenericData.get(), writer).encode(datum, bytes);
          written.add(bytes.toByteArray());
          Path file = Files.write(dir.resolve(name + "-v" + v + ".bin"), bytes.toByteArray());
          command.add(file.toString());
        }

        Result result = run(command, null);

        assertThat(result.exitCode).as(name + ": " + result.text()).isZero();
        List<String> lines = result.text().lines().toList();
        assertThat(lines).as(name).hasSize(written.size());
        AvroSerde<? extends SpecificRecord> serde = AvroSerde.forType(type);
        for (int v = 1; v <= written.size(); v++) {
          JsonNode read = json.readTree(lines.get(v - 1));
          SpecificRecord expected = serde.decode(written.get(v - 1));
          for (Schema.Field field : expected.getSchema().getFields()) {
            String what = name + " v" + v + " " + field.name();
            assertThat(read.has(field.name())).as(what).isTrue();
            if (field.schema().getType() == Schema.Type.STRING) {
              assertThat(read.get(field.name()).asText()).as(what)
                  .isEqualTo(String.valueOf(expected.get(field.pos())));
            }
          }
        }
      }
    } finally {
      try (var files = Files.list(dir)) {
        for (Path file : files.toList()) {
          Files.delete(file);
        }
      }
      Files.delete(dir);
    }
  }

  private record Result(int exitCode, byte[] output) {
    String text() {
      return new String(output, java.nio.charset.StandardCharsets.UTF_8);
    }
  }

  private static Result run(List<String> command, byte[] stdin) throws Exception {
    Path errors = Files.createTempFile("python-client", ".err");
    try {
      Process process = new ProcessBuilder(new ArrayList<>(command))
          .redirectError(errors.toFile()).start();
      try (OutputStream in = process.getOutputStream()) {
        if (stdin != null) {
          in.write(stdin);
        }
      }
      byte[] output = process.getInputStream().readAllBytes();
      assertThat(process.waitFor(60, TimeUnit.SECONDS)).isTrue();
      int code = process.exitValue();
      return new Result(code, code == 0 ? output : Files.readAllBytes(errors));
    } finally {
      Files.deleteIfExists(errors);
    }
  }
}
