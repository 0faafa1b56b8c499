package dev.cascade.models.server;

import dev.cascade.models.Generation;
import dev.cascade.models.ModelInfo;
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
        .setMaxPromptTokens(generations.generator().maxPromptTokens().orElse(0)).build());
    responses.onCompleted();
  }

  /** Greedy generation for one prompt, checking its draft first when it has one; honours the call's deadline. */
  @Override
  public void generate(LargeGenerateRequest request, StreamObserver<LargeGenerateResponse> responses) {
    int[] draft = request.getDraftTokensList().stream().mapToInt(Integer::intValue).toArray();
    Optional<String> problem = generations.problem(request.getPrompt(), request.getMaxNewTokens(), "prompt",
        "max_new_tokens")
        .or(() -> generations.draftProblem(draft, request.getMaxNewTokens(), "draft_tokens"));
    if (problem.isPresent()) {
      responses.onError(generations.invalid(problem.get()));
      return;
    }
    Context context = Context.current();
    generations.submit(request.getRequestId(), request.getPrompt(), draft, request.getMaxNewTokens(),
            context::isCancelled)
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
              .setModel(generations.generator().info().name());
          for (int i = 0; i < g.tokens().length; i++) {
            response.addTokens(g.tokens()[i]).addTokenLogprobs(g.tokenLogprobs()[i]);
          }
          responses.onNext(response.build());
          responses.onCompleted();
        });
  }
}
