package dev.cascade.router.cli;

import dev.cascade.models.TextGenerator;
import dev.cascade.models.TextGenerators;
import dev.cascade.models.server.LargeModelServer;
import dev.cascade.models.server.ServerLimits;
import dev.cascade.router.metrics.GrpcServerMetrics;
import dev.cascade.router.metrics.MetricsEndpoint;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.grpc.ServerBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Serves a model as cascade.v1.LargeModel and KServe v2 over gRPC, and OpenAI-compatible HTTP, until interrupted. */
@Command(name = "large-model", mixinStandardHelpOptions = true,
    description = {"Serves a model, the bundled large one by default, over gRPC as cascade.v1.LargeModel and as KServe v2"
        + " (inference.GRPCInferenceService), plus health and reflection; with --http-port also as OpenAI-compatible"
        + " POST /v1/completions and POST /v1/chat/completions.",
        "Prints large-model=HOST:PORT, kserve=kserve://HOST:PORT/MODEL (and openai=openai://HOST:PORT/v1?model=MODEL,"
            + " openais:// with --tls-key-store,"
            + " metrics=http://HOST:PORT/metrics) once serving, HOST being the address it listens on (--host:"
            + " 0.0.0.0, every interface, by default); runs until interrupted (Ctrl-C)."})
final class LargeModelCommand implements Callable<Integer> {

  @Option(names = "--host", defaultValue = WILDCARD, paramLabel = "HOST",
      description = "The address to listen on, for the gRPC port, --http-port and --metrics-port alike: "
          + WILDCARD + " every interface (IPv6 too), 127.0.0.1 this machine only, or one interface's address"
          + " (default: ${DEFAULT-VALUE}).")
  String host;

  @Option(names = "--port", defaultValue = "0", paramLabel = "PORT",
      description = "The port to listen on, on --host (default: ${DEFAULT-VALUE}, any free port).")
  int port;

  @Option(names = "--http-port", paramLabel = "PORT",
      description = {"Also serve OpenAI-compatible POST /v1/completions, POST /v1/chat/completions and GET /v1/models over HTTP on this"
          + " port, on --host (0: any free port; default: no HTTP); HTTPS with --tls-key-store, as the gRPC port."})
  Integer httpPort;

  @Option(names = "--model", converter = ModelArguments.Model.class, defaultValue = "large", paramLabel = "small|medium|large|DIR",
      description = "The model: small, medium, large, or a directory with model.onnx and tokenizer.json (default: ${DEFAULT-VALUE}).")
  String model;

  @Option(names = "--engine", converter = ModelArguments.Engine.class, defaultValue = "auto", paramLabel = "OnnxRuntime|TensorRT|auto",
      description = "The inference engine (default: ${DEFAULT-VALUE}).")
  String engine;

  @Option(names = "--max-concurrent", defaultValue = "16", paramLabel = "N",
      description = "Generations running at once; they share forward passes (default: ${DEFAULT-VALUE}).")
  int maxConcurrent;

  @Option(names = "--queue", defaultValue = "64", paramLabel = "N",
      description = "Generations waiting for a slot; beyond that, RESOURCE_EXHAUSTED (default: ${DEFAULT-VALUE}).")
  int queue;

  @Option(names = "--metrics-port", defaultValue = "0", paramLabel = "PORT",
      description = "Port of the Prometheus endpoint (/metrics), on --host (default: ${DEFAULT-VALUE}, any free port).")
  int metricsPort;

  @Option(names = "--no-metrics", description = "Serve no Prometheus metrics.")
  boolean noMetrics;

  @Option(names = "--tls-key-store", paramLabel = "FILE",
      description = "PKCS12 (or .jks) key store with the server's key and certificate: serve TLS, on the gRPC port and"
          + " --http-port alike (default: plaintext).")
  String tlsKeyStore;

  @Option(names = "--tls-key-store-password", paramLabel = "PASSWORD", defaultValue = "${env:CASCADE_TLS_KEY_STORE_PASSWORD}",
      description = "Its password (default: the CASCADE_TLS_KEY_STORE_PASSWORD environment variable).")
  String tlsKeyStorePassword;

  @Option(names = "--tls-client-trust-store", paramLabel = "FILE",
      description = "Key store of the client certificates to require, on both ports (mutual TLS; needs"
          + " --tls-key-store).")
  String tlsClientTrustStore;

