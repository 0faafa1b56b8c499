package dev.cascade.schemas.serde;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cascade.schemas.avro.CascadeRequest;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
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
