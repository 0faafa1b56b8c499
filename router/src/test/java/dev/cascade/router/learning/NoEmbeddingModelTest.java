package dev.cascade.router.learning;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cascade.models.TextGenerator;
import dev.cascade.models.TextGenerators;
import dev.cascade.router.CascadeRouter;
import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.config.ConfigException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A small model whose graph has no {@code hidden} output (the models module's second-architecture
 * fixture): rules over the embedding are refused up front, saying why, and the others still apply.
 */
class NoEmbeddingModelTest {

  private static final Path MODEL = Path.of("..", "models", "src", "test", "resources", "models", "rotary-bpe")
      .toAbsolutePath().normalize();

  @Test
  void aPolicyNamingPosthocEmbedIsRefusedNamingTheMissingOutput() {
    RuleResolver resolver = new RuleResolver(LearnedRules.bundled(), RuleCatalog.withBundled("f".repeat(64)))
        .withoutEmbedding("rotary-bpe");
    assertThatThrownBy(() -> resolver.resolve("posthoc-embed"))
        .isInstanceOf(RuleResolver.RuleUnavailableException.class)
        .hasMessageContaining("small model 'rotary-bpe' has none (its graph has no 'hidden' output)")
        // The shipped posthoc-quantile is bound to the bundled small model: only one trained for this model applies.
        .hasMessageEndingWith("; use a chow-* rule, or a posthoc-quantile trained for this model with train-rule")
        .hasMessageNotContaining("use posthoc-quantile or");
    assertThat(resolver.resolve("chow-sum").name()).isEqualTo("chow-sum");
  }

  @Test
  void aRouterOverSuchAModelRefusesThatRuleInItsConfiguration() {
    assertThat(Files.isRegularFile(MODEL.resolve("model.onnx"))).as(MODEL.toString()).isTrue();
    CascadeConfig config = CascadeConfig.load(null, Map.of(), Map.of(
        CascadeConfig.SMALL_MODEL.name(), MODEL.toString(),
        CascadeConfig.BOOTSTRAP_SERVERS.name(), "127.0.0.1:1",
        CascadeConfig.POLICY_RULE.name(), "posthoc-embed"));
    try (TextGenerator small = TextGenerators.load(MODEL.toString(), "OnnxRuntime")) {
      assertThat(small.info().hasEmbedding()).isFalse();
      assertThatThrownBy(() -> CascadeRouter.start(config, small, "127.0.0.1:2"))
          .isInstanceOf(ConfigException.class)
          .hasMessageContaining(CascadeConfig.POLICY_RULE.name())
          .hasMessageContaining("has no 'hidden' output");
    }
  }
}