  @Option(names = "--tls-client-trust-store-password", paramLabel = "PASSWORD",
      defaultValue = "${env:CASCADE_TLS_CLIENT_TRUST_STORE_PASSWORD}", description = "Its password.")
  String tlsClientTrustStorePassword;

  @Option(names = "--no-kv-cache", description = "Recompute every step instead of keeping a key/value cache (slower; for comparison).")
  boolean noKvCache;

  @Option(names = "--kv-cache-mb", paramLabel = "MIB", defaultValue = "0",
      description = "MiB of key/value cache the decoding rows may reserve; rows past it wait to join a batch (default: 0, bounded by the batch size alone).")
  int kvCacheMb;

  @picocli.CommandLine.Spec
  picocli.CommandLine.Model.CommandSpec spec;

  @Option(names = "--draft-window", paramLabel = "FIRST,MIN,MAX", defaultValue = "8,2,16",
      converter = DraftWindowConverter.class,
      description = {"Draft tokens checked per forward pass when an escalation carries the small model's answer: FIRST in"
          + " the first pass, then twice the last check while the draft is right (at most MAX), what was kept plus one"
          + " after a miss (at least MIN); one number N fixes it. Wider suits a GPU; the answer is the same"
          + " (default: ${DEFAULT-VALUE})."})
  dev.cascade.models.DraftWindow draftWindow;

  @Option(names = "--fault-file", paramLabel = "FILE", hidden = true,
      description = "Test only: inject faults read from FILE (delay-ms=N, unavailable-fraction=F), re-read every 200 ms.")
  java.nio.file.Path faultFile;

  /**
   * Opens one store, or null when {@code path} is none: a store that cannot be read or opened is an
   * error naming the option and its password's (exit 2), as {@code serve}'s start checks.
   */
  private static <T> T store(String option, String path, String password, String passwordFrom,
      java.util.function.Function<dev.cascade.models.server.GrpcTls.Store, T> opener) {
    try {
      return opener.apply(dev.cascade.models.server.GrpcTls.Store.of(path, password));
    } catch (java.io.UncheckedIOException | IllegalArgumentException e) {
      throw new IllegalArgumentException(option + ": " + e.getMessage() + " (its password: " + passwordFrom + ")", e);
    }
  }

  /** {@code --host}'s default: every interface. */
  static final String WILDCARD = "0.0.0.0";

