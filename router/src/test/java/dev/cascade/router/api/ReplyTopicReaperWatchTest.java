package dev.cascade.router.api;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.api.ReplyTopicReaper.Sighting;
import dev.cascade.router.api.ReplyTopicReaper.Watch;
import dev.cascade.router.topology.ReplyTopics;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The reaper's rule, on its own clock: a reply topic is due once, at every look for the grace, its
 * group had no member and its end offset did not move; anything else starts the count again.
 */
class ReplyTopicReaperWatchTest {

  private static final Duration GRACE = Duration.ofMinutes(10);
  private static final Duration INTERVAL = Duration.ofMinutes(1);
  private static final String ORPHAN = "cascade.responses.front-door-m-0b9d6a5e-4c1f-4d0a-9a57-2f1b3c4d5e6f";
  private static final String IDLE = "cascade.responses.front-door-m-1c0e7b6f-5d2a-4e1b-8b68-3a2c4d5e6f70";

  private final Watch watch = new Watch(GRACE, INTERVAL);
  private long now;

  /** Looks every interval for {@code span}, each finding {@code sightings}; the topics due at each look. */
  private List<List<String>> lookFor(Duration span, Map<String, Sighting> sightings) {
    List<List<String>> due = new java.util.ArrayList<>();
    for (long t = 0; t < span.toNanos(); t += INTERVAL.toNanos()) {
      now += INTERVAL.toNanos();
      due.add(watch.look(now, sightings));
    }
    return due;
  }

  private static Sighting orphaned(long end) {
    return new Sighting(false, end);
  }

  @Test
  void anOrphanIsDueAtTheFirstLookAGraceAfterItWasFirstSeenSo() {
    assertThat(watch.look(now, Map.of(ORPHAN, orphaned(7)))).isEmpty();
    List<List<String>> due = lookFor(GRACE, Map.of(ORPHAN, orphaned(7)));
    assertThat(due.subList(0, due.size() - 1)).allMatch(List::isEmpty);
    assertThat(due.get(due.size() - 1)).containsExactly(ORPHAN);
  }

  @Test
  void aTopicWhoseGroupHasAMemberIsNeverDueHoweverLongItIsIdle() {
    // An idle front door: nothing written for hours, but its reader is a member of the group.
    assertThat(lookFor(Duration.ofHours(5), Map.of(IDLE, Sighting.MEMBER, ORPHAN, orphaned(0))))
        .allMatch(d -> !d.contains(IDLE));
  }

  @Test
  void aMemberComingBackBeforeTheGraceStartsTheCountAgain() {
    // Paused or cut off past its session timeout, then back: seen without a member for 9 minutes.
    assertThat(lookFor(GRACE.minus(INTERVAL), Map.of(IDLE, orphaned(3)))).allMatch(List::isEmpty);
    assertThat(watch.look(now += INTERVAL.toNanos(), Map.of(IDLE, Sighting.MEMBER))).isEmpty();
    // Gone again: a whole grace from now, not from the first time.
    assertThat(lookFor(GRACE.minus(INTERVAL), Map.of(IDLE, orphaned(3)))).allMatch(List::isEmpty);
    assertThat(lookFor(INTERVAL, Map.of(IDLE, orphaned(3)))).allMatch(List::isEmpty);
    assertThat(lookFor(INTERVAL, Map.of(IDLE, orphaned(3))).get(0)).containsExactly(IDLE);
  }

  @Test
  void aWriteStartsTheCountAgain() {
    // A router still answering the dead front door's requests: its end offset moves.
    assertThat(lookFor(GRACE.minus(INTERVAL), Map.of(ORPHAN, orphaned(3)))).allMatch(List::isEmpty);
    assertThat(lookFor(GRACE.minus(INTERVAL), Map.of(ORPHAN, orphaned(4)))).allMatch(List::isEmpty);
    assertThat(lookFor(INTERVAL.multipliedBy(2), Map.of(ORPHAN, orphaned(4))).get(1)).containsExactly(ORPHAN);
  }

  @Test
  void aLookThatCannotTellStartsTheCountAgain() {
    assertThat(lookFor(GRACE.minus(INTERVAL), Map.of(ORPHAN, orphaned(3)))).allMatch(List::isEmpty);
    assertThat(watch.look(now += INTERVAL.toNanos(), Map.of(ORPHAN, Sighting.UNKNOWN))).isEmpty();
    assertThat(lookFor(GRACE.minus(INTERVAL), Map.of(ORPHAN, orphaned(3)))).allMatch(List::isEmpty);
    watch.clear(); // a look that failed altogether
    assertThat(lookFor(GRACE.minus(INTERVAL), Map.of(ORPHAN, orphaned(3)))).allMatch(List::isEmpty);
    assertThat(lookFor(INTERVAL.multipliedBy(2), Map.of(ORPHAN, orphaned(3))).get(1)).containsExactly(ORPHAN);
  }

