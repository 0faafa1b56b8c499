package dev.cascade.models;

/**
 * A model's forward passes so far, counted by its decoding threads: how many, over how many rows
 * in all, how long they took, and where the rest of the decoding threads' time went. Two readings
 * apart give what happened in between ({@link #minus}): the decoding threads' busy time over a
 * wall-clock interval, and the rows a pass held on average, which is how a caller sees whether the
 * model was kept fed.
 *
 * <p>A decoding thread's time (wall clock, from its start, {@link #threadNanos}) is in one of four
 * parts at any moment: in a forward pass's run (ONNX Runtime, and the tensors in and out of it,
 * {@link #runNanos}), in the rest of a step (building the step's inputs, the cache copies, the
 * greedy choice and each row's per-token record: {@link #passNanos} less {@link #runNanos}),
 * between steps (admitting waiting rows, asking cancellations, handing finished rows back, which
 * detokenizes them: {@link #betweenStepsNanos}), or waiting for rows with none to decode
 * ({@link #waitNanos}). A reading counts the part in progress up to the moment of reading.
 *
 * @param passes forward passes run
 * @param rows rows over all those passes (a row counted once per pass it was in)
 * @param passNanos wall time inside the passes (whole steps), summed over the decoding threads
 * @param runNanos the part of {@code passNanos} inside the forward pass's run itself
 * @param waitNanos wall time waiting for rows with none to decode, summed over the decoding threads
 * @param threadNanos the decoding threads' wall time since they started, summed over them
 * @param waits how many times a decoding thread found nothing to decode and waited
 * @param idleNanos at the reading, how long the decoding threads had been waiting, summed (0 when
 *     all were decoding); not a count, so {@link #minus} keeps the later reading's
 */
public record DecodingStats(long passes, long rows, long passNanos, long runNanos, long waitNanos, long threadNanos,
    long waits, long idleNanos) {

  /** No passes. */
  public static final DecodingStats NONE = new DecodingStats(0, 0, 0, 0, 0, 0, 0, 0);

  /** Passes, rows and their time alone, for a decoding loop that splits nothing else. */
  public DecodingStats(long passes, long rows, long passNanos) {
    this(passes, rows, passNanos, passNanos, 0, passNanos, 0, 0);
  }

  /** What happened since {@code earlier}, a reading of the same model ({@link #idleNanos} this reading's). */
  public DecodingStats minus(DecodingStats earlier) {
    return new DecodingStats(passes - earlier.passes, rows - earlier.rows, passNanos - earlier.passNanos,
        runNanos - earlier.runNanos, waitNanos - earlier.waitNanos, threadNanos - earlier.threadNanos,
        waits - earlier.waits, idleNanos);
  }

  /** Rows per forward pass on average; NaN without passes. */
  public double rowsPerPass() {
    return passes == 0 ? Double.NaN : (double) rows / passes;
  }

  /** The decoding threads' time between steps: neither in a step nor waiting for rows. */
  public long betweenStepsNanos() {
    return threadNanos - passNanos - waitNanos;
  }
}
