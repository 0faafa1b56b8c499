package dev.cascade.router;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Self-signed certificates made by the JDK's {@code keytool} at test time, in PKCS12 stores. */
public final class TestCertificates {

  private TestCertificates() {}

  /** A key pair with a self-signed certificate for localhost and 127.0.0.1, in {@code dir/NAME.p12} (and NAME.pem). */
  public static Path keyPair(Path dir, String name, String password) throws Exception {
    Path store = dir.resolve(name + ".p12");
    keytool("-genkeypair", "-alias", name, "-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN=localhost",
        "-ext", "SAN=dns:localhost,ip:127.0.0.1", "-validity", "2", "-storetype", "PKCS12", "-keystore",
        store.toString(), "-storepass", password, "-keypass", password);
    keytool("-exportcert", "-alias", name, "-keystore", store.toString(), "-storepass", password, "-rfc", "-file",
        dir.resolve(name + ".pem").toString());
    return store;
  }

  /** A trust store holding NAME's certificate (made by {@link #keyPair}), in {@code dir/NAME-trust.p12}. */
  public static Path trustStoreOf(Path dir, String name, String password) throws Exception {
    Path store = dir.resolve(name + "-trust.p12");
    keytool("-importcert", "-noprompt", "-alias", name, "-file", dir.resolve(name + ".pem").toString(),
        "-storetype", "PKCS12", "-keystore", store.toString(), "-storepass", password);
    return store;
  }

  private static void keytool(String... args) throws Exception {
    List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "keytool")
        .toString()));
    command.addAll(List.of(args));
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String output = new String(p.getInputStream().readAllBytes());
    assertThat(p.waitFor()).as(output).isZero();
  }
}
