package dev.cascade.router.learning;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.HexFormat;
import dev.cascade.models.ModelDirectory;
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

  @Test
  void aModelWithoutExternalDataIsTheSha256OfItsOnnxFileSoTheShippedRulesStillApplyToTheBundledSmallModel()
      throws Exception {
    String small = ModelFingerprint.of("small");
    assertThat(small).isEqualTo(sha256(Files.readAllBytes(ModelDirectory.resolve("small").modelFile())));
    for (LearnedRule rule : LearnedRules.bundledRules()) {
      assertThat(rule.info().modelFingerprint()).as(rule.name()).isEqualTo(small);
    }
    RuleCatalog catalog = RuleCatalog.withBundled(small);
    assertThat(catalog.latestApplicable("posthoc-quantile")).isPresent();
    assertThat(catalog.latestApplicable("posthoc-embed")).isPresent();
  }

  @Test
  void externalDataIsPartOfTheFingerprintSoARuleForOneExportDoesNotApplyToAnother() throws Exception {
    byte[] weights = {1, 2, 3, 4, 5, 6, 7, 8};
    Path a = ExternalDataModel.write(dir.resolve("a"), weights);
    Path b = ExternalDataModel.write(dir.resolve("b"), new byte[] {1, 2, 3, 4, 5, 6, 7, 9});
    assertThat(Files.readAllBytes(a.resolve("model.onnx"))).isEqualTo(Files.readAllBytes(b.resolve("model.onnx")));

    String fa = ModelFingerprint.of(a.toString());
    String fb = ModelFingerprint.of(b.toString());
    assertThat(fa).isNotEqualTo(fb).hasSize(64);
    // (cd a && sha256sum model.onnx model.onnx_data) | sha256sum
    String listing = sha256(Files.readAllBytes(a.resolve("model.onnx"))) + "  model.onnx\n"
        + sha256(weights) + "  model.onnx_data\n";
    assertThat(fa).isEqualTo(sha256(listing.getBytes(java.nio.charset.StandardCharsets.UTF_8)));

    LearnedRule shipped = LearnedRules.bundledRules().get(0);
    RuleInfo forA = shipped.info().withModel(fa, ModelFingerprint.FEATURE_LAYOUT);
    assertThat(new RuleCatalog(fa).whyNotApplicable(forA)).isEmpty();
    assertThat(new RuleCatalog(fb).whyNotApplicable(forA)).contains(fa).contains(fb);

    // The data rewritten in place: another fingerprint.
    Files.write(a.resolve(ExternalDataModel.DATA), new byte[] {8, 7, 6, 5, 4, 3, 2, 1});
    assertThat(ModelFingerprint.of(a.toString())).isNotEqualTo(fa);
  }

  @Test
  void aFileNoOnnxReaderCanParseIsFingerprintedByItsOwnSha256() throws Exception {
    Path model = Files.createDirectories(dir.resolve("bare"));
    Files.write(model.resolve("model.onnx"), new byte[] {1, 2, 3});
    Files.writeString(model.resolve("tokenizer.json"), "{}");
    assertThat(ModelFingerprint.of(model.toString())).isEqualTo(sha256(new byte[] {1, 2, 3}));
  }
}
