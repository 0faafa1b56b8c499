package dev.cascade.router.cli;

import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import java.io.PrintWriter;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Option;

/** The {@code --target HOST:PORT} of the router's gRPC server, shared by the client commands. */
final class TargetOption {

  @Option(names = "--target", required = true, paramLabel = "HOST:PORT",
      description = "The router's gRPC address (printed as grpc=HOST:PORT by 'cascade demo --serve' and 'cascade serve').")
  String target;

  @Option(names = "--tls-trust-store", paramLabel = "FILE",
      description = "Key store of the certificates the server is trusted by: connect with TLS (default: plaintext).")
  String tlsTrustStore;

  @Option(names = "--tls-trust-store-password", paramLabel = "PASSWORD",
      defaultValue = "${env:CASCADE_TLS_TRUST_STORE_PASSWORD}", description = "Its password.")
  String tlsTrustStorePassword;

  @Option(names = "--tls-key-store", paramLabel = "FILE",
      description = "Key store with this client's key and certificate, for a server that requires one (mutual TLS).")
  String tlsKeyStore;

  @Option(names = "--tls-key-store-password", paramLabel = "PASSWORD",
      defaultValue = "${env:CASCADE_TLS_KEY_STORE_PASSWORD}", description = "Its password.")
  String tlsKeyStorePassword;

  /** The command this option is part of, whose help a refused target points to. */
  @picocli.CommandLine.Spec(picocli.CommandLine.Spec.Target.MIXEE)
  picocli.CommandLine.Model.CommandSpec mixee;

  /** gRPC's own logger: its name-resolution warnings (with a stack trace) would repeat what the one-line error says. */
  private static final java.util.logging.Logger GRPC_LOG = java.util.logging.Logger.getLogger("io.grpc");

  /** A channel to the target (TLS when a trust or key store is given); shut it down with {@link #close(ManagedChannel)}. */
  ManagedChannel open() {
    try {
      checkTarget(target);
    } catch (IllegalArgumentException e) {
      throw new picocli.CommandLine.ParameterException(mixee.commandLine(), e.getMessage());
    }
    GRPC_LOG.setLevel(java.util.logging.Level.SEVERE);
    return io.grpc.Grpc.newChannelBuilder(target, dev.cascade.models.server.GrpcTls.client(
        dev.cascade.models.server.GrpcTls.Store.of(tlsTrustStore, tlsTrustStorePassword),
        dev.cascade.models.server.GrpcTls.Store.of(tlsKeyStore, tlsKeyStorePassword))).build();
  }

  /** What {@code --target} takes, for the errors that say it was given something else. */
  private static final String EXPECTED = "(the grpc= line of 'cascade serve' or 'cascade demo --serve')";

  /**
   * Refuses a {@code --target} that is not {@code HOST:PORT} with a port from 1 to 65535 (a gRPC
   * target URI with a scheme, {@code dns:///host:port} or {@code unix:/path}, is passed as it is;
   * an {@code http(s)://} URL, the OpenAI door's, is refused saying so).
   */
  static void checkTarget(String target) {
    if (target.regionMatches(true, 0, "http://", 0, 7) || target.regionMatches(true, 0, "https://", 0, 8)) {
      throw new IllegalArgumentException("--target: '" + target + "' is an HTTP URL; it must be HOST:PORT of the"
          + " router's gRPC door " + EXPECTED + ", not the OpenAI HTTP door's URL (openai=)");
    }
    if (target.contains(":/")) {
      return;
    }
    int colon = target.lastIndexOf(':');
    String port = colon < 0 ? "" : target.substring(colon + 1);
    boolean ok = colon > 0 && port.matches("[0-9]{1,5}") && Integer.parseInt(port) >= 1
        && Integer.parseInt(port) <= 65_535;
    if (!ok) {
      throw new IllegalArgumentException("--target: '" + target + "' must be HOST:PORT with a port from 1 to 65535 "
          + EXPECTED);
    }
  }

  private boolean plaintext() {
    return (tlsTrustStore == null || tlsTrustStore.isBlank()) && (tlsKeyStore == null || tlsKeyStore.isBlank());
  }

  static void close(ManagedChannel channel) throws InterruptedException {
    channel.shutdownNow();
    channel.awaitTermination(5, TimeUnit.SECONDS);
  }

  /** What a client command does over the channel; returns the exit code. */
  @FunctionalInterface
  interface ChannelCall {
    int run(ManagedChannel channel) throws Exception;
  }

  /**
   * Opens a channel, runs {@code call} over it and closes it; a failed gRPC call is printed to
   * {@code err} as one line and gives exit code 1.
   */
  int call(PrintWriter err, ChannelCall call) throws Exception {
    ManagedChannel channel = open();
    try {
      connect(channel);
      return call.run(channel);
    } catch (StatusRuntimeException e) {
      if (plaintext() && e.getStatus().getCode() == io.grpc.Status.Code.UNAVAILABLE && unreachable(e) == null
          && !answeredByTheServer(e)) {
        err.println("hint: connected in plaintext; if " + target + " serves TLS, pass --tls-trust-store FILE");
      }
      if (notGrpc(e)) {
        err.println("error: --target: " + target + " did not answer as a gRPC server (" + e.getStatus().getCode()
            + ": " + e.getStatus().getDescription() + "); it must be HOST:PORT of the router's gRPC door " + EXPECTED
            + ", not an HTTP port such as the OpenAI door's (openai=)");
        err.flush();
        return 1;
      }
      String method = e.getStatus().getDescription();
      if (e.getStatus().getCode() == io.grpc.Status.Code.UNIMPLEMENTED && method != null
          && method.startsWith("Method not found: cascade.v1.")) {
        err.println("error: --target: " + target + " answers gRPC but has no " + method.substring(
            "Method not found: ".length()) + "; it must be HOST:PORT of the router's gRPC door " + EXPECTED
            + ", not a large-model server's port (large-model=)");
        err.flush();
        return 1;
      }
      String unreachable = unreachable(e);
      if (unreachable != null && e.getStatus().getCode() == io.grpc.Status.Code.UNAVAILABLE) {
        err.println("error: --target " + target + ": " + unreachable + " (UNAVAILABLE); it must be HOST:PORT of a"
            + " running router's gRPC door, the grpc= line that serve and demo --serve print");
        err.flush();
        return 1;
      }
      int code = failed(e, err);
      String description = e.getStatus().getDescription();
      if (e.getStatus().getCode() == io.grpc.Status.Code.UNAUTHENTICATED && description != null
          && description.contains("API key")) {
        err.println(description.startsWith("unknown API key")
            ? "hint: the key sent (--api-key, or CASCADE_API_KEY) is not one of the router's api.keys-file"
            : "hint: ask and feedback send an API key with --api-key KEY, or from CASCADE_API_KEY");
        err.flush();
      }
      return code;
    } finally {
      close(channel);
    }
  }

