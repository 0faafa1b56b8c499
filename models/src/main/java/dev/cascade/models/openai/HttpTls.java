package dev.cascade.models.openai;

import dev.cascade.models.server.GrpcTls;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import javax.net.ssl.SSLContext;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.DetectorConnectionFactory;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.SecureRequestCustomizer;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.SslConnectionFactory;
import org.eclipse.jetty.util.Callback;
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
    SslConnectionFactory tlsFactory = new SslConnectionFactory(ssl, http.getProtocol());
    return new ServerConnector(server, new PlainRefused(tlsFactory), tlsFactory, http);
  }

  /** The body of the answer to a plain HTTP request sent to a TLS port. */
  static final String PLAIN_REFUSAL = "{\"error\":{\"message\":\"this port speaks HTTPS (TLS): send the request to"
      + " https:// (in a cascade target, openais://), not http://\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"https_required\"}}";

  /**
   * Hands a connection that starts with a TLS handshake to TLS, and answers one that does not (a
   * client that sent plain HTTP to the HTTPS port) with 400 and an error saying so, as an OpenAI
   * error body, then closes it; without this the client would get only a TLS alert, which an HTTP
   * client reports as a garbled response.
   */
  private static final class PlainRefused extends DetectorConnectionFactory {

    PlainRefused(SslConnectionFactory tls) {
      super(tls);
    }

    @Override
    protected void nextProtocol(Connector connector, EndPoint endPoint, ByteBuffer buffer) {
      byte[] body = PLAIN_REFUSAL.getBytes(StandardCharsets.UTF_8);
      String head = "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: " + body.length
          + "\r\nConnection: close\r\n\r\n";
      endPoint.write(Callback.from(endPoint::close, failure -> endPoint.close()),
          ByteBuffer.wrap(head.getBytes(StandardCharsets.US_ASCII)), ByteBuffer.wrap(body));
    }
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
