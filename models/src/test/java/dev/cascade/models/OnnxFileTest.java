package dev.cascade.models;

import static dev.cascade.models.ProtoMessages.message;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link OnnxFile}: outputs, external data and initializer counts read from the protobuf, and what
 * the runtime makes of them: the parameter count of a model without a card, and a decoder that
 * takes an input the runtime does not feed refused at load in one line.
 */
class OnnxFileTest {

  private static final Path FIXTURES = BundledModels.repoRoot().resolve("models/src/test/resources/models");

  @TempDir
  Path dir;

  @Test
  void theInitializersCountTheParametersTheCardsGive() {
    for (String name : List.of("small", "medium", "large")) {
      ModelDirectory model = ModelDirectory.resolve(name);
      OnnxFile onnx = model.onnxFile();
      assertThat(onnx.initializerValues()).as(name).isEqualTo(model.card().orElseThrow().get("parameters").asLong());
      assertThat(onnx.hasHiddenOutput()).as(name).isTrue();
      assertThat(onnx.externalData()).as(name).isEmpty();
    }
    OnnxFile rotary = OnnxFile.read(FIXTURES.resolve("rotary-bpe/model.onnx"));
    assertThat(rotary.hasHiddenOutput()).isFalse();
    assertThat(rotary.outputs()).startsWith("logits").contains("present.1.value");
    assertThat(rotary.initializerValues()).isEqualTo(141_120); // its card.json's "parameters"
  }

  @Test
  void aModelWithoutACardCountsItsParametersFromItsInitializers() {
    Path legacy = FIXTURES.resolve("legacy-nocache");
    assertThat(legacy.resolve("card.json")).doesNotExist();
    try (TextGenerator model = TextGenerators.load(legacy.toString(), "OnnxRuntime")) {
      assertThat(model.info().parameters()).isEqualTo(177_688); // the small model's weights, as its card says
    }
  }

  @Test
  void externalDataIsFoundInInitializersConstantsAndSubgraphs() throws Exception {
    byte[] subgraph = message(out -> out.writeByteArray(5, externalTensor("sub.bin", 3))); // GraphProto.initializer
    byte[] constant = message(out -> {
      out.writeString(4, "Constant"); // NodeProto.op_type
      out.writeByteArray(5, message(a -> a.writeByteArray(5, externalTensor("const.bin", 2)))); // attribute.t
    });
    byte[] branch = message(out -> {
      out.writeString(4, "If");
      out.writeByteArray(5, message(a -> a.writeByteArray(6, subgraph))); // attribute.g
    });
    byte[] graph = message(out -> {
      out.writeByteArray(1, constant); // GraphProto.node
      out.writeByteArray(1, branch);
      out.writeByteArray(5, externalTensor("model.onnx_data", 4, 5)); // initializer, dims unpacked
      out.writeByteArray(5, packedDimsTensor(6, 7)); // initializer, dims packed, data inside the file
      out.writeByteArray(12, message(v -> v.writeString(1, "logits"))); // GraphProto.output
    });
    Path file = dir.resolve("model.onnx");
    Files.write(file, message(out -> out.writeByteArray(7, graph)));

    OnnxFile onnx = OnnxFile.read(file);
    assertThat(onnx.externalData()).containsExactly("const.bin", "model.onnx_data", "sub.bin");
    assertThat(onnx.initializerValues()).isEqualTo(4 * 5 + 6 * 7 + 3);
    assertThat(onnx.outputs()).containsExactly("logits");
    assertThat(onnx.externalDataFiles(file)).containsExactly(dir.resolve("const.bin").toAbsolutePath(),
        dir.resolve("model.onnx_data").toAbsolutePath(), dir.resolve("sub.bin").toAbsolutePath());

    Files.write(file, message(out -> out.writeByteArray(7,
        message(g -> g.writeByteArray(5, externalTensor("../elsewhere.bin", 1))))));
    assertThatThrownBy(() -> OnnxFile.read(file).externalDataFiles(file))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("'../elsewhere.bin' outside its directory");

    Files.write(file, new byte[] {1, 2, 3});
    assertThatThrownBy(() -> OnnxFile.read(file)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("is not an ONNX model");
  }

  @Test
  void anInputTheRuntimeDoesNotFeedIsRefusedAtLoadNamingIt() throws Exception {
    // The fixture with one more graph input (token_type_ids, which a decoder-only export has not): a second
    // ModelProto.graph field is merged into the first, so appending it adds the input.
    Path merged = Files.createDirectories(dir.resolve("merged"));
    byte[] boolScalar = message(t -> t.writeByteArray(1, message(tt -> tt.writeInt32(1, 9)))); // TypeProto: BOOL
    byte[] input = message(v -> {
      v.writeString(1, "token_type_ids");
      v.writeByteArray(2, boolScalar);
    });
    byte[] extra = message(out -> out.writeByteArray(7, message(g -> g.writeByteArray(11, input))));
    byte[] original = Files.readAllBytes(FIXTURES.resolve("rotary-bpe/model.onnx"));
    byte[] bytes = java.util.Arrays.copyOf(original, original.length + extra.length);
    System.arraycopy(extra, 0, bytes, original.length, extra.length);
    Files.write(merged.resolve("model.onnx"), bytes);
    Files.copy(FIXTURES.resolve("rotary-bpe/tokenizer.json"), merged.resolve("tokenizer.json"));

    assertThatThrownBy(() -> TextGenerators.load(merged.toString(), "OnnxRuntime"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("input 'token_type_ids'")
        .hasMessageContaining("this layout is unsupported")
        .hasMessageNotContaining("forward pass")
        .satisfies(e -> assertThat(e.getMessage()).doesNotContain("\n"));
  }

  /** A float TensorProto whose data is in {@code location}. */
  private static byte[] externalTensor(String location, long... dims) {
    return message(out -> {
      for (long d : dims) {
        out.writeInt64(1, d); // dims
      }
      out.writeInt32(2, 1); // data_type FLOAT
      out.writeString(8, "w_" + location); // name
      out.writeByteArray(13, message(e -> { // external_data
        e.writeString(1, "location");
        e.writeString(2, location);
      }));
      out.writeByteArray(13, message(e -> {
        e.writeString(1, "offset");
        e.writeString(2, "0");
      }));
      out.writeInt32(14, 1); // data_location EXTERNAL
    });
  }

  private static byte[] packedDimsTensor(long... dims) {
    byte[] packed = message(out -> {
      for (long d : dims) {
        out.writeInt64NoTag(d);
      }
    });
    return message(out -> {
      out.writeByteArray(1, packed);
      out.writeInt32(2, 1);
      out.writeByteArray(9, new byte[4 * (int) (dims[0] * dims[1])]); // raw_data
    });
  }

}
