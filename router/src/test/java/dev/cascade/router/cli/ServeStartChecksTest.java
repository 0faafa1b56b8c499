package dev.cascade.router.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.TestCertificates;
import dev.cascade.router.api.CommandLineRun;
import dev.cascade.router.config.CascadeConfig;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What {@code serve} checks before it loads the model or touches Kafka: its ports (one line each,
 * naming the key), a mutual-TLS setting without the door's own key store, and that each key and
 * trust store opens with its password. (Kafka here is 127.0.0.1:1, where nothing answers: a check
 * made after Kafka would take the 60 s of a Kafka client's timeout and exit 1.)
 */
class ServeStartChecksTest {

  private static CommandLineRun serve(String... sets) {
    String[] args = new String[5 + sets.length * 2];
    args[0] = "serve";
    args[1] = "--set";
    args[2] = "bootstrap.servers=127.0.0.1:1";
    args[3] = "--set";
    args[4] = "large.target=127.0.0.1:2";
    for (int i = 0; i < sets.length; i++) {
      args[5 + 2 * i] = "--set";
      args[6 + 2 * i] = sets[i];
    }
    return CommandLineRun.of(args);
  }

  /** {@code serve} with {@code tiers}, their {@code cost.tiers.per-token} and one middle-tier rule (no large.target). */
  private static CommandLineRun tiered(String tiers, String costs, String... more) {
    List<String> args = new java.util.ArrayList<>(List.of("serve", "--set", "bootstrap.servers=127.0.0.1:1", "--set",
        "tiers=" + tiers, "--set", "cost.tiers.per-token=" + costs, "--set", "policy.tier-rules=chow-sum:1"));
    for (String set : more) {
      args.add("--set");
      args.add(set);
    }
    return CommandLineRun.of(args.toArray(String[]::new));
  }

  @Test
  void targetRatesThatDoNotCountTheMiddleTiersOrLieOutsideZeroToOneAreRefusedBeforeKafka() {
    CommandLineRun run = tiered("medium=127.0.0.1:3,large=127.0.0.1:5", "4,12", "policy.tier-target-rates=0.3,0.2");
    assertThat(run.exitCode()).isEqualTo(2);
    assertThat(run.err().strip()).isEqualTo("error: policy.tier-target-rates: has 2 rates for the 1 middle tier of"
        + " policy.tier-rules: give one per middle tier, in order (0 keeps a tier's fixed threshold), or none");
    run = tiered("medium=127.0.0.1:3,large=127.0.0.1:5", "4,12", "policy.tier-target-rates=1.5");
    assertThat(run.exitCode()).isEqualTo(2);
    assertThat(run.err().strip()).startsWith("error: policy.tier-target-rates").contains("1.5")
        .contains("numbers in [0, 1]");
  }

  @Test
  void middleTierRulesWithoutMiddleTiersAreRefusedBeforeKafkaNamingBothKeys() {
    CommandLineRun run = serve("policy.tier-rules=chow-sum:1.0");
    assertThat(run.exitCode()).isEqualTo(2);
    assertThat(run.err().strip()).startsWith("error: policy.tier-rules: has 1 rule, but tiers names no models:")
        .contains("leave policy.tier-rules empty").doesNotContain("\n");
  }

  @Test
  void tierRulesThatDoNotCountTheMiddleTiersAreRefusedBeforeKafkaNamingBothKeys() {
    CommandLineRun run = tiered("medium=127.0.0.1:3,big=127.0.0.1:4,large=127.0.0.1:5", "4,8,12");
    assertThat(run.exitCode()).isEqualTo(2);
    assertThat(run.err().strip()).isEqualTo("error: policy.tier-rules: has 1 rule for a cascade of 4 models: each of"
        + " the 2 middle tiers (every model in tiers but the last) needs one, in order");
  }

  @Test
  void twoDoorsOnOnePortAreRefusedNamingBothKeys() {
    CommandLineRun run = serve("grpc.port=19711", "http.port=19711");
    assertThat(run.exitCode()).isEqualTo(2);
    assertThat(run.err().strip()).isEqualTo("error: http.port 19711: the same port as grpc.port");
  }

  @Test
  void aTakenPortIsOneLineAndExit1() throws Exception {
    try (ServerSocket taken = new ServerSocket()) {
      taken.bind(new InetSocketAddress(0));
      CommandLineRun run = serve("metrics.port=" + taken.getLocalPort());
      assertThat(run.exitCode()).isEqualTo(1);
      assertThat(run.err().strip()).isEqualTo("error: metrics.port " + taken.getLocalPort() + ": address already in use");
    }
  }

  @Test
  void aDoorIsCheckedOnTheInterfaceItIsToldToListenOn() {
    // 203.0.113.77 (TEST-NET-3) is no address of this machine: the trial bind there fails, before anything loads.
    CommandLineRun run = serve("grpc.host=203.0.113.77", "grpc.port=20410");
    assertThat(run.exitCode()).isEqualTo(2);
    assertThat(run.err().strip()).isEqualTo("error: grpc.port 20410: cannot listen there: cannot assign requested address");
    run = serve("grpc.port=20411", "http.host=203.0.113.77", "http.port=20412");
    assertThat(run.err().strip()).isEqualTo("error: http.port 20412: cannot listen there: cannot assign requested address");
    run = serve("metrics.host=a host");
    assertThat(run.exitCode()).isEqualTo(2);
    assertThat(run.err().strip()).startsWith("error: metrics.host: value 'a host' from the command line is invalid");
  }

  @Test
  void aClientTrustStoreWithoutTheDoorsKeyStoreNamesBothKeys() {
    CommandLineRun run = serve("grpc.tls.client-trust-store=/nonexistent/clients.p12");
    assertThat(run.exitCode()).isEqualTo(2);
    assertThat(run.err().strip()).isEqualTo("error: grpc.tls.client-trust-store: mutual TLS needs the door's own key"
        + " and certificate too: set grpc.tls.key-store");
    run = serve("http.tls.client-trust-store=/nonexistent/clients.p12");
    assertThat(run.exitCode()).isEqualTo(2);
    assertThat(run.err().strip()).isEqualTo("error: http.tls.client-trust-store: mutual TLS needs the door's own key"
        + " and certificate too: set http.tls.key-store");
  }

  @Test
  void aMissingOrMalformedApiKeysFileStopsTheStartBeforeAnythingRuns(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
      throws Exception {
    CommandLineRun missing = serve("api.keys-file=/nonexistent/keys");
    assertThat(missing.exitCode()).isEqualTo(2);
    assertThat(missing.err().strip()).isEqualTo("error: api.keys-file: /nonexistent/keys: no such file (from the command"
        + " line)");
    java.nio.file.Path bad = java.nio.file.Files.writeString(dir.resolve("keys"), "team short\n");
    CommandLineRun malformed = serve("api.keys-file=" + bad);
    assertThat(malformed.exitCode()).isEqualTo(2);
    assertThat(malformed.err().strip()).isEqualTo("error: api.keys-file: " + bad + " line 1: the key of 'team'"
        + " (second field) has 5 characters; a key needs at least 16 (from the command line)");
  }

  @Test
  void largeTargetBesideTiersIsRefusedAsIgnored() {
    CommandLineRun run = serve("tiers=medium=127.0.0.1:3,large=127.0.0.1:4", "cost.tiers.per-token=4,12",
        "policy.tier-rules=chow-sum:1");
    assertThat(run.exitCode()).isEqualTo(2);
    assertThat(run.err().strip()).startsWith("error: large.target: is set beside tiers")
        .endsWith("large.target would be ignored; leave it empty");
  }

  @Test
  void tierCostsThatFallAlongTheListStopTheStartBeforeKafkaNamingTheKey() {
    CommandLineRun run = tiered("large=127.0.0.1:3,medium=127.0.0.1:4", "12.8,4.5");
    assertThat(run.exitCode()).isEqualTo(2);
    assertThat(run.err().strip()).startsWith("error: cost.tiers.per-token: has costs 12.8 for large then 4.5 for"
        + " medium: a cascade lists its models smallest (cheapest) first");
  }

  @Test
  void parametersThatFallAlongTheListOrDoNotCountEveryTierStopTheStartBeforeKafka() {
    String[] args = {"serve", "--set", "bootstrap.servers=127.0.0.1:1", "--set",
        "tiers=large=127.0.0.1:3,mid=127.0.0.1:4,top=127.0.0.1:5", "--set", "cost.tiers.per-token=4,4,4", "--set",
        "policy.tier-rules=chow-sum:1,chow-sum:1", "--set", "large.parameters=70B,0,7B"};
    CommandLineRun run = CommandLineRun.of(args);
    assertThat(run.exitCode()).isEqualTo(2);
    assertThat(run.err().strip()).startsWith("error: large.parameters: has 70,000,000,000 parameters for large then"
        + " 7,000,000,000 parameters for top: a cascade lists its models smallest first");
    run = serve("large.parameters=7B,70B");
    assertThat(run.exitCode()).isEqualTo(2);
    assertThat(run.err().strip()).isEqualTo("error: large.parameters: has 2 counts, but the cascade has 1 model"
        + " after the small one (large.target): give one per model, in order, 0 for one not given");
  }

  @Test
  void serveLogsItsConfigurationAtStartWithNoSecretValue() {
    // A model directory that does not exist: serve stops right after logging its configuration.
    dev.cascade.router.SystemErr.Captured<CommandLineRun> captured = dev.cascade.router.SystemErr.capture(() -> serve(
        "small.model=/nonexistent/cascade-model-dir", "metrics.enabled=false", "admin.token=tok-VALUE-1",
        "grpc.tls.key-store-password=pw-VALUE-2", "kafka.sasl.jaas.config=x password=\"pw-VALUE-3\";",
        "kafka.ssl.keystore.password=pw-VALUE-4", "kafka.ssl.keystore.location=/etc/kafka/client.p12"));
    CommandLineRun run = captured.result();
    assertThat(run.exitCode()).isEqualTo(2);
    // refused under its key, with where the value came from
    assertThat(run.err()).startsWith("error: small.model: '/nonexistent/cascade-model-dir' is neither a bundled model")
        .contains("(from the command line)");
    String logged = captured.err();
    assertThat(logged).contains("INFO ServeCommand - serve: configuration {")
        .contains("bootstrap.servers=127.0.0.1:1").contains("large.target=127.0.0.1:2")
        .contains("admin.token=****").contains("grpc.tls.key-store-password=****")
        .contains("kafka.ssl.keystore.location=/etc/kafka/client.p12").contains("kafka.sasl.jaas.config=****")
        .doesNotContain("VALUE");
    assertThat(run.err()).doesNotContain("VALUE");
  }

  @Test
  void aPlantedTokenFileStopsTheStartInOneLineExit2(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
      throws Exception {
    java.nio.file.Path planted = java.nio.file.Files.writeString(dir.resolve("admin-token"), "attackerknowsthis\n");
    java.nio.file.Files.setPosixFilePermissions(planted,
        java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
    CommandLineRun run = serve("state.dir=" + dir, "metrics.enabled=false",
        "small.model=/nonexistent/cascade-model-dir");
    assertThat(run.exitCode()).isEqualTo(2);
    assertThat(run.err().strip()).isEqualTo("error: admin.token-file: is empty, and the token file the router chose, "
        + planted + ", is open to group or others (mode rw-r--r--); make it owner-only: chmod 600; remove it, or set"
        + " admin.token-file or state.dir (see SECURITY.md)");
  }

  @Test
  void aKeyStoreItsPasswordDoesNotOpenIsRefusedBeforeKafkaNamingBothKeys(@TempDir Path dir) throws Exception {
    Path store = TestCertificates.keyPair(dir, "door", "right-password");
    long begun = System.nanoTime();
    CommandLineRun run = serve("grpc.tls.key-store=" + store, "grpc.tls.key-store-password=wrong-password");
    assertThat(run.exitCode()).isEqualTo(2);
    assertThat(run.err().strip()).startsWith("error: grpc.tls.key-store: cannot read key store " + store + ": ")
        .endsWith("(its password: grpc.tls.key-store-password)").doesNotContain("\n");
    assertThat((System.nanoTime() - begun) / 1_000_000).isLessThan(20_000);
  }

  @Test
  void aTrustStoreGivenAsTheKeyStoreOrAMissingTrustStoreIsRefused(@TempDir Path dir) throws Exception {
    TestCertificates.keyPair(dir, "door", "secret-pw");
    Path trust = TestCertificates.trustStoreOf(dir, "door", "secret-pw");
    CommandLineRun run = serve("grpc.tls.key-store=" + trust, "grpc.tls.key-store-password=secret-pw");
    assertThat(run.exitCode()).isEqualTo(2);
    assertThat(run.err().strip()).isEqualTo("error: grpc.tls.key-store: key store " + trust
        + " holds no private key (a trust store?) (its password: grpc.tls.key-store-password)");
    run = serve("grpc.tls.key-store=" + dir.resolve("door.p12"), "grpc.tls.key-store-password=secret-pw",
        "grpc.tls.client-trust-store=" + dir.resolve("absent.p12"));
    assertThat(run.exitCode()).isEqualTo(2);
    assertThat(run.err().strip()).isEqualTo("error: grpc.tls.client-trust-store: cannot read key store "
        + dir.resolve("absent.p12") + ": no such file (its password: grpc.tls.client-trust-store-password)");
  }

  /**
   * A named pipe at {@code dir/name} that gives {@code contents} to its first reader only: a second
   * reader waits for a writer that never comes. Null where there is no {@code mkfifo}.
   */
  private static Path readableOnce(Path dir, String name, byte[] contents) throws Exception {
    Path fifo = dir.resolve(name);
    Process mkfifo = new ProcessBuilder("mkfifo", fifo.toString()).redirectErrorStream(true).start();
    mkfifo.getInputStream().readAllBytes();
    if (mkfifo.waitFor() != 0) {
      return null;
    }
    Thread writer = new Thread(() -> {
      try {
        java.nio.file.Files.write(fifo, contents);
      } catch (java.io.IOException e) {
        // the test failed before reading it
      }
    }, "fifo-" + name);
    writer.setDaemon(true);
    writer.start();
    return fifo;
  }

  @Test
  void eachStoreIsReadOnceAndTheDoorAndTheEscalationsUseWhatWasRead(@TempDir Path dir) throws Exception {
    org.junit.jupiter.api.Assumptions.assumeTrue(java.nio.file.FileSystems.getDefault().supportedFileAttributeViews()
        .contains("posix"), "named pipes");
    String password = "secret-pw";
    byte[] keys = java.nio.file.Files.readAllBytes(TestCertificates.keyPair(dir, "door", password));
    byte[] trust = java.nio.file.Files.readAllBytes(TestCertificates.trustStoreOf(dir, "door", password));
    List<Path> pipes = new java.util.ArrayList<>();
    for (String name : List.of("grpc-keys.p12", "grpc-trust.p12", "large-keys.p12", "large-trust.p12",
        "http-keys.p12", "http-trust.p12")) {
      Path pipe = readableOnce(dir, name, name.contains("keys") ? keys : trust);
      org.junit.jupiter.api.Assumptions.assumeTrue(pipe != null, "mkfifo");
      pipes.add(pipe);
    }
    CascadeConfig config = CascadeConfig.defaults()
        .with(CascadeConfig.GRPC_TLS_KEY_STORE, pipes.get(0).toString())
        .with(CascadeConfig.GRPC_TLS_KEY_STORE_PASSWORD, password)
        .with(CascadeConfig.GRPC_TLS_CLIENT_TRUST_STORE, pipes.get(1).toString())
        .with(CascadeConfig.GRPC_TLS_CLIENT_TRUST_STORE_PASSWORD, password)
        .with(CascadeConfig.LARGE_TLS_KEY_STORE, pipes.get(2).toString())
        .with(CascadeConfig.LARGE_TLS_KEY_STORE_PASSWORD, password)
        .with(CascadeConfig.LARGE_TLS_TRUST_STORE, pipes.get(3).toString())
        .with(CascadeConfig.LARGE_TLS_TRUST_STORE_PASSWORD, password)
        .with(CascadeConfig.HTTP_TLS_KEY_STORE, pipes.get(4).toString())
        .with(CascadeConfig.HTTP_TLS_KEY_STORE_PASSWORD, password)
        .with(CascadeConfig.HTTP_TLS_CLIENT_TRUST_STORE, pipes.get(5).toString())
        .with(CascadeConfig.HTTP_TLS_CLIENT_TRUST_STORE_PASSWORD, password);
    try {
      // A store read twice would wait here for the second reading's writer.
      org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(java.time.Duration.ofSeconds(60), () -> {
        ServeCommand.Stores stores = ServeCommand.checkStores(config);
        assertThat(dev.cascade.models.server.GrpcTls.server(stores.door().grpc()))
            .isInstanceOf(io.grpc.TlsServerCredentials.class);
        assertThat(stores.door().http().keys()).isNotNull();
        assertThat(stores.door().http().trust()).isNotNull();
        var transports = dev.cascade.router.escalation.LargeModelTransports.Options.from(config, stores.large());
        assertThat(transports.grpcCredentials()).isInstanceOf(io.grpc.TlsChannelCredentials.class);
        assertThat(transports.sslContext()).isNotNull();
      });
    } finally {
      for (Path pipe : pipes) {
        // Opened for reading and writing, a pipe never waits: this frees a reader (or writer) still waiting on it.
        new java.io.RandomAccessFile(pipe.toFile(), "rw").close();
      }
    }
  }
}
