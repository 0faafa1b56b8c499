package dev.cascade.router.learner;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.policy.DeferralPolicy;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** What the trainer and the tier tuner of one learner process see of each other's policies. */
class PolicyWritesTest {

  private final AtomicLong nanos = new AtomicLong();
  private final PolicyWrites writes = new PolicyWrites(nanos::get);
  private final List<DeferralPolicy> published = new ArrayList<>();

  private static DeferralPolicy policy(long version, String rule, double threshold, String by) {
    return new DeferralPolicy(rule, 0.0, threshold, 0.1, 0.0, version, by, 0L, "test", null, List.of(), "chow-sum",
        null);
  }

  private final DeferralPolicy v3 = policy(3, "chow-sum", 12, "admin");

  @Test
  void theNewestOfTheTopicsTheTunersAndTheTrainersPolicyIsInForce() {
    assertThat(writes.newest(v3)).isSameAs(v3);
    DeferralPolicy tuned = policy(4, "chow-sum", 9, "learner");
    assertThat(writes.tunerWrites(v3, v3, tuned, published::add)).isNull();
    assertThat(published).containsExactly(tuned);
    assertThat(writes.newest(v3)).as("the trainer's store has not read v4").isSameAs(tuned);
    DeferralPolicy trained = policy(5, "posthoc-quantile", 0.4, "learner");
    writes.trainerWrote(trained);
    assertThat(writes.newest(v3)).isSameAs(trained);
    DeferralPolicy operator = policy(6, "chow-sum", 10, "admin");
    assertThat(writes.newest(operator)).as("what the topic shows, when newer").isSameAs(operator);
  }

  @Test
  void aPolicyWrittenHereCountsOnlyUntilTheTopicCouldShowIt() {
    DeferralPolicy tuned = policy(7, "chow-sum", 9, "learner");
    assertThat(writes.tunerWrites(v3.writtenAs(6, "admin", 0, "x"), v3.writtenAs(6, "admin", 0, "x"), tuned,
        published::add)).isNull();
    nanos.addAndGet(PolicyWrites.PENDING_LIMIT.toNanos());
    // The policy topic deleted and written again since: its v1 is the policy in force, not the tuner's v7.
    DeferralPolicy rewritten = policy(1, "chow-sum", 11, "admin");
    assertThat(writes.newest(rewritten)).isSameAs(rewritten);
    writes.trainerWrote(policy(8, "posthoc-quantile", 0.4, "learner"));
    nanos.addAndGet(PolicyWrites.PENDING_LIMIT.toNanos());
    assertThat(writes.newest(rewritten)).as("never committed").isSameAs(rewritten);
  }

  @Test
  void theTunerWritesNothingOverATrainersPolicyTheTopicDoesNotShowYet() {
    DeferralPolicy trained = policy(4, "posthoc-quantile", 0.4, "learner");
    writes.trainerWrote(trained);
    DeferralPolicy tuned = policy(4, "chow-sum", 9, "learner");
    assertThat(writes.tunerWrites(v3, v3, tuned, published::add))
        .isEqualTo("the trainer wrote policy v4 (rule posthoc-quantile) during the round, not on the topic yet");
    // Once the topic shows it, a round decided on v3 is out of date; one decided on v4 is written.
    assertThat(writes.tunerWrites(v3, trained, tuned, published::add))
        .isEqualTo("the policy changed during the round (v3 to v4)");
    DeferralPolicy onTrained = policy(5, "posthoc-quantile", 0.3, "learner");
    assertThat(writes.tunerWrites(trained, trained, onTrained, published::add)).isNull();
    assertThat(published).containsExactly(onTrained);
  }

