package dev.cascade.router.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class KeySuggestionTest {

  private static final List<String> KEYS = List.of("bootstrap.servers", "small.model", "large.model", "model.engine",
      "policy.threshold", "learn.rule", "policy.rule");

  @Test
  void aKeyWithoutItsPrefixMeansTheKeyThatEndsWithIt() {
    assertThat(KeySuggestion.nearest("engine", KEYS)).contains("model.engine");
    assertThat(KeySuggestion.nearest("rule", KEYS)).contains("learn.rule"); // the shorter, then first in order
  }

  @Test
  void aTypoMeansTheClosestKeyWithinAQuarterOfItsLength() {
    assertThat(KeySuggestion.nearest("bootstrap.server", KEYS)).contains("bootstrap.servers");
    assertThat(KeySuggestion.nearest("smal.model", KEYS)).contains("small.model");
    assertThat(KeySuggestion.nearest("policy.treshold", KEYS)).contains("policy.threshold");
    assertThat(KeySuggestion.nearest("unrelated.thing", KEYS)).isEmpty();
    assertThat(KeySuggestion.distance("kitten", "sitting")).isEqualTo(3);
  }

  @Test
  void theUnknownKeyErrorSaysWhichKeyWasMeant() {
    assertThatThrownBy(() -> CascadeConfig.load(null, Map.of("CASCADE_POLICY_TRESHOLD", "0.5"), Map.of()))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("did you mean CASCADE_POLICY_THRESHOLD (policy.threshold)?");
    assertThatThrownBy(() -> CascadeConfig.load(null, Map.of(), Map.of("engine", "OnnxRuntime")))
        .isInstanceOf(ConfigException.class).hasMessageContaining("did you mean model.engine?");
    assertThatThrownBy(() -> CascadeConfig.load(null, Map.of(), Map.of("nothing.like.it", "1")))
        .isInstanceOf(ConfigException.class).hasMessageNotContaining("did you mean")
        .hasMessageContaining("known keys: bootstrap.servers");
    // Nothing near enough in a known group: that group's keys only, not all of them.
    assertThatThrownBy(() -> CascadeConfig.load(null, Map.of(), Map.of("learn.something-else", "1")))
        .isInstanceOf(ConfigException.class).hasMessageNotContaining("did you mean")
        .hasMessageContaining("the learn.* keys: learn.application-id").hasMessageNotContaining("policy.threshold");
  }
}
