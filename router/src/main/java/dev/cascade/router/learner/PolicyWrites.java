package dev.cascade.router.learner;

import dev.cascade.router.policy.DeferralPolicy;
import java.time.Duration;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The policies one learner process writes, as its two writers know them before the policy topic
 * shows them to the other: the trainer's ({@link TrainerProcessor}, in its stream task's
 * transaction, on the topic at the task's next commit) and the tier tuner's ({@link TierTuner},
 * written and read back by the tuner's own reader, but perhaps not yet in the trainer's store).
 *
 * <p>Each writes holding one lock, from reading the policy in force to writing its own, so that
 * neither writes over a policy of the other that it has not seen. The trainer only tries to take
 * it ({@link #tryStartTrainerWrite}): its stream thread never waits while the tuner writes and
 * reads back over the network, and finishes its round at a later punctuation instead.
 * <ul>
 *   <li>the trainer starts from the newest policy of the three (its store's, the tuner's last, its
 *       own last), so a threshold the tuner wrote a moment ago is kept even before the trainer's
 *       store has read it;
 *   <li>the tuner writes nothing while a trainer's policy newer than the one on the topic is still
 *       in the trainer's open transaction: its round was decided on a policy about to be replaced
 *       (another rule, whose scores the round never read), so the next round decides again.
 * </ul>
 * A trainer's write stops holding the tuner back once the tuner's reader shows that version or a
 * newer one, when the trainer's task is closed (its transaction then aborts unless it was
 * committed, so it is on the topic or nowhere), or, should neither ever happen, after {@link
 * #PENDING_LIMIT}. Two learner processes are not covered: only the one holding the trainer's task
 * runs the tuner.
 */
final class PolicyWrites {

  private static final Logger LOG = LoggerFactory.getLogger(PolicyWrites.class);

  /** The longest a trainer's write waits to show on the topic before the tuner stops waiting for it. */
  static final Duration PENDING_LIMIT = Duration.ofSeconds(60);

  private final LongSupplier nanos;
  /** Held by a writer from reading the policy in force to writing its own. */
  private final ReentrantLock writing = new ReentrantLock();
  // The fields below are guarded by this object's monitor, held only briefly, never across I/O.
  private DeferralPolicy tunerLast;
  private long tunerLastAtNanos;
  private DeferralPolicy trainerPending;
  private long trainerPendingAtNanos;

  PolicyWrites() {
    this(System::nanoTime);
  }

  PolicyWrites(LongSupplier nanos) {
    this.nanos = nanos;
  }

  /**
   * The policy in force as this process knows it: the newest, by version, of {@code read} (what
   * the caller's own view of the topic holds), the tuner's last policy, and the trainer's last,
   * each of the two only within {@link #PENDING_LIMIT} of being written: by then the topic shows it
   * (or it was never committed), and a lower version on the topic is a topic deleted and written
   * again, whose policy is the one in force.
   */
  synchronized DeferralPolicy newest(DeferralPolicy read) {
    DeferralPolicy newest = read;
    if (recent(tunerLast, tunerLastAtNanos) && tunerLast.version() > newest.version()) {
      newest = tunerLast;
    }
    if (recent(trainerPending, trainerPendingAtNanos) && trainerPending.version() > newest.version()) {
      newest = trainerPending;
    }
    return newest;
  }

  private boolean recent(DeferralPolicy written, long atNanos) {
    return written != null && nanos.getAsLong() - atNanos < PENDING_LIMIT.toNanos();
  }

  /**
   * Takes the lock for a trainer's write if no tuner holds it (it may be publishing); the trainer
   * then reads the policy in force with {@link #newest}, forwards its own, notes it with {@link
   * #trainerWrote} and calls {@link #endTrainerWrite}. False: try again later.
   */
  boolean tryStartTrainerWrite() {
    return writing.tryLock();
  }

  void endTrainerWrite() {
    writing.unlock();
  }

  /**
   * Notes a policy the trainer forwarded in its task's transaction, between {@link
   * #tryStartTrainerWrite} and {@link #endTrainerWrite}.
   */
  synchronized void trainerWrote(DeferralPolicy policy) {
    trainerPending = policy;
    trainerPendingAtNanos = nanos.getAsLong();
  }

  /** The trainer's task closed: its last policy is on the topic or will never be. */
  synchronized void trainerClosed() {
    trainerPending = null;
  }

  /**
   * Publishes the tuner's {@code policy}, decided on {@code decidedOn}, unless the policy changed
   * meanwhile: {@code read} (the tuner's view of the topic now) is another version, or the trainer
   * has written a newer policy that is not on the topic yet.
   *
   * @return null when {@code publish} wrote it; otherwise why it was not written
   */
  String tunerWrites(DeferralPolicy decidedOn, DeferralPolicy read, DeferralPolicy policy,
      Consumer<DeferralPolicy> publish) {
    writing.lock(); // the tuner's own thread waits, while a trainer's write (no I/O) finishes
    try {
      String refused = tunerMayWrite(decidedOn, read);
      if (refused != null) {
        return refused;
      }
      publish.accept(policy);
      synchronized (this) {
        tunerLast = policy;
        tunerLastAtNanos = nanos.getAsLong();
      }
      return null;
    } finally {
      writing.unlock();
    }
  }

  /** Why the tuner may not write over {@code read}, or null (a trainer's write that is on the topic is forgotten). */
  private synchronized String tunerMayWrite(DeferralPolicy decidedOn, DeferralPolicy read) {
    if (read.version() != decidedOn.version()) {
      return "the policy changed during the round (v" + decidedOn.version() + " to v" + read.version() + ")";
    }
    if (trainerPending != null && trainerPending.version() > read.version()) {
      long waited = nanos.getAsLong() - trainerPendingAtNanos;
      if (waited < PENDING_LIMIT.toNanos()) {
        return "the trainer wrote policy v" + trainerPending.version() + " (rule " + trainerPending.ruleSpec()
            + ") during the round, not on the topic yet";
      }
      LOG.warn("the trainer's policy v{} is not on the policy topic {} s after it was written; writing the tuner's"
          + " policy over v{}", trainerPending.version(), Duration.ofNanos(waited).toSeconds(), read.version());
    }
    trainerPending = null;
    return null;
  }
}
