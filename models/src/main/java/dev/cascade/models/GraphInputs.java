package dev.cascade.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.util.PairList;
import java.nio.IntBuffer;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * What a decoder's graph takes, read from its inputs once at load: its key/value cache, if any
 * ({@link CacheLayout}), and the element type of each of its integer inputs. Hugging Face exports
 * declare {@code input_ids}, {@code attention_mask} and {@code position_ids} int64; exports for
 * engines that prefer 32-bit indices (TensorRT builds, some ONNX Runtime GenAI models) declare
 * them int32. The runtime feeds each input in the type its graph declares.
 *
 * @param cache the graph's cache, or null for a graph without one
 * @param inputIds {@code INT64} or {@code INT32}
 * @param attentionMask {@code INT64} or {@code INT32}
 * @param positionIds {@code INT64} or {@code INT32} (int64 where the graph takes no position ids)
 */
record GraphInputs(CacheLayout cache, DataType inputIds, DataType attentionMask, DataType positionIds) {

  /** A graph whose integer inputs are all int64, as the bundled models' are. */
  static GraphInputs int64(CacheLayout cache) {
    return new GraphInputs(cache, DataType.INT64, DataType.INT64, DataType.INT64);
  }

  /**
   * The inputs of the graph in an ONNX file, read with ONNX Runtime (names, shapes and element
   * types of its inputs; the weights are not kept), whichever engine later runs it.
   *
   * @throws IllegalArgumentException as {@link #of}, or when the file cannot be read as a graph
   */
  static GraphInputs read(Path modelFile) {
    // DJL's engine creates the process's one ONNX Runtime environment with its own thread settings,
    // and refuses to start if one exists already: let it create the environment first.
    ModelLoader.requireEngine(ModelLoader.ONNX_RUNTIME);
    ai.onnxruntime.OrtEnvironment env = ai.onnxruntime.OrtEnvironment.getEnvironment();
    try (ai.onnxruntime.OrtSession.SessionOptions options = new ai.onnxruntime.OrtSession.SessionOptions()) {
      options.setIntraOpNumThreads(1);
      options.setOptimizationLevel(ai.onnxruntime.OrtSession.SessionOptions.OptLevel.NO_OPT);
      try (ai.onnxruntime.OrtSession session = env.createSession(modelFile.toString(), options)) {
        PairList<String, Shape> inputs = new PairList<>();
        Map<String, DataType> types = new HashMap<>();
        for (Map.Entry<String, ai.onnxruntime.NodeInfo> e : session.getInputInfo().entrySet()) {
          Shape shape = null;
          if (e.getValue().getInfo() instanceof ai.onnxruntime.TensorInfo t) {
            shape = new Shape(t.getShape());
            types.put(e.getKey(), dataType(t.type));
          }
          inputs.add(e.getKey(), shape);
        }
        return of(inputs, types);
      }
    } catch (ai.onnxruntime.OrtException e) {
      throw new IllegalArgumentException("model: cannot read the inputs of " + modelFile + ": " + e.getMessage(), e);
    }
  }

  /**
   * The graph's inputs as {@code inputs} (names and shapes) and {@code types} describe them (an
   * integer input not in {@code types} is int64; a cache input, float32).
   *
   * @throws IllegalArgumentException as {@link CacheLayout#of(PairList, Map)}, or when an integer
   *     input is neither int64 nor int32, naming it
   */
  static GraphInputs of(PairList<String, Shape> inputs, Map<String, DataType> types) {
    CacheLayout cache = CacheLayout.of(inputs, types).orElse(null);
    return new GraphInputs(cache, integer(StepTranslator.INPUT_IDS, types), integer(StepTranslator.ATTENTION_MASK, types),
        integer(CacheLayout.POSITION_IDS, types));
  }

  private static DataType integer(String input, Map<String, DataType> types) {
    DataType type = types.getOrDefault(input, DataType.INT64);
    if (type != DataType.INT64 && type != DataType.INT32) {
      throw new IllegalArgumentException("model: input '" + input + "' is "
          + (type == DataType.UNKNOWN ? "of another type" : type.name().toLowerCase(java.util.Locale.ROOT))
          + "; the runtime feeds it as int64 or int32, whichever the graph declares");
    }
    return type;
  }

  /** {@code values} as a tensor of {@code type} (int64 or int32) and {@code shape}, named {@code name}. */
  static NDArray integers(NDManager manager, long[] values, Shape shape, DataType type, String name) {
    NDArray array;
    if (type == DataType.INT32) {
      int[] narrow = new int[values.length];
      for (int i = 0; i < values.length; i++) {
        narrow[i] = Math.toIntExact(values[i]);
      }
      array = manager.create(IntBuffer.wrap(narrow), shape, DataType.INT32);
    } else {
      array = manager.create(LongBuffer.wrap(values), shape, DataType.INT64);
    }
    array.setName(name);
    return array;
  }

  private static DataType dataType(ai.onnxruntime.OnnxJavaType type) {
    return switch (type) {
      case FLOAT -> DataType.FLOAT32;
      case FLOAT16 -> DataType.FLOAT16;
      case BFLOAT16 -> DataType.BFLOAT16;
      case BOOL -> DataType.BOOLEAN;
      case INT64 -> DataType.INT64;
      case INT32 -> DataType.INT32;
      default -> DataType.UNKNOWN;
    };
  }
}
