package dev.cascade.router.escalation;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cascade.models.TextGenerator;
import dev.cascade.models.TextGenerators;
import dev.cascade.models.server.LargeModelServer;
import dev.cascade.models.server.ServerLimits;
import dev.cascade.proto.v1.LargeGenerateRequest;
import dev.cascade.proto.v1.LargeGenerateResponse;
import dev.cascade.proto.v1.LargeModelGrpc;
import io.grpc.Server;
import io.grpc.ServerBuilder;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.OptionalInt;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The escalation client against real servers on loopback: the large model's limits. */
class EscalationClientTest {

  private static EscalationSettings settings(int maxNewTokens) {
    return new EscalationSettings(4, Duration.ofSeconds(20), 0, Duration.ofMillis(1), 50, Duration.ofSeconds(5),
        maxNewTokens);
  }

  @Test
  void aRequestForMoreTokensThanTheLargeModelMakesIsClampedToTheLimitItsServerReports() throws Exception {
    try (TextGenerator large = TextGenerators.load("large", "OnnxRuntime")) {
      LargeModelServer server = new LargeModelServer(ServerBuilder.forPort(0), large, new ServerLimits(1, 4)).start();
      try (EscalationClient client = EscalationClient.connect("127.0.0.1:" + server.port(), settings(0))) {
        int limit = large.info().maxNewTokensLimit();
        assertThat(client.maxNewTokens().get(20, TimeUnit.SECONDS)).isEqualTo(OptionalInt.of(limit));
        // The router's front door accepts up to 512; the server refuses more than its limit.
        LargeAnswer answer = client.generate("r1", "the cat", limit + 16).get(30, TimeUnit.SECONDS);
        assertThat(answer.text()).isEqualTo(large.generate(java.util.List.of("the cat"), limit).get(0).text());
      } finally {
        server.stop();
      }
    }
  }

  @Test
  void aServerWithoutInfoIsCalledUnclampedAndItsRefusalIsARefusalNotAnOutage() throws Exception {
    Server server = ServerBuilder.forPort(0).addService(new AtMostEight()).build().start();
    try (EscalationClient unknown = EscalationClient.connect("127.0.0.1:" + server.getPort(), settings(0));
        EscalationClient configured = EscalationClient.connect("127.0.0.1:" + server.getPort(), settings(8))) {
      assertThat(unknown.maxNewTokens().get(10, TimeUnit.SECONDS)).isEmpty();
      assertThatThrownBy(() -> unknown.generate("r2", "x", 9).get(10, TimeUnit.SECONDS))
          .isInstanceOf(ExecutionException.class)
          .satisfies(e -> assertThat(EscalationClient.isRefusal(Status.fromThrowable(e.getCause()).getCode().name()))
              .isTrue())
          .hasMessageContaining("max_new_tokens");
      // Configured, the limit needs no Info.
      assertThat(configured.generate("r3", "x", 64).get(10, TimeUnit.SECONDS).text()).isEqualTo("8");
      assertThat(EscalationClient.isRefusal("UNAVAILABLE")).isFalse();
      assertThat(EscalationClient.isRefusal("DEADLINE_EXCEEDED")).isFalse();
    } finally {
      server.shutdownNow();
    }
  }