  @Override
  public Integer call() throws IOException, InterruptedException {
    ServerLimits limits = new ServerLimits(maxConcurrent, queue);
    InetAddress bind = bindAddress(host);
    if (kvCacheMb < 0) {
      throw new picocli.CommandLine.ParameterException(spec.commandLine(),
          "--kv-cache-mb: must be 0 (no bound beyond the batch size) or more, got " + kvCacheMb);
    }
    // The ports before the model, which takes a while to load: a bad or taken one is said at once.
    Ports ports = new Ports().add("--port", port);
    if (httpPort != null) {
      ports.add("--http-port", httpPort);
    }
    if (!noMetrics) {
      ports.add("--metrics-port", metricsPort);
    }
    ports.checkFree(bind);
    // The wildcard as the port alone: every interface, IPv6 too (an explicit 0.0.0.0 would be IPv4 only).
    // The stores, read once: TLS on the gRPC port and, with --http-port, on the HTTP one too.
    dev.cascade.models.server.GrpcTls.Opened tls = new dev.cascade.models.server.GrpcTls.Opened(
        store("--tls-key-store", tlsKeyStore, tlsKeyStorePassword, "--tls-key-store-password or"
            + " CASCADE_TLS_KEY_STORE_PASSWORD", dev.cascade.models.server.GrpcTls::openKeyStore),
        store("--tls-client-trust-store", tlsClientTrustStore, tlsClientTrustStorePassword,
            "--tls-client-trust-store-password or CASCADE_TLS_CLIENT_TRUST_STORE_PASSWORD",
            dev.cascade.models.server.GrpcTls::openTrustStore));
    if (tls.trust() != null && tls.keys() == null) {
      throw new IllegalArgumentException("--tls-client-trust-store (mutual TLS) needs --tls-key-store too: the"
          + " server's own certificate");
    }
    ServerBuilder<?> builder = NettyServerBuilder.forAddress(bind == null ? new InetSocketAddress(port)
        : new InetSocketAddress(bind, port), dev.cascade.models.server.GrpcTls.server(tls));
    TextGenerator generator = TextGenerators.load(model, engine, dev.cascade.models.LoadOptions.DEFAULT
        .withCache(noKvCache ? dev.cascade.models.CacheSettings.DISABLED
            : dev.cascade.models.CacheSettings.megabytes(kvCacheMb))
        .withDraftWindow(draftWindow));
    MetricsEndpoint metrics = null;
    LargeModelServer server = null;
    try {
      if (!noMetrics) {
        PrometheusRegistry registry = new PrometheusRegistry();
        builder.intercept(GrpcServerMetrics.register(registry));
        try {
          metrics = MetricsEndpoint.start(registry, bind, metricsPort);
        } catch (java.io.UncheckedIOException e) {
          throw Ports.cannotListen("--metrics-port", metricsPort, e);
        }
      }
      if (faultFile != null) {
        builder.intercept(new dev.cascade.models.server.FaultInjection(faultFile));
        System.err.println("large-model: TEST ONLY fault injection from " + faultFile);
      }
      LargeModelServer built = new LargeModelServer(builder, generator, limits);
      try {
        built.start();
      } catch (IOException e) {
        // Taken since the check above: one line, as there.
        throw Ports.cannotListen("--port", port, e);
      }
      server = built;
      if (httpPort != null) {
        try {
          server.serveHttp(bind == null ? WILDCARD : bind.getHostAddress(), httpPort, tls);
        } catch (RuntimeException e) {
          throw Ports.isBindFailure(e) ? Ports.cannotListen("--http-port", httpPort, e) : e;
        }
      }
    } catch (RuntimeException e) {
      if (server != null) {
        server.stop();
      }
      if (metrics != null) {
        metrics.close();
      }
      generator.close();
      throw e;
    }
    LargeModelServer serving = server;
    MetricsEndpoint endpoint = metrics;
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        serving.stop();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } finally {
        if (endpoint != null) {
          endpoint.close();
        }
        generator.close();
        stopped.countDown();
      }
    }, "large-model-shutdown"));
    // What it listens on, not what a client on this machine might dial: 0.0.0.0 means every interface.
    String listening = printable(bind);
    System.out.println("large-model=" + listening + ":" + serving.port());
    System.out.println("kserve=kserve://" + listening + ":" + serving.port() + "/" + generator.info().name());
    if (serving.httpPort() >= 0) {
      System.out.println("openai=" + (tls.keys() != null ? "openais://" : "openai://") + listening + ":" + serving.httpPort() + "/v1?model="
          + generator.info().name());
    }
    if (endpoint != null) {
      System.out.println("metrics=" + endpoint.url(listening));
    }
    System.out.flush();
    serving.blockUntilShutdown();
    stopped.await();
    return 0;
  }

  /** The address {@code --host} names; null for every interface ({@value #WILDCARD}, {@code ::} or {@code *}). */
  static InetAddress bindAddress(String host) {
    String h = host == null ? "" : host.strip();
    if (h.isEmpty() || h.equals("*")) {
      return null;
    }
    if (h.startsWith("[") && h.endsWith("]")) {
      h = h.substring(1, h.length() - 1);
    }
    InetAddress address;
    try {
      address = InetAddress.getByName(h);
    } catch (java.net.UnknownHostException e) {
      throw new IllegalArgumentException("--host " + host + ": no such host or address");
    }
    if (address.isAnyLocalAddress()) {
      return null;
    }
    try {
      if (!address.isLoopbackAddress() && java.net.NetworkInterface.getByInetAddress(address) == null) {
        // Said here, once, rather than as the first port's bind failure, which named that port.
        throw new IllegalArgumentException("--host " + host + ": not an address of this machine ("
            + address.getHostAddress() + " is on none of its network interfaces)");
      }
    } catch (java.net.SocketException e) {
      // Cannot list the interfaces: the binds will say what fails.
    }
    return address;
  }

  /** An address as it goes before {@code :PORT}: 0.0.0.0 for every interface, an IPv6 one in brackets. */
  static String printable(InetAddress bind) {
    if (bind == null) {
      return WILDCARD;
    }
    String a = bind.getHostAddress();
    return bind instanceof java.net.Inet6Address ? "[" + a + "]" : a;
  }
}
