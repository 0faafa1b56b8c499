package dev.cascade.loadtest;

import dev.cascade.models.CpuThreads;
import dev.cascade.models.LoadOptions;
import dev.cascade.models.TextGenerator;
import dev.cascade.models.TextGenerators;
import dev.cascade.models.server.LargeModelServer;
import dev.cascade.models.server.ServerLimits;
import dev.cascade.router.CascadeRouter;
import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.demo.Example;
import dev.cascade.router.demo.Examples;
import dev.cascade.router.embedded.EmbeddedKafka;
import dev.cascade.schemas.avro.CascadeRequest;
import dev.cascade.schemas.avro.CascadeResponse;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.avro.StageLatencies;
import dev.cascade.schemas.serde.CascadeSerdes;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Load shedding of expired work, measured: a burst of requests above what the small model can
 * answer in time, each with a short deadline, from a client that stops waiting at the deadline and
 * then sends the request again with a new id (as OpenAI's SDKs do after a 408, by default twice),
 * against one router with {@code small.expired-requests} {@code generate} (what it did before) and
 * {@code skip}, or {@code skip-expired} ({@code skip} with {@code small.shed-short-requests=false}:
 * only requests whose deadline has passed shed). Counts how many small-model generations went to requests whose caller had already
 * stopped waiting, how many requests were answered in time, and how long the router took to work
 * off the burst. The rate the router answered its warm-up at (the second half of it, sent at
 * once without a deadline) is printed beside each mode's numbers, as a measure of how busy the
 * machine was. A first round (of the first mode) is run and not reported: the first router of a
 * JVM was several times slower than the later ones, which would favour whichever mode came second.
 *
 * <p>Each round (one mode) has its own embedded broker in this JVM: the bundled small model (also standing in
 * for the large one, which is never called: the policy escalates nothing), a router with default
 * settings but the mode and an empty response cache, and a plain Kafka client (produce the
 * request, read its response {@code read_committed}, and every outcome, to see which requests the
 * small model generated).
 *
 * <pre>
 * java -cp router/target/cascade.jar:loadtest/target/classes \
 *   -Dorg.apache.avro.SERIALIZABLE_PACKAGES=dev.cascade.schemas.avro,java.lang,java.util,org.apache.avro.util \
 *   -Dai.djl.offline=true dev.cascade.loadtest.ExpiredWorkBenchmark [--requests 1500] [--rate 0] \
 *   [--deadline-ms 2000] [--retries 2] [--retry-delay-ms 500] [--modes generate,skip,skip,generate] [--warmup 200] \
 *   [--discard 1]
 * </pre>
 *
 * {@code --rate 0} (the default) sends the burst at once; otherwise that many new requests a second
 * (retries come on top). Prints one line per mode and a JSON object per mode last.
 */
public final class ExpiredWorkBenchmark {

  private ExpiredWorkBenchmark() {}

  /** One request as sent: which logical request, which try, and when its caller stops waiting. */
  private record Sent(int logical, int attempt, long deadlineMs) {}

  /** A try to send once its retry delay has passed. */
  private record Due(long atMs, int logical, int attempt) {}

  /**
   * A mode besides small.expired-requests' own: skip, shedding only requests whose deadline has
   * passed (small.shed-short-requests=false, skip before that setting).
   */
  static final String SKIP_EXPIRED = "skip-expired";

  /** What one mode gave. */
  record Result(String mode, double capacityPerSecond, double ratePerSecond, int logical, int sent,
      int answeredInTime, int failed, int generated, int generatedForNobody, int generatedAfterDeadline,
      int deadlineExceeded, int shedShort, double drainSeconds, String loadAverage) {

    String json() {
      return String.format(Locale.ROOT, "{\"mode\":\"%s\",\"warmup_answered_per_s\":%.1f,\"rate_per_s\":%.1f,"
          + "\"requests\":%d,\"sent_with_retries\":%d,\"answered_in_time\":%d,\"failed_after_retries\":%d,"
          + "\"generated\":%d,\"generated_for_nobody\":%d,\"generated_after_deadline\":%d,\"deadline_exceeded\":%d,"
          + "\"shed_short\":%d,\"drain_s\":%.1f,\"load_average\":\"%s\"}", mode, capacityPerSecond, ratePerSecond, logical, sent,
          answeredInTime, failed, generated, generatedForNobody, generatedAfterDeadline, deadlineExceeded, shedShort,
          drainSeconds, loadAverage);
    }
  }

  public static void main(String[] args) throws Exception {
    int requests = 1_500;
    double rate = 0;
    long deadlineMs = 2_000;
    int retries = 2;
    long retryDelayMs = 500;
    int warmup = 200;
    int discard = 1;
    List<String> modes = List.of(CascadeConfig.EXPIRED_GENERATE, CascadeConfig.EXPIRED_SKIP,
        CascadeConfig.EXPIRED_SKIP, CascadeConfig.EXPIRED_GENERATE);
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--requests" -> requests = Integer.parseInt(args[++i]);
        case "--rate" -> rate = Double.parseDouble(args[++i]);
        case "--deadline-ms" -> deadlineMs = Long.parseLong(args[++i]);
        case "--retries" -> retries = Integer.parseInt(args[++i]);
        case "--retry-delay-ms" -> retryDelayMs = Long.parseLong(args[++i]);
        case "--warmup" -> warmup = Integer.parseInt(args[++i]);
        case "--modes" -> modes = List.of(args[++i].split(","));
        case "--discard" -> discard = Integer.parseInt(args[++i]);
        default -> throw new IllegalArgumentException("unknown option " + args[i] + "; options: --requests N,"
            + " --rate R (0: all at once), --deadline-ms MS, --retries N, --retry-delay-ms MS,"
            + " --modes generate,skip,skip-expired, --warmup N, --discard ROUNDS");
      }
    }
    List<Example> examples = Examples.bundled("test");
    if (requests + warmup > examples.size()) {
      throw new IllegalArgumentException("--requests plus --warmup: at most " + examples.size()
          + " (distinct test prompts), was " + (requests + warmup));
    }
    CpuThreads threads = CascadeConfig.defaults().cpuThreads();
    List<Result> results = new ArrayList<>();
    try (TextGenerator small = TextGenerators.load("small", "OnnxRuntime", LoadOptions.DEFAULT.withThreads(threads))) {
      System.out.printf(Locale.ROOT, "cores %d, %d requests %s, deadline %d ms, %d retries %d ms apart%n",
          Runtime.getRuntime().availableProcessors(), requests, rate == 0 ? "at once" : "at " + rate + "/s",
          deadlineMs, retries, retryDelayMs);
      for (int i = 0; i < discard; i++) {
        Result r = run(small, modes.get(0), examples.subList(0, warmup), examples.subList(warmup, warmup + requests),
            rate, deadlineMs, retries, retryDelayMs);
        System.out.printf(Locale.ROOT, "(a first round, not reported: %s, warm-up answered %.1f/s)%n", r.mode(),
            r.capacityPerSecond());
      }
      for (String mode : modes) {
        Result r = run(small, mode, examples.subList(0, warmup), examples.subList(warmup, warmup + requests), rate,
            deadlineMs, retries, retryDelayMs);
        results.add(r);
        System.out.printf(Locale.ROOT, "%-8s warm-up answered %.1f/s, burst at %.1f/s: sent %d (with retries),"
            + " answered in time %d of %d, failed %d; generated %d, of which for a caller gone %d (%d already past its"
            + " deadline when generated); deadline_exceeded %d (%d of them before their deadline, short of time);"
            + " burst worked off in %.1f s; load average %s%n", mode,
            r.capacityPerSecond(), r.ratePerSecond(), r.sent(), r.answeredInTime(), r.logical(), r.failed(),
            r.generated(), r.generatedForNobody(), r.generatedAfterDeadline(), r.deadlineExceeded(), r.shedShort(),
            r.drainSeconds(), r.loadAverage());
      }
    }
    results.forEach(r -> System.out.println(r.json()));
    System.exit(0);
  }

  static Result run(TextGenerator small, String mode, List<Example> warmup, List<Example> burst, double rate,
      long deadlineMs, int retries, long retryDelayMs) throws Exception {
    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
      LargeModelServer largeServer = new LargeModelServer(
          NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)), small,
          new ServerLimits(2, 512)).start();
      CascadeConfig config = CascadeConfig.load(null, Map.of(), Map.of(
          "bootstrap.servers", kafka.bootstrapServers(), "application.id", "expired-work-bench",
          "topic.partitions", "4", "policy.threshold", "1e9", "cache.max-entries", "0",
          "small.expired-requests", mode.equals(SKIP_EXPIRED) ? CascadeConfig.EXPIRED_SKIP : mode,
          "small.shed-short-requests", String.valueOf(!mode.equals(SKIP_EXPIRED)), "metrics.enabled", "false"));
      try (CascadeRouter router = CascadeRouter.start(config, small, "127.0.0.1:" + largeServer.port());
          Client client = new Client(config)) {
        // The first half warms the router up; the second, sent at once like it, is timed.
        int half = warmup.size() / 2;
        for (int i = 0; i < half; i++) {
          client.send("warm-" + i, warmup.get(i).prompt(), null);
        }
        client.awaitResponses(half, Duration.ofMinutes(5));
        long t0 = System.nanoTime();
        for (int i = half; i < warmup.size(); i++) {
          client.send("warm-" + i, warmup.get(i).prompt(), null);
        }
        client.awaitResponses(warmup.size() - half, Duration.ofMinutes(5));
        double capacity = (warmup.size() - half) / ((System.nanoTime() - t0) / 1e9);
        return client.burst(mode, capacity, burst, rate, deadlineMs, retries, retryDelayMs);
      } finally {
        largeServer.stop();
      }
    }
  }

  /** A Kafka client that stops waiting for a request at its deadline, and retries it with a new id. */
  private static final class Client implements AutoCloseable {
    private final KafkaProducer<String, CascadeRequest> producer;
    private final KafkaConsumer<byte[], byte[]> consumer;
    private final String requestsTopic;
    private final String responsesTopic;

    Client(CascadeConfig config) {
      Map<String, Object> props = CascadeRouter.clientProperties(config);
      Map<String, Object> p = new HashMap<>(props);
      p.put(ProducerConfig.ACKS_CONFIG, "all");
      p.put(ProducerConfig.LINGER_MS_CONFIG, 1);
      producer = new KafkaProducer<>(p, new StringSerializer(), CascadeSerdes.requests().serializer());
      Map<String, Object> c = new HashMap<>(props);
      c.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
      consumer = new KafkaConsumer<>(c, new ByteArrayDeserializer(), new ByteArrayDeserializer());
      requestsTopic = config.topics().requests();
      responsesTopic = config.topics().responses();
      List<TopicPartition> parts = new ArrayList<>();
      for (String topic : List.of(responsesTopic, config.topics().outcomes())) {
        consumer.partitionsFor(topic).forEach(i -> parts.add(new TopicPartition(i.topic(), i.partition())));
      }
      consumer.assign(parts);
      consumer.seekToEnd(parts);
      parts.forEach(consumer::position);
    }

    void send(String id, String prompt, Long deadlineMs) {
      CascadeRequest r = CascadeRequest.newBuilder().setRequestId(id).setPrompt(prompt).setMaxNewTokens(0)
          .setMetadata(Map.of()).setCreatedAtMs(System.currentTimeMillis()).setDeadlineMs(deadlineMs)
          .setMessages(java.util.List.of()).build();
      producer.send(new ProducerRecord<>(requestsTopic, id, r));
    }

    void awaitResponses(int n, Duration bound) {
      int seen = 0;
      long end = System.nanoTime() + bound.toNanos();
      while (seen < n && System.nanoTime() < end) {
        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(100))) {
          seen += r.topic().equals(responsesTopic) ? 1 : 0;
        }
      }
    }

    Result burst(String mode, double capacity, List<Example> burst, double rate, long deadlineMs, int retries,
        long retryDelayMs) {
      Map<String, Sent> waiting = new HashMap<>();
      Map<String, Sent> gaveUp = new HashMap<>();
      Map<String, RoutingOutcome> outcomes = new HashMap<>();
      Set<Integer> answered = new HashSet<>();
      ArrayDeque<Due> due = new ArrayDeque<>();
      int failed = 0;
      int sent = 0;
      int next = 0;
      long start = System.currentTimeMillis();
      long lastOutcomeMs = start;
      long idleSince = System.nanoTime();
      while (true) {
        long now = System.currentTimeMillis();
        // New requests on schedule (all at once with rate 0), then retries whose delay has passed.
        while (next < burst.size() && (rate == 0 || start + (long) (next * 1000 / rate) <= now)) {
          due.addLast(new Due(now, next++, 0));
        }
        for (int k = due.size(); k > 0; k--) {
          Due d = due.pollFirst();
          if (d.atMs() > now) {
            due.addLast(d);
            continue;
          }
          String id = "req-" + d.logical() + (d.attempt() == 0 ? "" : "-retry-" + d.attempt());
          long deadline = now + deadlineMs;
          waiting.put(id, new Sent(d.logical(), d.attempt(), deadline));
          send(id, burst.get(d.logical()).prompt(), deadline);
          sent++;
        }
        // The caller stops waiting at the deadline, and tries again after the delay (a new id).
        for (var it = waiting.entrySet().iterator(); it.hasNext(); ) {
          var w = it.next();
          if (now > w.getValue().deadlineMs()) {
            it.remove();
            gaveUp.put(w.getKey(), w.getValue());
            if (w.getValue().attempt() < retries) {
              due.addLast(new Due(now + retryDelayMs, w.getValue().logical(), w.getValue().attempt() + 1));
            } else {
              failed++;
            }
          }
        }
        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(20))) {
          idleSince = System.nanoTime();
          String id = new String(r.key(), java.nio.charset.StandardCharsets.UTF_8);
          if (r.topic().equals(responsesTopic)) {
            CascadeResponse response = CascadeSerdes.responses().decode(r.value());
            Sent s = waiting.remove(id);
            if (s != null && !response.getDeadlineExceeded()) {
              answered.add(s.logical());
            }
          } else {
            outcomes.put(id, CascadeSerdes.outcomes().decode(r.value()));
            lastOutcomeMs = System.currentTimeMillis();
          }
        }
        boolean settled = next == burst.size() && due.isEmpty() && waiting.isEmpty();
        if (settled && outcomes.size() >= sent || System.nanoTime() - idleSince > Duration.ofMinutes(2).toNanos()) {
          break;
        }
      }
      int generated = 0;
      int forNobody = 0;
      int afterDeadline = 0;
      int expired = 0;
      int shedShort = 0;
      for (Map.Entry<String, RoutingOutcome> e : outcomes.entrySet()) {
        RoutingOutcome o = e.getValue();
        if (o.getDeadlineExceeded()) {
          expired++;
          shedShort += String.valueOf(o.getDegradedReason()).contains(dev.cascade.router.routing.RoutingRecords.SHED_SHORT_REASON) ? 1 : 0;
          continue;
        }
        generated++;
        Sent s = gaveUp.get(e.getKey());
        if (s != null) {
          forNobody++;
          // When its batch started: the router received it total - queue before it answered.
          StageLatencies l = o.getLatencies();
          long batchStartMs = o.getCompletedAtMs() - Math.round(l.getTotalMs() - l.getQueueMs());
          afterDeadline += batchStartMs > s.deadlineMs() ? 1 : 0;
        }
      }
      return new Result(mode, capacity, rate, burst.size(), sent, answered.size(), failed, generated, forNobody,
          afterDeadline, expired, shedShort, (lastOutcomeMs - start) / 1e3, loadAverage());
    }

    /** The machine's 1, 5 and 15-minute load averages (Linux), or "?". */
    private static String loadAverage() {
      try {
        String[] f = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/loadavg")).split(" ");
        return f[0] + " " + f[1] + " " + f[2];
      } catch (java.io.IOException | RuntimeException e) {
        return "?";
      }
    }

    @Override
    public void close() {
      producer.close();
      consumer.close();
    }
  }
}
