package dev.cascade.router.learner;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.config.ConfigException;
import dev.cascade.router.learning.DeferralExample;
import dev.cascade.router.learning.PromptHash;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code learn.prior}: a labelled file answered by the bundled models, and the errors for a bad one. */
class LearnerPriorTest {

  @TempDir
  Path dir;
  private String cacheBefore;

  @BeforeEach
  void privateCache() {
    cacheBefore = System.getProperty("cascade.cache");
    System.setProperty("cascade.cache", dir.resolve("cache").toString());
  }

  @AfterEach
  void restoreCache() {
    if (cacheBefore == null) {
      System.clearProperty("cascade.cache");
    } else {
      System.setProperty("cascade.cache", cacheBefore);
    }
  }

  private static CascadeConfig config(String prior) {
    return CascadeConfig.load(null, Map.of(), Map.of("learn.prior", prior));
  }

  @Test
  void noPriorByDefault() {
    assertThat(LearnerPrior.load(CascadeConfig.load(null, Map.of(), Map.of()))).isEmpty();
  }

  @Test
  void aLabelledFileBecomesFullyLabelledExamplesOfSourcePrior() throws Exception {
    // Words the bundled small model gets right and wrong, with references; one deliberately wrong.
    Path file = dir.resolve("prior.jsonl");
    List<String> lines = Files.readAllLines(Path.of("..", "models", "data", "validation.jsonl")).subList(0, 12);
    Files.write(file, lines);
    List<DeferralExample> prior = LearnerPrior.load(config(file.toString()));
    assertThat(prior).hasSize(12);
    assertThat(prior).allSatisfy(e -> {
      assertThat(e.labelSource()).isEqualTo(LearnerPrior.SOURCE);
      assertThat(e.weight()).isEqualTo(1.0);
      assertThat(e.features().length()).isPositive();
    });
    String firstPrompt = new com.fasterxml.jackson.databind.ObjectMapper().readTree(lines.get(0)).get("prompt").asText();
    assertThat(prior.get(0).promptHash()).isEqualTo(PromptHash.of(firstPrompt));
    // The bundled small model is right on some of these and wrong on others.
    assertThat(prior.stream().filter(DeferralExample::smallCorrect).count()).isBetween(1L, 11L);
  }

  @Test
  void aMissingFileIsAConfigurationErrorNamingTheKey() {
    assertThatThrownBy(() -> LearnerPrior.load(config(dir.resolve("absent.jsonl").toString())))
        .isInstanceOf(ConfigException.class).hasMessageContaining("learn.prior").hasMessageContaining("absent.jsonl")
        .hasMessageContaining("is not a file");
  }

  @Test
  void aLineWithoutAReferenceIsAConfigurationErrorNamingTheLine() throws Exception {
    Path file = dir.resolve("unlabelled.jsonl");
    Files.writeString(file, "{\"prompt\": \"cat\", \"reference\": \"k a t\"}\n{\"prompt\": \"dog\"}\n");
    assertThatThrownBy(() -> LearnerPrior.load(config(file.toString())))
        .isInstanceOf(ConfigException.class).hasMessageContaining("learn.prior")
        .hasMessageContaining("line 2").hasMessageContaining("reference");
  }
}
