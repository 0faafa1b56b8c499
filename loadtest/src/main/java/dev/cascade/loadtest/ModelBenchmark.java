package dev.cascade.loadtest;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cascade.models.Generation;
import dev.cascade.models.TextGenerator;
import dev.cascade.models.TextGenerators;
import dev.cascade.router.demo.Example;
import dev.cascade.router.demo.Examples;
import dev.cascade.models.server.LargeModelServer;
import dev.cascade.models.server.ServerLimits;
import dev.cascade.proto.v1.LargeGenerateRequest;
import dev.cascade.proto.v1.LargeModelGrpc;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.ServerBuilder;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

/**
 * Throughput and latency of a bundled model, in-process and behind the large-model server.
 *
 * <pre>
 * java -cp ... dev.cascade.loadtest.ModelBenchmark MODEL [SECONDS] [server]
 * </pre>
 *
 * Prompts are the test split (models/data/test.jsonl) in file order, cycled. For batch sizes 1, 8
 * and 32: sequences/s and generated tokens/s over about SECONDS seconds (default 20); at batch 1
 * also p50/p99 of one generation. Then the process's resident memory (VmRSS and its peak VmHWM
 * from /proc/self/status). With "server": the model behind {@link LargeModelServer} on loopback
 * (Netty), 1, 4 and 16 concurrent clients each calling Generate in a loop; calls/s and p50/p99.
 * Run one model per process so that the memory figures belong to that model.
 */
public final class ModelBenchmark {

  private ModelBenchmark() {}

  public static void main(String[] args) throws Exception {
    System.setProperty("ai.djl.offline", "true");
    String model = args.length > 0 ? args[0] : "small";
    double seconds = args.length > 1 ? Double.parseDouble(args[1]) : 20;
    boolean server = args.length > 2 && args[2].equals("server");
    List<String> prompts = testPrompts();
    System.out.printf(Locale.ROOT, "model=%s cores=%d prompts=%d seconds=%.0f%n", model,
        Runtime.getRuntime().availableProcessors(), prompts.size(), seconds);
    String rssBefore = memory();
    try (TextGenerator generator = TextGenerators.load(model, "OnnxRuntime")) {
      int maxNew = generator.info().maxNewTokensLimit();
      generator.generate(prompts.subList(0, 64), maxNew); // warm-up
      System.out.println("| model | batch | sequences/s | tokens/s | p50 ms (one generation) | p99 ms |");
      System.out.println("| --- | --- | --- | --- | --- | --- |");
      for (int batch : new int[] {1, 8, 32}) {
        Histogram latency = new Histogram(3_600_000_000L, 3);
        long sequences = 0;
        long tokens = 0;
        int next = 0;
        long start = System.nanoTime();
        long end = start + (long) (seconds * 1e9);
        while (System.nanoTime() < end) {
          List<String> chunk = new ArrayList<>(batch);
          for (int i = 0; i < batch; i++) {
            chunk.add(prompts.get(next++ % prompts.size()));
          }
          long t0 = System.nanoTime();
          List<Generation> out = generator.generate(chunk, maxNew);
          latency.recordValue((System.nanoTime() - t0) / 1000);
          sequences += out.size();
          for (Generation g : out) {
            tokens += g.tokens().length + 1; // + end-of-sequence
          }
        }
        double elapsed = (System.nanoTime() - start) / 1e9;
        System.out.printf(Locale.ROOT, "| %s | %d | %.1f | %.0f | %s | %s |%n", model, batch, sequences / elapsed,
            tokens / elapsed, batch == 1 ? ms(latency.getValueAtPercentile(50)) : "",
            batch == 1 ? ms(latency.getValueAtPercentile(99)) : "");
      }
      System.out.println("memory before loading: " + rssBefore + "; after: " + memory());
      if (server) {
        serve(generator, prompts, seconds, maxNew);
      }
    }
  }

  private static void serve(TextGenerator generator, List<String> prompts, double seconds, int maxNew)
      throws Exception {
    ServerLimits limits = ServerLimits.defaults();
    LargeModelServer server = new LargeModelServer(ServerBuilder.forPort(0), generator, limits).start();
    ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
    System.out.printf("%nserver: %s, max concurrent %d, queue %d%n", generator.info().name(), limits.maxConcurrent(),
        limits.queueSize());
    System.out.println("| clients | calls/s | tokens/s | p50 ms | p99 ms | errors |");
    System.out.println("| --- | --- | --- | --- | --- | --- |");
    try {
      for (int clients : new int[] {1, 4, 16}) {
        Recorder recorder = new Recorder(3);
        AtomicLong calls = new AtomicLong();
        AtomicLong tokens = new AtomicLong();
        AtomicLong errors = new AtomicLong();
        AtomicInteger next = new AtomicInteger();
        long end = System.nanoTime() + (long) (seconds * 1e9);
        ExecutorService pool = Executors.newFixedThreadPool(clients);
        long start = System.nanoTime();
        List<Future<?>> futures = new ArrayList<>();
        for (int c = 0; c < clients; c++) {
          futures.add(pool.submit(() -> {
            var stub = LargeModelGrpc.newBlockingStub(channel);
            while (System.nanoTime() < end) {
              String prompt = prompts.get(next.getAndIncrement() % prompts.size());
              long t0 = System.nanoTime();
              try {
                var response = stub.withDeadlineAfter(60, TimeUnit.SECONDS).generate(
                    LargeGenerateRequest.newBuilder().setPrompt(prompt).setMaxNewTokens(maxNew).build());
                recorder.recordValue((System.nanoTime() - t0) / 1000);
                calls.incrementAndGet();
                tokens.addAndGet(response.getTokensCount() + 1);
              } catch (RuntimeException e) {
                errors.incrementAndGet();
              }
            }
          }));
        }
        for (Future<?> f : futures) {
          f.get();
        }
        double elapsed = (System.nanoTime() - start) / 1e9;
        pool.shutdown();
        Histogram h = recorder.getIntervalHistogram();
        System.out.printf(Locale.ROOT, "| %d | %.1f | %.0f | %s | %s | %d |%n", clients, calls.get() / elapsed,
            tokens.get() / elapsed, ms(h.getValueAtPercentile(50)), ms(h.getValueAtPercentile(99)), errors.get());
      }
    } finally {
      channel.shutdownNow();
      server.stop();
    }
  }

  private static String ms(long micros) {
    return String.format(Locale.ROOT, "%.1f", micros / 1000.0);
  }

  /** The bundled test split's prompts, in file order (the one JSONL reader, {@link Examples}). */
  private static List<String> testPrompts() {
    return Examples.bundled("test").stream().map(Example::prompt).toList();
  }

  private static String memory() throws IOException {
    String rss = "?";
    String hwm = "?";
    for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
      if (line.startsWith("VmRSS:")) {
        rss = line.substring(6).trim();
      } else if (line.startsWith("VmHWM:")) {
        hwm = line.substring(6).trim();
      }
    }
    return "VmRSS " + rss + " (peak VmHWM " + hwm + ")";
  }
}
