package dev.cascade.models.server;

import dev.cascade.models.Generation;
import dev.cascade.models.ModelInfo;
import dev.cascade.models.RunningLogprobScore;
import dev.cascade.models.TextGenerator;
import dev.cascade.proto.v1.EarlyStop;
import dev.cascade.proto.v1.LargeGenerateRequest;
import dev.cascade.proto.v1.LargeGenerateResponse;
import dev.cascade.proto.v1.LargeModelGrpc;
import dev.cascade.proto.v1.LargeModelInfo;
import dev.cascade.proto.v1.LargeModelInfoRequest;
import io.grpc.Context;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.util.Optional;

/**
 * {@code cascade.v1.LargeModel} over a model's {@link Generations}: they run on the server's
 * bounded executor; the call's context (deadline, cancellation) is checked before the generation
 * starts and between its decoding steps.
 */
final class LargeModelService extends LargeModelGrpc.LargeModelImplBase {

  private final Generations generations;

  LargeModelService(Generations generations) {
    this.generations = generations;
  }

  /** The served model's name and limits. */
  @Override
  public void info(LargeModelInfoRequest request, StreamObserver<LargeModelInfo> responses) {
    ModelInfo info = generations.generator().info();
    responses.onNext(LargeModelInfo.newBuilder().setModel(info.name()).setContextLength(info.contextLength())
        .setMaxNewTokens(info.maxNewTokensLimit())
        .setTokenizerSha256(generations.generator().tokenizerSha256().orElse(""))
        .setMaxPromptTokens(generations.generator().maxPromptTokens().orElse(0))
        .setParameters(Math.max(0, info.parameters())).build());
    responses.onCompleted();
  }

  /**
   * Greedy generation for one prompt, checking its draft first when it has one, and stopping once
   * its early_stop's score passes the threshold when it has one; honours the call's deadline.
   */
  @Override
  public void generate(LargeGenerateRequest request, StreamObserver<LargeGenerateResponse> responses) {
    int[] draft = request.getDraftTokensList().stream().mapToInt(Integer::intValue).toArray();
    Optional<String> problem = generations.problem(request.getPrompt(), request.getMaxNewTokens(), "prompt",
        "max_new_tokens")
        .or(() -> generations.draftProblem(draft, request.getMaxNewTokens(), "draft_tokens"))
        .or(() -> request.hasEarlyStop() ? earlyStopProblem(request.getEarlyStop()) : Optional.empty());
    if (problem.isPresent()) {
      responses.onError(generations.invalid(problem.get()));
      return;
    }
    Context context = Context.current();
    generations.submit(request.getRequestId(), request.getPrompt(), draft, request.getMaxNewTokens(),
            context::isCancelled, request.hasEarlyStop() ? earlyStop(request.getEarlyStop()) : TextGenerator.EarlyStop.NEVER)
        .whenComplete((result, error) -> {
          if (error != null) {
            responses.onError(Status.fromThrowable(error).asRuntimeException());
            return;
          }
          Generation g = result.generation();
          LargeGenerateResponse.Builder response = LargeGenerateResponse.newBuilder()
              .setText(g.text())
              .setGenerationMs(result.millis())
              .setDraftAccepted(g.draftAccepted())
              .setStoppedEarly(g.stoppedEarly())
              .setModel(generations.generator().info().name());
          for (int i = 0; i < g.tokens().length; i++) {
            response.addTokens(g.tokens()[i]).addTokenLogprobs(g.tokenLogprobs()[i]);
          }
          generations.generator().promptTokens(request.getPrompt()).ifPresent(response::setPromptTokens);
          responses.onNext(response.build());
          responses.onCompleted();
        });
  }

  /** Why a request's early_stop cannot be honoured, naming its field; empty if it can. */
  static Optional<String> earlyStopProblem(EarlyStop stop) {
    if (stop.getScore() != EarlyStop.Score.NEGATIVE_LOGPROB_SUM && stop.getScore() != EarlyStop.Score.NEGATIVE_LOGPROB_MIN) {
      return Optional.of("early_stop.score: must be NEGATIVE_LOGPROB_SUM or NEGATIVE_LOGPROB_MIN, got "
          + stop.getScore());
    }
    if (!Double.isFinite(stop.getThreshold())) {
      return Optional.of("early_stop.threshold: must be finite, got " + stop.getThreshold());
    }
    return Optional.empty();
  }

  /** The model's stop condition for a valid early_stop ({@link #earlyStopProblem} found none). */
  static TextGenerator.EarlyStop earlyStop(EarlyStop stop) {
    return stop.getScore() == EarlyStop.Score.NEGATIVE_LOGPROB_MIN ? RunningLogprobScore.minimum(stop.getThreshold())
        : RunningLogprobScore.sum(stop.getThreshold());
  }
}
