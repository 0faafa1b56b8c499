package dev.cascade.router.bench;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.lang.management.ThreadMXBean;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Where the process's CPU went over an interval, by thread name: the small model (its decoding
 * thread, which with {@code model.threads=1} runs ONNX Runtime itself, and the router's batch
 * workers), the router's Kafka Streams threads (their names hold the application id), the other
 * Java threads (the embedded broker, the load generator's clients), and what no Java thread
 * accounts for (GC, JIT, and ONNX Runtime's own pool threads when {@code model.threads} is over 1).
 */
public final class CpuUse {

  private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

  private final String applicationId;
  private final long processStart;
  private final Map<Long, Long> threadStart;
  private final Map<Long, String> names = new HashMap<>();

  /**
   * CPU milliseconds per request by thread group.
   *
   * @param model the decoding threads and the router's small-model batch workers
   * @param router the router's Kafka Streams threads (named after its application id)
   * @param brokerAndLoadGenerator every other Java thread (embedded broker, load generator, clients)
   * @param other what no Java thread accounts for: GC, JIT, native pools
   */
  public record PerRequest(double model, double router, double brokerAndLoadGenerator, double other) {

    @Override
    public String toString() {
      return String.format(Locale.ROOT, "model %.2f ms, router %.2f ms, broker and load generator %.2f ms,"
          + " other (GC, JIT, native pools) %.2f ms", model, router, brokerAndLoadGenerator, other);
    }
  }

  private CpuUse(String applicationId) {
    this.applicationId = applicationId;
    this.processStart = processCpuNanos();
    this.threadStart = threadCpu();
  }

  /** Starts counting now; {@code applicationId} names the router's stream threads. */
  public static CpuUse start(String applicationId) {
    return new CpuUse(applicationId);
  }

  /** CPU per request since {@link #start}, by thread group. */
  public PerRequest perRequest(int requests) {
    Map<Long, Long> end = threadCpu();
    long model = 0;
    long router = 0;
    long otherJava = 0;
    for (Map.Entry<Long, Long> e : end.entrySet()) {
      long used = e.getValue() - threadStart.getOrDefault(e.getKey(), 0L);
      String name = names.getOrDefault(e.getKey(), "");
      if (name.startsWith("decoder-") || name.startsWith("small-model-batch")) {
        model += used;
      } else if (name.contains(applicationId)) {
        router += used;
      } else {
        otherJava += used;
      }
    }
    long total = processCpuNanos() - processStart;
    return new PerRequest(model / 1e6 / requests, router / 1e6 / requests, otherJava / 1e6 / requests,
        (total - model - router - otherJava) / 1e6 / requests);
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
