package dev.cascade.loadtest;

import dev.cascade.models.Generation;
import dev.cascade.models.TextGenerator;
import dev.cascade.models.TextGenerators;
import dev.cascade.models.LoadOptions;
import dev.cascade.proto.v1.LargeGenerateRequest;
import dev.cascade.proto.v1.LargeGenerateResponse;
import dev.cascade.proto.v1.LargeModelGrpc;
import dev.cascade.router.CascadeRouter;
import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.demo.DemoWorkload;
import dev.cascade.router.demo.Example;
import dev.cascade.router.demo.Examples;
import dev.cascade.router.demo.ThresholdCalibration;
import dev.cascade.router.embedded.EmbeddedKafka;
import dev.cascade.router.features.FeatureExtractor;
import dev.cascade.router.metrics.CascadeMetrics;
import dev.cascade.router.policy.Decision;
import dev.cascade.router.routing.CostModel;
import dev.cascade.router.routing.PendingRequest;
import dev.cascade.router.routing.RoutingRecords;
import dev.cascade.router.routing.Scored;
import dev.cascade.router.rules.DeferralRules;
import dev.cascade.schemas.avro.CascadeRequest;
import dev.cascade.schemas.avro.RoutingOutcome;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What the metrics cost on the hot path, in one run on one machine: two router instances on one
 * embedded broker, identical but for {@code metrics.enabled} (each on its own topics), take the
 * same workload in alternating rounds (A-B-B-A…), so drift in the machine's load hits both
 * alike. ~30% of requests are escalated to an instant large model, so every metric path is
 * exercised; the response cache is off (it would answer later rounds' repeated prompts). While
 * the metrics-on router works, its endpoint is scraped every 5 s, as Prometheus would.
 *
 * <p>Also measures the metrics' own cost per request directly: the observer calls one answered
 * request makes (a decision and an answer), timed in a loop against an empty observer.
 *
 * <p>Run: {@code java -cp cascade.jar:loadtest/target/classes dev.cascade.loadtest.MetricsBenchmark
 * [N per round, default 600] [rounds per mode, default 4] [small model, default small]}.
 */
public final class MetricsBenchmark {

  private MetricsBenchmark() {}

  public static void main(String[] args) throws Exception {
    int n = args.length > 0 ? Integer.parseInt(args[0]) : 600;
    int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 4;
    String smallModel = args.length > 2 ? args[2] : "small";
    System.out.printf(Locale.ROOT, "cores %d, %d requests a round, %d rounds a mode, small model %s%n",
        Runtime.getRuntime().availableProcessors(), n, rounds, smallModel);
    directCost();

    List<Example> all = Examples.bundled("test");
    CascadeConfig base = CascadeConfig.defaults().with(CascadeConfig.CACHE_MAX_ENTRIES, "0");
    try (TextGenerator small = TextGenerators.load(smallModel, "OnnxRuntime",
            LoadOptions.DEFAULT.withThreads(base.cpuThreads()));
        EmbeddedKafka kafka = EmbeddedKafka.start()) {
      double threshold = ThresholdCalibration.calibrate(small, Examples.bundled("validation").subList(0, 300),
          DeferralRules.of("chow-quantile", 0.0), 0.3, base.get(CascadeConfig.MAX_NEW_TOKENS), 64, k -> { });
      Server large = NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
          .addService(new EchoLargeModel()).build().start();
      CascadeConfig config = base.with(CascadeConfig.BOOTSTRAP_SERVERS, kafka.bootstrapServers())
          .with(CascadeConfig.POLICY_THRESHOLD, Double.toString(threshold));
      CascadeConfig on = topics(config, "on").with(CascadeConfig.METRICS_ENABLED, "true");
      CascadeConfig off = topics(config, "off").with(CascadeConfig.METRICS_ENABLED, "false");
      try (CascadeRouter routerOn = CascadeRouter.start(on, small, "127.0.0.1:" + large.getPort());
          CascadeRouter routerOff = CascadeRouter.start(off, small, "127.0.0.1:" + large.getPort())) {
        String url = routerOn.metrics().endpoint().orElseThrow().url("127.0.0.1");
        Thread scraper = new Thread(() -> scrapeEvery5s(url), "scraper");
        scraper.setDaemon(true);
        scraper.start();
        // Warm-up through both whole paths.
        run(on, "on-warm", slice(all, 0, 500));
        run(off, "off-warm", slice(all, 0, 500));

        List<Double> onRates = new ArrayList<>();
        List<Double> offRates = new ArrayList<>();
        int offset = 500;
        for (int r = 0; r < rounds; r++) {
          List<Example> work = slice(all, offset, n);
          offset += n;
          boolean onFirst = r % 2 == 0;
          for (boolean metricsOn : onFirst ? new boolean[] {true, false} : new boolean[] {false, true}) {
            double rate = run(metricsOn ? on : off, (metricsOn ? "on-" : "off-") + r, work);
            (metricsOn ? onRates : offRates).add(rate);
            System.out.printf(Locale.ROOT, "round %d, metrics %s: %.1f requests/s%n", r, metricsOn ? "on " : "off", rate);
          }
        }
        double onMedian = median(onRates);
        double offMedian = median(offRates);
        double onMean = onRates.stream().mapToDouble(Double::doubleValue).average().orElseThrow();
        double offMean = offRates.stream().mapToDouble(Double::doubleValue).average().orElseThrow();
        System.out.printf(Locale.ROOT, "metrics on:  median %.1f, mean %.1f requests/s%n", onMedian, onMean);
        System.out.printf(Locale.ROOT, "metrics off: median %.1f, mean %.1f requests/s%n", offMedian, offMean);
        System.out.printf(Locale.ROOT, "on/off: median %+.2f%%, mean %+.2f%%%n", 100 * (onMedian / offMedian - 1),
            100 * (onMean / offMean - 1));
        double logSum = 0;
        double logSquares = 0;
        for (int r = 0; r < rounds; r++) {
          double l = Math.log(onRates.get(r) / offRates.get(r));
          logSum += l;
          logSquares += l * l;
        }
        double logMean = logSum / rounds;
        double logSd = rounds > 1 ? Math.sqrt(Math.max(0, (logSquares - rounds * logMean * logMean) / (rounds - 1))) : 0;
        System.out.printf(Locale.ROOT, "paired per round: geometric mean on/off %.3f, standard error %.1f%%%n",
            Math.exp(logMean), 100 * logSd / Math.sqrt(rounds));
        HttpResponse<String> last = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(url)).build(),
            HttpResponse.BodyHandlers.ofString());
        for (String line : last.body().split("\n")) {
          if (line.startsWith("cascade_requests_received_total ") || line.startsWith("cascade_requests_total{")
              || line.startsWith("cascade_escalations_total{")) {
            System.out.println("  scraped " + line);
          }
        }
      } finally {
        large.shutdownNow();
      }
    }
    System.exit(0);
  }

  /** The observer calls of one answered request, timed with the cascade's metrics and with none. */
  private static void directCost() {
    CascadeMetrics metrics = CascadeMetrics.register(new PrometheusRegistry(), 1.0, 0);
    Generation g = new Generation("abc", new int[] {1, 2, 3}, new float[] {-0.1f, -0.2f, -0.3f}, new float[3], null);
    Scored scored = new Scored(FeatureExtractor.extract(g.tokenLogprobs(), g.entropies()), "chow-quantile", 0, 0.2,
        0.5, 0, Decision.ACCEPT, 1);
    RoutingRecords records = new RoutingRecords(new CostModel(1, 20), String::length);
    RoutingOutcome outcome = records.answered(new PendingRequest(CascadeRequest.newBuilder().setRequestId("r")
        .setPrompt("word").setMetadata(Map.of()).setCreatedAtMs(0).setMessages(java.util.List.of()).build(), 0), g, scored, 1, 2, 3, false).outcome();
    int iterations = 2_000_000;
    for (int warm = 0; warm < 3; warm++) {
      long t0 = System.nanoTime();
      for (int i = 0; i < iterations; i++) {
        metrics.received();
        metrics.decided(scored);
        metrics.answered(outcome);
      }
      double ns = (System.nanoTime() - t0) / (double) iterations;
      if (warm == 2) {
        System.out.printf(Locale.ROOT, "direct cost: %.0f ns of metrics per answered request (received + decided + "
            + "answered, one thread)%n", ns);
      }
    }
  }

  private static CascadeConfig topics(CascadeConfig c, String prefix) {
    return c.withOwnTopics("bench-metrics-" + prefix, prefix);
  }

  private static List<Example> slice(List<Example> all, int from, int count) {
    List<Example> out = new ArrayList<>(count);
    for (int i = 0; i < count; i++) {
      out.add(all.get((from + i) % all.size()));
    }
    return out;
  }

  /** Responses per second, from the first request sent to the last response read. */
  private static double run(CascadeConfig config, String prefix, List<Example> examples) throws Exception {
    DemoWorkload.Result result = DemoWorkload.run(CascadeRouter.clientProperties(config), config.topics().requests(),
        config.topics().responses(), config.topics().outcomes(), prefix, examples, Duration.ofSeconds(120), k -> { });
    if (result.answeredAtNanos().size() != examples.size()) {
      throw new IllegalStateException(prefix + ": " + result.answeredAtNanos().size() + " of " + examples.size()
          + " answered");
    }
    long first = Collections.min(result.sentAtNanos().values());
    long last = Collections.max(result.answeredAtNanos().values());
    return examples.size() / ((last - first) / 1e9);
  }

  private static double median(List<Double> values) {
    List<Double> sorted = new ArrayList<>(values);
    Collections.sort(sorted);
    int m = sorted.size() / 2;
    return sorted.size() % 2 == 1 ? sorted.get(m) : (sorted.get(m - 1) + sorted.get(m)) / 2;
  }

  private static void scrapeEvery5s(String url) {
    HttpClient client = HttpClient.newHttpClient();
    while (true) {
      try {
        client.send(HttpRequest.newBuilder(URI.create(url)).build(), HttpResponse.BodyHandlers.discarding());
        Thread.sleep(5_000);
      } catch (InterruptedException e) {
        return;
      } catch (Exception e) {
        System.err.println("scrape failed: " + e);
      }
    }
  }

  /** A large model that answers at once with the prompt, so escalations cost the router, not the model. */
  private static final class EchoLargeModel extends LargeModelGrpc.LargeModelImplBase {
    @Override
    public void generate(LargeGenerateRequest request, StreamObserver<LargeGenerateResponse> out) {
      out.onNext(LargeGenerateResponse.newBuilder().setText(request.getPrompt()).setModel("echo").build());
      out.onCompleted();
    }
  }
}
