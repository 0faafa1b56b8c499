package dev.cascade.models;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The committed artifacts against their cards: checksum, size, and accuracy reproduced from Java. */
class ModelCardTest {

  @ParameterizedTest
  @ValueSource(strings = {"small", "medium", "large"})
  void sha256MatchesTheCard(String name) throws Exception {
    JsonNode card = ModelDirectory.bundledCard(name);
    try (InputStream in = ModelDirectory.resource(name, "model.onnx")) {
      assertThat(sha256(in)).isEqualTo(card.get("sha256").asText());
    }
    try (InputStream in = Files.newInputStream(ModelDirectory.resolve(name).modelFile())) {
      assertThat(sha256(in)).as("the extracted copy").isEqualTo(card.get("sha256").asText());
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"small", "medium", "large"})
  void javaExactMatchOverTheTestSplitReproducesTheCard(String name) {
    JsonNode card = ModelDirectory.bundledCard(name);
    List<BundledModels.Item> test = BundledModels.testSplit();
    List<Generation> out = BundledModels.testOutputs(name);
    int hits = 0;
    int words = 0;
    int wordHits = 0;
    for (int i = 0; i < test.size(); i++) {
      boolean hit = out.get(i).text().equals(test.get(i).reference());
      hits += hit ? 1 : 0;
      if (test.get(i).kind().equals("word")) {
        words++;
        wordHits += hit ? 1 : 0;
      }
    }
    double accuracy = 100.0 * hits / test.size();
    assertThat(accuracy).isCloseTo(card.get("test_exact_match").asDouble(), within(0.5));
    assertThat(100.0 * wordHits / words).isCloseTo(card.get("test_exact_match_words").asDouble(), within(0.5));
    assertThat(card.get("data").get("test").asInt()).isEqualTo(test.size());
  }

  @Test
  void theModelsMeetTheirTargets() {
    JsonNode small = ModelDirectory.bundledCard("small");
    JsonNode large = ModelDirectory.bundledCard("large");
    assertThat(small.get("test_exact_match").asDouble()).isGreaterThanOrEqualTo(40.0);
    assertThat(small.get("parameters").asLong()).isLessThanOrEqualTo(300_000);
    assertThat(large.get("test_exact_match").asDouble())
        .isGreaterThanOrEqualTo(small.get("test_exact_match").asDouble() + 20.0);
    assertThat(large.get("parameters").asLong()).isGreaterThanOrEqualTo(8 * small.get("parameters").asLong());
    assertThat(BundledModels.generator("small").info().parameters()).isEqualTo(small.get("parameters").asLong());
    // The middle tier of a three-model cascade: 4 to 6 times the small model, between the two in exact match.
    JsonNode medium = ModelDirectory.bundledCard("medium");
    assertThat(medium.get("parameters").asLong()).isBetween(4 * small.get("parameters").asLong(),
        6 * small.get("parameters").asLong());
    assertThat(medium.get("test_exact_match").asDouble())
        .isGreaterThan(small.get("test_exact_match").asDouble())
        .isLessThan(large.get("test_exact_match").asDouble());
  }

  private static String sha256(InputStream in) throws IOException, NoSuchAlgorithmException {
    MessageDigest digest = MessageDigest.getInstance("SHA-256");
    byte[] buffer = new byte[1 << 16];
    int n;
    while ((n = in.read(buffer)) > 0) {
      digest.update(buffer, 0, n);
    }
    return HexFormat.of().formatHex(digest.digest());
  }
}
