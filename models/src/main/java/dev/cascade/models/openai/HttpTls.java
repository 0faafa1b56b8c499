package dev.cascade.models.openai;

import dev.cascade.models.server.GrpcTls;
import java.security.GeneralSecurityException;
import javax.net.ssl.SSLContext;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.SecureRequestCustomizer;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.SslConnectionFactory;
import org.eclipse.jetty.util.ssl.SslContextFactory;

/**
 * The connector of an HTTP door (the router's OpenAI-compatible door, the large-model server's):
 * plain HTTP/1.1, or HTTPS with the key and certificate of a key store and, with a client trust
 * store, mutual TLS (a client must present a certificate that store trusts). The stores are the
 * ones {@link GrpcTls} reads for the gRPC doors, read once.
 */
public final class HttpTls {

  private HttpTls() {}

  /**
   * A connector speaking {@code http} (the door's HTTP/1.1 connection factory) over TLS when
   * {@code tls} has keys, plainly otherwise.
   *
   * @param config the HTTP configuration {@code http} was made with: with TLS it learns the request's
   *     scheme ({@code https}) from the connection; the host name a client asked for (SNI) is not
   *     checked against the certificate, so that a door reached by address or by another name still
   *     answers (the client checks the certificate)
   * @throws IllegalArgumentException a client trust store without a key store
   */
  public static ServerConnector connector(Server server, HttpConfiguration config, HttpConnectionFactory http,
      GrpcTls.Opened tls) {
    if (tls == null || tls.keys() == null) {
      if (tls != null && tls.trust() != null) {
        throw new IllegalArgumentException("a client trust store (mutual TLS) needs the server's own key store too");
      }
      return new ServerConnector(server, http);
    }
    SslContextFactory.Server ssl = new SslContextFactory.Server();
    ssl.setSslContext(context(tls));
    if (tls.trust() != null) {
      ssl.setNeedClientAuth(true);
    }
    SecureRequestCustomizer secure = new SecureRequestCustomizer();
    secure.setSniHostCheck(false);
    config.addCustomizer(secure);
    return new ServerConnector(server, new SslConnectionFactory(ssl, http.getProtocol()), http);
  }

  private static SSLContext context(GrpcTls.Opened tls) {
    try {
      SSLContext context = SSLContext.getInstance("TLS");
      context.init(tls.keys(), tls.trust(), null);
      return context;
    } catch (GeneralSecurityException e) {
      throw new IllegalArgumentException("TLS server context: " + e.getMessage(), e);
    }
  }
}
