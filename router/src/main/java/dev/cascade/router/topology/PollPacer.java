package dev.cascade.router.topology;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongSupplier;

/**
 * How long the router's Kafka consumers may block in a poll: short while there is work whose
 * wall-clock punctuators must run on time, long once the router is idle.
 *
 * <p>Kafka Streams runs punctuators between polls, so the router sets {@code poll.ms} short (5
 * ms): finished small-model batches and large-model answers are forwarded from punctuators, and a
 * long poll on an idle input would hold them back. But a stream thread with nothing to do then
 * wakes 200 times a second, and so does the global thread that reads the policy and rules topics:
 * about a tenth of a core for an idle router. A poll returns as soon as records arrive, whatever
 * its timeout (the broker answers a waiting fetch when data comes), so a long timeout costs an idle
 * router nothing in latency, as long as no punctuator and no commit is due meanwhile. The pacer
 * tracks exactly that:
 *
 * <ul>
 *   <li><b>busy</b> while any {@link IdleAwarePunctuator} is scheduled at an interval shorter than
 *       the idle poll (a batch waits or runs, a large-model call is in flight);
 *   <li>for {@code quiet} after the last busy moment and after the last poll that returned records
 *       (the router gives a second, and never less than the commit interval and a margin): the
 *       exactly-once commit that makes those answers visible is due within the commit interval,
 *       Kafka Streams commits between polls too, and the gaps of a light, steady load stay short;
 *   <li>otherwise idle: a poll may block for {@code idlePoll}.
 * </ul>
 *
 * <p>The main consumers of the stream threads ask {@link #mainPoll(Duration)}; the global
 * consumer, which runs no punctuator and commits nothing, always polls at least {@code idlePoll}
 * ({@link #globalPoll(Duration)}). Processors find the pacer in the application's configuration
 * ({@link #of(Map)}, key {@link #CONFIG_KEY}); without one (the learner, tests) nothing is paced.
 */
public final class PollPacer {

  /** The key under which the router puts its pacer into the Kafka Streams configuration. */
  public static final String CONFIG_KEY = "cascade.poll.pacer";

  private final Duration idlePoll;
  private final long quietNanos;
  private final LongSupplier nanoTime;
  private final AtomicInteger busy = new AtomicInteger();
  private volatile long lastActive;

  /**
   * @param idlePoll how long an idle consumer's poll may block
   * @param quiet how long after the last work, or the last records polled, polls stay short
   */
  public PollPacer(Duration idlePoll, Duration quiet) {
    this(idlePoll, quiet, System::nanoTime);
  }

  PollPacer(Duration idlePoll, Duration quiet, LongSupplier nanoTime) {
    if (idlePoll.isNegative() || idlePoll.isZero()) {
      throw new IllegalArgumentException("idlePoll: must be positive, got " + idlePoll);
    }
    this.idlePoll = idlePoll;
    this.quietNanos = quiet.toNanos();
    this.nanoTime = nanoTime;
    this.lastActive = nanoTime.getAsLong();
  }

  /** The pacer in a Kafka Streams application's configuration, or null where there is none. */
  public static PollPacer of(Map<String, Object> appConfigs) {
    return appConfigs.get(CONFIG_KEY) instanceof PollPacer pacer ? pacer : null;
  }

  /** The longest a poll blocks while idle. */
  public Duration idlePoll() {
    return idlePoll;
  }

  /** Work began that needs punctuating at an interval shorter than the idle poll. */
  void busy() {
    busy.incrementAndGet();
    active();
  }

  /** Work that {@link #busy()} announced has ended. */
  void done() {
    busy.decrementAndGet();
    active();
  }

  /** Something happened that a commit must follow (records were polled, work ended). */
  void active() {
    lastActive = nanoTime.getAsLong();
  }

  /** Whether a poll may block for the idle poll now. */
  boolean idle() {
    return busy.get() <= 0 && nanoTime.getAsLong() - lastActive > quietNanos;
  }

  /** A stream thread's poll timeout: Kafka Streams' own ({@code requested}) unless the router is idle. */
  public Duration mainPoll(Duration requested) {
    if (requested.isZero() || requested.compareTo(idlePoll) >= 0 || !idle()) {
      return requested;
    }
    return idlePoll;
  }

  /** The global thread's poll timeout: at least the idle poll. */
  public Duration globalPoll(Duration requested) {
    return requested.isZero() || requested.compareTo(idlePoll) >= 0 ? requested : idlePoll;
  }

  /** Called after a stream thread's poll: records polled make the router active. */
  public void polled(int records) {
    if (records > 0) {
      active();
    }
  }
}
