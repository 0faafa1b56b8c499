package dev.cascade.models;

import ai.djl.Device;
import ai.djl.MalformedModelException;
import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.engine.EngineException;
import ai.djl.repository.zoo.Criteria;
import ai.djl.repository.zoo.ModelNotFoundException;
import ai.djl.repository.zoo.ZooModel;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.io.IOException;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Which engine runs the model, as configuration: {@code OnnxRuntime}, {@code TensorRT}, or
 * {@code auto} (TensorRT where its native libraries load, else ONNX Runtime, with a log line
 * saying which and why). A host without TensorRT gets {@link EngineUnavailableException} naming
 * what is missing, never a JVM crash.
 */
final class ModelLoader {

  static final String ONNX_RUNTIME = "OnnxRuntime";
  static final String TENSOR_RT = "TensorRT";
  static final String AUTO = "auto";

  private static final Logger LOG = LoggerFactory.getLogger(ModelLoader.class);

  private ModelLoader() {}

  private static final AtomicBoolean FALLBACK_LOGGED = new AtomicBoolean();

  /** The engine name as DJL spells it, from any capitalisation of the three accepted values. */
  static String normalise(String engine) {
    return switch (engine == null ? "" : engine.toLowerCase(Locale.ROOT)) {
      case "onnxruntime", "ort", "onnx" -> ONNX_RUNTIME;
      case "tensorrt", "trt" -> TENSOR_RT;
      case "auto" -> AUTO;
      default -> throw new IllegalArgumentException(
          "engine: '" + engine + "' is not one of OnnxRuntime, TensorRT, auto");
    };
  }

  /**
   * Loads the model's forward pass with the requested engine, feeding the graph's inputs as
   * {@code graph} declares them.
   */
  static ZooModel<DecodeStep, NextTokenScores> load(ModelDirectory dir, String requested, CpuThreads threads,
      GraphInputs graph) {
    System.setProperty("ai.djl.offline", "true");
    String engine = normalise(requested);
    if (engine.equals(AUTO)) {
      try {
        ZooModel<DecodeStep, NextTokenScores> model = loadWith(dir, TENSOR_RT, threads, graph);
        LOG.info("engine auto: using TensorRT for model {}", dir.name());
        return model;
      } catch (EngineUnavailableException e) {
        // One line per process, not per model: on a host without a GPU every model falls back alike.
        if (FALLBACK_LOGGED.compareAndSet(false, true)) {
          // The usual case on a CPU host, not a fault: said plainly at INFO, the why at DEBUG.
          LOG.info("engine auto: running model {} (and any other) on ONNX Runtime, CPU; TensorRT is for GPU hosts"
              + " and cannot run here (engine=TensorRT to require it; the reason is logged at DEBUG)", dir.name());
          LOG.debug("engine auto: TensorRT cannot run on this host: {}", e.getMessage());
        } else {
          LOG.debug("engine auto: using OnnxRuntime for model {}", dir.name());
        }
        return loadWith(dir, ONNX_RUNTIME, threads, graph);
      }
    }
    return loadWith(dir, engine, threads, graph);
  }

  private static ZooModel<DecodeStep, NextTokenScores> loadWith(ModelDirectory dir, String engine, CpuThreads threads,
      GraphInputs graph) {
    requireEngine(engine);
    if (engine.equals(ONNX_RUNTIME)) {
      return loadOnnxRuntime(dir, threads, graph);
    }
    Criteria<DecodeStep, NextTokenScores> criteria = Criteria.builder()
        .setTypes(DecodeStep.class, NextTokenScores.class)
        .optModelPath(dir.path())
        .optModelName("model")
        .optEngine(engine)
        .optTranslator(new StepTranslator(graph))
        .build();
    try {
      return criteria.loadModel();
    } catch (LinkageError | EngineException e) {
      throw unavailable(engine, e);
    } catch (ModelNotFoundException | MalformedModelException | IOException e) {
      throw cannotLoad(dir, engine, e);
    }
  }

  private static IllegalArgumentException cannotLoad(ModelDirectory dir, String engine, Exception e) {
    return new IllegalArgumentException("model: cannot load " + dir.modelFile() + " with " + engine + ": "
        + e.getMessage(), e);
  }

  /**
   * ONNX Runtime with its thread pool set from {@code threads}. DJL's {@code Criteria} passes only
   * string options to the model, and the spinning switch is a session configuration entry that no
   * string option reaches, so the session options are built here and handed to the model's load.
   */
  private static ZooModel<DecodeStep, NextTokenScores> loadOnnxRuntime(ModelDirectory dir, CpuThreads threads,
      GraphInputs graph) {
    Model model = Model.newInstance("model", Device.cpu(), ONNX_RUNTIME);
    try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
      options.setIntraOpNumThreads(threads.intraOp());
      options.setInterOpNumThreads(1);
      options.addConfigEntry("session.intra_op.allow_spinning", threads.spinning() ? "1" : "0");
      model.load(dir.path(), "model", Map.of("sessionOptions", options));
      return new ZooModel<>(model, new StepTranslator(graph));
    } catch (OrtException | LinkageError | EngineException e) {
      model.close();
      throw unavailable(ONNX_RUNTIME, e);
    } catch (MalformedModelException | IOException | RuntimeException e) {
      model.close();
      throw cannotLoad(dir, ONNX_RUNTIME, e);
    }
  }

  /**
   * Loads the engine's native libraries, turning every failure into one that names what is missing.
   * DJL reports a failed native load once (later attempts only see an uninitialised class), so the
   * first failure is remembered and reported again.
   */
  static void requireEngine(String engine) {
    EngineUnavailableException known = FAILED.get(engine);
    if (known != null) {
      throw new EngineUnavailableException(engine, known.getMessage(), known.getCause());
    }
    try {
      if (!Engine.hasEngine(engine)) {
        throw new EngineUnavailableException(engine, "engine " + engine + " is not on the classpath", null);
      }
      Engine.getEngine(engine);
    } catch (LinkageError | EngineException | IllegalArgumentException e) {
      EngineUnavailableException failure = unavailable(engine, e);
      FAILED.putIfAbsent(engine, failure);
      throw failure;
    }
  }

  private static final Map<String, EngineUnavailableException> FAILED = new ConcurrentHashMap<>();

  private static EngineUnavailableException unavailable(String engine, Throwable e) {
    StringBuilder why = new StringBuilder();
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t.getMessage() != null && why.indexOf(t.getMessage()) < 0) {
        if (why.length() > 0) {
          why.append(": ");
        }
        why.append(t.getMessage());
      }
    }
    String hint = engine.equals(TENSOR_RT)
        ? " (TensorRT 8 native libraries libnvinfer.so.8 and libnvonnxparser.so.8 and a CUDA 12 runtime are needed;"
            + " a GPU deployment adds them, e.g. from org.bytedeco:tensorrt:8.6-1.5.9:linux-x86_64-redist)"
        : "";
    return new EngineUnavailableException(engine, "engine " + engine + " cannot run on this host: " + why + hint, e);
  }
}
