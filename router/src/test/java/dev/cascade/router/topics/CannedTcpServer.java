package dev.cascade.router.topics;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.function.Function;

/**
 * A loopback TCP server for tests: to each connection it reads what the client sends first (up
 * to 4 KiB) and writes back what {@code answer} makes of those bytes (null: nothing, and the
 * connection is held open until the client closes it); then it closes the connection.
 */
public final class CannedTcpServer implements AutoCloseable {

  private final ServerSocket socket;
  private final Thread thread;

  public CannedTcpServer(Function<byte[], byte[]> answer) throws IOException {
    socket = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    thread = new Thread(() -> {
      while (!socket.isClosed()) {
        try (Socket client = socket.accept()) {
          InputStream in = client.getInputStream();
          byte[] buffer = new byte[4096];
          int n = in.read(buffer);
          byte[] reply = answer.apply(java.util.Arrays.copyOf(buffer, Math.max(n, 0)));
          if (reply == null) {
            while (in.read(buffer) >= 0) {
              // held open until the client gives up
            }
          } else {
            client.getOutputStream().write(reply);
            client.getOutputStream().flush();
          }
        } catch (IOException e) {
          // closed, or the client went away: next connection
        }
      }
    }, "canned-tcp-server");
    thread.setDaemon(true);
    thread.start();
  }

  /** An HTTP server's answer to bytes it does not understand (what a model's HTTP port says to Kafka). */
  public static CannedTcpServer http() throws IOException {
    return new CannedTcpServer(request -> ("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .getBytes(java.nio.charset.StandardCharsets.US_ASCII));
  }

  /** {@code 127.0.0.1:PORT}. */
  public String address() {
    return "127.0.0.1:" + socket.getLocalPort();
  }

  @Override
  public void close() throws Exception {
    socket.close();
    thread.join(5_000);
  }
}
