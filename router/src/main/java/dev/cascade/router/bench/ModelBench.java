package dev.cascade.router.bench;

import dev.cascade.models.CpuThreads;
import dev.cascade.models.Generation;
import dev.cascade.models.CacheSettings;
import dev.cascade.models.TextGenerator;
import dev.cascade.models.TextGenerators;
import dev.cascade.models.LoadOptions;
import dev.cascade.router.demo.Example;
import dev.cascade.router.demo.Examples;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalDouble;
import org.HdrHistogram.Histogram;

/**
 * Throughput and latency of one model in this process, and how much of the machine it uses.
 *
 * <p>Prompts are the bundled test split in file order, cycled. For each batch size, {@code
 * generate} is called in a closed loop for {@code seconds}; sequences/s, and tokens/s counting the
 * generated tokens plus the end-of-sequence token of each; at batch 1 also p50/p99 of one whole
 * generation. Resident memory is the process's VmRSS afterwards (Linux), so run one model per
 * process. The model runs in ONNX Runtime with its own thread defaults ({@link CpuThreads#ORT_DEFAULTS}:
 * one thread per core, spinning; the model has the machine to itself), and the peak FLOP rate is
 * measured with the same settings ({@link PeakFlops}).
 *
 * <p><b>FLOPs per token</b> is 2 × the model's parameter count (its {@code ModelInfo}), the usual
 * approximation for the multiply-adds of one token through every weight matrix once. It leaves out
 * attention's score and mix products (which grow with the position, small at these lengths), and it
 * counts the embedding table as if it were multiplied (for a tied output projection it is). It is
 * the work a generated token needs, not the work this runtime does: without a key/value cache each
 * step runs the whole sequence again, and that recomputation is not credited. MFU (model FLOPs
 * utilisation) = FLOPs per token × tokens/s ÷ peak FLOP rate.
 */
public final class ModelBench {

  /** ONNX Runtime's own thread settings, for the model and for the peak alike. */
  static final CpuThreads THREADS = CpuThreads.ORT_DEFAULTS;
  /** The side of the square matmul the peak is measured with. */
  static final int PEAK_N = 1024;
  static final int PEAK_REPETITIONS = 20;

  /**
   * What to run.
   *
   * @param model "small", "large" or a model directory
   * @param batches the batch sizes, each run for {@code seconds}
   * @param seconds how long each batch size runs
   * @param kvCache false for {@code --no-kv-cache}: the runtime's key/value cache switched off
   */
  public record Options(String model, List<Integer> batches, double seconds, boolean kvCache) {
    public Options {
      batches = List.copyOf(batches);
      if (batches.isEmpty() || batches.stream().anyMatch(b -> b < 1)) {
        throw new IllegalArgumentException("--batch: batch sizes must be positive integers, got " + batches);
      }
      if (!(seconds > 0)) {
        throw new IllegalArgumentException("--seconds: must be positive, got " + seconds);
      }
    }
  }

  /**
   * The measurement. Maps are keyed by batch size, in the order run.
   *
   * @param p50Ms median of one generation at batch 1; empty when batch 1 was not run
   * @param parameters the card's {@code parameters}, else the ONNX initializers' values; -1 when unknown
   * @param flopsPerToken 2 × parameters; empty when the parameter count is unknown
   * @param mfu by batch size; empty when FLOPs per token is unknown
   */
  public record Result(String model, long parameters, int cores, Map<Integer, Double> sequencesPerS,
      Map<Integer, Double> tokensPerS, OptionalDouble p50Ms, OptionalDouble p99Ms, double residentMb,
      OptionalDouble flopsPerToken, PeakFlops.Result peak, Map<Integer, Double> mfu, boolean kvCache,
      java.util.OptionalLong kvCacheBytesPerPosition) {}

  private ModelBench() {}

  /**
   * Loads the model as the options say. The one place the options reach the model runtime.
   *
   * (without {@code --no-kv-cache}, a model in the cache layout decodes with its key/value cache).
   */
  static TextGenerator load(Options options) {
    int maxBatch = Math.max(TextGenerators.DEFAULT_MAX_BATCH,
        options.batches().stream().mapToInt(Integer::intValue).max().orElse(1));
    return TextGenerators.load(options.model(), "OnnxRuntime", LoadOptions.DEFAULT.withMaxBatch(maxBatch)
        .withThreads(THREADS).withCache(options.kvCache() ? CacheSettings.DEFAULT : CacheSettings.DISABLED));
  }

