package dev.cascade.router.topology;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** Which topic a response goes to, and how often the broker is asked whether a reply topic exists. */
class ReplyTopicsTest {

  private static final String SHARED = "cascade.responses";
  private static final String PREFIX = "cascade.responses.";
  private static final String DOOR = "front-door-0b9d6a5e-4c1f-4d0a-9a57-2f1b3c4d5e6f";

  private final Set<String> existing = new HashSet<>();
  private final List<String> asked = new ArrayList<>();
  private final AtomicLong nanos = new AtomicLong();
  private final ReplyTopics replies = ReplyTopics.of(SHARED, PREFIX, Set.of(SHARED, "cascade.requests"), topic -> {
    asked.add(topic);
    return existing.contains(topic);
  }, nanos::get);

  @Test
  void aReCheckRunsOffTheCallersThreadWhichKeepsTheKnownAnswerMeanwhile() throws Exception {
    java.util.concurrent.CountDownLatch brokerAnswers = new java.util.concurrent.CountDownLatch(1);
    java.util.concurrent.ExecutorService refresher = java.util.concurrent.Executors.newSingleThreadExecutor();
    List<Boolean> calls = new java.util.concurrent.CopyOnWriteArrayList<>();
    ReplyTopics slow = ReplyTopics.of(SHARED, PREFIX, Set.of(), topic -> {
      if (!calls.isEmpty()) {
        brokerAnswers.await(); // the re-check: a broker that takes its time, and then says it is gone
        calls.add(false);
        return false;
      }
      calls.add(true);
      return true;
    }, nanos::get, refresher);
    try {
      assertThat(slow.responsesTopic(DOOR)).isEqualTo(PREFIX + DOOR);
      nanos.addAndGet(ReplyTopics.EXISTS_RECHECK.toNanos() / 2);
      assertThat(slow.responsesTopic(DOOR)).isEqualTo(PREFIX + DOOR); // in use
      nanos.addAndGet(ReplyTopics.EXISTS_RECHECK.toNanos() / 2 + 1);
      // Stale: the re-check starts in the background; the caller is answered at once from what is known.
      assertThat(slow.responsesTopic(DOOR)).isEqualTo(PREFIX + DOOR);
      assertThat(slow.responsesTopic(DOOR)).isEqualTo(PREFIX + DOOR);
      brokerAnswers.countDown();
      refresher.submit(() -> { }).get();
      assertThat(calls).containsExactly(true, false);
      assertThat(slow.responsesTopic(DOOR)).isEqualTo(SHARED);
    } finally {
      refresher.shutdownNow();
    }
  }

  @Test
  void aFrontDoorWithAReplyTopicGetsItAndTheBrokerIsAskedOnce() {
    existing.add(PREFIX + DOOR);
    assertThat(replies.responsesTopic(DOOR)).isEqualTo(PREFIX + DOOR);
    assertThat(replies.responsesTopic(DOOR)).isEqualTo(PREFIX + DOOR);
    assertThat(asked).containsExactly(PREFIX + DOOR);
  }

  @Test
  void noReplyToOrOneThatNamesNoFrontDoorGoesToTheSharedTopicWithoutAsking() {
    existing.add(PREFIX + "someone");
    assertThat(replies.responsesTopic(null)).isEqualTo(SHARED);
    assertThat(replies.responsesTopic("someone")).isEqualTo(SHARED);
    assertThat(replies.responsesTopic("front-door-a/b")).isEqualTo(SHARED);
    assertThat(replies.responsesTopic("front-door-")).isEqualTo(SHARED);
    assertThat(asked).isEmpty();
  }

  @Test
  void aFrontDoorWithoutAReplyTopicGoesToTheSharedTopicAndIsAskedAgainOnlyAfterAWhile() {
    assertThat(replies.responsesTopic(DOOR)).isEqualTo(SHARED);
    nanos.addAndGet(ReplyTopics.MISSING_RECHECK.toNanos() - 1);
    existing.add(PREFIX + DOOR);
    assertThat(replies.responsesTopic(DOOR)).isEqualTo(SHARED);
    assertThat(asked).hasSize(1);
    nanos.addAndGet(1);
    assertThat(replies.responsesTopic(DOOR)).isEqualTo(PREFIX + DOOR);
    assertThat(asked).hasSize(2);
  }

  @Test
  void aReplyTopicDeletedIsNoticedAtTheNextCheck() {
    existing.add(PREFIX + DOOR);
    assertThat(replies.responsesTopic(DOOR)).isEqualTo(PREFIX + DOOR);
    existing.clear();
    nanos.addAndGet(ReplyTopics.EXISTS_RECHECK.toNanos());
    assertThat(replies.responsesTopic(DOOR)).isEqualTo(SHARED);
  }

  /**
   * A router far behind on the requests topic: its last reply to a front door was long ago, a
   * reaper deleted the door's topic since, and the next reply must not go there. The broker is
   * asked on the caller's thread, though a re-check would otherwise run in the background.
   */
  @Test
  void aReplyTopicNotWrittenToForTheIdleRecheckIsAskedAboutOnTheCallersThreadBeforeTheNextWrite() {
    List<Runnable> background = new ArrayList<>();
    ReplyTopics lagging = ReplyTopics.of(SHARED, PREFIX, Set.of(), topic -> {
      asked.add(topic);
      return existing.contains(topic);
    }, nanos::get, background::add);
    existing.add(PREFIX + DOOR);
    assertThat(lagging.responsesTopic(DOOR)).isEqualTo(PREFIX + DOOR);
    nanos.addAndGet(ReplyTopics.IDLE_RECHECK.toNanos() - 1);
    assertThat(lagging.responsesTopic(DOOR)).isEqualTo(PREFIX + DOOR); // written to: not idle
    assertThat(asked).hasSize(1);
    existing.clear(); // reaped

    nanos.addAndGet(ReplyTopics.IDLE_RECHECK.toNanos());

    assertThat(lagging.responsesTopic(DOOR)).isEqualTo(SHARED);
    assertThat(asked).hasSize(2);
    assertThat(background).isEmpty();
  }

