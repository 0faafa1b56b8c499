package dev.cascade.loadtest;

import dev.cascade.proto.v1.CascadeGrpc;
import dev.cascade.proto.v1.GenerateRequest;
import dev.cascade.proto.v1.GenerateResponse;
import dev.cascade.router.demo.Example;
import dev.cascade.router.demo.Examples;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Does the gRPC front door scale out? With 1, 2 and 3 router processes ({@code serve}, separate
 * JVMs on one broker), the same paced stream of {@code Generate} calls is spread round-robin over
 * their doors, and the CPU time of each router's reply reader thread ({@code front-door-replies-*},
 * read from {@code /proc/PID/task/TID/stat}) is divided by the calls that router answered. With
 * {@code front-door.replies=own-topic} (the default, {@code --replies own-topic}) each reader
 * fetches only its own replies, from its instance's reply topic, so its CPU per answered call
 * should stay flat as routers are added; with {@code --replies shared} every reader fetches every
 * reply record of the responses topic and skips the other instances' by their {@code
 * cascade.reply-to} header, so it grows with the number of routers. The readers' CPU over an idle
 * window as long as the measured one is reported too, and the CPU per call beyond it: polling
 * costs time whether or not replies flow. With {@code --per-router}, {@code --calls} and {@code
 * --rate} are per router (N routers get N times the calls at N times the rate), so every door sees
 * the same rate of calls whatever N is: how often a reader fetches, and so what a fetch costs per
 * reply, depends on the rate of replies it gets, so only at an equal rate per door does a change
 * with N mean that a reader pays for other instances' traffic. Linux only (it reads {@code /proc}).
 *
 * <pre>
 * java -cp router/target/cascade.jar:loadtest/target/classes \
 *   -Dorg.apache.avro.SERIALIZABLE_PACKAGES=dev.cascade.schemas.avro,java.lang,java.util,org.apache.avro.util \
 *   -Dai.djl.offline=true dev.cascade.loadtest.FrontDoorScaling [--calls 1200] [--rate 20] [--per-router] \
 *   [--replies own-topic|shared] [--warmup 20] [--json]
 * </pre>
 */
public final class FrontDoorScaling {

  private static final long CLOCK_TICK_NANOS = 10_000_000L; // USER_HZ = 100 on Linux

  private FrontDoorScaling() {}

  /** One configuration's numbers. */
  record Row(int routers, int calls, int answered, double readerCpuMsPerCall, double readerIdleCpuMs,
      double processCpuMsPerCall, List<Integer> answeredPerRouter) {
    /** The reader's CPU per answered call beyond what it spends idle over as long a window. */
    double readerNetCpuMsPerCall() {
      return readerCpuMsPerCall - readerIdleCpuMs / Math.max(1, answered);
    }

    String json() {
      return String.format(Locale.ROOT, "{\"routers\":%d,\"calls\":%d,\"answered\":%d,"
          + "\"reply_reader_cpu_ms_per_call\":%.4f,\"reply_reader_idle_cpu_ms\":%.1f,"
          + "\"reply_reader_net_cpu_ms_per_call\":%.4f,\"router_process_cpu_ms_per_call\":%.3f,"
          + "\"answered_per_router\":%s}",
          routers, calls, answered, readerCpuMsPerCall, readerIdleCpuMs, readerNetCpuMsPerCall(),
          processCpuMsPerCall, answeredPerRouter);
    }
  }

