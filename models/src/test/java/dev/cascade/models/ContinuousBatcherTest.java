package dev.cascade.models;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** Continuous batching against a scripted forward pass: rows of concurrent callers share steps. */
class ContinuousBatcherTest {

  private static final long PAD = 0;
  private static final long EOS = 2;
  private static final int VOCAB = 32;

  /** Predicts (last token + 1) and EOS after {@code stopAt}; can be held at a step until released. */
  private static final class Scripted implements ContinuousBatcher.ForwardPassResource {
    final List<Integer> batchSizes = Collections.synchronizedList(new ArrayList<>());
    final AtomicInteger running = new AtomicInteger();
    final AtomicInteger mostRunning = new AtomicInteger();
    final long stopAt;
    volatile CountDownLatch gate = new CountDownLatch(0);

    Scripted(long stopAt) {
      this.stopAt = stopAt;
    }

    @Override
    public NextTokenScores run(DecodeStep step) {
      mostRunning.accumulateAndGet(running.incrementAndGet(), Math::max);
      try {
        gate.await(10, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } finally {
        running.decrementAndGet();
      }
      batchSizes.add(step.rows());
      float[] logits = new float[step.rows() * VOCAB];
      for (int r = 0; r < step.rows(); r++) {
        long last = step.inputIds()[r * step.length() + step.length() - 1];
        logits[r * VOCAB + (last >= stopAt ? (int) EOS : (int) last + 1)] = 5f;
      }
      return new NextTokenScores(logits, step.rows(), VOCAB, null, 0);
    }

    @Override
    public void close() {}
  }

  /** A prefix of {@code length} tokens: filler, then {@code last}. */
  private static long[] prefix(int length, long last) {
    long[] p = new long[length];
    Arrays.fill(p, 3);
    p[length - 1] = last;
    return p;
  }

  @Test
  void concurrentCallersShareForwardPassesAndGetTheirOwnResults() throws Exception {
    Scripted model = new Scripted(12);
    model.gate = new CountDownLatch(1);
    try (ContinuousBatcher batcher = new ContinuousBatcher("t", new GreedyDecoder(PAD, EOS), () -> model, 8)) {
      CompletableFuture<List<Generation>> a = CompletableFuture.supplyAsync(() -> batcher.decode(
          List.of(prefix(8, 3), prefix(8, 9)), new int[] {20, 20}, TextGenerator.Cancellation.NONE,
          Arrays::toString));
      Thread.sleep(100); // a's rows are in the first step, held at the gate
      CompletableFuture<List<Generation>> b = CompletableFuture.supplyAsync(() -> batcher.decode(
          List.of(prefix(8, 5)), new int[] {3}, TextGenerator.Cancellation.NONE, Arrays::toString));
      Thread.sleep(100);
      model.gate.countDown();
      assertThat(a.get(10, TimeUnit.SECONDS).get(0).tokens()).containsExactly(4, 5, 6, 7, 8, 9, 10, 11, 12);
      assertThat(a.get().get(1).tokens()).containsExactly(10, 11, 12);
      assertThat(b.get(10, TimeUnit.SECONDS).get(0).tokens()).containsExactly(6, 7, 8);
      assertThat(model.batchSizes).as("b joined a's batch").contains(3);
    }
  }

  @Test
  void aRowMuchShorterThanTheBatchWaitsForItToDrainInsteadOfPayingItsPadding() throws Exception {
    Scripted model = new Scripted(12);
    model.gate = new CountDownLatch(1);
    try (ContinuousBatcher batcher = new ContinuousBatcher("t", new GreedyDecoder(PAD, EOS), () -> model, 8)) {
      CompletableFuture<List<Generation>> a = CompletableFuture.supplyAsync(() -> batcher.decode(
          List.of(prefix(8, 3)), new int[] {20}, TextGenerator.Cancellation.NONE, Arrays::toString));
      Thread.sleep(100); // a's row (9 tokens once this step is done) is held at the gate
      CompletableFuture<List<Generation>> b = CompletableFuture.supplyAsync(() -> batcher.decode(
          List.of(new long[] {5}), new int[] {3}, TextGenerator.Cancellation.NONE, Arrays::toString));
      Thread.sleep(100);
      model.gate.countDown();
      assertThat(a.get(10, TimeUnit.SECONDS).get(0).tokens()).containsExactly(4, 5, 6, 7, 8, 9, 10, 11, 12);
      assertThat(b.get(10, TimeUnit.SECONDS).get(0).tokens()).containsExactly(6, 7, 8);
      assertThat(model.batchSizes).as("b ran after a, never beside it").hasSize(10 + 3).containsOnly(1);
    }
  }

