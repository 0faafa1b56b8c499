package dev.cascade.models.server;

import dev.cascade.models.Generation;
import dev.cascade.models.GenerationCancelledException;
import dev.cascade.models.ModelInfo;
import dev.cascade.models.TextGenerator;
import dev.cascade.proto.v1.LargeGenerateRequest;
import dev.cascade.proto.v1.LargeGenerateResponse;
import dev.cascade.proto.v1.LargeModelGrpc;
import dev.cascade.proto.v1.LargeModelInfo;
import dev.cascade.proto.v1.LargeModelInfoRequest;
import io.grpc.Context;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code cascade.v1.LargeModel} over a {@link TextGenerator}. Generations run on a bounded
 * executor; the call's context (deadline, cancellation) is checked before the generation starts
 * and between its decoding steps.
 */
final class LargeModelService extends LargeModelGrpc.LargeModelImplBase {

  private static final Logger LOG = LoggerFactory.getLogger(LargeModelService.class);

  private final TextGenerator generator;
  private final Executor generations;
  private final String busyMessage;
  private final LongAdder completed = new LongAdder();
  private final LongAdder cancelled = new LongAdder();
  private final LongAdder rejected = new LongAdder();
  private final LongAdder invalid = new LongAdder();
  private final LongAdder failed = new LongAdder();

  LargeModelService(TextGenerator generator, Executor generations, ServerLimits limits) {
    this.generator = generator;
    this.generations = generations;
    this.busyMessage = "server busy: " + limits.maxConcurrent() + " generations running and " + limits.queueSize()
        + " queued; retry later";
  }

  /** The served model's name and limits. */
  @Override
  public void info(LargeModelInfoRequest request, StreamObserver<LargeModelInfo> responses) {
    ModelInfo info = generator.info();
    responses.onNext(LargeModelInfo.newBuilder().setModel(info.name()).setContextLength(info.contextLength())
        .setMaxNewTokens(info.maxNewTokensLimit()).build());
    responses.onCompleted();
  }

  /** Greedy generation for one prompt; honours the call's deadline. */
  @Override
  public void generate(LargeGenerateRequest request, StreamObserver<LargeGenerateResponse> responses) {
    Optional<String> problem = validate(request);
    if (problem.isPresent()) {
      invalid.increment();
      responses.onError(Status.INVALID_ARGUMENT.withDescription(problem.get()).asRuntimeException());
      return;
    }
    Context context = Context.current();
    try {
      generations.execute(context.wrap(() -> run(request, responses, context)));
    } catch (RejectedExecutionException e) {
      rejected.increment();
      responses.onError(Status.RESOURCE_EXHAUSTED.withDescription(busyMessage).asRuntimeException());
    }
  }

  private void run(LargeGenerateRequest request, StreamObserver<LargeGenerateResponse> responses, Context context) {
    if (context.isCancelled()) {
      cancelled.increment();
      return;
    }
    long start = System.nanoTime();
    try {
      Generation g = generator.generate(List.of(request.getPrompt()), request.getMaxNewTokens(), context::isCancelled)
          .get(0);
      LargeGenerateResponse.Builder response = LargeGenerateResponse.newBuilder()
          .setText(g.text())
          .setGenerationMs((System.nanoTime() - start) / 1e6)
          .setModel(generator.info().name());
      for (int i = 0; i < g.tokens().length; i++) {
        response.addTokens(g.tokens()[i]).addTokenLogprobs(g.tokenLogprobs()[i]);
      }
      responses.onNext(response.build());
      responses.onCompleted();
      completed.increment();
    } catch (GenerationCancelledException e) {
      cancelled.increment();
      responses.onError(Status.CANCELLED.withDescription(e.getMessage()).asRuntimeException());
    } catch (RuntimeException e) {
      failed.increment();
      LOG.warn("generation failed for request {}", request.getRequestId(), e);
      responses.onError(Status.INTERNAL.withDescription("generation failed: " + e.getMessage()).asRuntimeException());
    }
  }

  private Optional<String> validate(LargeGenerateRequest request) {
    if (request.getPrompt().isEmpty()) {
      return Optional.of("prompt: must not be empty");
    }
    Optional<String> problem = generator.checkPrompt(request.getPrompt());
    if (problem.isPresent()) {
      return problem;
    }
    int limit = generator.info().maxNewTokensLimit();
    if (request.getMaxNewTokens() < 1 || request.getMaxNewTokens() > limit) {
      return Optional.of("max_new_tokens: " + request.getMaxNewTokens() + " is outside 1.." + limit);
    }
    return Optional.empty();
  }

  ServerStats stats(int running, int queued) {
    return new ServerStats(completed.sum(), cancelled.sum(), rejected.sum(), invalid.sum(), failed.sum(), running,
        queued);
  }
}
