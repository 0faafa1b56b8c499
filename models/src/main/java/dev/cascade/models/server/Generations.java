package dev.cascade.models.server;

import dev.cascade.models.Generation;
import dev.cascade.models.GenerationCancelledException;
import dev.cascade.models.TextGenerator;
import io.grpc.Status;
import io.grpc.StatusException;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What every door of the large-model server (cascade.v1.LargeModel, KServe v2, OpenAI-compatible
 * HTTP) shares: the model, the bounded executor its generations run on, the request checks and
 * the counters. A failure is a {@link StatusException}, which each door turns into its own
 * protocol's error (a gRPC status, an HTTP status).
 */
final class Generations {

  private static final Logger LOG = LoggerFactory.getLogger(Generations.class);

  private final TextGenerator generator;
  private final Executor executor;
  private final String busyMessage;
  private final LongAdder completed = new LongAdder();
  private final LongAdder cancelled = new LongAdder();
  private final LongAdder rejected = new LongAdder();
  private final LongAdder invalid = new LongAdder();
  private final LongAdder failed = new LongAdder();

  Generations(TextGenerator generator, Executor executor, ServerLimits limits) {
    this.generator = generator;
    this.executor = executor;
    this.busyMessage = "server busy: " + limits.maxConcurrent() + " generations running and " + limits.queueSize()
        + " queued; retry later";
  }

  TextGenerator generator() {
    return generator;
  }

  /** Why a request cannot be generated from, naming the caller's field names; empty if it can. */
  Optional<String> problem(String prompt, int maxNewTokens, String promptField, String maxField) {
    if (prompt.isEmpty()) {
      return Optional.of(promptField + ": must not be empty");
    }
    Optional<String> problem = generator.checkPrompt(prompt);
    if (problem.isPresent()) {
      String p = problem.get();
      return Optional.of(p.startsWith("prompt") ? promptField + p.substring("prompt".length()) : p);
    }
    int limit = generator.info().maxNewTokensLimit();
    if (maxNewTokens < 1 || maxNewTokens > limit) {
      return Optional.of(maxField + ": " + maxNewTokens + " is outside 1.." + limit);
    }
    return Optional.empty();
  }

  /** Why a draft cannot be checked in a call for {@code maxNewTokens} tokens, naming the caller's field; empty if it can. */
  Optional<String> draftProblem(int[] draft, int maxNewTokens, String draftField) {
    return generator.checkDraft(draft, maxNewTokens).map(p -> draftField + ": " + p);
  }

  /** Counts a request refused before it was submitted, and the INVALID_ARGUMENT to answer it with. */
  StatusException invalid(String problem) {
    invalid.increment();
    return Status.INVALID_ARGUMENT.withDescription(problem).asException();
  }

  /**
   * Generates for a request already checked ({@link #problem}); fails with RESOURCE_EXHAUSTED
   * when the executor is full, CANCELLED when {@code cancellation} says so before or during the
   * generation, INTERNAL when the model fails.
   */
  CompletableFuture<Result> submit(String requestId, String prompt, int maxNewTokens,
      TextGenerator.Cancellation cancellation) {
    return submit(requestId, prompt, new int[0], maxNewTokens, cancellation, TextGenerator.EarlyStop.NEVER);
  }

  /**
   * As {@link #submit(String, String, int, TextGenerator.Cancellation)}, the model checking
   * {@code draft} (empty: none; already found valid by {@link #draftProblem}) before it decodes,
   * and ending the row early when {@code earlyStop} says so ({@link Generation#stoppedEarly()}).
   */
  CompletableFuture<Result> submit(String requestId, String prompt, int[] draft, int maxNewTokens,
      TextGenerator.Cancellation cancellation, TextGenerator.EarlyStop earlyStop) {
    CompletableFuture<Result> result = new CompletableFuture<>();
    try {
      executor.execute(() -> run(requestId, prompt, draft, maxNewTokens, cancellation, earlyStop, result));
    } catch (RejectedExecutionException e) {
      rejected.increment();
      result.completeExceptionally(Status.RESOURCE_EXHAUSTED.withDescription(busyMessage).asException());
    }
    return result;
  }

  private void run(String requestId, String prompt, int[] draft, int maxNewTokens,
      TextGenerator.Cancellation cancellation, TextGenerator.EarlyStop earlyStop, CompletableFuture<Result> result) {
    if (cancellation.isCancelled()) {
      cancelled.increment();
      result.completeExceptionally(Status.CANCELLED.withDescription("cancelled before it started").asException());
      return;
    }
    long start = System.nanoTime();
    try {
      Generation g = generator.generate(List.of(prompt), List.of(draft), maxNewTokens, cancellation, earlyStop).get(0);
      completed.increment();
      result.complete(new Result(g, (System.nanoTime() - start) / 1e6));
    } catch (GenerationCancelledException e) {
      cancelled.increment();
      result.completeExceptionally(Status.CANCELLED.withDescription(e.getMessage()).asException());
    } catch (RuntimeException e) {
      failed.increment();
      LOG.warn("generation failed for request {}", requestId, e);
      result.completeExceptionally(Status.INTERNAL.withDescription("generation failed: " + e.getMessage()).asException());
    }
  }

  ServerStats stats(int running, int queued) {
    return new ServerStats(completed.sum(), cancelled.sum(), rejected.sum(), invalid.sum(), failed.sum(), running,
        queued);
  }

  /**
   * One generation.
   *
   * @param generation the model's output
   * @param millis wall time the generation took
   */
  record Result(Generation generation, double millis) {}
}
