package dev.cascade.models;

/**
 * A model's forward passes so far, counted by its decoding threads: how many, over how many rows
 * in all, and how long they took. Two readings apart give what happened in between ({@link
 * #minus}): the decoding threads' busy time over a wall-clock interval, and the rows a pass held
 * on average, which is how a caller sees whether the model was kept fed.
 *
 * @param passes forward passes run
 * @param rows rows over all those passes (a row counted once per pass it was in)
 * @param passNanos wall time inside the passes, summed over the decoding threads
 */
public record DecodingStats(long passes, long rows, long passNanos) {

  /** No passes. */
  public static final DecodingStats NONE = new DecodingStats(0, 0, 0);

  /** What happened since {@code earlier}, a reading of the same model. */
  public DecodingStats minus(DecodingStats earlier) {
    return new DecodingStats(passes - earlier.passes, rows - earlier.rows, passNanos - earlier.passNanos);
  }

  /** Rows per forward pass on average; NaN without passes. */
  public double rowsPerPass() {
    return passes == 0 ? Double.NaN : (double) rows / passes;
  }
}
