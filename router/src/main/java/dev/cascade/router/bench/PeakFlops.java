package dev.cascade.router.bench;

import static dev.cascade.models.ProtoMessages.message;

import ai.djl.Device;
import ai.djl.MalformedModelException;
import ai.djl.Model;
import ai.djl.inference.Predictor;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.translate.NoopTranslator;
import ai.djl.translate.TranslateException;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.cascade.models.CpuThreads;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;

/**
 * The machine's attainable FLOP rate for the engine the models run on: one {@code n × n} by
 * {@code n × n} float32 {@code MatMul} (2n³ FLOPs) in ONNX Runtime through DJL, with the session
 * options the models are loaded with (the same {@link CpuThreads}: intra-op threads, one inter-op
 * thread, spinning or not). The graph is written at run time (a few hundred bytes of ONNX protobuf)
 * into a temporary directory. The figure is the best of the timed repetitions, so the rate a dense
 * kernel reaches here, not a datasheet peak.
 */
public final class PeakFlops {

  /** The measurement: the best rate and what it was measured with. */
  public record Result(double gflops, int n, int repetitions, double medianMs) {}

  private PeakFlops() {}

  /**
   * Runs {@code n × n} matmuls: two untimed, then {@code repetitions} timed, and returns the best
   * rate.
   */
  public static Result measure(int n, int repetitions, CpuThreads threads) {
    if (n < 1 || repetitions < 1) {
      throw new IllegalArgumentException("n and repetitions must be positive, got " + n + ", " + repetitions);
    }
    System.setProperty("ai.djl.offline", "true");
    Path dir = null;
    try {
      dir = Files.createTempDirectory("cascade-matmul");
      Files.write(dir.resolve("matmul.onnx"), matMulGraph(n));
      try (Model model = Model.newInstance("matmul", Device.cpu(), "OnnxRuntime")) {
        try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
          // As the models' loader sets them (models' ModelLoader.loadOnnxRuntime).
          options.setIntraOpNumThreads(threads.intraOp());
          options.setInterOpNumThreads(1);
          options.addConfigEntry("session.intra_op.allow_spinning", threads.spinning() ? "1" : "0");
          model.load(dir, "matmul", Map.of("sessionOptions", options));
        }
        try (Predictor<NDList, NDList> predictor = model.newPredictor(new NoopTranslator());
            NDManager manager = model.getNDManager().newSubManager()) {
          Random random = new Random(42);
          float[] a = new float[n * n];
          float[] b = new float[n * n];
          for (int i = 0; i < a.length; i++) {
            a[i] = random.nextFloat() - 0.5f;
            b[i] = random.nextFloat() - 0.5f;
          }
          NDArray left = manager.create(a, new Shape(n, n));
          left.setName("A");
          NDArray right = manager.create(b, new Shape(n, n));
          right.setName("B");
          double flops = 2.0 * n * n * n;
          double best = 0;
          double[] ms = new double[repetitions];
          for (int r = -2; r < repetitions; r++) {
            long t0 = System.nanoTime();
            NDList out = predictor.predict(new NDList(left, right));
            long elapsed = System.nanoTime() - t0;
            if (out.singletonOrThrow().getShape().size() != (long) n * n) {
              throw new IllegalStateException("MatMul returned shape " + out.singletonOrThrow().getShape());
            }
            out.close();
            if (r >= 0) {
              ms[r] = elapsed / 1e6;
              best = Math.max(best, flops / elapsed);
            }
          }
          java.util.Arrays.sort(ms);
          return new Result(best, n, repetitions, ms[repetitions / 2]);
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write the MatMul graph", e);
    } catch (OrtException | MalformedModelException | TranslateException e) {
      throw new IllegalStateException("cannot run the MatMul graph in ONNX Runtime: " + e.getMessage(), e);
    } finally {
      if (dir != null) {
        try (var files = Files.list(dir)) {
          for (Path p : files.toList()) {
            Files.deleteIfExists(p);
          }
          Files.deleteIfExists(dir);
        } catch (IOException ignored) {
          // A temporary directory left behind.
        }
      }
    }
  }

  /**
   * The ONNX model {@code C = MatMul(A, B)}, A and B float32 {@code [n, n]}, opset 13, as protobuf
   * bytes (onnx.proto's ModelProto field numbers; no generated classes needed for four messages).
   */
  static byte[] matMulGraph(int n) {
    byte[] node = message(out -> {
      out.writeString(1, "A"); // NodeProto.input
      out.writeString(1, "B");
      out.writeString(2, "C"); // NodeProto.output
      out.writeString(3, "matmul"); // NodeProto.name
      out.writeString(4, "MatMul"); // NodeProto.op_type
    });
    byte[] graph = message(out -> {
      out.writeByteArray(1, node); // GraphProto.node
      out.writeString(2, "peak"); // GraphProto.name
      out.writeByteArray(11, valueInfo("A", n)); // GraphProto.input
      out.writeByteArray(11, valueInfo("B", n));
      out.writeByteArray(12, valueInfo("C", n)); // GraphProto.output
    });
    byte[] opset = message(out -> {
      out.writeString(1, ""); // OperatorSetIdProto.domain: the default ONNX domain
      out.writeInt64(2, 13); // OperatorSetIdProto.version
    });
    return message(out -> {
      out.writeInt64(1, 7); // ModelProto.ir_version
      out.writeString(2, "cascade-bench"); // ModelProto.producer_name
      out.writeByteArray(7, graph); // ModelProto.graph
      out.writeByteArray(8, opset); // ModelProto.opset_import
    });
  }

  /** ValueInfoProto: a float32 tensor of shape [n, n]. */
  private static byte[] valueInfo(String name, int n) {
    byte[] dim = message(out -> out.writeInt64(1, n)); // TensorShapeProto.Dimension.dim_value
    byte[] shape = message(out -> {
      out.writeByteArray(1, dim); // TensorShapeProto.dim
      out.writeByteArray(1, dim);
    });
    byte[] tensor = message(out -> {
      out.writeInt32(1, 1); // TypeProto.Tensor.elem_type: FLOAT
      out.writeByteArray(2, shape); // TypeProto.Tensor.shape
    });
    byte[] type = message(out -> out.writeByteArray(1, tensor)); // TypeProto.tensor_type
    return message(out -> {
      out.writeString(1, name); // ValueInfoProto.name
      out.writeByteArray(2, type); // ValueInfoProto.type
    });
  }

}
