package dev.cascade.router.topics;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import org.apache.kafka.common.utils.Utils;

/**
 * What listens at the addresses of {@code bootstrap.servers}, asked once a Kafka client has had
 * no answer there in time, so that the error says which of three things is wrong: nothing accepts
 * a TCP connection (the broker is down, or the address is not reachable from here); something
 * accepts one but does not answer a Kafka request (another server's port, such as a large model's
 * HTTP port, or a listener that expects TLS); or a broker answers (then the client's trouble is
 * past the bootstrap: the addresses the brokers advertise). Kafka's client only logs such things
 * (an "invalid receive" of an HTTP answer read as a size), so the probe asks itself: a TCP
 * connection, then an {@code ApiVersions} request (version 0, which every broker answers, with an
 * error code at worst), whose answer must carry the request's correlation id.
 */
final class BrokerProbe {

  /** What one address did. */
  enum Found {
    /** No TCP connection. */
    NOTHING,
    /** A TCP connection, and not asked further (the client speaks TLS there). */
    CONNECTION,
    /** A TCP connection, and no Kafka answer to a Kafka request. */
    NOT_KAFKA,
    /** A Kafka answer. */
    KAFKA
  }

  /**
   * @param address {@code HOST:PORT} as in {@code bootstrap.servers}
   * @param detail what it did, in words ("answered as an HTTP server"), for the message
   */
  record Result(String address, Found found, String detail) {}

  private static final short API_VERSIONS = 18;
  private static final int CORRELATION_ID = 0x0CA5CADE;
  private static final byte[] CLIENT_ID = "cascade-probe".getBytes(StandardCharsets.UTF_8);

  private BrokerProbe() {}

  /**
   * Asks each address of {@code bootstrap} in turn, each connection and answer waited for up to
   * {@code timeoutMs}, and returns the most telling result: a Kafka answer, else something that is
   * not Kafka, else a bare connection, else nothing (null when no entry is {@code HOST:PORT}).
   *
   * @param speaksPlaintext whether the client speaks Kafka's protocol in the clear there
   *     ({@code security.protocol} PLAINTEXT or SASL_PLAINTEXT, whose brokers answer
   *     {@code ApiVersions} before authentication); with TLS only the connection is tried
   */
  static Result probe(Object bootstrap, boolean speaksPlaintext, int timeoutMs) {
    Result best = null;
    for (String entry : BootstrapNames.entries(bootstrap)) {
      String host = Utils.getHost(entry);
      Integer port = Utils.getPort(entry);
      if (host == null || port == null) {
        continue;
      }
      Result r = probe(entry, new InetSocketAddress(host, port), speaksPlaintext, timeoutMs);
      if (best == null || r.found().ordinal() > best.found().ordinal()) {
        best = r;
      }
      if (best.found() == Found.KAFKA) {
        break;
      }
    }
    return best;
  }

  static Result probe(String entry, InetSocketAddress address, boolean speaksPlaintext, int timeoutMs) {
    if (address.isUnresolved()) {
      return new Result(entry, Found.NOTHING, "does not resolve");
    }
    try (Socket socket = new Socket()) {
      try {
        socket.connect(address, timeoutMs);
      } catch (IOException e) {
        return new Result(entry, Found.NOTHING, String.valueOf(e.getMessage()));
      }
      if (!speaksPlaintext) {
        return new Result(entry, Found.CONNECTION, "accepts TCP connections");
      }
      socket.setSoTimeout(timeoutMs);
      socket.getOutputStream().write(apiVersionsRequest());
      socket.getOutputStream().flush();
      byte[] head = new byte[8];
      int read = readUpTo(socket.getInputStream(), head);
      ByteBuffer answer = ByteBuffer.wrap(head);
      if (read == head.length && answer.getInt(0) >= 4 && answer.getInt(0) < (1 << 20)
          && answer.getInt(4) == CORRELATION_ID) {
        return new Result(entry, Found.KAFKA, "answers Kafka requests");
      }
      return new Result(entry, Found.NOT_KAFKA, notKafka(head, read));
    } catch (SocketTimeoutException e) {
      return new Result(entry, Found.NOT_KAFKA, "accepts TCP connections but sent nothing back to a Kafka request"
          + " within " + timeoutMs + " ms");
    } catch (IOException e) {
      return new Result(entry, Found.NOT_KAFKA, "accepts TCP connections but failed a Kafka request ("
          + e.getMessage() + ")");
    }
  }

  /** What the first bytes of a non-Kafka answer say about the server. */
  private static String notKafka(byte[] head, int read) {
    if (read <= 0) {
      return "accepts TCP connections but closed the connection at a Kafka request";
    }
    String text = new String(head, 0, read, StandardCharsets.ISO_8859_1);
    if (text.startsWith("HTTP/")) {
      return "accepts TCP connections but answered a Kafka request as an HTTP server";
    }
    if (read == head.length && head[3] == 0x04 && head[4] == 0 && head[5] == 0 && head[6] == 0 && head[7] == 0) {
      // An HTTP/2 server's first frame is its SETTINGS (type 4, stream 0): a gRPC port, say.
      return "accepts TCP connections but answered a Kafka request as an HTTP/2 server (gRPC, say)";
    }
    if (head[0] == 0x15 || head[0] == 0x16) {
      return "accepts TCP connections but answered a Kafka request with TLS (a TLS listener)";
    }
    StringBuilder hex = new StringBuilder();
    for (int i = 0; i < read; i++) {
      hex.append(String.format(Locale.ROOT, "%02X", head[i] & 0xFF));
    }
    return "accepts TCP connections but did not answer a Kafka request as a broker does (it sent " + hex + ")";
  }

  /** Reads until {@code into} is full or the stream ends; returns the bytes read. */
  private static int readUpTo(InputStream in, byte[] into) throws IOException {
    int n = 0;
    while (n < into.length) {
      int r = in.read(into, n, into.length - n);
      if (r < 0) {
        break;
      }
      n += r;
    }
    return n;
  }

  /**
   * An {@code ApiVersions} request, version 0, with its size: request header v1 (API key, version,
   * correlation id, client id) and an empty body.
   */
  static byte[] apiVersionsRequest() {
    int size = 2 + 2 + 4 + 2 + CLIENT_ID.length;
    ByteBuffer b = ByteBuffer.allocate(4 + size);
    b.putInt(size).putShort(API_VERSIONS).putShort((short) 0).putInt(CORRELATION_ID)
        .putShort((short) CLIENT_ID.length).put(CLIENT_ID);
    return b.array();
  }

  /** Whether {@code securityProtocol} (null: the default, PLAINTEXT) speaks Kafka in the clear. */
  static boolean plaintext(Object securityProtocol) {
    String p = securityProtocol == null ? "PLAINTEXT" : String.valueOf(securityProtocol).trim()
        .toUpperCase(Locale.ROOT);
    return List.of("PLAINTEXT", "SASL_PLAINTEXT").contains(p);
  }
}