  /** The longest a command waits to connect before its call, and the call's own deadline, start. */
  static final java.time.Duration CONNECT_WAIT = java.time.Duration.ofSeconds(20);

  /**
   * Connects {@code channel} before the call, so that a call's deadline ({@code --deadline-ms})
   * counts the call, not a fresh process's connection (about 250 ms here); returns once it is
   * ready, has failed (the call then says why: refused, unresolved, ...) or {@link #CONNECT_WAIT}
   * has passed.
   */
  static void connect(ManagedChannel channel) throws InterruptedException {
    long deadline = System.nanoTime() + CONNECT_WAIT.toNanos();
    io.grpc.ConnectivityState state = channel.getState(true);
    while (state != io.grpc.ConnectivityState.READY && state != io.grpc.ConnectivityState.TRANSIENT_FAILURE
        && state != io.grpc.ConnectivityState.SHUTDOWN) {
      long left = deadline - System.nanoTime();
      java.util.concurrent.CountDownLatch changed = new java.util.concurrent.CountDownLatch(1);
      channel.notifyWhenStateChanged(state, changed::countDown);
      if (left <= 0 || !changed.await(left, TimeUnit.NANOSECONDS)) {
        return;
      }
      state = channel.getState(false);
    }
  }

  /**
   * Whether the server itself answered with this status (say UNAVAILABLE, not ready, with its
   * description), rather than the client making it up for a connection that failed before any
   * answer (a plaintext client at a TLS port: "Network closed for unknown reason"). A server's
   * status comes in a response, whose headers are left in the trailers once gRPC has taken its own
   * out, at least {@code content-type}, which gRPC requires of every response; a status the client
   * made up has empty trailers.
   */
  static boolean answeredByTheServer(StatusRuntimeException e) {
    return e.getTrailers() != null && !e.getTrailers().keys().isEmpty();
  }

  /**
   * Whether the call failed because what answered at the address does not speak HTTP/2 (an HTTP/1.1
   * server answers gRPC's preface with its own status line): gRPC's own INTERNAL "http2 exception",
   * not a status a server sent.
   */
  static boolean notGrpc(StatusRuntimeException e) {
    if (e.getStatus().getCode() != io.grpc.Status.Code.INTERNAL || answeredByTheServer(e)) {
      return false;
    }
    for (Throwable t = e.getStatus().getCause(); t != null; t = t.getCause()) {
      if (t.getClass().getSimpleName().equals("Http2Exception")) {
        return true;
      }
    }
    return "http2 exception".equals(e.getStatus().getDescription());
  }

  /** Prints a failed call as one line ({@code error: CODE: description}) and returns the exit code 1. */
  static int failed(StatusRuntimeException e, PrintWriter err) {
    if (e.getStatus().getCode() == io.grpc.Status.Code.DEADLINE_EXCEEDED && !answeredByTheServer(e)) {
      // The client's own deadline, not the router's answer: grpc-java's text says nothing a user needs.
      err.println("error: DEADLINE_EXCEEDED: no answer within this command's deadline (ask and feedback:"
          + " --deadline-ms); the request may still be routed");
      err.flush();
      return 1;
    }
    String description = e.getStatus().getDescription();
    String unreachable = unreachable(e);
    err.println("error: " + e.getStatus().getCode() + (description == null ? "" : ": " + description)
        + (unreachable == null ? "" : " (" + unreachable + ")"));
    err.flush();
    return 1;
  }

  /**
   * Why nothing answered at the address, when that is the failure: the connection was refused,
   * the host name does not resolve, or the connection timed out; null for any other failure.
   */
  static String unreachable(StatusRuntimeException e) {
    for (Throwable t = e.getStatus().getCause() != null ? e.getStatus().getCause() : e.getCause(); t != null;
        t = t.getCause()) {
      String message = String.valueOf(t.getMessage()).toLowerCase(java.util.Locale.ROOT);
      if (t instanceof java.net.UnknownHostException || t instanceof java.nio.channels.UnresolvedAddressException) {
        return "the host name does not resolve";
      }
      if (t instanceof java.net.NoRouteToHostException || message.contains("no route to host")) {
        return "no route to that host";
      }
      if (t instanceof java.net.ConnectException) {
        // Netty's text, "finishConnect(..) failed with error(-111): Connection refused: /127.0.0.1:1", said plainly.
        return message.contains("refused") ? "nothing listens there (connection refused)"
            : message.contains("timed out") ? "no answer to the connection (timed out)"
            : "cannot connect (" + t.getMessage() + ")";
      }
    }
    return null;
  }
}
