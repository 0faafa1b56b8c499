package dev.cascade.router.cli;

import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.StatusRuntimeException;
import java.io.PrintWriter;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Option;

/** The {@code --target HOST:PORT} of the router's gRPC server, shared by the client commands. */
final class TargetOption {

  @Option(names = "--target", required = true, paramLabel = "HOST:PORT",
      description = "The router's gRPC address (printed as grpc=HOST:PORT by 'cascade demo --serve' and 'cascade serve').")
  String target;

  /** A plaintext channel to the target; shut it down with {@link #close(ManagedChannel)}. */
  ManagedChannel open() {
    return ManagedChannelBuilder.forTarget(target).usePlaintext().build();
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
