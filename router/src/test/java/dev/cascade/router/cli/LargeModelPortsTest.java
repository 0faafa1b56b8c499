package dev.cascade.router.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.cascade.router.api.CommandLineRun;
import io.grpc.Grpc;
import io.grpc.InsecureServerCredentials;
import io.grpc.Server;
import java.io.IOException;
import java.net.ServerSocket;
import org.junit.jupiter.api.Test;

/**
 * {@code large-model} told to listen on a port it cannot have: one line naming the option and the
 * port, said before the model is loaded (the runs here name a model directory whose files are
 * empty, which the command line takes but no load can, so an error about the model would mean the
 * ports were checked too late).
 */
class LargeModelPortsTest {

  @org.junit.jupiter.api.io.TempDir
  static java.nio.file.Path unloadable;

  private static String NO_MODEL;

  @org.junit.jupiter.api.BeforeAll
  static void emptyModelFiles() throws java.io.IOException {
    java.nio.file.Files.writeString(unloadable.resolve("model.onnx"), "");
    java.nio.file.Files.writeString(unloadable.resolve("tokenizer.json"), "");
    NO_MODEL = unloadable.toString();
  }

  @Test
  void aStoreThatCannotBeOpenedIsOneLineNamingTheOptionAndItsPasswordBeforeTheModelLoadsExit2(
      @org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
    java.nio.file.Path keys = dev.cascade.router.TestCertificates.keyPair(dir, "server", "right-secret");
    CommandLineRun wrong = CommandLineRun.of("large-model", "--model", NO_MODEL, "--tls-key-store", keys.toString(),
        "--tls-key-store-password", "wrong-secret");
    assertThat(wrong.exitCode()).isEqualTo(2);
    assertThat(wrong.err().strip()).startsWith("error: --tls-key-store: cannot read key store " + keys + ": ")
        .endsWith("(its password: --tls-key-store-password or CASCADE_TLS_KEY_STORE_PASSWORD)");
    CommandLineRun trustAlone = CommandLineRun.of("large-model", "--model", NO_MODEL, "--tls-client-trust-store",
        dev.cascade.router.TestCertificates.trustStoreOf(dir, "server", "right-secret").toString(),
        "--tls-client-trust-store-password", "right-secret");
    assertThat(trustAlone.exitCode()).isEqualTo(2);
    assertThat(trustAlone.err().strip()).startsWith("error: --tls-client-trust-store (mutual TLS) needs"
        + " --tls-key-store too");
  }

  @Test
  void aPortOutOfRangeIsOneLineNamingTheOptionBeforeTheModelLoadsExit2() {
    for (String option : new String[] {"--port", "--http-port", "--metrics-port"}) {
      CommandLineRun run = CommandLineRun.of("large-model", "--model", NO_MODEL, option, "70000");
      assertThat(run.exitCode()).as(option).isEqualTo(2);
      assertThat(run.err().strip()).as(option).isEqualTo("error: " + option + ": must be 0 to 65535, was 70000");
    }
    CommandLineRun negative = CommandLineRun.of("large-model", "--model", NO_MODEL, "--port", "-1");
    assertThat(negative.err().strip()).isEqualTo("error: --port: must be 0 to 65535, was -1");
  }

  @Test
  void aPortInUseIsOneLineNamingTheOptionAndThePortExit1() throws Exception {
    try (ServerSocket taken = new ServerSocket(0)) {
      int port = taken.getLocalPort();
      for (String option : new String[] {"--port", "--http-port", "--metrics-port"}) {
        CommandLineRun run = CommandLineRun.of("large-model", "--model", NO_MODEL, option, String.valueOf(port));
        assertThat(run.exitCode()).as(option).isEqualTo(1);
        assertThat(run.err().strip()).as(option).isEqualTo("error: " + option + " " + port + ": address already in use");
      }
    }
  }

  @Test
  void twoOptionsOnOnePortAreRefusedBeforeTheModelLoads() throws Exception {
    int port;
    try (ServerSocket free = new ServerSocket(0)) {
      port = free.getLocalPort();
    }
    CommandLineRun run = CommandLineRun.of("large-model", "--model", NO_MODEL, "--port", String.valueOf(port),
        "--metrics-port", String.valueOf(port));
    assertThat(run.exitCode()).isEqualTo(2);
    assertThat(run.err().strip()).isEqualTo("error: --metrics-port " + port + ": the same port as --port");
  }