  @Test
  void aTrainersPolicyHoldsTheTunerBackUntilItsTaskClosesOrTheLimitPasses() {
    DeferralPolicy tuned = policy(4, "chow-sum", 9, "learner");
    writes.trainerWrote(policy(4, "posthoc-quantile", 0.4, "learner"));
    writes.trainerClosed(); // its transaction aborted: the policy is nowhere
    assertThat(writes.tunerWrites(v3, v3, tuned, published::add)).isNull();

    writes.trainerWrote(policy(5, "posthoc-quantile", 0.4, "learner"));
    nanos.addAndGet(PolicyWrites.PENDING_LIMIT.toNanos() - 1);
    DeferralPolicy again = policy(5, "chow-sum", 8, "learner");
    assertThat(writes.tunerWrites(tuned, tuned, again, published::add)).startsWith("the trainer wrote policy v5");
    nanos.addAndGet(1);
    assertThat(writes.tunerWrites(tuned, tuned, again, published::add)).isNull();
    assertThat(published).containsExactly(tuned, again);
  }

  @Test
  void aTunerPublicationThatFailsLeavesNothingBehind() {
    DeferralPolicy tuned = policy(4, "chow-sum", 9, "learner");
    try {
      writes.tunerWrites(v3, v3, tuned, p -> {
        throw new IllegalStateException("broker gone");
      });
    } catch (IllegalStateException expected) {
      // the tuner's round fails and is tried again
    }
    assertThat(writes.newest(v3)).isSameAs(v3);
  }

  /**
   * The trainer reads the policy in force and forwards its own under the lock: a tuner publishing
   * meanwhile waits, then sees the trainer's policy and writes nothing.
   */
  @Test
  void aTunerRoundEndingWhileTheTrainerWritesWaitsForItThenStandsBack() throws Exception {
    CountDownLatch trainerHolds = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    Thread trainer = new Thread(() -> {
      assertThat(writes.tryStartTrainerWrite()).isTrue();
      try {
        DeferralPolicy inForce = writes.newest(v3);
        trainerHolds.countDown();
        try {
          release.await(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
        writes.trainerWrote(policy(inForce.version() + 1, "posthoc-quantile", 0.4, "learner"));
      } finally {
        writes.endTrainerWrite();
      }
    });
    trainer.start();
    assertThat(trainerHolds.await(10, TimeUnit.SECONDS)).isTrue();
    AtomicReference<String> refused = new AtomicReference<>();
    Thread tuner = new Thread(() -> refused.set(writes.tunerWrites(v3, v3, policy(4, "chow-sum", 9, "learner"),
        published::add)));
    tuner.start();
    tuner.join(200);
    assertThat(tuner.isAlive()).as("waits while the trainer writes").isTrue();
    release.countDown();
    tuner.join(10_000);
    trainer.join(10_000);
    assertThat(refused.get()).startsWith("the trainer wrote policy v4");
    assertThat(published).isEmpty();
  }

  /**
   * While the tuner publishes (a write and its read-back, over the network), the trainer does not
   * wait for it: its try fails, and it tries again at its next punctuation. Reading the policy in
   * force does not wait either.
   */
  @Test
  void theTrainersStreamThreadNeverWaitsWhileTheTunerPublishes() throws Exception {
    CountDownLatch publishing = new CountDownLatch(1);
    CountDownLatch acknowledged = new CountDownLatch(1);
    DeferralPolicy tuned = policy(4, "chow-sum", 9, "learner");
    Thread tuner = new Thread(() -> writes.tunerWrites(v3, v3, tuned, p -> {
      publishing.countDown();
      try {
        acknowledged.await(10, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      published.add(p);
    }));
    tuner.start();
    assertThat(publishing.await(10, TimeUnit.SECONDS)).isTrue();
    assertThat(writes.tryStartTrainerWrite()).as("the tuner is publishing").isFalse();
    assertThat(writes.newest(v3)).as("not written yet").isSameAs(v3);
    acknowledged.countDown();
    tuner.join(10_000);
    assertThat(writes.tryStartTrainerWrite()).isTrue();
    try {
      assertThat(writes.newest(v3)).isSameAs(tuned);
    } finally {
      writes.endTrainerWrite();
    }
  }
}
