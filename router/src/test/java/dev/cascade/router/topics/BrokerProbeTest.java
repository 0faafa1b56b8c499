package dev.cascade.router.topics;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.ServerSocket;
import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;

/**
 * What the probe finds at an address Kafka's client had no answer from: loopback servers that
 * are not Kafka, one that answers a Kafka request's correlation id as a broker does, and nothing.
 * (Real brokers, plaintext and TLS listeners: {@code KafkaTlsIT}.)
 */
class BrokerProbeTest {

  private static String closedPort() throws Exception {
    try (ServerSocket socket = new ServerSocket(0)) {
      return "127.0.0.1:" + socket.getLocalPort();
    }
  }

  @Test
  void nothingListeningIsNothing() throws Exception {
    String address = closedPort();
    BrokerProbe.Result r = BrokerProbe.probe(address, true, 2_000);
    assertThat(r.found()).isEqualTo(BrokerProbe.Found.NOTHING);
    assertThat(r.address()).isEqualTo(address);
    assertThat(KafkaUnreachableException.hint(r, null)).startsWith("is the broker up");
  }

  @Test
  void anHttpPortIsSaidToAnswerAsAnHttpServer() throws Exception {
    try (CannedTcpServer http = CannedTcpServer.http()) {
      BrokerProbe.Result r = BrokerProbe.probe(http.address(), true, 2_000);
      assertThat(r.found()).isEqualTo(BrokerProbe.Found.NOT_KAFKA);
      assertThat(KafkaUnreachableException.hint(r, null)).startsWith(http.address()
          + " accepts TCP connections but answered a Kafka request as an HTTP server: is that the broker's port");
    }
  }

  @Test
  void aGrpcPortIsSaidToAnswerAsAnHttp2Server() throws Exception {
    // What a gRPC server (Netty) sends first: its SETTINGS frame (length 18, type 4, flags 0, stream 0).
    try (CannedTcpServer grpc = new CannedTcpServer(request -> new byte[] {0, 0, 0x12, 4, 0, 0, 0, 0, 0, 0, 3})) {
      assertThat(BrokerProbe.probe(grpc.address(), true, 2_000).detail())
          .isEqualTo("accepts TCP connections but answered a Kafka request as an HTTP/2 server (gRPC, say)");
    }
  }

  @Test
  void aServerThatClosesOrSaysNothingIsNotKafka() throws Exception {
    try (CannedTcpServer closes = new CannedTcpServer(request -> new byte[0]);
        CannedTcpServer silent = new CannedTcpServer(request -> null)) {
      assertThat(BrokerProbe.probe(closes.address(), true, 2_000).detail())
          .isEqualTo("accepts TCP connections but closed the connection at a Kafka request");
      assertThat(BrokerProbe.probe(silent.address(), true, 500).detail())
          .isEqualTo("accepts TCP connections but sent nothing back to a Kafka request within 500 ms");
    }
  }

  @Test
  void anAnswerWithTheRequestsCorrelationIdIsKafkaAndTheMostTellingAddressIsReported() throws Exception {
    // As a broker answers: size, then the correlation id of the request (bytes 8-11 of it).
    try (CannedTcpServer kafka = new CannedTcpServer(request -> ByteBuffer.allocate(10).putInt(6)
            .putInt(ByteBuffer.wrap(request).getInt(8)).putShort((short) 35).array());
        CannedTcpServer http = CannedTcpServer.http()) {
      String nothing = closedPort();
      assertThat(BrokerProbe.probe(nothing + "," + http.address(), true, 2_000).address()).isEqualTo(http.address());
      BrokerProbe.Result r = BrokerProbe.probe(nothing + "," + http.address() + "," + kafka.address(), true, 2_000);
      assertThat(r.found()).isEqualTo(BrokerProbe.Found.KAFKA);
      assertThat(KafkaUnreachableException.hint(r, null)).startsWith(kafka.address() + " answers Kafka requests,"
          + " but the client had no answer in time: do the addresses the brokers advertise (advertised.listeners)");
    }
  }

  @Test
  void overTlsOnlyTheConnectionIsTried() throws Exception {
    try (CannedTcpServer http = CannedTcpServer.http()) {
      BrokerProbe.Result r = BrokerProbe.probe(http.address(), BrokerProbe.plaintext("SSL"), 2_000);
      assertThat(r.found()).isEqualTo(BrokerProbe.Found.CONNECTION);
      assertThat(KafkaUnreachableException.hint(r, "SSL")).isEqualTo(http.address() + " accepts TCP connections,"
          + " but no Kafka answer came over SSL (kafka.security.protocol): is that the broker's listener for SSL,"
          + " and not another server's port?");
    }
    assertThat(BrokerProbe.plaintext(null)).isTrue();
    assertThat(BrokerProbe.plaintext("sasl_plaintext")).isTrue();
    assertThat(BrokerProbe.plaintext("SASL_SSL")).isFalse();
  }
}