  @Test
  void aReaperGraceShorterThanTheIdleRecheckIsTheIdleRecheck() {
    ReplyTopics shortGrace = ReplyTopics.of(SHARED, PREFIX, Set.of(), topic -> {
      asked.add(topic);
      return existing.contains(topic);
    }, nanos::get).reCheckingIdleAfter(Duration.ofSeconds(20));
    existing.add(PREFIX + DOOR);
    assertThat(shortGrace.responsesTopic(DOOR)).isEqualTo(PREFIX + DOOR);
    nanos.addAndGet(Duration.ofSeconds(20).toNanos() - 1);
    assertThat(shortGrace.responsesTopic(DOOR)).isEqualTo(PREFIX + DOOR);
    assertThat(asked).hasSize(1);
    existing.clear();
    nanos.addAndGet(Duration.ofSeconds(20).toNanos());
    assertThat(shortGrace.responsesTopic(DOOR)).isEqualTo(SHARED);
    assertThat(asked).hasSize(2);
    // A longer grace does not lengthen it.
    ReplyTopics longGrace = ReplyTopics.of(SHARED, PREFIX, Set.of(), topic -> true, nanos::get)
        .reCheckingIdleAfter(Duration.ofHours(1));
    assertThat(longGrace.responsesTopic(DOOR)).isEqualTo(PREFIX + DOOR);
  }

  @Test
  void aFailedWriteToAReplyTopicHasTheBrokerAskedBeforeTheNextAndOtherTopicsAreIgnored() {
    existing.add(PREFIX + DOOR);
    assertThat(replies.responsesTopic(DOOR)).isEqualTo(PREFIX + DOOR);
    replies.writeFailed(SHARED);
    replies.writeFailed("cascade.requests");
    assertThat(replies.responsesTopic(DOOR)).isEqualTo(PREFIX + DOOR);
    assertThat(asked).hasSize(1);
    existing.clear();

    replies.writeFailed(PREFIX + DOOR);

    assertThat(replies.responsesTopic(DOOR)).isEqualTo(SHARED);
    assertThat(asked).hasSize(2);
    assertThat(replies.isReplyTopic(PREFIX + DOOR)).isTrue();
    assertThat(replies.isReplyTopic(SHARED)).isFalse();
    assertThat(replies.isReplyTopic(PREFIX + "someone")).isFalse();
    assertThat(ReplyTopics.sharedOnly(SHARED).isReplyTopic(PREFIX + DOOR)).isFalse();
  }

  @Test
  void whenTheBrokerCannotSayAKnownTopicIsKeptAndAnUnknownOneIsNotUsed() {
    existing.add(PREFIX + DOOR);
    List<Boolean> failing = new ArrayList<>(List.of(false));
    ReplyTopics flaky = ReplyTopics.of(SHARED, PREFIX, Set.of(), topic -> {
      if (failing.get(0)) {
        throw new java.util.concurrent.TimeoutException("broker away");
      }
      return existing.contains(topic);
    }, nanos::get);
    assertThat(flaky.responsesTopic(DOOR)).isEqualTo(PREFIX + DOOR);
    failing.set(0, true);
    nanos.addAndGet(ReplyTopics.EXISTS_RECHECK.toNanos());
    assertThat(flaky.responsesTopic(DOOR)).isEqualTo(PREFIX + DOOR);
    String other = "front-door-other";
    existing.add(PREFIX + other);
    assertThat(flaky.responsesTopic(other)).isEqualTo(SHARED);
  }

  @Test
  void theRoutersOwnTopicsAreNeverAReplyTopic() {
    ReplyTopics loose = ReplyTopics.of(SHARED, "cascade.", Set.of("cascade.front-door-x"), topic -> true,
        nanos::get);
    assertThat(loose.responsesTopic("front-door-x")).isEqualTo(SHARED);
    assertThat(loose.responsesTopic("front-door-y")).isEqualTo("cascade.front-door-y");
  }

  @Test
  void sharedOnlySendsEverythingToTheSharedTopic() {
    ReplyTopics shared = ReplyTopics.sharedOnly(SHARED);
    assertThat(shared.responsesTopic(DOOR)).isEqualTo(SHARED);
    assertThat(shared.ownTopic(DOOR)).isEmpty();
  }

  @Test
  void aPrefixThatCannotMakeATopicNameIsRefused() {
    assertThat(ReplyTopics.validPrefix("")).isTrue();
    assertThat(ReplyTopics.validPrefix("replies.")).isTrue();
    assertThat(ReplyTopics.validPrefix("replies/")).isFalse();
    assertThat(ReplyTopics.validPrefix("r".repeat(250))).isFalse();
    assertThatThrownBy(() -> ReplyTopics.of(SHARED, "a b", Set.of(), t -> true, nanos::get))
        .isInstanceOf(IllegalArgumentException.class);
    assertThat(Duration.ofNanos(1)).isPositive();
  }
}
