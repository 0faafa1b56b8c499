package dev.cascade.router.bench;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.lang.management.ThreadMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Where the process's CPU went over an interval, by thread name: the small model (its decoding
 * thread, which with {@code model.threads=1} runs ONNX Runtime itself, and the router's batch
 * workers), the router's Kafka Streams threads (their names hold the application id), the other
 * Java threads (the embedded broker, the load generator's clients), and what no Java thread
 * accounts for (GC, JIT, and ONNX Runtime's own pool threads when {@code model.threads} is over 1).
 *
 * <p>On Linux the last group is split further from {@code /proc/self/task}: the JIT compiler
 * threads ({@code C1/C2 CompilerThread}) and the garbage collector's ({@code GC Thread}, {@code G1
 * ...}), counted in clock ticks (usually 10 ms). A compiler thread that exits during the interval
 * (the JVM starts and stops them as needed) takes its ticks with it, so those two are lower bounds.
 */
public final class CpuUse {

  private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

  private final String applicationId;
  /** The thread that started the count: the load generator's reading thread. */
  private final long caller = Thread.currentThread().getId();
  private final long processStart;
  private final Map<Long, Long> threadStart;
  private final Map<Long, String> names = new HashMap<>();
  /** JVM-internal and native threads' CPU ticks at the start; null where not measured. */
  private final Map<String, Long> nativeStart;

  /**
   * CPU milliseconds per request by thread group.
   *
   * @param model the decoding threads and the router's small-model batch workers
   * @param modelDecoding the part of {@code model} the decoding threads took (they run the forward
   *     passes; the batch workers tokenize, extract features, score and build the records)
   * @param router the router's Kafka Streams threads (named after its application id)
   * @param brokerAndLoadGenerator every other Java thread (embedded broker, load generator, clients)
   * @param loadGenerator the part of {@code brokerAndLoadGenerator} the load generator took: the
   *     thread that started the count (it reads the answers), the {@code demo-sender} thread and the
   *     network threads of producers with Kafka's default client ids
   * @param other what no Java thread accounts for: GC, JIT, native pools
   * @param otherJit the part of {@code other} the JIT compiler threads took; NaN where not measured
   * @param otherGc the part of {@code other} the garbage collector's threads took; NaN where not measured
   */
  public record PerRequest(double model, double modelDecoding, double router, double brokerAndLoadGenerator,
      double loadGenerator, double other, double otherJit, double otherGc) {

    @Override
    public String toString() {
      return String.format(Locale.ROOT, "model %.2f ms (of which decoding %.2f), router %.2f ms, broker and load"
          + " generator %.2f ms (of which load generator %.2f), other %.2f ms (of which JIT %.2f, GC %.2f)", model,
          modelDecoding, router, brokerAndLoadGenerator, loadGenerator, other, otherJit, otherGc);
    }
  }

  private CpuUse(String applicationId) {
    this.applicationId = applicationId;
    this.processStart = processCpuNanos();
    this.threadStart = threadCpu();
    this.nativeStart = nativeTicks();
  }

  /** Starts counting now; {@code applicationId} names the router's stream threads. */
  public static CpuUse start(String applicationId) {
    return new CpuUse(applicationId);
  }

  /** CPU per request since {@link #start}, by thread group. */
  public PerRequest perRequest(int requests) {
    Map<Long, Long> end = threadCpu();
    long model = 0;
    long decoding = 0;
    long router = 0;
    long otherJava = 0;
    long loadGenerator = 0;
    for (Map.Entry<Long, Long> e : end.entrySet()) {
      long used = e.getValue() - threadStart.getOrDefault(e.getKey(), 0L);
      String name = names.getOrDefault(e.getKey(), "");
      if (name.startsWith("decoder-")) {
        model += used;
        decoding += used;
      } else if (name.startsWith("small-model-batch")) {
        model += used;
      } else if (name.contains(applicationId)) {
        router += used;
      } else {
        otherJava += used;
        if (isLoadGenerator(e.getKey(), name)) {
          loadGenerator += used;
        }
      }
    }
    long total = processCpuNanos() - processStart;
    Map<String, Long> nativeEnd = nativeTicks();
    double jit = Double.NaN;
    double gc = Double.NaN;
    if (nativeStart != null && nativeEnd != null) {
      long jitTicks = 0;
      long gcTicks = 0;
      for (Map.Entry<String, Long> e : nativeEnd.entrySet()) {
        long used = Math.max(0, e.getValue() - nativeStart.getOrDefault(e.getKey(), 0L));
        String comm = e.getKey().substring(e.getKey().indexOf(' ') + 1);
        if (comm.startsWith("C1 Compiler") || comm.startsWith("C2 Compiler")) {
          jitTicks += used;
        } else if (comm.startsWith("GC Thread") || comm.startsWith("G1 ")) {
          gcTicks += used;
        }
      }
      jit = jitTicks * TICK_NANOS / 1e6 / requests;
      gc = gcTicks * TICK_NANOS / 1e6 / requests;
    }
    return new PerRequest(model / 1e6 / requests, decoding / 1e6 / requests, router / 1e6 / requests,
        otherJava / 1e6 / requests, loadGenerator / 1e6 / requests, (total - model - router - otherJava) / 1e6 / requests,
        jit, gc);
  }

  private boolean isLoadGenerator(long id, String name) {
    return id == caller || name.equals("demo-sender") || name.startsWith("kafka-producer-network-thread | producer-");
  }

  /** Linux's clock tick (USER_HZ), 100 on every common configuration. */
  private static final long TICK_NANOS = 10_000_000L;

  /**
   * Each native thread's user + system CPU in clock ticks, keyed "TID COMM", from
   * {@code /proc/self/task}; null where that is not readable (not Linux).
   */
  private static Map<String, Long> nativeTicks() {
    Path tasks = Path.of("/proc/self/task");
    if (!Files.isDirectory(tasks)) {
      return null;
    }
    Map<String, Long> out = new HashMap<>();
    try (var dirs = Files.list(tasks)) {
      for (Path task : dirs.toList()) {
        try {
          String stat = Files.readString(task.resolve("stat"));
          // pid (comm) state ...: comm may hold spaces, so split after its closing parenthesis.
          int open = stat.indexOf('(');
          int close = stat.lastIndexOf(')');
          String comm = stat.substring(open + 1, close);
          String[] fields = stat.substring(close + 2).split(" ");
          long ticks = Long.parseLong(fields[11]) + Long.parseLong(fields[12]); // utime, stime
          out.put(task.getFileName() + " " + comm, ticks);
        } catch (IOException | RuntimeException gone) {
          // The thread exited while being read.
        }
      }
    } catch (IOException e) {
      return null;
    }
    return out;
  }

  private Map<Long, Long> threadCpu() {
    Map<Long, Long> out = new HashMap<>();
    for (ThreadInfo info : THREADS.getThreadInfo(THREADS.getAllThreadIds())) {
      if (info == null) {
        continue;
      }
      long cpu = THREADS.getThreadCpuTime(info.getThreadId());
      if (cpu >= 0) {
        out.put(info.getThreadId(), cpu);
        names.put(info.getThreadId(), info.getThreadName());
      }
    }
    return out;
  }

  private static long processCpuNanos() {
    return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
  }
}
