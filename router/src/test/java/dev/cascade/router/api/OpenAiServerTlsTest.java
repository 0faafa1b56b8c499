package dev.cascade.router.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cascade.models.server.GrpcTls;
import dev.cascade.router.TestCertificates;
import dev.cascade.router.routing.RequestValidator;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import javax.net.ssl.SSLContext;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * HTTPS on the HTTP door ({@code http.tls.key-store}, and mutual TLS with {@code
 * http.tls.client-trust-store}) over a real loopback server with certificates made by {@code
 * keytool}, Kafka replaced by {@link FakeChannel}: who gets an answer, and who gets no request in.
 */
class OpenAiServerTlsTest {

  private static final String PASSWORD = "door-secret";
  private static final String BODY = "{\"model\": \"cascade\", \"prompt\": \"gnome\", \"max_tokens\": 8}";

  @TempDir
  Path dir;

  private Path doorKeys;
  private Path doorTrust;
  private Path clientKeys;
  private Path clientTrust;
  private FakeChannel channel;
  private OpenAiServer server;

  @BeforeEach
  void certificates() throws Exception {
    doorKeys = TestCertificates.keyPair(dir, "door", PASSWORD);
    doorTrust = TestCertificates.trustStoreOf(dir, "door", PASSWORD);
    clientKeys = TestCertificates.keyPair(dir, "client", PASSWORD);
    clientTrust = TestCertificates.trustStoreOf(dir, "client", PASSWORD);
  }

  private void start(Path trustedClients) {
    channel = new FakeChannel();
    RequestValidator validator = new RequestValidator(FakeKafkaServer.model(p -> Optional.empty()));
    server = new OpenAiServer(channel, validator, null, TokenCounter.approximate(),
        new OpenAiServer.Settings(Duration.ofSeconds(5), 48, 16, OpenAiServer.bodyLimits(2_000, 65_536, 256), List.of()),
        new FakeKafkaServer.RecordingFeedback()).start("127.0.0.1", 0, GrpcTls.Opened.of(
            GrpcTls.Store.of(doorKeys.toString(), PASSWORD),
            trustedClients == null ? GrpcTls.Store.NONE : GrpcTls.Store.of(trustedClients.toString(), PASSWORD)));
  }

  @AfterEach
  void stop() {
    if (server != null) {
      server.stop();
    }
  }

  private static HttpClient client(SSLContext context) {
    HttpClient.Builder b = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(10));
    return (context == null ? b : b.sslContext(context)).build();
  }

  private static SSLContext trusting(Path trust, Path keys) {
    return GrpcTls.clientContext(GrpcTls.Opened.of(
        keys == null ? GrpcTls.Store.NONE : GrpcTls.Store.of(keys.toString(), PASSWORD),
        GrpcTls.Store.of(trust.toString(), PASSWORD)));
  }

  private HttpResponse<String> complete(HttpClient client, String scheme) throws Exception {
    return client.send(HttpRequest.newBuilder(URI.create(scheme + "://127.0.0.1:" + server.port() + "/v1/completions"))
        .timeout(Duration.ofSeconds(20)).header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(BODY)).build(), HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void aClientTrustingTheDoorsCertificateIsAnsweredOverHttps() throws Exception {
    start(null);
    assertThat(server.secure()).isTrue();
    HttpResponse<String> answer = complete(client(trusting(doorTrust, null)), "https");
    assertThat(answer.statusCode()).as(answer.body()).isEqualTo(200);
    assertThat(answer.body()).contains("\"text\":\"GNOME\"");
    assertThat(channel.submitted).hasSize(1);
    // Models too, and the scheme the door reports.
    HttpResponse<String> models = client(trusting(doorTrust, null)).send(HttpRequest.newBuilder(
        URI.create("https://127.0.0.1:" + server.port() + "/v1/models")).build(), HttpResponse.BodyHandlers.ofString());
    assertThat(models.statusCode()).isEqualTo(200);
  }

  @Test
  void plainHttpIsAnswered400UseHttpsAndAnUntrustedCertificateGetsNoRequestIn() throws Exception {
    start(null);
    // Plain HTTP to the TLS port: 400 saying to use HTTPS (not a TLS alert the client reads as a
    // garbled response), and nothing submitted.
    HttpResponse<String> plain = complete(client(null), "http");
    assertThat(plain.statusCode()).isEqualTo(400);
    assertThat(plain.body()).contains("\"code\":\"https_required\"").contains("this port speaks HTTPS (TLS)");
    assertThat(channel.submitted).isEmpty();
    // A client that does not trust the door's certificate (the JDK's default trust): the handshake fails.
    assertThatThrownBy(() -> complete(client(null), "https")).isInstanceOf(IOException.class);
    assertThat(channel.submitted).isEmpty();
  }

  @Test
  void mutualTlsAnswersOnlyAClientWithATrustedCertificate() throws Exception {
    start(clientTrust);
    assertThatThrownBy(() -> complete(client(trusting(doorTrust, null)), "https")).isInstanceOf(IOException.class);
    // A certificate the door does not trust (the door's own key pair, not in the client trust store).
    assertThatThrownBy(() -> complete(client(trusting(doorTrust, doorKeys)), "https"))
        .isInstanceOf(IOException.class);
    assertThat(channel.submitted).isEmpty();
    HttpResponse<String> answer = complete(client(trusting(doorTrust, clientKeys)), "https");
    assertThat(answer.statusCode()).as(answer.body()).isEqualTo(200);
    assertThat(channel.submitted).hasSize(1);
  }
}
