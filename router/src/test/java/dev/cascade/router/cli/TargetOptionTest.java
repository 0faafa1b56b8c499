package dev.cascade.router.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.api.CommandLineRun;
import java.net.ServerSocket;
import org.junit.jupiter.api.Test;

/** A client command's --target: refused up front when it is not HOST:PORT, and why nothing answered when nothing does. */
class TargetOptionTest {

  @Test
  void aTargetWithoutAPortOrWithOneOutOfRangeIsRefusedBeforeAnyCall() {
    for (String target : new String[] {"127.0.0.1", "127.0.0.1:99999", "127.0.0.1:0", "host:port"}) {
      CommandLineRun run = CommandLineRun.of("ask", "--target", target, "--prompt", "cascade");
      assertThat(run.exitCode()).as(target).isEqualTo(2);
      assertThat(run.err().strip()).as(target).isEqualTo("error: --target: '" + target
          + "' must be HOST:PORT with a port from 1 to 65535 (the grpc= line of 'cascade serve' or 'cascade demo --serve')"
          + System.lineSeparator() + "try './cascade ask --help'");
    }
  }

  @Test
  void anHttpUrlIsRefusedSayingTargetTakesTheGrpcDoorsHostAndPort() {
    for (String target : new String[] {"http://127.0.0.1:8080", "HTTPS://router.example:443/v1"}) {
      CommandLineRun run = CommandLineRun.of("feedback", "--target", target, "--request-id", "r-1", "--correct");
      assertThat(run.exitCode()).as(target).isEqualTo(2);
      assertThat(run.err().strip()).as(target).isEqualTo("error: --target: '" + target + "' is an HTTP URL; it must be"
          + " HOST:PORT of the router's gRPC door (the grpc= line of 'cascade serve' or 'cascade demo --serve'), not"
          + " the OpenAI HTTP door's URL (openai=)" + System.lineSeparator() + "try './cascade feedback --help'");
    }
  }

  @Test
  void anHttpServerAtTheTargetIsSaidToBeNoGrpcDoor() throws Exception {
    com.sun.net.httpserver.HttpServer server = com.sun.net.httpserver.HttpServer.create(
        new java.net.InetSocketAddress(java.net.InetAddress.getLoopbackAddress(), 0), 0);
    server.createContext("/", exchange -> {
      exchange.sendResponseHeaders(404, -1);
      exchange.close();
    });
    server.start();
    try {
      String target = "127.0.0.1:" + server.getAddress().getPort();
      CommandLineRun run = CommandLineRun.of("ask", "--target", target, "--prompt", "cascade");
      assertThat(run.exitCode()).isEqualTo(1);
      assertThat(run.err().strip()).startsWith("error: --target: " + target + " did not answer as a gRPC server")
          .contains("must be HOST:PORT of the router's gRPC door").doesNotContain("\n");
    } finally {
      server.stop(0);
    }
  }

  @Test
  void aGrpcServerWithoutTheRoutersServicesIsSaidToBeNoRoutersDoor() throws Exception {
    // A gRPC server with only health, as a large-model server has no cascade.v1.Cascade.
    io.grpc.Server server = io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder.forAddress(
        new java.net.InetSocketAddress(java.net.InetAddress.getLoopbackAddress(), 0))
        .addService(new io.grpc.protobuf.services.HealthStatusManager().getHealthService()).build().start();
    try {
      String target = "127.0.0.1:" + server.getPort();
      CommandLineRun run = CommandLineRun.of("ask", "--target", target, "--prompt", "cascade");
      assertThat(run.exitCode()).isEqualTo(1);
      assertThat(run.err().strip()).isEqualTo("error: --target: " + target + " answers gRPC but has no"
          + " cascade.v1.Cascade/Generate; it must be HOST:PORT of the router's gRPC door (the grpc= line of 'cascade"
          + " serve' or 'cascade demo --serve'), not a large-model server's port (large-model=)");
      CommandLineRun policy = CommandLineRun.of("policy", "get", "--target", target);
      assertThat(policy.err()).contains("has no cascade.v1.PolicyAdmin/");
    } finally {
      server.shutdownNow();
    }
  }

  @Test
  void aStatusWithTheResponsesHeadersIsTheServersAndOneWithoutIsTheClientsOwn() {
    io.grpc.Metadata response = new io.grpc.Metadata();
    response.put(io.grpc.Metadata.Key.of("content-type", io.grpc.Metadata.ASCII_STRING_MARSHALLER), "application/grpc");
    assertThat(TargetOption.answeredByTheServer(io.grpc.Status.UNAVAILABLE.withDescription("not ready")
        .asRuntimeException(response))).isTrue();
    assertThat(TargetOption.answeredByTheServer(io.grpc.Status.UNAVAILABLE
        .withDescription("Network closed for unknown reason").asRuntimeException(new io.grpc.Metadata()))).isFalse();
    assertThat(TargetOption.answeredByTheServer(io.grpc.Status.UNAVAILABLE.asRuntimeException())).isFalse();
  }

  @Test
  void nothingListeningIsSaidAsARefusedConnectionWithoutTheTlsHint() throws Exception {
    int port;
    try (ServerSocket socket = new ServerSocket(0)) {
      port = socket.getLocalPort();
    }
    CommandLineRun run = CommandLineRun.of("ask", "--target", "127.0.0.1:" + port, "--prompt", "cascade");
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.err().strip()).isEqualTo("error: --target 127.0.0.1:" + port + ": nothing listens there (connection"
        + " refused) (UNAVAILABLE); it must be HOST:PORT of a running router's gRPC door, the grpc= line that serve and"
        + " demo --serve print");
    CommandLineRun unresolved = CommandLineRun.of("policy", "get", "--target", "no-such-host.invalid:50051");
    assertThat(unresolved.exitCode()).isEqualTo(1);
    assertThat(unresolved.err().strip()).startsWith("error: --target no-such-host.invalid:50051: the host name does"
        + " not resolve (UNAVAILABLE)").doesNotContain("\n");
  }
}
