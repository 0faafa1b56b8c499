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

  /** A channel to the target (TLS when a trust or key store is given); shut it down with {@link #close(ManagedChannel)}. */
  ManagedChannel open() {
    return io.grpc.Grpc.newChannelBuilder(target, dev.cascade.models.server.GrpcTls.client(
        dev.cascade.models.server.GrpcTls.Store.of(tlsTrustStore, tlsTrustStorePassword),
        dev.cascade.models.server.GrpcTls.Store.of(tlsKeyStore, tlsKeyStorePassword))).build();
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
      return call.run(channel);
    } catch (StatusRuntimeException e) {
      if (plaintext() && e.getStatus().getCode() == io.grpc.Status.Code.UNAVAILABLE) {
        err.println("hint: connected in plaintext; if " + target + " serves TLS, pass --tls-trust-store FILE");
      }
      return failed(e, err);
    } finally {
      close(channel);
    }
  }

  /** Prints a failed call as one line ({@code error: CODE: description}) and returns the exit code 1. */
  static int failed(StatusRuntimeException e, PrintWriter err) {
    String description = e.getStatus().getDescription();
    err.println("error: " + e.getStatus().getCode() + (description == null ? "" : ": " + description));
    err.flush();
    return 1;
  }
}