  @Test
  void aDraftGoesOnlyToAServerReportingTheSameTokenizerCutToTheTokenLimit() throws Exception {
    Recording same = new Recording("abc", false);
    Server server = ServerBuilder.forPort(0).addService(same).build().start();
    try (EscalationClient client = EscalationClient.connect("127.0.0.1:" + server.getPort(),
        settings(0).withDraftTokenizer("abc"));
        EscalationClient other = EscalationClient.connect("127.0.0.1:" + server.getPort(),
            settings(0).withDraftTokenizer("xyz"));
        EscalationClient off = EscalationClient.connect("127.0.0.1:" + server.getPort(), settings(0))) {
      LargeAnswer answer = client.generate("r1", "x", 9, new int[] {5, 6, 7, 8, 9, 10}).get(10, TimeUnit.SECONDS);
      // The server's Info says 4 tokens at most: the call asks for 4, and the draft is cut to 4.
      assertThat(same.drafts).containsExactly(java.util.List.of(5, 6, 7, 8));
      assertThat(answer.draftSent()).isEqualTo(4);
      assertThat(answer.draftAccepted()).isEqualTo(4);
      other.generate("r2", "x", 4, new int[] {5, 6}).get(10, TimeUnit.SECONDS);
      off.generate("r3", "x", 4, new int[] {5, 6}).get(10, TimeUnit.SECONDS);
      assertThat(same.drafts).hasSize(3).endsWith(java.util.List.of(), java.util.List.of());
    } finally {
      server.shutdownNow();
    }
    // A server without Info never gets a draft.
    Server noInfo = ServerBuilder.forPort(0).addService(new AtMostEight()).build().start();
    try (EscalationClient client = EscalationClient.connect("127.0.0.1:" + noInfo.getPort(),
        settings(0).withDraftTokenizer("abc"))) {
      LargeAnswer answer = client.generate("r4", "x", 8, new int[] {5, 6}).get(10, TimeUnit.SECONDS);
      assertThat(answer.text()).isEqualTo("8");
      assertThat(answer.draftSent()).isZero();
    } finally {
      noInfo.shutdownNow();
    }
  }

  @Test
  void aRefusedDraftCostsOneMoreCallNotTheAnswer() throws Exception {
    Recording refusing = new Recording("abc", true);
    Server server = ServerBuilder.forPort(0).addService(refusing).build().start();
    try (EscalationClient client = EscalationClient.connect("127.0.0.1:" + server.getPort(),
        settings(0).withDraftTokenizer("abc"))) {
      LargeAnswer answer = client.generate("r1", "x", 4, new int[] {5, 0}).get(10, TimeUnit.SECONDS);
      assertThat(answer.text()).isEqualTo("4");
      assertThat(answer.draftSent()).isZero();
      assertThat(refusing.drafts).containsExactly(java.util.List.of(5, 0), java.util.List.of());
    } finally {
      server.shutdownNow();
    }
  }

  /**
   * A server reporting tokenizer {@code sha} and at most four tokens, recording each call's draft;
   * it keeps the whole draft, or, when {@code refuseDrafts}, refuses any draft as INVALID_ARGUMENT.
   */
  private static final class Recording extends LargeModelGrpc.LargeModelImplBase {
    final java.util.List<java.util.List<Integer>> drafts = new java.util.concurrent.CopyOnWriteArrayList<>();
    private final String sha;
    private final boolean refuseDrafts;

    Recording(String sha, boolean refuseDrafts) {
      this.sha = sha;
      this.refuseDrafts = refuseDrafts;
    }

    @Override
    public void info(dev.cascade.proto.v1.LargeModelInfoRequest request,
        StreamObserver<dev.cascade.proto.v1.LargeModelInfo> out) {
      out.onNext(dev.cascade.proto.v1.LargeModelInfo.newBuilder().setModel("rec").setMaxNewTokens(4)
          .setTokenizerSha256(sha).build());
      out.onCompleted();
    }

    @Override
    public void generate(LargeGenerateRequest request, StreamObserver<LargeGenerateResponse> out) {
      drafts.add(java.util.List.copyOf(request.getDraftTokensList()));
      if (refuseDrafts && request.getDraftTokensCount() > 0) {
        out.onError(Status.INVALID_ARGUMENT.withDescription("draft_tokens: token 1 is 0, the padding token")
            .asRuntimeException());
        return;
      }
      out.onNext(LargeGenerateResponse.newBuilder().setText(String.valueOf(request.getMaxNewTokens()))
          .setDraftAccepted(request.getDraftTokensCount()).build());
      out.onCompleted();
    }
  }

  /** A third-party server: no Info, and at most eight tokens; answers with the number asked for. */
  private static final class AtMostEight extends LargeModelGrpc.LargeModelImplBase {
    @Override
    public void generate(LargeGenerateRequest request, StreamObserver<LargeGenerateResponse> out) {
      if (request.getMaxNewTokens() > 8) {
        out.onError(Status.INVALID_ARGUMENT.withDescription("max_new_tokens: " + request.getMaxNewTokens()
            + " is outside 1..8").asRuntimeException());
        return;
      }
      out.onNext(LargeGenerateResponse.newBuilder().setText(String.valueOf(request.getMaxNewTokens())).build());
      out.onCompleted();
    }
  }
}
