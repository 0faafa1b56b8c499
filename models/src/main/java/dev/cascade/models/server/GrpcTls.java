package dev.cascade.models.server;

import io.grpc.ChannelCredentials;
import io.grpc.InsecureChannelCredentials;
import io.grpc.InsecureServerCredentials;
import io.grpc.ServerCredentials;
import io.grpc.TlsChannelCredentials;
import io.grpc.TlsServerCredentials;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.TrustManagerFactory;

/**
 * TLS for every cascade gRPC server and client, from key stores (PKCS12 or JKS, as {@code keytool}
 * makes them): a server's own key and certificate, and the certificates a peer is trusted by. A
 * server given a client trust store requires client certificates (mutual TLS). No store at all:
 * plaintext, as before.
 */
public final class GrpcTls {

  private GrpcTls() {}

  /**
   * A key store and its password.
   *
   * @param path the store; null means none
   */
  public record Store(Path path, String password) {

    /** No store. */
    public static final Store NONE = new Store(null, "");

    /** A store at {@code path} (blank or null: none). */
    public static Store of(String path, String password) {
      return path == null || path.isBlank() ? NONE : new Store(Path.of(path), password == null ? "" : password);
    }

    public boolean present() {
      return path != null;
    }

    KeyStore load() {
      try (InputStream in = Files.newInputStream(path)) {
        KeyStore store = KeyStore.getInstance(path.toString().endsWith(".jks") ? "JKS" : "PKCS12");
        store.load(in, password.toCharArray());
        return store;
      } catch (java.nio.file.NoSuchFileException e) {
        throw new UncheckedIOException("cannot read key store " + path + ": no such file", e);
      } catch (IOException e) {
        throw new UncheckedIOException("cannot read key store " + path + ": " + e.getMessage(), e);
      } catch (GeneralSecurityException e) {
        throw new IllegalArgumentException("key store " + path + " is unusable: " + e.getMessage(), e);
      }
    }
  }

  /**
   * Opens {@code store} as a server's or client's own key store, the way {@link #server} and
   * {@link #client} will: with its password, which must open its private key too.
   *
   * @throws UncheckedIOException when it cannot be read (no such file, a wrong password)
   * @throws IllegalArgumentException when it holds no private key, or the password does not open it
   */
  public static void checkKeyStore(Store store) {
    KeyStore keys = store.load();
    try {
      boolean hasKey = false;
      for (String alias : java.util.Collections.list(keys.aliases())) {
        hasKey |= keys.isKeyEntry(alias);
      }
      if (!hasKey) {
        throw new IllegalArgumentException("key store " + store.path() + " holds no private key (a trust store?)");
      }
      keyManagers(store);
    } catch (GeneralSecurityException e) {
      throw new IllegalArgumentException("key store " + store.path() + " is unusable: " + e.getMessage(), e);
    }
  }

  /**
   * Opens {@code store} as a trust store, the way {@link #server} and {@link #client} will.
   *
   * @throws UncheckedIOException when it cannot be read (no such file, a wrong password)
   * @throws IllegalArgumentException when it holds no certificate
   */
  public static void checkTrustStore(Store store) {
    KeyStore trust = store.load();
    try {
      if (trust.size() == 0) {
        throw new IllegalArgumentException("trust store " + store.path() + " holds no certificate");
      }
      trustManagers(store);
    } catch (GeneralSecurityException e) {
      throw new IllegalArgumentException("trust store " + store.path() + " is unusable: " + e.getMessage(), e);
    }
  }

  /**
   * Server credentials: TLS with {@code keyStore}'s key and certificate, requiring client
   * certificates trusted by {@code clientTrust} when that is present; plaintext without a key store.
   */
  public static ServerCredentials server(Store keyStore, Store clientTrust) {
    if (!keyStore.present()) {
      if (clientTrust.present()) {
        throw new IllegalArgumentException("a client trust store (mutual TLS) needs the server's own key store too");
      }
      return InsecureServerCredentials.create();
    }
    try {
      TlsServerCredentials.Builder tls = TlsServerCredentials.newBuilder().keyManager(keyManagers(keyStore));
      if (clientTrust.present()) {
        tls.trustManager(trustManagers(clientTrust)).clientAuth(TlsServerCredentials.ClientAuth.REQUIRE);
      }
      return tls.build();
    } catch (GeneralSecurityException e) {
      throw new IllegalArgumentException("TLS from " + keyStore.path() + ": " + e.getMessage(), e);
    }
  }

  /**
   * Channel credentials: TLS trusting the certificates in {@code trust} (the JDK's default trust
   * when absent but a client key store is given), presenting {@code keyStore}'s certificate when
   * present (mutual TLS); plaintext when neither is given.
   */
  public static ChannelCredentials client(Store trust, Store keyStore) {
    if (!trust.present() && !keyStore.present()) {
      return InsecureChannelCredentials.create();
    }
    try {
      TlsChannelCredentials.Builder tls = TlsChannelCredentials.newBuilder();
      if (trust.present()) {
        tls.trustManager(trustManagers(trust));
      }
      if (keyStore.present()) {
        tls.keyManager(keyManagers(keyStore));
      }
      return tls.build();
    } catch (GeneralSecurityException e) {
      throw new IllegalArgumentException("TLS client credentials: " + e.getMessage(), e);
    }
  }

  /**
   * A JDK TLS context (for HTTP clients) trusting {@code trust} (the JDK's default trust when
   * absent) and presenting {@code keyStore}'s certificate when present; null when neither is given.
   */
  public static javax.net.ssl.SSLContext clientContext(Store trust, Store keyStore) {
    if (!trust.present() && !keyStore.present()) {
      return null;
    }
    try {
      javax.net.ssl.SSLContext context = javax.net.ssl.SSLContext.getInstance("TLS");
      context.init(keyStore.present() ? keyManagers(keyStore) : null, trust.present() ? trustManagers(trust) : null,
          null);
      return context;
    } catch (GeneralSecurityException e) {
      throw new IllegalArgumentException("TLS client context: " + e.getMessage(), e);
    }
  }

  private static javax.net.ssl.KeyManager[] keyManagers(Store store) throws GeneralSecurityException {
    KeyManagerFactory factory = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
    factory.init(store.load(), store.password().toCharArray());
    return factory.getKeyManagers();
  }

  private static javax.net.ssl.TrustManager[] trustManagers(Store store) throws GeneralSecurityException {
    TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    factory.init(store.load());
    return factory.getTrustManagers();
  }
}
