package dev.cascade.models;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs the decoding loop of every caller on one thread, merging their rows into shared forward
 * passes: continuous batching. Between two steps, waiting rows join the batch (up to
 * {@code maxRows} rows at once, oldest first) and finished or cancelled rows leave it, so
 * concurrent callers (the large-model server's calls, the router's tasks) share each step's cost
 * instead of taking turns.
 *
 * <p>With a key/value cache ({@link GreedyDecoder#cachesKeys()}) a row joins at any step: its first
 * step is a prefill of its own prefix, and every row keeps its own cache, so nothing recomputes
 * another row's sequence. Cache memory is bounded twice: by {@code maxRows} rows, each reserving
 * the cache of its prefix plus its token limit when it joins (at most the context length), and,
 * when {@code cacheBudgetBytes} is positive, by that many bytes over all rows of one decoding
 * thread. A row whose reservation would pass the budget waits in the queue (oldest first, so it is
 * the next to join) until finished rows free enough; into an empty batch a row always joins.
 *
 * <p>Without a cache every step recomputes every row over the batch's whole padded width, so a
 * row joins only while it is nearly as long as the batch's longest row ({@link #JOIN_SLACK}); a
 * shorter one waits for the batch to drain.
 *
 * <p>A caller's cancellation is asked before every step that holds one of its rows; once it says
 * yes, the caller's rows leave and the caller gets {@link GenerationCancelledException}.
 */
final class ContinuousBatcher implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(ContinuousBatcher.class);

  /**
   * How much shorter than the longest active row a waiting row may be and still join the batch,
   * as a share of that length. With no key/value cache every step runs each row over the whole
   * padded width, so a fresh prompt that joins rows already many tokens long pays their length at
   * every step of its own. Letting every row join at once made four concurrent 32-prompt calls to
   * the small model 36% slower than the same calls one after another (224 against 350 sequences/s,
   * {@code RouterBenchmark}); a quarter kept the sharing and lost nothing (367 against 350).
   */
  static final double JOIN_SLACK = 0.25;

  private final GreedyDecoder decoder;
  private final Supplier<ForwardPassResource> forwardPass;
  private final int maxRows;
  private final long cacheBudgetBytes;
  private final Object lock = new Object();
  private final Deque<PendingRow> waiting = new ArrayDeque<>();
  private final List<Thread> threads = new ArrayList<>();
  private volatile boolean closed;
  private final AtomicLong restarts = new AtomicLong();
  private final AtomicLong passes = new AtomicLong();
  private final AtomicLong passRows = new AtomicLong();
  /** Where each decoding thread's time goes, one per thread started (a replaced thread's stays, stopped). */
  private final List<TimeSplit> splits = new java.util.concurrent.CopyOnWriteArrayList<>();
  private long passesAtLastRestart = -1;
  private long restartPause;
  private static final long MAX_RESTART_PAUSE_MS = 5_000;

  /** A forward pass that holds a resource (a DJL predictor), confined to the decoding thread. */
  interface ForwardPassResource extends GreedyDecoder.ForwardPass, AutoCloseable {
    @Override
    void close();
  }

  private record PendingRow(Job job, int index, DecodingRow row) {}

  /**
   * One decoding thread's wall time in the parts {@link DecodingStats} names, switched by that
   * thread and read by any: each switch adds the time since the last to the part it leaves.
   */
  private static final class TimeSplit {
    static final int BETWEEN = 0;
    static final int STEP = 1;
    static final int RUN = 2;
    static final int WAIT = 3;
    private final long[] nanos = new long[4];
    private int current = BETWEEN;
    private long since = System.nanoTime();
    private long waits;
    private boolean stopped;

    synchronized void switchTo(int part) {
      long now = System.nanoTime();
      if (!stopped) {
        nanos[current] += now - since;
      }
      if (part == WAIT && current != WAIT) {
        waits++;
      }
      current = part;
      since = now;
    }

    /** Stops counting: the thread has ended. */
    synchronized void stop() {
      switchTo(BETWEEN);
      stopped = true;
    }

    /** Adds this thread's parts, the one in progress up to now, to {@code sums} (the four parts, waits, idle). */
    synchronized void addTo(long[] sums) {
      long inProgress = stopped ? 0 : System.nanoTime() - since;
      for (int i = 0; i < nanos.length; i++) {
        sums[i] += nanos[i] + (i == current ? inProgress : 0);
      }
      sums[4] += waits;
      sums[5] += current == WAIT ? inProgress : 0;
    }
  }

  /** A forward pass whose runs count as {@link TimeSplit#RUN}. */
  private static GreedyDecoder.ForwardPass timed(GreedyDecoder.ForwardPass pass, TimeSplit split) {
    return new GreedyDecoder.ForwardPass() {
      @Override
      public NextTokenScores run(DecodeStep step) {
        split.switchTo(TimeSplit.RUN);
        try {
          return pass.run(step);
        } finally {
          split.switchTo(TimeSplit.STEP);
        }
      }

      @Override
      public java.nio.Buffer pastBuffer(int i, int values, boolean half) {
        return pass.pastBuffer(i, values, half);
      }
    };
  }

  private static final class Job {
    final DecodingRow[] rows;
    final TextGenerator.Cancellation cancellation;
    final Function<int[], String> detokenizer;
    final CompletableFuture<List<Generation>> result = new CompletableFuture<>();
    /** Rows not finished yet; rows of one job may be decoded by different decoding threads. */
    final AtomicInteger unfinished = new AtomicInteger();
    final AtomicInteger steps = new AtomicInteger();

    Job(DecodingRow[] rows, TextGenerator.Cancellation cancellation, Function<int[], String> detokenizer) {
      this.rows = rows;
      this.cancellation = cancellation;
      this.detokenizer = detokenizer;
    }
  }

  ContinuousBatcher(String name, GreedyDecoder decoder, Supplier<ForwardPassResource> forwardPass, int maxRows) {
    this(name, decoder, forwardPass, maxRows, 1, 0);
  }

  /**
   * With {@code decoders} decoding threads, each with its own forward pass (from
   * {@code forwardPass}) and its own batch, taking waiting rows from one shared queue: an idle
   * decoder takes whatever waits (without a cache, a busy one only rows about as long as its own).
   *
   * @param cacheBudgetBytes the most key/value-cache bytes the rows of one decoding thread may
   *     reserve; 0 for no bound beyond {@code maxRows}
   */
  ContinuousBatcher(String name, GreedyDecoder decoder, Supplier<ForwardPassResource> forwardPass, int maxRows,
      int decoders, long cacheBudgetBytes) {
    if (decoders < 1) {
      throw new IllegalArgumentException("decoders: must be at least 1, got " + decoders);
    }
    if (cacheBudgetBytes < 0) {
      throw new IllegalArgumentException("cacheBudgetBytes: must be 0 (no bound) or more, got " + cacheBudgetBytes);
    }
    this.decoder = decoder;
    this.forwardPass = forwardPass;
    this.maxRows = maxRows;
    this.cacheBudgetBytes = cacheBudgetBytes;
    for (int i = 0; i < decoders; i++) {
      Thread thread = new Thread(this::loop, decoders == 1 ? "decoder-" + name : "decoder-" + name + "-" + (i + 1));
      thread.setDaemon(true);
      threads.add(thread);
    }
    threads.forEach(Thread::start);
  }

  /** Decodes the prefixes; blocks until every row is done (or the call is cancelled). */
  List<Generation> decode(List<long[]> prefixes, int[] limits, TextGenerator.Cancellation cancellation,
      Function<int[], String> detokenizer) {
    return decode(prefixes, java.util.Collections.nCopies(prefixes.size(), new int[0]), limits, cancellation,
        TextGenerator.EarlyStop.NEVER, detokenizer);
  }

  /**
   * As {@link #decode(List, int[], TextGenerator.Cancellation, Function)}, each row checking its
   * draft (empty: none; at most its limit) in its first forward pass ({@link GreedyDecoder}).
   */
  List<Generation> decode(List<long[]> prefixes, List<int[]> drafts, int[] limits,
      TextGenerator.Cancellation cancellation, Function<int[], String> detokenizer) {
    return decode(prefixes, drafts, limits, cancellation, TextGenerator.EarlyStop.NEVER, detokenizer);
  }

  /**
   * As above; a row that {@code earlyStop} stops is finished after that step, so it leaves the
   * batch and frees its place (and its cache reservation) for a waiting row at the next step.
   */
  List<Generation> decode(List<long[]> prefixes, int[] limits, TextGenerator.Cancellation cancellation,
      TextGenerator.EarlyStop earlyStop, Function<int[], String> detokenizer) {
    return decode(prefixes, java.util.Collections.nCopies(prefixes.size(), new int[0]), limits, cancellation,
        earlyStop, detokenizer);
  }

  /** With drafts and an early stop (see the two above). */
  List<Generation> decode(List<long[]> prefixes, List<int[]> drafts, int[] limits,
      TextGenerator.Cancellation cancellation, TextGenerator.EarlyStop earlyStop,
      Function<int[], String> detokenizer) {
    DecodingRow[] rows = new DecodingRow[prefixes.size()];
    Job job = new Job(rows, cancellation, detokenizer);
    synchronized (lock) {
      if (closed) {
        throw new IllegalStateException("generator is closed");
      }
      for (int i = 0; i < rows.length; i++) {
        rows[i] = decoder.newRow(prefixes.get(i), limits[i], drafts.get(i), earlyStop.forRow(i));
        if (!rows[i].finished) {
          job.unfinished.incrementAndGet();
          waiting.addLast(new PendingRow(job, i, rows[i]));
        }
      }
      if (job.unfinished.get() == 0) {
        return finish(job);
      }
      lock.notifyAll();
    }
    try {
      return job.result.get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new GenerationCancelledException(job.steps.get());
    } catch (ExecutionException e) {
      if (e.getCause() instanceof RuntimeException re) {
        re.addSuppressed(new RuntimeException("while waiting for the decoding thread"));
        throw re;
      }
      throw new IllegalStateException(e.getCause());
    }
  }

  private static List<Generation> finish(Job job) {
    List<Generation> out = new ArrayList<>(job.rows.length);
    for (DecodingRow row : job.rows) {
      out.add(row.toGeneration(job.detokenizer));
    }
    return out;
  }

  private void loop() {
    List<PendingRow> active = new ArrayList<>();
    TimeSplit split = new TimeSplit();
    splits.add(split);
    try (ForwardPassResource resource = forwardPass.get()) {
      GreedyDecoder.ForwardPass pass = timed(resource, split);
      while (true) {
        synchronized (lock) {
          if (active.isEmpty() && waiting.isEmpty() && !closed) {
            split.switchTo(TimeSplit.WAIT);
            while (active.isEmpty() && waiting.isEmpty() && !closed) {
              lock.wait();
            }
            split.switchTo(TimeSplit.BETWEEN);
          }
          if (closed) {
            failAll(active, new IllegalStateException("generator closed while generating"));
            return;
          }
          admit(active);
        }
        dropCancelled(active);
        if (active.isEmpty()) {
          continue;
        }
        List<DecodingRow> rows = new ArrayList<>(active.size());
        for (PendingRow p : active) {
          rows.add(p.row());
        }
        try {
          split.switchTo(TimeSplit.STEP);
          try {
            decoder.step(rows, pass);
          } finally {
            split.switchTo(TimeSplit.BETWEEN);
          }
          passRows.addAndGet(rows.size());
          passes.incrementAndGet();
        } catch (RuntimeException e) {
          LOG.warn("forward pass failed on {} rows", rows.size(), e);
          for (PendingRow p : active) {
            p.job().result.completeExceptionally(e);
          }
          active.clear();
          continue;
        }
        List<Job> stepped = new ArrayList<>();
        for (PendingRow p : active) {
          if (!stepped.contains(p.job())) {
            stepped.add(p.job());
            p.job().steps.incrementAndGet();
          }
          if (p.row().finished && p.job().unfinished.decrementAndGet() == 0) {
            complete(p.job());
          }
        }
        active.removeIf(p -> p.row().finished || p.job().result.isDone());
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (Throwable e) {
      // An Error (out of memory, a native fault surfacing as one) or a failure outside a forward
      // pass: this thread's rows fail, the queue is kept, and a new thread with a new forward pass
      // takes over, so one bad moment never stops the model for good.
      RuntimeException failure = e instanceof RuntimeException re ? re
          : new IllegalStateException("decoding thread died: " + e, e);
      for (PendingRow p : active) {
        p.job().result.completeExceptionally(failure);
      }
      replace(Thread.currentThread(), e);
    } finally {
      split.stop();
    }
  }

  /** Completes a job whose rows are all finished; a failure to build its result fails that job alone. */
  private static void complete(Job job) {
    try {
      job.result.complete(finish(job));
    } catch (RuntimeException e) {
      LOG.warn("finishing a generation failed", e);
      job.result.completeExceptionally(e);
    }
  }

  /**
   * Starts a new decoding thread in place of one that died. A thread that dies before its first
   * forward pass (its forward pass cannot even be made) is replaced after a pause that doubles up
   * to a few seconds, so a broken model does not spin; meanwhile queued rows wait.
   */
  private void replace(Thread dead, Throwable cause) {
    restarts.incrementAndGet();
    long pause;
    synchronized (lock) {
      if (closed) {
        return;
      }
      boolean progressed = passes.get() > passesAtLastRestart;
      passesAtLastRestart = passes.get();
      restartPause = progressed ? 0 : Math.min(MAX_RESTART_PAUSE_MS, Math.max(100, restartPause * 2));
      pause = restartPause;
    }
    LOG.error("decoding thread {} died; starting a new one{}", dead.getName(),
        pause > 0 ? " in " + pause + " ms" : "", cause);
    Thread thread = new Thread(() -> {
      if (pause > 0) {
        try {
          Thread.sleep(pause);
        } catch (InterruptedException e) {
          return;
        }
      }
      loop();
    }, dead.getName());
    thread.setDaemon(true);
    synchronized (lock) {
      if (closed) {
        return;
      }
      threads.remove(dead);
      threads.add(thread);
    }
    thread.start();
  }

  /**
   * The forward passes that completed so far ({@link DecodingStats}); counted before the rows they
   * finished are handed back, so a caller's reading after its call returns includes that call's passes.
   */
  DecodingStats stats() {
    long[] sums = new long[6];
    for (TimeSplit split : splits) {
      split.addTo(sums);
    }
    long run = sums[TimeSplit.RUN];
    long wait = sums[TimeSplit.WAIT];
    long pass = sums[TimeSplit.STEP] + run;
    return new DecodingStats(passes.get(), passRows.get(), pass, run, wait, pass + wait + sums[TimeSplit.BETWEEN],
        sums[4], sums[5]);
  }

  /** How many decoding threads died and were replaced. */
  long restarts() {
    return restarts.get();
  }

  /**
   * Moves waiting rows into the batch, oldest first, while there is room: fewer than
   * {@code maxRows} rows, and with a cache, the next row's reservation within the cache budget;
   * without one, the next row nearly as long as the longest active one (see {@link #JOIN_SLACK}).
   * Into an empty batch, always.
   */
  private void admit(List<PendingRow> active) {
    int longest = 0;
    long reserved = 0;
    for (PendingRow p : active) {
      longest = Math.max(longest, p.row().length());
      reserved += decoder.cacheBytes(p.row());
    }
    while (active.size() < maxRows && !waiting.isEmpty()) {
      PendingRow next = waiting.peekFirst();
      if (!active.isEmpty()) {
        if (decoder.cachesKeys()) {
          if (cacheBudgetBytes > 0 && reserved + decoder.cacheBytes(next.row()) > cacheBudgetBytes) {
            return;
          }
        } else if (longest - next.row().length() > JOIN_SLACK * longest) {
          return;
        }
      }
      active.add(waiting.pollFirst());
      longest = Math.max(longest, next.row().length());
      reserved += decoder.cacheBytes(next.row());
    }
  }

  /** Removes the rows of cancelled callers, from the batch and from the queue. */
  private void dropCancelled(List<PendingRow> active) {
    List<Job> jobs = new ArrayList<>();
    for (PendingRow p : active) {
      if (!jobs.contains(p.job())) {
        jobs.add(p.job());
      }
    }
    synchronized (lock) {
      for (PendingRow p : waiting) {
        if (!jobs.contains(p.job())) {
          jobs.add(p.job());
        }
      }
    }
    List<Job> cancelled = new ArrayList<>();
    for (Job job : jobs) {
      if (!job.result.isDone() && isCancelled(job)) {
        cancelled.add(job);
        job.result.completeExceptionally(new GenerationCancelledException(job.steps.get()));
      }
    }
    if (!cancelled.isEmpty()) {
      active.removeIf(p -> cancelled.contains(p.job()));
      synchronized (lock) {
        waiting.removeIf(p -> cancelled.contains(p.job()));
      }
    }
  }

  private static boolean isCancelled(Job job) {
    try {
      return job.cancellation.isCancelled();
    } catch (RuntimeException e) {
      return true;
    }
  }

  private void failAll(List<PendingRow> active, RuntimeException e) {
    for (PendingRow p : active) {
      p.job().result.completeExceptionally(e);
    }
    synchronized (lock) {
      for (PendingRow p : waiting) {
        p.job().result.completeExceptionally(e);
      }
      waiting.clear();
    }
  }

  @Override
  public void close() {
    synchronized (lock) {
      closed = true;
      lock.notifyAll();
    }
    List<Thread> running;
    synchronized (lock) {
      running = new ArrayList<>(threads);
    }
    try {
      for (Thread thread : running) {
        thread.join(10_000);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