  @Test
  void aPortTakenAfterTheCheckIsTheSameOneLineWhenTheServerBinds() throws Exception {
    // What the gRPC server throws when the port went between the check and its bind.
    try (ServerSocket taken = new ServerSocket(0)) {
      int port = taken.getLocalPort();
      Server server = Grpc.newServerBuilderForPort(port, InsecureServerCredentials.create()).build();
      IOException bind = catchThrowableOfType(server::start, IOException.class);
      server.shutdownNow();
      assertThat(bind).isNotNull();
      RuntimeException error = Ports.cannotListen("--port", port, bind);
      assertThat(error).isInstanceOf(Ports.PortInUseException.class)
          .hasMessage("--port " + port + ": address already in use");
      // What the metrics endpoint and the HTTP door throw for it.
      java.io.UncheckedIOException metrics = catchThrowableOfType(() -> dev.cascade.router.metrics.MetricsEndpoint
          .start(new io.prometheus.metrics.model.registry.PrometheusRegistry(), port),
          java.io.UncheckedIOException.class);
      assertThat(Ports.cannotListen("--metrics-port", port, metrics))
          .isInstanceOf(Ports.PortInUseException.class).hasMessage("--metrics-port " + port + ": address already in use");
      try (dev.cascade.models.TextGenerator small = dev.cascade.models.TextGenerators.load("small", "OnnxRuntime")) {
        dev.cascade.models.server.LargeModelServer grpc = new dev.cascade.models.server.LargeModelServer(
            io.grpc.inprocess.InProcessServerBuilder.forName("ports-test"), small,
            new dev.cascade.models.server.ServerLimits(1, 1)).start();
        try {
          RuntimeException http = catchThrowableOfType(() -> grpc.serveHttp("0.0.0.0", port), RuntimeException.class);
          assertThat(Ports.isBindFailure(http)).isTrue();
          assertThat(Ports.cannotListen("--http-port", port, http))
              .isInstanceOf(Ports.PortInUseException.class).hasMessage("--http-port " + port + ": address already in use");
        } finally {
          grpc.stop();
        }
      }
    }
  }

  @Test
  void anUnknownHostIsOneLineBeforeTheModelLoadsExit2() {
    CommandLineRun run = CommandLineRun.of("large-model", "--model", NO_MODEL, "--host", "no-such-host.invalid");
    assertThat(run.exitCode()).isEqualTo(2);
    assertThat(run.err().strip()).isEqualTo("error: --host no-such-host.invalid: no such host or address");
    // An address of another machine (TEST-NET-1, never assigned): named as --host, not as the first
    // port whose bind failed.
    CommandLineRun foreign = CommandLineRun.of("large-model", "--model", NO_MODEL, "--host", "192.0.2.1");
    assertThat(foreign.exitCode()).isEqualTo(2);
    assertThat(foreign.err().strip()).isEqualTo("error: --host 192.0.2.1: not an address of this machine (192.0.2.1 is"
        + " on none of its network interfaces)");
  }

  @Test
  void theHostIsWhatItListensOnAndWhatItPrints() throws Exception {
    assertThat(LargeModelCommand.bindAddress("0.0.0.0")).isNull();
    assertThat(LargeModelCommand.bindAddress("::")).isNull();
    assertThat(LargeModelCommand.bindAddress("*")).isNull();
    assertThat(LargeModelCommand.printable(null)).isEqualTo("0.0.0.0");
    java.net.InetAddress loopback = LargeModelCommand.bindAddress("127.0.0.1");
    assertThat(loopback.isLoopbackAddress()).isTrue();
    assertThat(LargeModelCommand.printable(loopback)).isEqualTo("127.0.0.1");
    assertThat(LargeModelCommand.printable(LargeModelCommand.bindAddress("[::1]"))).isEqualTo("[0:0:0:0:0:0:0:1]");
    // A port taken on loopback only is found taken when --host is loopback.
    try (ServerSocket taken = new ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress())) {
      CommandLineRun run = CommandLineRun.of("large-model", "--model", NO_MODEL, "--host", "127.0.0.1", "--port",
          String.valueOf(taken.getLocalPort()));
      assertThat(run.exitCode()).isEqualTo(1);
      assertThat(run.err().strip()).isEqualTo("error: --port " + taken.getLocalPort() + ": address already in use");
    }
  }

  @Test
  void theHelpSaysWhereItListens() {
    CommandLineRun run = CommandLineRun.of("large-model", "--help");
    assertThat(run.out()).contains("--host=HOST").contains("every interface").contains("large-model=HOST:PORT")
        .doesNotContain("large-model=127.0.0.1");
  }
}