  /** Runs the benchmark; progress lines go to {@code log}. */
  public static Result run(Options options, PrintWriter log) {
    List<String> prompts = Examples.bundled("test").stream().map(Example::prompt).toList();
    int cores = Runtime.getRuntime().availableProcessors();
    Map<Integer, Double> sequencesPerS = new LinkedHashMap<>();
    Map<Integer, Double> tokensPerS = new LinkedHashMap<>();
    OptionalDouble p50 = OptionalDouble.empty();
    OptionalDouble p99 = OptionalDouble.empty();
    long parameters;
    String name;
    boolean kvCache;
    java.util.OptionalLong kvBytes;
    try (TextGenerator generator = load(options)) {
      kvCache = generator.info().kvCache();
      kvBytes = kvCache ? java.util.OptionalLong.of(generator.info().cache().bytesPerPosition())
          : java.util.OptionalLong.empty();
      parameters = generator.info().parameters();
      name = generator.info().name();
      int maxNew = generator.info().maxNewTokensLimit();
      log.printf(Locale.ROOT, "model %s (%s), %d cores, %d prompts, %.1f s per batch size%n", name,
          parameters > 0 ? parameters + " parameters" : "parameters unknown: neither card.json nor the ONNX initializers give them", cores, prompts.size(),
          options.seconds());
      log.flush();
      generator.generate(prompts.subList(0, Math.min(64, prompts.size())), maxNew); // warm-up
      int next = 0;
      for (int batch : options.batches()) {
        Histogram latency = new Histogram(3_600_000_000L, 3);
        long sequences = 0;
        long tokens = 0;
        long start = System.nanoTime();
        long end = start + (long) (options.seconds() * 1e9);
        do {
          List<String> chunk = new ArrayList<>(batch);
          for (int i = 0; i < batch; i++) {
            chunk.add(prompts.get(next++ % prompts.size()));
          }
          long t0 = System.nanoTime();
          List<Generation> out = generator.generate(chunk, maxNew);
          latency.recordValue(Math.max(1, (System.nanoTime() - t0) / 1000));
          sequences += out.size();
          for (Generation g : out) {
            tokens += g.tokens().length + 1; // + end-of-sequence
          }
        } while (System.nanoTime() < end);
        double elapsed = (System.nanoTime() - start) / 1e9;
        sequencesPerS.put(batch, sequences / elapsed);
        tokensPerS.put(batch, tokens / elapsed);
        if (batch == 1) {
          p50 = OptionalDouble.of(latency.getValueAtPercentile(50) / 1000.0);
          p99 = OptionalDouble.of(latency.getValueAtPercentile(99) / 1000.0);
        }
        log.printf(Locale.ROOT, "batch %d: %.1f sequences/s, %.0f tokens/s%n", batch, sequences / elapsed,
            tokens / elapsed);
        log.flush();
      }
    }
    double residentMb = residentMb();
    PeakFlops.Result peak = PeakFlops.measure(PEAK_N, PEAK_REPETITIONS, THREADS);
    log.printf(Locale.ROOT, "peak: %.1f GFLOP/s (best of %d %dx%d float32 MatMuls in ONNX Runtime, median %.1f ms)%n",
        peak.gflops(), peak.repetitions(), peak.n(), peak.n(), peak.medianMs());
    log.flush();
    OptionalDouble flopsPerToken = parameters > 0 ? OptionalDouble.of(2.0 * parameters) : OptionalDouble.empty();
    Map<Integer, Double> mfu = new LinkedHashMap<>();
    if (flopsPerToken.isPresent()) {
      tokensPerS.forEach((batch, rate) -> mfu.put(batch, flopsPerToken.getAsDouble() * rate / (peak.gflops() * 1e9)));
    }
    return new Result(name, parameters, cores, sequencesPerS, tokensPerS, p50, p99, residentMb, flopsPerToken, peak,
        mfu, kvCache, kvBytes);
  }

  /** The process's resident set (VmRSS), in MiB; -1 where /proc/self/status is not there. */
  static double residentMb() {
    Path status = Path.of("/proc/self/status");
    if (!Files.isReadable(status)) {
      return -1;
    }
    try {
      for (String line : Files.readAllLines(status)) {
        if (line.startsWith("VmRSS:")) {
          return Long.parseLong(line.substring(6).replace("kB", "").trim()) / 1024.0;
        }
      }
      return -1;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
