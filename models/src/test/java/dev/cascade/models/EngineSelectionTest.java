package dev.cascade.models;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** Engine choice as configuration. This host has no TensorRT (nor a GPU): asking for it must fail cleanly. */
class EngineSelectionTest {

  @Test
  void tensorRtWithoutItsNativeLibrariesIsAClearErrorNamingTheMissingLibrary() {
    for (int attempt = 0; attempt < 2; attempt++) { // DJL only reports the native failure once; we keep it
      assertThatThrownBy(() -> TextGenerators.load("small", "TensorRT"))
          .isInstanceOf(EngineUnavailableException.class)
          .hasMessageContaining("TensorRT")
          .hasMessageMatching("(?s).*lib(nvonnxparser|nvinfer|cuda)[^ ]*\\.so.*");
    }
  }

  @Test
  void autoFallsBackToOnnxRuntime() {
    try (TextGenerator generator = TextGenerators.load("small", "auto")) {
      assertThat(generator.info().engine()).isEqualTo("OnnxRuntime");
      assertThat(generator.generate(java.util.List.of("cat"), 10)).hasSize(1);
    }
  }

  @Test
  void unknownEnginesAndModelsAreRejectedByName() {
    assertThatThrownBy(() -> TextGenerators.load("small", "PyTorch"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("engine:").hasMessageContaining("PyTorch");
    assertThatThrownBy(() -> TextGenerators.load("/nonexistent/model", "OnnxRuntime"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("model:");
  }

  @Test
  void aDirectoryLoadsLikeABundledModel() {
    ModelDirectory dir = ModelDirectory.resolve("small");
    try (TextGenerator generator = TextGenerators.load(dir.path().toString(), "OnnxRuntime")) {
      assertThat(generator.generate(java.util.List.of("cascade"), 48).get(0).text())
          .isEqualTo(BundledModels.generator("small").generate(java.util.List.of("cascade"), 48).get(0).text());
    }
  }
}
