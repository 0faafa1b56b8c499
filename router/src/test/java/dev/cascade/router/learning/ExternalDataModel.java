package dev.cascade.router.learning;

import static dev.cascade.models.ProtoMessages.message;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A model directory in the layout of an Optimum export with external data: a {@code model.onnx}
 * whose one initializer's values live in {@code model.onnx_data}, and a {@code tokenizer.json}. The
 * graph is the same whatever the data, so two such directories differ only in {@code model.onnx_data}.
 * Not runnable: for what reads files (fingerprints, cache keys), not for a runtime.
 */
final class ExternalDataModel {

  static final String DATA = "model.onnx_data";

  private ExternalDataModel() {}

  /** Writes the directory, its {@code model.onnx_data} holding {@code data}. */
  static Path write(Path dir, byte[] data) throws IOException {
    Files.createDirectories(dir);
    byte[] tensor = message(out -> {
      out.writeInt64(1, data.length / 4); // TensorProto.dims
      out.writeInt32(2, 1); // data_type FLOAT
      out.writeString(8, "weight"); // name
      out.writeByteArray(13, message(e -> { // external_data
        e.writeString(1, "location");
        e.writeString(2, DATA);
      }));
      out.writeInt32(14, 1); // data_location EXTERNAL
    });
    byte[] graph = message(out -> {
      out.writeByteArray(5, tensor); // GraphProto.initializer
      out.writeByteArray(12, message(v -> v.writeString(1, "logits"))); // GraphProto.output
    });
    Files.write(dir.resolve("model.onnx"), message(out -> {
      out.writeInt64(1, 8); // ModelProto.ir_version
      out.writeByteArray(7, graph); // ModelProto.graph
    }));
    Files.write(dir.resolve(DATA), data);
    Files.writeString(dir.resolve("tokenizer.json"), "{}");
    return dir;
  }

}
