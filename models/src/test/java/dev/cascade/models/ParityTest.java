package dev.cascade.models;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.inference.Predictor;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.repository.zoo.Criteria;
import ai.djl.repository.zoo.ZooModel;
import ai.djl.translate.NoopTranslator;
import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** ONNX Runtime from Java against the PyTorch model the artifact was exported from. */
class ParityTest {

  @ParameterizedTest
  @ValueSource(strings = {"small", "medium", "large"})
  void logitsMatchPyTorchOnALeftPaddedBatch(String name) throws Exception {
    JsonNode fixture = BundledModels.resourceJson(name, "parity.json");
    int rows = fixture.get("input_ids").size();
    int length = fixture.get("input_ids").get(0).size();
    long[] ids = new long[rows * length];
    long[] mask = new long[rows * length];
    for (int r = 0; r < rows; r++) {
      for (int t = 0; t < length; t++) {
        ids[r * length + t] = fixture.get("input_ids").get(r).get(t).asLong();
        mask[r * length + t] = fixture.get("attention_mask").get(r).get(t).asLong();
      }
    }
    Criteria<NDList, NDList> criteria = Criteria.builder()
        .setTypes(NDList.class, NDList.class)
        .optModelPath(ModelDirectory.resolve(name).path())
        .optModelName("model")
        .optEngine("OnnxRuntime")
        .optTranslator(new NoopTranslator())
        .build();
    try (ZooModel<NDList, NDList> model = criteria.loadModel();
        Predictor<NDList, NDList> predictor = model.newPredictor();
        NDManager manager = NDManager.newBaseManager("OnnxRuntime")) {
      NDArray idArray = manager.create(ids, new Shape(rows, length));
      idArray.setName("input_ids");
      NDArray maskArray = manager.create(mask, new Shape(rows, length));
      maskArray.setName("attention_mask");
      NDList in = new NDList(idArray, maskArray);
      CacheLayout layout = CacheLayout.read(ModelDirectory.resolve(name).modelFile()).orElseThrow();
      // The bundled models take a key/value cache: an empty past, positions from the mask.
      long[] positions = new long[rows * length];
      for (int r = 0; r < rows; r++) {
        long next = 0;
        for (int t = 0; t < length; t++) {
          positions[r * length + t] = mask[r * length + t] == 0 ? 0 : next++;
        }
      }
      NDArray positionArray = manager.create(positions, new Shape(rows, length));
      positionArray.setName("position_ids");
      in.add(positionArray);
      for (int i = 0; i < 2 * layout.layers(); i++) {
        NDArray past = manager.create(new float[0], new Shape(rows, layout.heads(), 0, layout.headSize()));
        past.setName(CacheLayout.pastName(i));
        in.add(past);
      }
      NDList out = predictor.predict(in);
      assertThat(out.get("present.0.key").getShape()).isEqualTo(new Shape(rows, layout.heads(), length, layout.headSize()));
      float[] logits = out.get("logits").toFloatArray();
      float[] hidden = out.get("hidden").toFloatArray();
      int vocab = (int) out.get("logits").getShape().get(2);
      int width = (int) out.get("hidden").getShape().get(2);

      double maxDiff = 0;
      for (int r = 0; r < rows; r++) {
        for (int t = 0; t < length; t++) {
          if (mask[r * length + t] == 0) {
            continue; // padded positions are never read
          }
          JsonNode expected = fixture.get("logits").get(r).get(t);
          for (int v = 0; v < vocab; v++) {
            maxDiff = Math.max(maxDiff, Math.abs(logits[(r * length + t) * vocab + v] - expected.get(v).asDouble()));
          }
        }
        JsonNode expectedHidden = fixture.get("hidden_last").get(r);
        for (int w = 0; w < width; w++) {
          maxDiff = Math.max(maxDiff,
              Math.abs(hidden[(r * length + length - 1) * width + w] - expectedHidden.get(w).asDouble()));
        }
      }
      assertThat(maxDiff).as("max |java - torch|").isLessThan(1e-4);
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"small", "medium", "large"})
  void greedyOutputsMatchPyTorchOnTheWholeTestSplit(String name) {
    List<BundledModels.TorchGreedy> torch = BundledModels.torchGreedy(name);
    List<BundledModels.Item> test = BundledModels.testSplit();
    List<Generation> javaOut = BundledModels.testOutputs(name);
    assertThat(torch).hasSameSizeAs(test);
    int mismatches = 0;
    StringBuilder examples = new StringBuilder();
    for (int i = 0; i < test.size(); i++) {
      assertThat(torch.get(i).prompt()).isEqualTo(test.get(i).prompt());
      if (!java.util.Arrays.equals(javaOut.get(i).tokens(), torch.get(i).tokens())) {
        mismatches++;
        if (mismatches <= 5) {
          examples.append("\n  ").append(test.get(i).prompt()).append(": java '").append(javaOut.get(i).text())
              .append("' torch '").append(torch.get(i).text()).append("'");
        }
      } else {
        assertThat(javaOut.get(i).text()).isEqualTo(torch.get(i).text());
      }
    }
    assertThat(mismatches).as("items where Java's greedy output differs from PyTorch's:" + examples).isZero();
  }
}
