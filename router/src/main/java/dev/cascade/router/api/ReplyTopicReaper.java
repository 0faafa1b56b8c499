package dev.cascade.router.api;

import dev.cascade.router.topology.ReplyTopics;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.GroupIdNotFoundException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Deletes the reply topics of front doors that no longer run: killed ({@code kill -9}, an OOM kill,
 * a lost node), or stopped while a request they sent had no reply yet, which leave their topic
 * behind. Each front door runs one ({@code front-door.reply-topic-reaper.*}).
 *
 * <p><b>The rule.</b> A reply topic is a candidate when its name is {@code <topic.reply-prefix>}
 * followed by the id of a front door that keeps the consumer group of the same name ({@code
 * front-door-m-<uuid>}, {@link ReplyTopics#MEMBER_ID_PREFIX}) and it is not this front door's own.
 * The reaper looks at every candidate at start, then every half to one and a half times {@code
 * interval} (at random, so that front doors started together do not look together). A candidate
 * is deleted at the look that finds that, at every look of this reaper for at least {@code grace},
 * <ol>
 *   <li>the consumer group named after the topic had no member: no front door reads it (its
 *       front door is a member for as long as it runs, {@link ReplyTopicMembership}), and
 *   <li>the topic's end offset did not move: nothing was written to it, so no router is still
 *       answering a request its front door sent (a write to a deleted topic would stall the
 *       router's stream thread, or re-create the topic where the broker auto-creates topics).
 * </ol>
 * A look that finds a member or a write, or that cannot tell (an error, a timeout), starts the
 * count again, and so do two looks more than {@code 2 * interval + 10 s} apart (this process was
 * paused, or a look hung): the count is only of what this reaper saw. It starts from nothing at
 * every start of the process, so a topic is deleted no sooner than {@code grace} after the first
 * look that found it so, and never by a reaper that has not lived {@code grace}.
 *
 * <p><b>Why a live front door keeps its topic.</b> Kafka keeps a consumer a member of its group
 * while it heartbeats (a background thread, every 3 s by default), however long it has had
 * nothing to read: an idle front door stays a member. It drops the member once {@code
 * session.timeout.ms} (45 s by default) passes with no heartbeat. So a live front door's topic is
 * deleted only if it sends no heartbeat for {@code session.timeout.ms} and then, at every look
 * for {@code grace}, is still not back: paused (GC, SIGSTOP) or cut off from the brokers for longer
 * than {@code session.timeout.ms + grace} (10 min 45 s by default) without a break. A front door
 * that comes back after that finds its topic gone at its own reaper's next look and re-creates it
 * ({@link KafkaRequestChannel#recreateReplyTopic()}); replies to requests it sent before are lost.
 *
 * <p><b>Reply topics of front doors of an earlier version</b> ({@code front-door-<uuid>}) join no
 * group: nothing tells a live one, idle, from a dead one, and a live one whose topic is deleted does
 * not re-create it (its calls wait out their deadlines until it is restarted). So they are
 * candidates only with {@code legacy-grace-ms} set (0, the default: never), for when no front door
 * of that version runs any more, and then by the end offset alone: deleted once nothing was written
 * to one at every look for {@code legacy-grace-ms}, counted as above.
 */
public final class ReplyTopicReaper implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(ReplyTopicReaper.class);
  private static final long TIMEOUT_S = 30;
  /** Added to {@code 2 * interval}: the longest two looks may be apart and still count as one watch. */
  static final Duration GAP_SLACK = Duration.ofSeconds(10);

  /** What one look found of a candidate: its group has a member, and its end offset (-1: not known). */
  record Sighting(boolean member, long endOffset) {
    static final Sighting MEMBER = new Sighting(true, -1);
    /** No member, but the end offset could not be read (the topic deleted meanwhile). */
    static final Sighting UNKNOWN = new Sighting(false, -1);

    /** Neither read nor (as far as this look can tell) being written. */
    boolean orphaned() {
      return !member && endOffset >= 0;
    }
  }

  /**
   * The reaper's memory between looks: since when each candidate has been seen orphaned, at every
   * look, with the same end offset. Pure logic, on the caller's clock.
   */
  static final class Watch {
    private record Mark(long sinceNanos, long lastNanos, long endOffset) {}

    private final Function<String, Duration> graceOf;
    private final long maxGapNanos;
    private final Map<String, Mark> marks = new HashMap<>();

    Watch(Duration grace, Duration interval) {
      this(topic -> grace, interval);
    }

    /** A watch where each topic has a grace of its own ({@code graceOf}). */
    Watch(Function<String, Duration> graceOf, Duration interval) {
      this.graceOf = graceOf;
      this.maxGapNanos = interval.multipliedBy(2).plus(GAP_SLACK).toNanos();
    }

    /**
     * Records one look at {@code nowNanos}: what it found of each candidate (one not in {@code
     * sightings} is gone and forgotten).
     *
     * @return the candidates due for deletion: seen orphaned, with the same end offset, at every
     *     look for at least the grace
     */
    List<String> look(long nowNanos, Map<String, Sighting> sightings) {
      marks.keySet().retainAll(sightings.keySet());
      List<String> due = new ArrayList<>();
      sightings.forEach((topic, seen) -> {
        long graceNanos = graceOf.apply(topic).toNanos();
        Mark mark = marks.get(topic);
        if (!seen.orphaned()) {
          if (mark != null) {
            marks.remove(topic);
            LOG.info("reply topic {} {}: kept", topic, seen.member()
                ? "has a reader again (its consumer group has a member)" : "could not be looked at");
          }
          return;
        }
        if (mark != null && mark.endOffset() != seen.endOffset()) {
          LOG.info("reply topic {} was written to (end offset {} -> {}): kept, counting again", topic,
              mark.endOffset(), seen.endOffset());
          mark = null;
        } else if (mark != null && nowNanos - mark.lastNanos() > maxGapNanos) {
          LOG.info("reply topic {}: {} s since the last look, counting again", topic,
              (nowNanos - mark.lastNanos()) / 1_000_000_000L);
          mark = null;
        }
        if (mark == null) {
          marks.put(topic, new Mark(nowNanos, nowNanos, seen.endOffset()));
          LOG.info("reply topic {} has no reader (its consumer group has no member); deleted if it stays so, and"
              + " unwritten, for {} s", topic, graceNanos / 1_000_000_000L);
          return;
        }
        marks.put(topic, new Mark(mark.sinceNanos(), nowNanos, mark.endOffset()));
        if (nowNanos - mark.sinceNanos() >= graceNanos) {
          due.add(topic);
        }
      });
      return due;
    }

    /** How long {@code topic} has been seen orphaned, in ms (0 when it is not). */
    long orphanedForMs(String topic, long nowNanos) {
      Mark mark = marks.get(topic);
      return mark == null ? 0 : (nowNanos - mark.sinceNanos()) / 1_000_000;
    }

    /** Forgets everything seen: the next look starts every count again. */
    void clear() {
      marks.clear();
    }
  }

  /**
   * {@code front-door.reply-topic-reaper.grace-ms}, {@code .legacy-grace-ms} (zero: the reply topics
   * of earlier versions' front doors are never deleted) and {@code .interval-ms}.
   */
  public record Settings(Duration grace, Duration legacyGrace, Duration interval) {
    /** Earlier versions' reply topics never deleted. */
    public Settings(Duration grace, Duration interval) {
      this(grace, Duration.ZERO, interval);
    }

    boolean reapsLegacy() {
      return !legacyGrace.isZero() && !legacyGrace.isNegative();
    }
  }

  private final Admin admin;
  private final String prefix;
  private final String ownTopic;
  private final BooleanSupplier recreateOwn;
  private final Settings settings;
  private final Watch watch;
  private final Counter reaped;
  private final ScheduledExecutorService looks;
  private boolean failing;
  /** Topics this reaper deleted that the broker may still list for a moment. */
  private final Set<String> deleted = new java.util.HashSet<>();

  private ReplyTopicReaper(Admin admin, String prefix, String ownTopic, BooleanSupplier recreateOwn, Settings settings,
      Counter reaped) {
    this.admin = admin;
    this.prefix = prefix;
    this.ownTopic = ownTopic;
    this.recreateOwn = recreateOwn;
    this.settings = settings;
    this.watch = new Watch(topic -> ReplyTopics.isLegacyReplyTopic(prefix, topic) ? settings.legacyGrace()
        : settings.grace(), settings.interval());
    this.reaped = reaped;
    this.looks = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "reply-topic-reaper");
      t.setDaemon(true);
      return t;
    });
  }

  /**
   * Registers {@code cascade_reply_topics_reaped_total}: orphaned reply topics this front door
   * deleted.
   */
  public static Counter register(PrometheusRegistry registry) {
    return Counter.builder().name("cascade_reply_topics_reaped_total")
        .help("orphaned front-door reply topics this front door deleted (front-door.reply-topic-reaper.*)")
        .withoutExemplars().register(registry);
  }

  /**
   * Starts looking, the first look at once (on the reaper's thread).
   *
   * @param clientProps bootstrap servers and Kafka client overrides
   * @param prefix the reply topics' prefix ({@code topic.reply-prefix})
   * @param ownTopic this front door's reply topic, never a candidate; re-created by {@code
   *     recreateOwn} when a look finds it gone
   * @param registry where the counter is registered; null: not counted
   */
  static ReplyTopicReaper start(Map<String, Object> clientProps, String prefix, String ownTopic,
      BooleanSupplier recreateOwn, Settings settings, PrometheusRegistry registry) {
    ReplyTopicReaper reaper = new ReplyTopicReaper(Admin.create(clientProps), prefix, ownTopic, recreateOwn, settings,
        registry == null ? null : register(registry));
    LOG.info("reply-topic reaper: deletes a reply topic {}front-door-m-* once its consumer group has had no member,"
        + " and nothing was written to it, at every look for {} s; looks every {} s or so",
        prefix, settings.grace().toSeconds(), settings.interval().toMillis() / 1000.0);
    if (settings.reapsLegacy()) {
      LOG.info("reply-topic reaper: deletes a reply topic {}front-door-<uuid> (a front door of an earlier version,"
          + " which keeps no consumer group) once nothing was written to it at every look for {} s", prefix,
          settings.legacyGrace().toSeconds());
    }
    reaper.looks.execute(reaper::lookAndReschedule);
    return reaper;
  }

  private void lookAndReschedule() {
    try {
      look(System.nanoTime());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return;
    } catch (RuntimeException e) {
      LOG.warn("reply-topic reaper: a look failed", e);
      watch.clear();
    }
    long next = (long) (settings.interval().toMillis() * (0.5 + ThreadLocalRandom.current().nextDouble()));
    try {
      looks.schedule(this::lookAndReschedule, next, TimeUnit.MILLISECONDS);
    } catch (java.util.concurrent.RejectedExecutionException e) {
      // closed
    }
  }

  /** One look: lists the candidates, asks about each, deletes those due. */
  void look(long nowNanos) throws InterruptedException {
    Set<String> topics;
    try {
      topics = admin.listTopics().names().get(TIMEOUT_S, TimeUnit.SECONDS);
    } catch (ExecutionException | java.util.concurrent.TimeoutException e) {
      cannotLook(e instanceof ExecutionException ? e.getCause() : e);
      return;
    }
    if (ownTopic != null && !topics.contains(ownTopic)) {
      recreateOwn.getAsBoolean();
    }
    deleted.retainAll(topics); // one still listed is being deleted
    List<String> candidates = topics.stream().filter(t -> !t.equals(ownTopic)).filter(t -> !deleted.contains(t))
        .filter(t -> ReplyTopics.isMemberReplyTopic(prefix, t)
            || settings.reapsLegacy() && ReplyTopics.isLegacyReplyTopic(prefix, t)).sorted().toList();
    Map<String, Sighting> sightings = new HashMap<>();
    candidates.forEach(t -> sightings.put(t, Sighting.MEMBER));
    if (!candidates.isEmpty()) {
      try {
        List<String> memberless = memberless(candidates);
        memberless.forEach(t -> sightings.put(t, Sighting.UNKNOWN));
        endOffsets(memberless).forEach((topic, end) -> sightings.put(topic, new Sighting(false, end)));
      } catch (ExecutionException | java.util.concurrent.TimeoutException e) {
        cannotLook(e instanceof ExecutionException ? e.getCause() : e);
        return;
      }
    }
    if (failing) {
      LOG.info("reply-topic reaper: looking again");
      failing = false;
    }
    List<String> due = watch.look(nowNanos, sightings);
    if (!due.isEmpty()) {
      delete(due, nowNanos);
    }
  }

  private void cannotLook(Throwable cause) {
    if (!failing) {
      LOG.warn(cannotLookLine(cause, prefix));
    }
    failing = true;
    watch.clear();
  }

  /**
   * The line a failed look logs: the permissions it needs only when Kafka refused it as not
   * authorized (a broker outage or a timeout is not about them).
   */
  static String cannotLookLine(Throwable cause, String prefix) {
    String line = "reply-topic reaper cannot look at the reply topics (" + cause + "); it tries again at every look,"
        + " and every count starts again";
    for (Throwable t = cause; t != null; t = t.getCause()) {
      if (t instanceof org.apache.kafka.common.errors.AuthorizationException) {
        return line + ". Its Kafka principal needs describe and delete on topics, and describe on consumer groups,"
            + " prefixed '" + prefix + "'";
      }
    }
    return line;
  }

  /**
   * The candidates whose consumer group has no member (or does not exist).
   *
   * @throws ExecutionException when a group cannot be described (the look tells nothing then)
   */
  private List<String> memberless(List<String> candidates) throws InterruptedException, ExecutionException,
      java.util.concurrent.TimeoutException {
    Map<String, KafkaFuture<ConsumerGroupDescription>> groups = admin.describeConsumerGroups(candidates)
        .describedGroups();
    long deadline = deadline();
    List<String> memberless = new ArrayList<>();
    for (String topic : candidates) {
      try {
        if (await(groups.get(topic), deadline).members().isEmpty()) {
          memberless.add(topic);
        }
      } catch (ExecutionException e) {
        if (!(e.getCause() instanceof GroupIdNotFoundException)) {
          throw e;
        }
        memberless.add(topic); // never joined, or emptied and cleaned up by the broker
      }
    }
    return memberless;
  }

  /**
   * The end offset of each topic's partition 0 (a reply topic has one); a topic deleted meanwhile
   * is left out.
   */
  private Map<String, Long> endOffsets(List<String> topics) throws InterruptedException, ExecutionException,
      java.util.concurrent.TimeoutException {
    if (topics.isEmpty()) {
      return Map.of();
    }
    Map<TopicPartition, OffsetSpec> request = topics.stream()
        .collect(Collectors.toMap(t -> new TopicPartition(t, 0), t -> OffsetSpec.latest()));
    ListOffsetsResult result = admin.listOffsets(request);
    long deadline = deadline();
    Map<String, Long> ends = new HashMap<>();
    for (TopicPartition p : request.keySet()) {
      try {
        ends.put(p.topic(), await(result.partitionResult(p), deadline).offset());
      } catch (ExecutionException e) {
        if (!(e.getCause() instanceof UnknownTopicOrPartitionException)) {
          throw e;
        }
      }
    }
    return ends;
  }

  private static long deadline() {
    return System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
  }

  /** {@code future}'s value, waiting until {@code deadlineNanos} at most. */
  private static <T> T await(KafkaFuture<T> future, long deadlineNanos) throws InterruptedException,
      ExecutionException, java.util.concurrent.TimeoutException {
    return future.get(Math.max(0, deadlineNanos - System.nanoTime()), TimeUnit.NANOSECONDS);
  }

  private void delete(List<String> due, long nowNanos) throws InterruptedException {
    Map<String, KafkaFuture<Void>> results = admin.deleteTopics(due).topicNameValues();
    long deadline = deadline();
    for (String topic : due) {
      try {
        await(results.get(topic), deadline);
        deleted.add(topic);
        if (ReplyTopics.isLegacyReplyTopic(prefix, topic)) {
          LOG.info("deleted orphaned reply topic {} of a front door of an earlier version (which keeps no consumer"
              + " group): nothing was written to it at every look for {} s"
              + " (front-door.reply-topic-reaper.legacy-grace-ms={})", topic, watch.orphanedForMs(topic, nowNanos) / 1000,
              settings.legacyGrace().toMillis());
        } else {
          LOG.info("deleted orphaned reply topic {}: its consumer group had no member (no front door read it) and"
              + " nothing was written to it at every look for {} s (front-door.reply-topic-reaper.grace-ms={})", topic,
              watch.orphanedForMs(topic, nowNanos) / 1000, settings.grace().toMillis());
        }
        if (reaped != null) {
          reaped.inc();
        }
      } catch (ExecutionException e) {
        if (e.getCause() instanceof UnknownTopicOrPartitionException) {
          deleted.add(topic);
          LOG.debug("orphaned reply topic {} is gone already (another front door's reaper)", topic);
        } else {
          LOG.warn("cannot delete orphaned reply topic {} ({}); trying again at the next look", topic,
              e.getCause().toString());
        }
      } catch (java.util.concurrent.TimeoutException e) {
        LOG.warn("deleting orphaned reply topic {} timed out; trying again at the next look", topic);
      }
    }
  }

  /** Stops looking (a look under way is interrupted). */
  @Override
  public void close() {
    looks.shutdownNow();
    try {
      looks.awaitTermination(10, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    admin.close(Duration.ofSeconds(2));
  }
}