  @Test
  void theDecodingThreadsTimeIsSplitIntoRunsRestOfStepsBetweenStepsAndWaiting() throws Exception {
    Scripted model = new Scripted(100);
    try (ContinuousBatcher batcher = new ContinuousBatcher("t", new GreedyDecoder(PAD, EOS), () -> model, 8)) {
      DecodingStats start = batcher.stats();
      batcher.decode(List.of(prefix(8, 3), prefix(8, 3)), new int[] {3, 3}, TextGenerator.Cancellation.NONE,
          Arrays::toString);
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (batcher.stats().idleNanos() == 0 && System.nanoTime() < deadline) {
        Thread.sleep(1); // the call's rows are done: the thread goes back to waiting
      }
      DecodingStats during = batcher.stats().minus(start);
      assertThat(during.passes()).isEqualTo(3);
      assertThat(during.runNanos()).isPositive().isLessThanOrEqualTo(during.passNanos());
      // It waited for the rows before the call and waits again after it, counted up to the reading.
      assertThat(during.idleNanos()).isPositive();
      // The wait after the call; and the one before it, unless the rows came before the thread first waited.
      assertThat(during.waits()).isBetween(1L, 2L);
      assertThat(during.waitNanos()).isGreaterThanOrEqualTo(during.idleNanos());
      assertThat(during.betweenStepsNanos()).isNotNegative();
    }
  }

  @Test
  void rowsBeyondTheBatchLimitWaitAndJoinAsOthersFinish() {
    Scripted model = new Scripted(100);
    try (ContinuousBatcher batcher = new ContinuousBatcher("t", new GreedyDecoder(PAD, EOS), () -> model, 2)) {
      List<Generation> out = batcher.decode(List.of(prefix(8, 3), prefix(8, 3), prefix(8, 3)),
          new int[] {1, 4, 2}, TextGenerator.Cancellation.NONE, Arrays::toString);
      assertThat(out).extracting(g -> g.tokens().length).containsExactly(1, 4, 2);
      assertThat(model.batchSizes).allMatch(n -> n <= 2).startsWith(2, 2, 2);
      // The passes it counts are the model's own: as many, over as many rows.
      DecodingStats stats = batcher.stats();
      assertThat(stats.passes()).isEqualTo(model.batchSizes.size());
      assertThat(stats.rows()).isEqualTo(model.batchSizes.stream().mapToLong(Integer::longValue).sum());
      assertThat(stats.passNanos()).isPositive();
      assertThat(stats.minus(DecodingStats.NONE)).isEqualTo(stats);
      assertThat(stats.rowsPerPass()).isBetween(1.0, 2.0);
      assertThat(DecodingStats.NONE.rowsPerPass()).isNaN();
    }
  }

  @Test
  void twoDecodersRunTwoCallersForwardPassesAtOnce() throws Exception {
    Scripted model = new Scripted(12);
    model.gate = new CountDownLatch(1);
    try (ContinuousBatcher batcher = new ContinuousBatcher("t", new GreedyDecoder(PAD, EOS), () -> model, 8, 2, 0)) {
      CompletableFuture<List<Generation>> a = CompletableFuture.supplyAsync(() -> batcher.decode(
          List.of(prefix(8, 3)), new int[] {20}, TextGenerator.Cancellation.NONE, Arrays::toString));
      Thread.sleep(100); // a's row is in one decoder's first step, held at the gate
      CompletableFuture<List<Generation>> b = CompletableFuture.supplyAsync(() -> batcher.decode(
          List.of(new long[] {5}), new int[] {3}, TextGenerator.Cancellation.NONE, Arrays::toString));
      Thread.sleep(100);
      assertThat(model.mostRunning.get()).as("b's row runs on the other decoder").isEqualTo(2);
      model.gate.countDown();
      assertThat(a.get(10, TimeUnit.SECONDS).get(0).tokens()).containsExactly(4, 5, 6, 7, 8, 9, 10, 11, 12);
      assertThat(b.get(10, TimeUnit.SECONDS).get(0).tokens()).containsExactly(6, 7, 8);
    }
  }