  @Test
  void looksTooFarApartStartTheCountAgain() {
    // This process paused (or a look hung) for longer than two intervals and the slack: what
    // happened meanwhile was not seen, so it does not count.
    assertThat(watch.look(now, Map.of(ORPHAN, orphaned(3)))).isEmpty();
    now += GRACE.toNanos();
    assertThat(watch.look(now, Map.of(ORPHAN, orphaned(3)))).isEmpty();
    List<List<String>> due = lookFor(GRACE, Map.of(ORPHAN, orphaned(3)));
    assertThat(due.subList(0, due.size() - 1)).allMatch(List::isEmpty);
    assertThat(due.get(due.size() - 1)).containsExactly(ORPHAN);
  }

  @Test
  void aTopicNoLongerListedIsForgotten() {
    assertThat(lookFor(GRACE.minus(INTERVAL), Map.of(ORPHAN, orphaned(3)))).allMatch(List::isEmpty);
    assertThat(watch.look(now += INTERVAL.toNanos(), Map.of())).isEmpty();
    assertThat(watch.orphanedForMs(ORPHAN, now)).isZero();
  }

  @Test
  void onlyReplyTopicsOfFrontDoorsThatKeepTheirGroupAreCandidates() {
    String prefix = "cascade.responses.";
    assertThat(ReplyTopics.isMemberReplyTopic(prefix, prefix + ReplyTopics.newInstanceId())).isTrue();
    assertThat(ReplyTopics.isMemberReplyTopic(prefix, ORPHAN)).isTrue();
    // A front door of an earlier version joins no group: its topic is never taken for an orphan.
    assertThat(ReplyTopics.isMemberReplyTopic(prefix, prefix + "front-door-0b9d6a5e-4c1f-4d0a-9a57-2f1b3c4d5e6f"))
        .isFalse();
    assertThat(ReplyTopics.isMemberReplyTopic(prefix, "cascade.responses")).isFalse();
    assertThat(ReplyTopics.isMemberReplyTopic(prefix, prefix + "front-door-m-not-a-uuid")).isFalse();
    assertThat(ReplyTopics.isMemberReplyTopic("other.", ORPHAN)).isFalse();
    assertThat(ReplyTopics.isMemberReplyTopic(prefix, ORPHAN + ".x")).isFalse();
  }

  @Test
  void aTopicOfAnEarlierVersionsFrontDoorHasItsOwnGrace() {
    String legacy = "cascade.responses.front-door-2d1f8c7a-6e3b-4f2c-9c79-4b3d5e6f7a81";
    Watch both = new Watch(topic -> ReplyTopics.isLegacyReplyTopic("cascade.responses.", topic)
        ? GRACE.multipliedBy(3) : GRACE, INTERVAL);
    Map<String, Sighting> unwritten = Map.of(ORPHAN, orphaned(4), legacy, orphaned(9));
    assertThat(both.look(now, unwritten)).isEmpty();
    List<String> due = new java.util.ArrayList<>();
    long dueAt = -1;
    while (!due.contains(legacy)) {
      now += INTERVAL.toNanos();
      List<String> found = both.look(now, due.contains(ORPHAN) ? Map.of(legacy, orphaned(9)) : unwritten);
      if (found.contains(ORPHAN)) {
        dueAt = now;
      }
      due.addAll(found);
    }
    assertThat(dueAt).isEqualTo(GRACE.toNanos());
    assertThat(now).isEqualTo(GRACE.multipliedBy(3).toNanos());
    assertThat(due).containsExactly(ORPHAN, legacy);
  }

  @Test
  void onlyTheNamesOfFrontDoorsOfAnEarlierVersionAreLegacyReplyTopics() {
    String prefix = "cascade.responses.";
    assertThat(ReplyTopics.isLegacyReplyTopic(prefix, prefix + "front-door-2d1f8c7a-6e3b-4f2c-9c79-4b3d5e6f7a81"))
        .isTrue();
    assertThat(ReplyTopics.isLegacyReplyTopic(prefix, ORPHAN)).isFalse();
    assertThat(ReplyTopics.isMemberReplyTopic(prefix, ORPHAN)).isTrue();
    assertThat(ReplyTopics.isLegacyReplyTopic(prefix, prefix + "front-door-not-a-uuid")).isFalse();
    assertThat(ReplyTopics.isLegacyReplyTopic(prefix, "other.front-door-2d1f8c7a-6e3b-4f2c-9c79-4b3d5e6f7a81"))
        .isFalse();
    assertThat(ReplyTopics.isLegacyReplyTopic(prefix, prefix)).isFalse();
  }

  @Test
  void aFailedLookNamesThePermissionsOnlyWhenKafkaRefusedItAsNotAuthorized() {
    String outage = ReplyTopicReaper.cannotLookLine(
        new org.apache.kafka.common.errors.TimeoutException("Timed out waiting for a node assignment. Call: listTopics"),
        "cascade.responses.front-door-");
    assertThat(outage).contains("Timed out waiting for a node assignment").doesNotContain("principal");
    String refused = ReplyTopicReaper.cannotLookLine(new org.apache.kafka.common.errors.GroupAuthorizationException(
        "Not authorized to access group: front-door-m-1"), "cascade.responses.front-door-");
    assertThat(refused).endsWith("Its Kafka principal needs describe and delete on topics, and describe on consumer"
        + " groups, prefixed 'cascade.responses.front-door-'");
  }
}