  public static void main(String[] args) throws Exception {
    int calls = 1200;
    double rate = 20;
    boolean json = false;
    String replies = "own-topic";
    int warmup = 20;
    boolean perRouter = false;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--calls" -> calls = Integer.parseInt(args[++i]);
        case "--rate" -> rate = Double.parseDouble(args[++i]);
        case "--replies" -> replies = args[++i];
        case "--warmup" -> warmup = Integer.parseInt(args[++i]);
        case "--json" -> json = true;
        case "--per-router" -> perRouter = true;
        default -> throw new IllegalArgumentException("unknown option " + args[i]
            + "; options: --calls N, --rate R, --per-router, --replies own-topic|shared, --warmup CALLS_PER_ROUTER,"
            + " --json");
      }
    }
    List<Row> rows = new ArrayList<>();
    for (int n = 1; n <= 3; n++) {
      int scale = perRouter ? n : 1;
      Row row = run(n, calls * scale, rate * scale, replies, warmup,
          Files.createTempDirectory("cascade-doors-" + n + "-"));
      rows.add(row);
      if (!json) {
        System.out.printf(Locale.ROOT, "%d router(s): %d/%d answered %s, reply readers %.4f ms CPU per call"
            + " (%.4f beyond their idle %.1f ms over as long), whole router processes %.3f ms CPU per call%n", n,
            row.answered(), row.calls(), row.answeredPerRouter(), row.readerCpuMsPerCall(),
            row.readerNetCpuMsPerCall(), row.readerIdleCpuMs(), row.processCpuMsPerCall());
      }
    }
    StringBuilder out = new StringBuilder(String.format(Locale.ROOT,
        "{\"benchmark\":\"front-door-scaling\",\"replies\":\"%s\",\"warmup_per_router\":%d,\"calls\":%d,"
        + "\"rate_per_s\":%.1f,\"per_router\":%b,\"rows\":[", replies, warmup, calls, rate, perRouter));
    for (int i = 0; i < rows.size(); i++) {
      out.append(i == 0 ? "" : ",").append(rows.get(i).json());
    }
    System.out.println(out.append("]}"));
    System.exit(0);
  }

  static Row run(int routers, int calls, double rate, String replies, int warmup, Path work) throws Exception {
    List<FaultHarness.Proc> all = new ArrayList<>();
    try {
      int brokerPort = freePort();
      FaultHarness.Proc broker = FaultHarness.Proc.start(work, "broker", List.of("broker", "--data-dir",
          work.resolve("kafka").toString(), "--port", String.valueOf(brokerPort), "--controller-port",
          String.valueOf(freePort()), "--set", "topic.partitions=6"));
      all.add(broker);
      broker.await("bootstrap.servers=", Duration.ofSeconds(120));
      FaultHarness.Proc large = FaultHarness.Proc.start(work, "large-model", List.of("large-model", "--host", "127.0.0.1",
          "--port", "0", "--no-metrics"));
      all.add(large);
      String largeTarget = large.await("large-model=", Duration.ofSeconds(120)).substring("large-model=".length());
      List<FaultHarness.Proc> doors = new ArrayList<>();
      List<Integer> ports = new ArrayList<>();
      for (int i = 0; i < routers; i++) {
        FaultHarness.Proc r = FaultHarness.Proc.start(work, "router-" + i, List.of("serve",
            "--set", "bootstrap.servers=127.0.0.1:" + brokerPort, "--set", "large.target=" + largeTarget,
            "--set", "state.dir=" + work.resolve("router-" + i), "--set", "metrics.enabled=false",
            "--set", "topic.partitions=6", "--set", "admin.token-file=" + work.resolve("token"),
            "--set", "application.id=cascade-doors", "--set", "front-door.replies=" + replies));
        all.add(r);
        doors.add(r);
      }
      for (FaultHarness.Proc r : doors) {
        String line = r.await("grpc=", Duration.ofSeconds(180));
        ports.add(Integer.parseInt(line.substring(line.lastIndexOf(':') + 1)));
      }
      List<ManagedChannel> channels = new ArrayList<>();
      for (int port : ports) {
        channels.add(ManagedChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build());
      }
      List<Example> examples = Examples.bundled("test");
      // Warm-up: every door answers a few calls (JIT, first fetches) before the measured window.
      send(channels, examples, warmup * routers, rate, "warm", new AtomicInteger[routers]);
      // The readers' CPU with no calls, over a window as long as the measured one: polling and
      // fetch sessions cost time whether or not replies flow.
      long idleStart = 0;
      for (FaultHarness.Proc door : doors) {
        idleStart += threadNanos(door.pid(), "front-door-repl");
      }
      Thread.sleep(Math.round(calls / rate * 1000));
      long idle = -idleStart;
      for (FaultHarness.Proc door : doors) {
        idle += threadNanos(door.pid(), "front-door-repl");
      }
      long[] readerStart = new long[routers];
      long[] processStart = new long[routers];
      for (int i = 0; i < routers; i++) {
        readerStart[i] = threadNanos(doors.get(i).pid(), "front-door-repl");
        processStart[i] = processTicks(doors.get(i).pid());
      }
      AtomicInteger[] answered = new AtomicInteger[routers];
      send(channels, examples, calls, rate, "m", answered);
      long reader = 0;
      long process = 0;
      List<Integer> perRouter = new ArrayList<>();
      int total = 0;
      for (int i = 0; i < routers; i++) {
        reader += threadNanos(doors.get(i).pid(), "front-door-repl") - readerStart[i];
        process += processTicks(doors.get(i).pid()) - processStart[i];
        perRouter.add(answered[i].get());
        total += answered[i].get();
      }
      for (ManagedChannel c : channels) {
        c.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
      return new Row(routers, calls, total, reader / 1e6 / Math.max(1, total), idle / 1e6,
          process * CLOCK_TICK_NANOS / 1e6 / Math.max(1, total), perRouter);
    } finally {
      for (FaultHarness.Proc p : all) {
        p.stop();
      }
    }
  }

  /** Sends {@code calls} calls at {@code rate} a second, round-robin over the doors, and waits for them all. */
  private static void send(List<ManagedChannel> channels, List<Example> examples, int calls, double rate, String prefix,
      AtomicInteger[] answered) throws InterruptedException {
    for (int i = 0; i < answered.length; i++) {
      answered[i] = new AtomicInteger();
    }
    CountDownLatch done = new CountDownLatch(calls);
    long start = System.nanoTime();
    for (int i = 0; i < calls; i++) {
      long due = start + (long) (i * 1e9 / rate);
      for (long wait = due - System.nanoTime(); wait > 0; wait = due - System.nanoTime()) {
        TimeUnit.NANOSECONDS.sleep(wait);
      }
      int door = i % channels.size();
      Example e = examples.get(i % examples.size());
      CascadeGrpc.newStub(channels.get(door)).withDeadlineAfter(60, TimeUnit.SECONDS).generate(
          GenerateRequest.newBuilder().setPrompt(e.prompt()).setRequestId(prefix + "-" + i).build(),
          new StreamObserver<>() {
            @Override
            public void onNext(GenerateResponse value) {
              answered[door].incrementAndGet();
            }

            @Override
            public void onError(Throwable t) {
              done.countDown();
            }

            @Override
            public void onCompleted() {
              done.countDown();
            }
          });
    }
    done.await(120, TimeUnit.SECONDS);
  }

  /**
   * CPU time in nanoseconds of the process's threads whose name starts with {@code comm}: the first
   * field of {@code /proc/PID/task/TID/schedstat}, the scheduler's own count, finer than the 10 ms
   * clock ticks of {@code stat} (a reader spends well under a millisecond per call).
   */
  static long threadNanos(long pid, String comm) throws IOException {
    long nanos = 0;
    try (var tasks = Files.list(Path.of("/proc", String.valueOf(pid), "task"))) {
      for (Path task : (Iterable<Path>) tasks::iterator) {
        try {
          if (Files.readString(task.resolve("comm")).strip().startsWith(comm)) {
            nanos += Long.parseLong(Files.readString(task.resolve("schedstat")).strip().split(" ")[0]);
          }
        } catch (IOException e) {
          // the thread ended
        }
      }
    }
    return nanos;
  }

  static long processTicks(long pid) throws IOException {
    return ticks(Files.readString(Path.of("/proc", String.valueOf(pid), "stat")));
  }

  /** utime + stime of a {@code /proc/.../stat} line (fields 14 and 15; the name in parentheses may hold spaces). */
  static long ticks(String stat) {
    String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
    return Long.parseLong(f[11]) + Long.parseLong(f[12]);
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }
}
