package dev.cascade.router.bench;

import dev.cascade.models.DecodingStats;
import java.util.List;
import java.util.Locale;
import java.util.function.ToDoubleFunction;

/**
 * Where the decoding thread's wall time went over a round ({@link DecodingStats}, two readings
 * apart), as shares of its time from the round's start to the end of its last step: in forward
 * passes' runs, in the rest of the steps, between steps, and waiting for work. The wait after its
 * last step (for the round's last answers to be committed and read, in a router round) is left out
 * of those shares and given apart, {@code tailMs}. Written for one decoding thread (the default on
 * a machine of up to 3 cores); with more, the parts are sums over the threads.
 *
 * @param run share in the forward passes' runs (ONNX Runtime and the tensors in and out of it)
 * @param stepRest share in the rest of a step (its inputs, the cache copies, the greedy choice, each
 *     row's per-token record)
 * @param betweenSteps share between steps (admitting rows, asking cancellations, handing finished
 *     rows back)
 * @param waiting share waiting for work before or between steps
 * @param waits how many times it ran out of work and waited before or between steps
 * @param tailMs milliseconds it waited after its last step, up to the reading after the round
 * @param spanMs milliseconds from the reading before the round to the end of its last step (what the
 *     shares are of)
 * @param passes forward passes
 * @param rowsPerPass rows a pass held on average
 */
public record DecodingTime(double run, double stepRest, double betweenSteps, double waiting, double waits,
    double tailMs, double spanMs, double passes, double rowsPerPass) {

  /** The round's time from its two readings' difference ({@link DecodingStats#minus}). */
  public static DecodingTime of(DecodingStats during) {
    long tail = Math.min(during.idleNanos(), during.waitNanos());
    double span = during.threadNanos() - tail;
    long waits = during.waits() - (during.idleNanos() > 0 ? 1 : 0);
    return new DecodingTime(during.runNanos() / span, (during.passNanos() - during.runNanos()) / span,
        during.betweenStepsNanos() / span, (during.waitNanos() - tail) / span, Math.max(0, waits), tail / 1e6,
        span / 1e6, during.passes(), during.rowsPerPass());
  }

  /** Each part's median over {@code rounds}, on its own. */
  public static DecodingTime median(List<DecodingTime> rounds) {
    return new DecodingTime(median(rounds, DecodingTime::run), median(rounds, DecodingTime::stepRest),
        median(rounds, DecodingTime::betweenSteps), median(rounds, DecodingTime::waiting),
        median(rounds, DecodingTime::waits), median(rounds, DecodingTime::tailMs), median(rounds, DecodingTime::spanMs),
        median(rounds, DecodingTime::passes),
        median(rounds, DecodingTime::rowsPerPass));
  }

  private static double median(List<DecodingTime> rounds, ToDoubleFunction<DecodingTime> part) {
    return rounds.isEmpty() ? Double.NaN : RouterBench.median(rounds.stream().mapToDouble(part).toArray());
  }

  @Override
  public String toString() {
    return String.format(Locale.ROOT, "run %.1f%%, rest of the steps %.1f%%, between steps %.1f%%, waiting for work"
        + " %.1f%% (%.0f waits) of %.0f ms, then %.0f ms waiting after its last step; %.0f passes of %.1f rows",
        100 * run, 100 * stepRest, 100 * betweenSteps, 100 * waiting, waits, spanMs, tailMs, passes, rowsPerPass);
  }
}
