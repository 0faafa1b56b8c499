package dev.cascade.loadtest;

import dev.cascade.models.TextGenerator;
import dev.cascade.models.TextGenerators;
import dev.cascade.router.cli.CascadeCommand;
import dev.cascade.router.demo.Example;
import dev.cascade.router.demo.Examples;
import dev.cascade.models.server.LargeModelServer;
import dev.cascade.models.server.ServerLimits;
import dev.cascade.proto.v1.LargeGenerateRequest;
import dev.cascade.proto.v1.LargeModelGrpc;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.ServerBuilder;
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
 * The in-process part is {@code cascade bench model --model MODEL --seconds SECONDS} (the
 * benchmark itself is {@code dev.cascade.router.bench.ModelBench} in the router module): batch
 * sizes 1, 8 and 32, sequences/s, tokens/s, p50/p99 at batch 1, resident memory and FLOP
 * utilisation. With "server": then the model behind {@link LargeModelServer} on loopback (Netty),
 * 1, 4 and 16 concurrent clients each calling Generate in a loop; calls/s and p50/p99. Prompts are
 * the test split in file order, cycled. Run one model per process so that the memory figures
 * belong to that model.
 */
public final class ModelBenchmark {

  private ModelBenchmark() {}

  public static void main(String[] args) throws Exception {
    System.setProperty("ai.djl.offline", "true");
    String model = args.length > 0 ? args[0] : "small";
    double seconds = args.length > 1 ? Double.parseDouble(args[1]) : 20;
    boolean server = args.length > 2 && args[2].equals("server");
    int rc = CascadeCommand.commandLine().execute("bench", "model", "--model", model, "--seconds",
        Double.toString(seconds));
    if (rc != 0 || !server) {
      System.exit(rc);
    }
    List<String> prompts = testPrompts();
    try (TextGenerator generator = TextGenerators.load(model, "OnnxRuntime")) {
      int maxNew = generator.info().maxNewTokensLimit();
      generator.generate(prompts.subList(0, 64), maxNew); // warm-up
      serve(generator, prompts, seconds, maxNew);
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
}
