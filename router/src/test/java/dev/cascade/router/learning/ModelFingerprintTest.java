package dev.cascade.router.learning;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelFingerprintTest {

  private static String sha256(byte[] bytes) throws Exception {
    return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
  }

  @TempDir
  Path dir;

  @Test
  void aFileRewrittenWithinOneClockTickAtTheSameSizeIsHashedAgain() throws Exception {
    Path file = dir.resolve("model.onnx");
    Files.write(file, new byte[] {1, 2, 3});
    FileTime stamp = Files.getLastModifiedTime(file);
    String first = ModelFingerprint.ofFile(file);

    Files.write(file, new byte[] {1, 2, 4});
    Files.setLastModifiedTime(file, stamp); // as a coarse file-system clock would leave it
    assertThat(ModelFingerprint.ofFile(file)).isNotEqualTo(first).isEqualTo(sha256(new byte[] {1, 2, 4}));
  }

  @Test
  void aSettledFileIsHashedOnceAndKeyedBySizeAndModificationTime() throws Exception {
    Path file = dir.resolve("settled.onnx");
    Files.write(file, new byte[] {5, 6, 7});
    FileTime hourAgo = FileTime.from(Instant.now().minus(1, ChronoUnit.HOURS));
    Files.setLastModifiedTime(file, hourAgo);
    String first = ModelFingerprint.ofFile(file);

    // Same size, same stamp: the cached hash stands (the file is not read again).
    Files.write(file, new byte[] {5, 6, 8});
    Files.setLastModifiedTime(file, hourAgo);
    assertThat(ModelFingerprint.ofFile(file)).isEqualTo(first);

    // Another stamp: hashed again.
    Files.setLastModifiedTime(file, FileTime.from(Instant.now().minus(30, ChronoUnit.MINUTES)));
    assertThat(ModelFingerprint.ofFile(file)).isNotEqualTo(first);
  }
}