  @Test
  void aDecodingThreadKilledByAnErrorFailsItsRowsAndIsReplaced() throws Exception {
    AtomicBoolean die = new AtomicBoolean(true);
    Scripted healthy = new Scripted(12);
    ContinuousBatcher.ForwardPassResource dying = new ContinuousBatcher.ForwardPassResource() {
      @Override
      public NextTokenScores run(DecodeStep step) {
        if (die.getAndSet(false)) {
          throw new StackOverflowError("simulated");
        }
        return healthy.run(step);
      }

      @Override
      public void close() {}
    };
    try (ContinuousBatcher batcher = new ContinuousBatcher("t", new GreedyDecoder(PAD, EOS), () -> dying, 8)) {
      CompletableFuture<List<Generation>> first = CompletableFuture.supplyAsync(() -> batcher.decode(
          List.of(prefix(8, 3)), new int[] {3}, TextGenerator.Cancellation.NONE, Arrays::toString));
      assertThatThrownBy(() -> first.get(10, TimeUnit.SECONDS)).as("failed, not left waiting")
          .hasMessageContaining("decoding thread died").hasMessageContaining("StackOverflowError");
      // The next caller is served by the new thread.
      assertThat(batcher.decode(List.of(prefix(8, 3)), new int[] {3}, TextGenerator.Cancellation.NONE,
          Arrays::toString).get(0).tokens()).containsExactly(4, 5, 6);
      assertThat(batcher.restarts()).isEqualTo(1);
    }
  }

  @Test
  void aResultThatCannotBeBuiltFailsThatCallerAlone() {
    Scripted model = new Scripted(12);
    try (ContinuousBatcher batcher = new ContinuousBatcher("t", new GreedyDecoder(PAD, EOS), () -> model, 8)) {
      assertThatThrownBy(() -> batcher.decode(List.of(prefix(8, 3)), new int[] {3}, TextGenerator.Cancellation.NONE,
          tokens -> {
            throw new IllegalArgumentException("cannot detokenize");
          })).hasMessageContaining("cannot detokenize");
      assertThat(batcher.decode(List.of(prefix(8, 3)), new int[] {3}, TextGenerator.Cancellation.NONE,
          Arrays::toString).get(0).tokens()).containsExactly(4, 5, 6);
      assertThat(batcher.restarts()).isZero();
    }
  }

  @Test
  void aCancelledCallerLeavesTheOthersRunning() throws Exception {
    Scripted model = new Scripted(100);
    model.gate = new CountDownLatch(1);
    AtomicBoolean cancel = new AtomicBoolean();
    try (ContinuousBatcher batcher = new ContinuousBatcher("t", new GreedyDecoder(PAD, EOS), () -> model, 8)) {
      CompletableFuture<List<Generation>> doomed = CompletableFuture.supplyAsync(() -> batcher.decode(
          List.of(new long[] {3}), new int[] {14}, cancel::get, Arrays::toString));
      CompletableFuture<List<Generation>> survivor = CompletableFuture.supplyAsync(() -> batcher.decode(
          List.of(new long[] {3}), new int[] {14}, TextGenerator.Cancellation.NONE, Arrays::toString));
      Thread.sleep(100);
      cancel.set(true);
      model.gate.countDown();
      assertThatThrownBy(() -> doomed.get(10, TimeUnit.SECONDS))
          .hasCauseInstanceOf(GenerationCancelledException.class);
      assertThat(survivor.get(10, TimeUnit.SECONDS).get(0).tokens()).hasSize(14);
    }
  }
}
