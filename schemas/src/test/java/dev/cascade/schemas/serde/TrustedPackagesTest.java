package dev.cascade.schemas.serde;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.schemas.avro.CascadeRequest;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Decoding works in a JVM that was not started with Avro's trusted-packages property (as
 * {@code ./cascade} is not), whether or not Avro checked a class before the serde loaded.
 */
class TrustedPackagesTest {

  @Test
  void defaultListMatchesTheOneTheBuildPassesToTests() {
    // Surefire sets the property from the parent POM's avro.trusted.packages.
    assertThat(AvroSerde.TRUSTED_PACKAGES)
        .isEqualTo(System.getProperty(AvroSerde.TRUSTED_PACKAGES_PROPERTY));
  }

  @Test
  void serdeLoadedFirstSetsTheProperty() throws Exception {
    String output = runProbe("serde-first");

    assertThat(output).contains(
        "property=" + AvroSerde.TRUSTED_PACKAGES, "serde=req-1", "generated=req-1");
  }

  @Test
  void serdeLoadedAfterAvroRejectedTheClassStillDecodes() throws Exception {
    String output = runProbe("avro-first");

    // Avro read the (absent) property before the serde could set it ...
    assertThat(output).contains("generated-before=SecurityException");
    // ... and the serde widened Avro's validator to the generated package.
    assertThat(output).contains("serde=req-1", "generated=req-1");
  }

  private static String runProbe(String mode) throws Exception {
    Path java = Path.of(System.getProperty("java.home"), "bin", "java");
    Process process = new ProcessBuilder(List.of(java.toString(),
            "-cp", System.getProperty("java.class.path"), Probe.class.getName(), mode))
        .redirectErrorStream(true).start();
    boolean finished = process.waitFor(60, TimeUnit.SECONDS);
    String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(finished).as("probe finished").isTrue();
    assertThat(process.exitValue()).as(output).isZero();
    return output;
  }

  /** Runs in the child JVM, which has no trusted-packages property. */
  public static final class Probe {
    public static void main(String[] args) throws Exception {
      String before = System.getProperty(AvroSerde.TRUSTED_PACKAGES_PROPERTY);
      if (before != null) {
        throw new IllegalStateException("property already set: " + before);
      }
      CascadeRequest request = SampleRecords.request();
      ByteBuffer bytes = request.toByteBuffer();
      if (args[0].equals("avro-first")) {
        try {
          CascadeRequest.fromByteBuffer(bytes.duplicate());
          System.out.println("generated-before=ok");
        } catch (SecurityException e) {
          System.out.println("generated-before=SecurityException");
        }
      }
      AvroSerde<CascadeRequest> serde = CascadeSerdes.requests();
      System.out.println("property=" + System.getProperty(AvroSerde.TRUSTED_PACKAGES_PROPERTY));
      System.out.println("serde=" + serde.decode(serde.encode(request)).getRequestId());
      System.out.println(
          "generated=" + CascadeRequest.fromByteBuffer(bytes.duplicate()).getRequestId());
    }
  }
}
