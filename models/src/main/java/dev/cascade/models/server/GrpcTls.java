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
import javax.net.ssl.KeyManager;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.TrustManager;
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
   * A key store's and a trust store's contents, each read from its file once: what {@link #server},
   * {@link #client} and {@link #clientContext} build from, so that credentials and contexts made
   * from the same stores share one reading of each.
   *
   * @param keys the key managers of a key store; null for none
   * @param trust the trust managers of a trust store; null for none
   */
  public record Opened(KeyManager[] keys, TrustManager[] trust) {

    /** Neither store: plaintext. */
    public static final Opened NONE = new Opened(null, null);

    /** Opens {@code keyStore} ({@link #openKeyStore}) and {@code trust} ({@link #openTrustStore}). */
    public static Opened of(Store keyStore, Store trust) {
      return new Opened(openKeyStore(keyStore), openTrustStore(trust));
    }
  }

  /**
   * Reads {@code store} once as a server's or client's own key store: with its password, which must
   * open its private key too. Null when there is no store.
   *
   * @throws UncheckedIOException when it cannot be read (no such file, a wrong password)
   * @throws IllegalArgumentException when it holds no private key, or the password does not open it
   */
  public static KeyManager[] openKeyStore(Store store) {
    if (!store.present()) {
      return null;
    }
    KeyStore keys = store.load();
    try {
      boolean hasKey = false;
      for (String alias : java.util.Collections.list(keys.aliases())) {
        hasKey |= keys.isKeyEntry(alias);
      }
      if (!hasKey) {
        throw new IllegalArgumentException("key store " + store.path() + " holds no private key (a trust store?)");
      }
      KeyManagerFactory factory = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
      factory.init(keys, store.password().toCharArray());
      return factory.getKeyManagers();
    } catch (GeneralSecurityException e) {
      throw new IllegalArgumentException("key store " + store.path() + " is unusable: " + e.getMessage(), e);
    }
  }

  /**
   * Reads {@code store} once as a trust store. Null when there is no store.
   *
   * @throws UncheckedIOException when it cannot be read (no such file, a wrong password)
   * @throws IllegalArgumentException when it holds no certificate
   */
  public static TrustManager[] openTrustStore(Store store) {
    if (!store.present()) {
      return null;
    }
    KeyStore trust = store.load();
    try {
      if (trust.size() == 0) {
        throw new IllegalArgumentException("trust store " + store.path() + " holds no certificate");
      }
      TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      factory.init(trust);
      return factory.getTrustManagers();
    } catch (GeneralSecurityException e) {
      throw new IllegalArgumentException("trust store " + store.path() + " is unusable: " + e.getMessage(), e);
    }
  }

  /**
   * Server credentials: TLS with {@code keyStore}'s key and certificate, requiring client
   * certificates trusted by {@code clientTrust} when that is present; plaintext without a key store.
   */
  public static ServerCredentials server(Store keyStore, Store clientTrust) {
    requireKeysForClientTrust(keyStore.present(), clientTrust.present());
    return server(Opened.of(keyStore, clientTrust));
  }

  /** As {@link #server(Store, Store)}, from stores already read: the client trust is {@code opened}'s trust. */
  public static ServerCredentials server(Opened opened) {
    requireKeysForClientTrust(opened.keys() != null, opened.trust() != null);
    if (opened.keys() == null) {
      return InsecureServerCredentials.create();
    }
    TlsServerCredentials.Builder tls = TlsServerCredentials.newBuilder().keyManager(opened.keys());
    if (opened.trust() != null) {
      tls.trustManager(opened.trust()).clientAuth(TlsServerCredentials.ClientAuth.REQUIRE);
    }
    return tls.build();
  }

  private static void requireKeysForClientTrust(boolean keys, boolean clientTrust) {
    if (!keys && clientTrust) {
      throw new IllegalArgumentException("a client trust store (mutual TLS) needs the server's own key store too");
    }
  }

  /**
   * Channel credentials: TLS trusting the certificates in {@code trust} (the JDK's default trust
   * when absent but a client key store is given), presenting {@code keyStore}'s certificate when
   * present (mutual TLS); plaintext when neither is given.
   */
  public static ChannelCredentials client(Store trust, Store keyStore) {
    return client(Opened.of(keyStore, trust));
  }

  /** As {@link #client(Store, Store)}, from stores already read. */
  public static ChannelCredentials client(Opened opened) {
    if (opened.trust() == null && opened.keys() == null) {
      return InsecureChannelCredentials.create();
    }
    TlsChannelCredentials.Builder tls = TlsChannelCredentials.newBuilder();
    if (opened.trust() != null) {
      tls.trustManager(opened.trust());
    }
    if (opened.keys() != null) {
      tls.keyManager(opened.keys());
    }
    return tls.build();
  }

  /**
   * A JDK TLS context (for HTTP clients) trusting {@code opened}'s trust (the JDK's default trust
   * when absent) and presenting its key store's certificate when present; null when neither is given.
   */
  public static javax.net.ssl.SSLContext clientContext(Opened opened) {
    if (opened.trust() == null && opened.keys() == null) {
      return null;
    }
    try {
      javax.net.ssl.SSLContext context = javax.net.ssl.SSLContext.getInstance("TLS");
      context.init(opened.keys(), opened.trust(), null);
      return context;
    } catch (GeneralSecurityException e) {
      throw new IllegalArgumentException("TLS client context: " + e.getMessage(), e);
    }
  }
}
