package dev.cascade.models;

/**
 * How one model uses the CPU: how many decoding threads run its forward passes (any engine), and,
 * for ONNX Runtime, how many threads one forward pass may use and whether they spin while they
 * wait for work (TensorRT ignores those two).
 *
 * <p>ONNX Runtime's own defaults ({@link #ORT_DEFAULTS}: one thread per core, spinning on) suit a
 * process that does nothing but run the model, and are what {@link TextGenerators#load(String,
 * String)} uses. The router is not such a process: Kafka clients, the stream threads and, in the
 * demo, a broker and a second model share the cores, and a spinning pool takes CPU from them while
 * it waits; the router sets these from its {@code model.threads} and {@code model.spinning}.
 *
 * <p>{@code decoders} is the model's own parallelism: how many decoding threads run forward passes
 * at once, each on its own batch of rows (one predictor each, over one shared session). For a
 * small model, whose forward passes are too short to split well across threads, two decoders of
 * one thread each did far more than one decoder of two (655 against 466 sequences/s for the
 * bundled small model on 2 cores with 4 callers, {@code RouterBenchmark} in {@code loadtest/README.md}).
 *
 * @param decoders decoding threads, each running its own forward passes (at least 1)
 * @param intraOp threads per forward pass; 0 lets ONNX Runtime choose (one per core)
 * @param spinning whether idle pool threads spin instead of sleeping (only matters with more than one)
 */
public record CpuThreads(int decoders, int intraOp, boolean spinning) {

  /** ONNX Runtime's own defaults (a thread per core, spinning) and one decoding thread. */
  public static final CpuThreads ORT_DEFAULTS = new CpuThreads(1, 0, true);

  public CpuThreads {
    if (decoders < 1) {
      throw new IllegalArgumentException("decoders: must be at least 1, got " + decoders);
    }
    if (intraOp < 0) {
      throw new IllegalArgumentException("intraOp: must be 0 (one per core) or more, got " + intraOp);
    }
  }
}
