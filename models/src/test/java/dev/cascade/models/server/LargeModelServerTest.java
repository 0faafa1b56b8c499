package dev.cascade.models.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cascade.models.Generation;
import dev.cascade.models.ModelInfo;
import dev.cascade.models.TextGenerator;
import dev.cascade.models.TextGenerators;
import dev.cascade.proto.v1.EarlyStop;
import dev.cascade.proto.v1.LargeGenerateRequest;
import dev.cascade.proto.v1.LargeGenerateResponse;
import dev.cascade.proto.v1.LargeModelGrpc;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.ServerBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The real large model behind a real server on loopback (Netty), called by a real client. */
class LargeModelServerTest {

  private static TextGenerator large;

  @BeforeAll
  static void loadModel() {
    large = TextGenerators.load("large", "OnnxRuntime");
  }

  @AfterAll
  static void closeModel() {
    large.close();
  }

  private static LargeGenerateRequest request(String prompt, int maxNewTokens) {
    return LargeGenerateRequest.newBuilder().setPrompt(prompt).setMaxNewTokens(maxNewTokens).setRequestId("t").build();
  }

  @Test
  void answersLikeTheModelAndReportsHealth() throws Exception {
    LargeModelServer server = new LargeModelServer(ServerBuilder.forPort(0), large, new ServerLimits(2, 4)).start();
    ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
    try {
      LargeGenerateResponse response = LargeModelGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS)
          .generate(request("the quick brown fox", 48));
      Generation expected = large.generate(List.of("the quick brown fox"), 48).get(0);
      assertThat(response.getText()).isEqualTo(expected.text());
      assertThat(response.getTokensList()).containsExactly(box(expected.tokens()));
      assertThat(response.getTokenLogprobsCount()).isEqualTo(expected.tokens().length);
      assertThat(response.getModel()).isEqualTo("large");
      assertThat(response.hasPromptTokens()).isTrue();
      assertThat(response.getPromptTokens()).isEqualTo(large.promptTokens("the quick brown fox").orElseThrow());
      assertThat(response.getGenerationMs()).isPositive();
      HealthCheckResponse health = HealthGrpc.newBlockingStub(channel)
          .check(HealthCheckRequest.newBuilder().setService(LargeModelGrpc.SERVICE_NAME).build());
      assertThat(health.getStatus()).isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
      assertThat(server.stats().completed()).isEqualTo(1);
    } finally {
      channel.shutdownNow();
      server.stop();
    }
  }

  @Test
  @SuppressWarnings("deprecation")
  void reflectionAnswersV1AndV1AlphaClients() throws Exception {
    LargeModelServer server = new LargeModelServer(ServerBuilder.forPort(0), large, new ServerLimits(1, 1)).start();
    ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
    try {
      java.util.concurrent.BlockingQueue<Object> answers = new java.util.concurrent.LinkedBlockingQueue<>();
      var v1 = io.grpc.reflection.v1.ServerReflectionGrpc.newStub(channel).serverReflectionInfo(collect(answers));
      v1.onNext(io.grpc.reflection.v1.ServerReflectionRequest.newBuilder().setListServices("").build());
      Object first = answers.poll(5, TimeUnit.SECONDS);
      v1.onCompleted();
      assertThat(first).isInstanceOf(io.grpc.reflection.v1.ServerReflectionResponse.class);
      assertThat(((io.grpc.reflection.v1.ServerReflectionResponse) first).getListServicesResponse().getServiceList())
          .extracting(io.grpc.reflection.v1.ServiceResponse::getName).contains(LargeModelGrpc.SERVICE_NAME,
              dev.cascade.proto.kserve.GRPCInferenceServiceGrpc.SERVICE_NAME);
      var alpha = io.grpc.reflection.v1alpha.ServerReflectionGrpc.newStub(channel).serverReflectionInfo(collect(answers));
      alpha.onNext(io.grpc.reflection.v1alpha.ServerReflectionRequest.newBuilder().setListServices("").build());
      Object second = answers.poll(5, TimeUnit.SECONDS);
      alpha.onCompleted();
      assertThat(second).as("a v1alpha answer, not UNIMPLEMENTED")
          .isInstanceOf(io.grpc.reflection.v1alpha.ServerReflectionResponse.class);
      assertThat(((io.grpc.reflection.v1alpha.ServerReflectionResponse) second).getListServicesResponse()
          .getServiceList()).extracting(io.grpc.reflection.v1alpha.ServiceResponse::getName)
          .contains(LargeModelGrpc.SERVICE_NAME, dev.cascade.proto.kserve.GRPCInferenceServiceGrpc.SERVICE_NAME);
    } finally {
      channel.shutdownNow();
      server.stop();
    }
  }

  /** Puts every answer, or the error, on the queue. */
  private static <T> io.grpc.stub.StreamObserver<T> collect(java.util.concurrent.BlockingQueue<Object> answers) {
    return new io.grpc.stub.StreamObserver<>() {
      @Override
      public void onNext(T value) {
        answers.add(value);
      }

      @Override
      public void onError(Throwable t) {
        answers.add(t);
      }

      @Override
      public void onCompleted() {}
    };
  }

  @Test
  void badRequestsAreInvalidArgumentNamingTheField() throws Exception {
    LargeModelServer server = new LargeModelServer(ServerBuilder.forPort(0), large, new ServerLimits(1, 1)).start();
    ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
    try {
      var stub = LargeModelGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
      int limit = large.info().maxNewTokensLimit();
      assertInvalid(() -> stub.generate(request("", 10)), "prompt:");
      assertInvalid(() -> stub.generate(request("x".repeat(large.info().contextLength()), 10)), "prompt:");
      assertInvalid(() -> stub.generate(request("na\u00efve", 10)), "prompt:");
      assertInvalid(() -> stub.generate(request("cat", 0)), "max_new_tokens:");
      assertInvalid(() -> stub.generate(request("cat", limit + 1)), "max_new_tokens:");
      assertThat(server.stats().invalid()).isEqualTo(5);
    } finally {
      channel.shutdownNow();
      server.stop();
    }
  }

  @Test
  void aDraftIsCheckedAndTheAnswerIsTheSameAsWithoutIt() throws Exception {
    LargeModelServer server = new LargeModelServer(ServerBuilder.forPort(0), large, new ServerLimits(2, 4)).start();
    ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
    try {
      var stub = LargeModelGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
      var info = stub.info(dev.cascade.proto.v1.LargeModelInfoRequest.getDefaultInstance());
      assertThat(info.getTokenizerSha256()).isEqualTo(large.tokenizerSha256().orElseThrow()).hasSize(64);
      // The prompt limit it reports is the one it enforces: one token more is refused.
      assertThat(info.getMaxPromptTokens()).isEqualTo(large.maxPromptTokens().getAsInt()).isPositive();
      String atLimit = "a".repeat(info.getMaxPromptTokens());
      assertThat(large.promptTokens(atLimit)).hasValue(info.getMaxPromptTokens());
      assertThat(large.checkPrompt(atLimit)).isEmpty();
      assertThat(large.checkPrompt(atLimit + "a")).hasValueSatisfying(p -> assertThat(p).startsWith("prompt:"));
      LargeGenerateResponse plain = stub.generate(request("the quick brown fox", 48));
      assertThat(plain.getDraftAccepted()).isZero();
      int[] own = plain.getTokensList().stream().mapToInt(Integer::intValue).toArray();
      // Its own answer's first half, then a token it did not choose.
      int half = own.length / 2;
      List<Integer> draft = new java.util.ArrayList<>(plain.getTokensList().subList(0, half));
      draft.add(own[half] == 4 ? 5 : 4);
      LargeGenerateResponse drafted = stub.generate(request("the quick brown fox", 48).toBuilder()
          .addAllDraftTokens(draft).build());
      assertThat(drafted.getTokensList()).isEqualTo(plain.getTokensList());
      assertThat(drafted.getText()).isEqualTo(plain.getText());
      assertThat(drafted.getDraftAccepted()).isEqualTo(half);
      for (int i = 0; i < own.length; i++) {
        assertThat(drafted.getTokenLogprobs(i)).isCloseTo(plain.getTokenLogprobs(i), org.assertj.core.data.Offset.offset(1e-4f));
      }
    } finally {
      channel.shutdownNow();
      server.stop();
    }
  }

  @Test
  void anEarlyStopEndsTheAnswerAfterTheTokenWhereItsScorePassesTheThreshold() throws Exception {
    LargeModelServer server = new LargeModelServer(ServerBuilder.forPort(0), large, new ServerLimits(2, 4)).start();
    ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
    try {
      var stub = LargeModelGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
      LargeGenerateRequest whole = request("the quick brown fox", 48);
      LargeGenerateResponse plain = stub.generate(whole);
      assertThat(plain.getStoppedEarly()).isFalse();
      int n = plain.getTokensCount();
      assertThat(n).isGreaterThan(3);
      // Running −Σ log p and −min log p after each token, as the caller scores the answer.
      double[] sum = new double[n];
      double[] min = new double[n];
      double s = 0;
      double m = Double.POSITIVE_INFINITY;
      for (int i = 0; i < n; i++) {
        s += Math.min(0.0, plain.getTokenLogprobs(i));
        m = Math.min(m, Math.min(0.0, plain.getTokenLogprobs(i)));
        sum[i] = -s;
        min[i] = -m;
      }
      // The first token after the second where the sum grows clearly: the stop comes after it.
      int k = 2;
      while (k < n - 1 && sum[k] - sum[k - 1] < 0.01) {
        k++;
      }
      assertThat(k).as("a token that raises the sum").isLessThan(n - 1);
      double threshold = (sum[k - 1] + sum[k]) / 2;
      EarlyStop bySum = EarlyStop.newBuilder().setScore(EarlyStop.Score.NEGATIVE_LOGPROB_SUM)
          .setThreshold(threshold).build();
      LargeGenerateResponse stopped = stub.generate(whole.toBuilder().setEarlyStop(bySum).build());
      assertThat(stopped.getStoppedEarly()).isTrue();
      assertThat(stopped.getTokensList()).isEqualTo(plain.getTokensList().subList(0, k + 1));
      // With the answer's own first half as a draft too: the same prefix.
      LargeGenerateResponse drafted = stub.generate(whole.toBuilder().setEarlyStop(bySum)
          .addAllDraftTokens(plain.getTokensList().subList(0, n / 2)).build());
      assertThat(drafted.getStoppedEarly()).isTrue();
      assertThat(drafted.getTokensList()).isEqualTo(plain.getTokensList().subList(0, k + 1));
      // A threshold above the whole answer's score stops nothing.
      LargeGenerateResponse above = stub.generate(whole.toBuilder().setEarlyStop(bySum.toBuilder()
          .setThreshold(sum[n - 1] + 1)).build());
      assertThat(above.getStoppedEarly()).isFalse();
      assertThat(above.getTokensList()).isEqualTo(plain.getTokensList());
      // −min log p: stops after the first token whose log-prob is below −threshold.
      int first = 0;
      while (first < n - 1 && min[first] < min[n - 1]) {
        first++;
      }
      if (first > 0) {
        LargeGenerateResponse byMin = stub.generate(whole.toBuilder().setEarlyStop(EarlyStop.newBuilder()
            .setScore(EarlyStop.Score.NEGATIVE_LOGPROB_MIN).setThreshold((min[first - 1] + min[first]) / 2)).build());
        assertThat(byMin.getStoppedEarly()).isTrue();
        assertThat(byMin.getTokensList()).isEqualTo(plain.getTokensList().subList(0, first + 1));
      }
      assertInvalid(() -> stub.generate(whole.toBuilder().setEarlyStop(EarlyStop.newBuilder().setThreshold(1)).build()),
          "early_stop.score: must be NEGATIVE_LOGPROB_SUM or NEGATIVE_LOGPROB_MIN");
      assertInvalid(() -> stub.generate(whole.toBuilder().setEarlyStop(bySum.toBuilder().setThreshold(Double.NaN))
          .build()), "early_stop.threshold: must be finite");
    } finally {
      channel.shutdownNow();
      server.stop();
    }
  }

  @Test
  void badDraftsAreInvalidArgumentNamingDraftTokens() throws Exception {
    LargeModelServer server = new LargeModelServer(ServerBuilder.forPort(0), large, new ServerLimits(1, 1)).start();
    ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
    try {
      var stub = LargeModelGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
      // The bundled vocabulary: <pad> 0, <sep> 1, <eos> 2, <unk> 3, then 84 phonemes and symbols.
      assertInvalid(() -> stub.generate(request("cat", 3).toBuilder().addAllDraftTokens(List.of(4, 5, 6, 7)).build()),
          "draft_tokens: 4 tokens is more than the 3 to generate");
      assertInvalid(() -> stub.generate(request("cat", 10).toBuilder().addAllDraftTokens(List.of(4, 88)).build()),
          "draft_tokens: token 1 is 88, outside the vocabulary 0..87");
      assertInvalid(() -> stub.generate(request("cat", 10).toBuilder().addAllDraftTokens(List.of(-3)).build()),
          "draft_tokens: token 0 is -3, outside the vocabulary");
      assertInvalid(() -> stub.generate(request("cat", 10).toBuilder().addAllDraftTokens(List.of(4, 2)).build()),
          "draft_tokens: token 1 is 2, the end-of-sequence token");
      assertInvalid(() -> stub.generate(request("cat", 10).toBuilder().addAllDraftTokens(List.of(0)).build()),
          "draft_tokens: token 0 is 0, the padding token");
      assertThat(server.stats().invalid()).isEqualTo(5);
      assertThat(server.stats().completed()).isZero();
    } finally {
      channel.shutdownNow();
      server.stop();
    }
  }

  @Test
  void aDeadlineThatExpiresStopsTheGeneration() throws Exception {
    CountDownLatch generating = new CountDownLatch(1);
    TextGenerator slow = new Delegating(large) {
      @Override
      public List<Generation> generate(List<String> prompts, int maxNewTokens, Cancellation cancellation) {
        generating.countDown();
        // Slow the steps down so the deadline is sure to pass mid-generation.
        return super.generate(prompts, maxNewTokens, () -> {
          sleep(20);
          return cancellation.isCancelled();
        });
      }
    };
    LargeModelServer server = new LargeModelServer(ServerBuilder.forPort(0), slow, new ServerLimits(1, 1)).start();
    ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
    try {
      var stub = LargeModelGrpc.newBlockingStub(channel).withDeadlineAfter(300, TimeUnit.MILLISECONDS);
      assertThatThrownBy(() -> stub.generate(request("the quick brown fox jumps over", 48)))
          .isInstanceOfSatisfying(StatusRuntimeException.class,
              e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED));
      assertThat(generating.await(5, TimeUnit.SECONDS)).isTrue();
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (server.stats().cancelled() == 0 && System.nanoTime() < deadline) {
        Thread.sleep(10);
      }
      assertThat(server.stats().cancelled()).as("the server stopped generating").isEqualTo(1);
      assertThat(server.stats().completed()).isZero();
    } finally {
      channel.shutdownNow();
      server.stop();
    }
  }

  @Test
  void callsBeyondConcurrencyPlusQueueAreResourceExhausted() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    CountDownLatch started = new CountDownLatch(1);
    TextGenerator gated = new Delegating(large) {
      @Override
      public List<Generation> generate(List<String> prompts, int maxNewTokens, Cancellation cancellation) {
        started.countDown();
        try {
          release.await(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
        return super.generate(prompts, maxNewTokens, cancellation);
      }
    };
    LargeModelServer server = new LargeModelServer(ServerBuilder.forPort(0), gated, new ServerLimits(1, 1)).start();
    ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
    try {
      var async = LargeModelGrpc.newFutureStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS);
      var running = async.generate(request("cat", 10));
      assertThat(started.await(10, TimeUnit.SECONDS)).isTrue();
      var queued = async.generate(request("dog", 10));
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (server.stats().queued() < 1 && System.nanoTime() < deadline) {
        Thread.sleep(5);
      }
      assertThat(server.stats().running()).isEqualTo(1);
      assertThat(server.stats().queued()).isEqualTo(1);
      // One runs, one waits: the third is over the limit.
      assertThatThrownBy(() -> LargeModelGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS)
          .generate(request("bird", 10)))
          .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
            assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
            assertThat(e.getStatus().getDescription()).contains("busy");
          });
      release.countDown();
      assertThat(running.get(30, TimeUnit.SECONDS).getText()).isNotEmpty();
      assertThat(queued.get(30, TimeUnit.SECONDS).getText()).isNotEmpty();
      assertThat(server.stats().rejected()).isEqualTo(1);
    } finally {
      release.countDown();
      channel.shutdownNow();
      server.stop();
    }
  }

  private static void assertInvalid(Runnable call, String field) {
    assertThatThrownBy(call::run).isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
      assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
      assertThat(e.getStatus().getDescription()).startsWith(field);
    });
  }

  private static Integer[] box(int[] values) {
    Integer[] out = new Integer[values.length];
    for (int i = 0; i < values.length; i++) {
      out[i] = values[i];
    }
    return out;
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** A generator that forwards to another; tests override what they need to slow down or hold. */
  private static class Delegating implements TextGenerator {
    private final TextGenerator delegate;

    Delegating(TextGenerator delegate) {
      this.delegate = delegate;
    }

    @Override
    public List<Generation> generate(List<String> prompts, int maxNewTokens) {
      return generate(prompts, maxNewTokens, Cancellation.NONE);
    }

    @Override
    public List<Generation> generate(List<String> prompts, int maxNewTokens, Cancellation cancellation) {
      return delegate.generate(prompts, maxNewTokens, cancellation);
    }

    @Override
    public Optional<String> checkPrompt(String prompt) {
      return delegate.checkPrompt(prompt);
    }

    @Override
    public ModelInfo info() {
      return delegate.info();
    }

    @Override
    public void close() {}
  }
}
