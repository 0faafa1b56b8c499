package dev.cascade.router.topology;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import java.util.regex.Pattern;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Where the router writes a response: the reply topic of the front-door instance that waits for
 * it, or the shared responses topic.
 *
 * <p>A front door with {@code front-door.replies=own-topic} creates its reply topic,
 * {@code <prefix><instance id>} ({@code topic.reply-prefix}, by default {@code <topic.responses>.}),
 * before it sends a request, and stamps its instance id ({@code front-door-…}) into each request's
 * {@code reply_to}. A response goes to that topic when its {@code reply_to} names a front door
 * and the topic exists; otherwise (no {@code reply_to}: a plain Kafka client; a front door with
 * {@code front-door.replies=shared}, or one of a version before reply topics, which creates none)
 * to the shared responses topic, as before. Existence is asked of the broker once per reply topic
 * (remembered {@link #EXISTS_RECHECK} when it exists, {@link #MISSING_RECHECK} when it does not),
 * so the stream thread never writes to a topic that is not there: a producer would wait for its
 * metadata for {@code max.block.ms} (or retry the write for {@code delivery.timeout.ms}) and fail
 * the task, or, where the broker auto-creates topics, create it again.
 *
 * <p>A reply topic is deleted when its front door is gone: by that door at a clean stop, or by
 * another door's reaper once nothing has been written to it for the reaper's grace. So a topic
 * this router has not written to for {@link #IDLE_RECHECK}, or for the reapers' grace if that is
 * shorter ({@link #reCheckingIdleAfter(Duration)}), is asked about again before the next write,
 * on the caller's thread, as at first sight: a router more than the grace behind on the requests
 * topic finds a reaped topic gone and answers on the shared topic. (Without that, its Streams
 * producer, which still knows the topic, would hold the write, and the stream thread's commit,
 * for good: exactly-once sets its {@code delivery.timeout.ms} to the largest value.) A write that
 * fails all the same (the topic deleted between the answer and the write, and the producer no
 * longer knowing it) is reported with {@link #writeFailed(String)}, and the reply, written again,
 * goes where the broker then says.
 */
public final class ReplyTopics implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(ReplyTopics.class);

  /** How a front door's instance id, the {@code reply_to} it stamps, begins. */
  public static final String INSTANCE_ID_PREFIX = "front-door-";
  /**
   * How the instance id of a front door that keeps its reply reader a member of the consumer group
   * named after its reply topic begins ({@code front-door-m-<uuid>}): only such reply topics are
   * reaped when their group has no member, never those of a front door of an earlier version
   * ({@code front-door-<uuid>}), which joins no group.
   */
  public static final String MEMBER_ID_PREFIX = INSTANCE_ID_PREFIX + "m-";
  private static final String UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
  /** How long a reply topic found to exist is trusted before it is asked about again. */
  static final Duration EXISTS_RECHECK = Duration.ofMinutes(5);
  /** How long a reply topic found missing (or not checkable) is not asked about again. */
  static final Duration MISSING_RECHECK = Duration.ofSeconds(30);
  /**
   * How long a reply topic known to exist may go without a write from here before the next write
   * asks the broker first, on the caller's thread: no longer than the reapers' grace should be
   * ({@code front-door.reply-topic-reaper.grace-ms}, 10 minutes by default).
   */
  static final Duration IDLE_RECHECK = EXISTS_RECHECK;
  /** Most reply topics remembered; the least recently used is forgotten first. */
  static final int MAX_REMEMBERED = 10_000;
  private static final Pattern INSTANCE_ID = Pattern.compile(Pattern.quote(INSTANCE_ID_PREFIX) + "[A-Za-z0-9._-]{1,64}");
  private static final Pattern MEMBER_REPLY_ID = Pattern.compile(Pattern.quote(MEMBER_ID_PREFIX) + UUID);
  private static final Pattern LEGACY_REPLY_ID = Pattern.compile(Pattern.quote(INSTANCE_ID_PREFIX) + UUID);
  private static final Pattern TOPIC_CHARS = Pattern.compile("[A-Za-z0-9._-]*");
  /** Kafka's longest topic name. */
  private static final int MAX_TOPIC_LENGTH = 249;

  /** Says whether a topic exists; throws when it cannot tell (the broker is unreachable, say). */
  @FunctionalInterface
  public interface Lookup {
    boolean exists(String topic) throws Exception;
  }

  /** What is known of a reply topic: whether it exists, when that was asked, when it was last answered here. */
  private record Known(boolean exists, long checkedAtNanos, long usedAtNanos) {
    Known usedAt(long nanos) {
      return new Known(exists, checkedAtNanos, nanos);
    }
  }

  private final String shared;
  private final String prefix;
  private final Set<String> never;
  private final Lookup lookup;
  private final LongSupplier nanoTime;
  private final AutoCloseable resource;
  /**
   * Runs the re-checks of topics already known: off the caller's thread for a broker lookup, so a
   * stream thread never waits on the network for a topic it already has an answer for.
   */
  private final java.util.concurrent.Executor refresher;
  /** {@link #IDLE_RECHECK}, or the reapers' grace if shorter. */
  private volatile long idleRecheckNanos = IDLE_RECHECK.toNanos();
  private final Set<String> refreshing = new java.util.HashSet<>();
  private final Map<String, Known> known = new LinkedHashMap<>(64, 0.75f, true) {
    @Override
    protected boolean removeEldestEntry(Map.Entry<String, Known> eldest) {
      return size() > MAX_REMEMBERED;
    }
  };

  private ReplyTopics(String shared, String prefix, Set<String> never, Lookup lookup, LongSupplier nanoTime,
      AutoCloseable resource, java.util.concurrent.Executor refresher) {
    this.shared = shared;
    this.prefix = prefix;
    this.never = never;
    this.lookup = lookup;
    this.nanoTime = nanoTime;
    this.resource = resource;
    this.refresher = refresher;
  }

  /** Every response to the shared topic (no reply topics). */
  public static ReplyTopics sharedOnly(String sharedTopic) {
    return new ReplyTopics(sharedTopic, null, Set.of(), topic -> false, System::nanoTime, null, Runnable::run);
  }

  /**
   * Responses whose {@code reply_to} names a front door with an existing reply topic go there, the
   * rest to {@code sharedTopic}.
   *
   * @param prefix the reply topics' prefix (a reply topic is {@code prefix + instance id})
   * @param never topics never used as a reply topic, whatever a {@code reply_to} says (the router's own)
   */
  public static ReplyTopics of(String sharedTopic, String prefix, Set<String> never, Lookup lookup,
      LongSupplier nanoTime) {
    return of(sharedTopic, prefix, never, lookup, nanoTime, Runnable::run);
  }

  /** As {@link #of(String, String, Set, Lookup, LongSupplier)}, re-checks of known topics run by {@code refresher}. */
  static ReplyTopics of(String sharedTopic, String prefix, Set<String> never, Lookup lookup, LongSupplier nanoTime,
      java.util.concurrent.Executor refresher) {
    return new ReplyTopics(sharedTopic, checkedPrefix(prefix), Set.copyOf(never), lookup, nanoTime, null, refresher);
  }

  /** As {@link #of}, asking the brokers with an Admin client of {@code clientProps} (closed with this). */
  public static ReplyTopics withAdmin(String sharedTopic, String prefix, Set<String> never,
      Map<String, Object> clientProps) {
    Admin admin = Admin.create(clientProps);
    Lookup lookup = topic -> {
      try {
        admin.describeTopics(Set.of(topic)).allTopicNames().get(5, TimeUnit.SECONDS);
        return true;
      } catch (ExecutionException e) {
        if (e.getCause() instanceof UnknownTopicOrPartitionException) {
          return false;
        }
        throw e;
      }
    };
    java.util.concurrent.ExecutorService refresher = java.util.concurrent.Executors.newSingleThreadExecutor(r -> {
      Thread t = new Thread(r, "reply-topics-refresh");
      t.setDaemon(true);
      return t;
    });
    AutoCloseable resources = () -> {
      refresher.shutdownNow();
      admin.close();
    };
    return new ReplyTopics(sharedTopic, checkedPrefix(prefix), Set.copyOf(never), lookup, System::nanoTime, resources,
        refresher);
  }

  /**
   * Asks about a reply topic before writing to it once this router has written nothing there for
   * {@code reaperGrace} ({@code front-door.reply-topic-reaper.grace-ms}), when that is shorter than
   * {@link #IDLE_RECHECK}: a reaper may delete a topic unwritten for its grace. Set before use.
   *
   * @return this
   */
  public ReplyTopics reCheckingIdleAfter(Duration reaperGrace) {
    idleRecheckNanos = Math.min(IDLE_RECHECK.toNanos(), reaperGrace.toNanos());
    return this;
  }

  /** The reply topic of instance {@code instanceId} under {@code prefix}. */
  public static String topicName(String prefix, String instanceId) {
    return prefix + instanceId;
  }

  /** A fresh instance id: {@link #MEMBER_ID_PREFIX} and a random UUID. */
  public static String newInstanceId() {
    return MEMBER_ID_PREFIX + java.util.UUID.randomUUID();
  }

  /**
   * Whether {@code topic} is the reply topic, under {@code prefix}, of a front door that keeps the
   * consumer group of the same name ({@link #MEMBER_ID_PREFIX}): the topics a reaper may delete.
   */
  public static boolean isMemberReplyTopic(String prefix, String topic) {
    return topic.startsWith(prefix) && MEMBER_REPLY_ID.matcher(topic.substring(prefix.length())).matches();
  }

  /**
   * Whether {@code topic} is the reply topic, under {@code prefix}, of a front door of an earlier
   * version ({@code front-door-<uuid>}), which keeps no consumer group: nothing tells whether it
   * still runs.
   */
  public static boolean isLegacyReplyTopic(String prefix, String topic) {
    return topic.startsWith(prefix) && LEGACY_REPLY_ID.matcher(topic.substring(prefix.length())).matches();
  }

  /**
   * Whether {@code prefix} may prefix reply topics: Kafka's topic characters, short enough for a
   * front door's id after it.
   */
  public static boolean validPrefix(String prefix) {
    return TOPIC_CHARS.matcher(prefix).matches() && prefix.length() + MEMBER_ID_PREFIX.length() + 36 <= MAX_TOPIC_LENGTH;
  }

  private static String checkedPrefix(String prefix) {
    if (prefix == null || !validPrefix(prefix)) {
      throw new IllegalArgumentException("not a reply-topic prefix: '" + prefix + "'");
    }
    return prefix;
  }

  /** The shared responses topic. */
  public String shared() {
    return shared;
  }

  /** The reply topics' prefix; null when every response goes to the shared topic. */
  public String prefix() {
    return prefix;
  }

  /**
   * The reply topic of the front door {@code replyTo} names, when it has one; empty for a null
   * {@code reply_to}, one that names no front door, and a front door whose reply topic does not
   * exist (or cannot be checked now).
   */
  public synchronized Optional<String> ownTopic(String replyTo) {
    if (prefix == null || replyTo == null || !INSTANCE_ID.matcher(replyTo).matches()) {
      return Optional.empty();
    }
    String topic = topicName(prefix, replyTo);
    if (never.contains(topic)) {
      return Optional.empty();
    }
    long now = nanoTime.getAsLong();
    Known k = known.get(topic);
    if (k != null && k.exists() && now - k.usedAtNanos() >= idleRecheckNanos) {
      // Not written to from here for that long: a reaper may have deleted it since.
      k = check(topic, k, now);
    } else if (k != null && now - k.checkedAtNanos() < (k.exists() ? EXISTS_RECHECK : MISSING_RECHECK).toNanos()) {
      // known as it is
    } else if (k == null) {
      // First sight of this front door: there is no answer to give without asking.
      k = check(topic, null, now);
    } else {
      // A re-check: answered from what is known while it runs (inline where the lookup is local).
      if (refreshing.add(topic)) {
        Known previous = k;
        refresher.execute(() -> check(topic, previous, now));
      }
      k = known.get(topic);
    }
    if (k.exists()) {
      known.put(topic, k.usedAt(now));
      return Optional.of(topic);
    }
    return Optional.empty();
  }

  /**
   * Whether {@code topic} is a front door's reply topic here: under the prefix, named after an
   * instance id, not one of the router's own.
   */
  public boolean isReplyTopic(String topic) {
    return prefix != null && topic != null && topic.startsWith(prefix) && !never.contains(topic)
        && INSTANCE_ID.matcher(topic.substring(prefix.length())).matches();
  }

  /**
   * A write to reply topic {@code topic} failed (it timed out, or the broker no longer knows the
   * topic): it is asked about again, on the caller's thread, before the next write, which goes to
   * the shared topic if it is gone. Does nothing for a topic that is not a reply topic.
   */
  public synchronized void writeFailed(String topic) {
    if (isReplyTopic(topic) && known.remove(topic) != null) {
      LOG.info("a write to reply topic {} failed: the broker is asked whether it still exists before the next",
          topic);
    }
  }

  /** Asks whether {@code topic} exists and records the answer; {@code previous} is trusted when it cannot tell. */
  private Known check(String topic, Known previous, long now) {
    boolean exists;
    try {
      exists = lookup.exists(topic);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      exists = previous != null && previous.exists();
    } catch (Exception e) {
      // Cannot tell: a topic known to exist is trusted a while longer; an unknown one is not used.
      exists = previous != null && previous.exists();
      LOG.warn("cannot check reply topic {} ({}); {}", topic, e.toString(),
          exists ? "still using it" : "replying on the shared topic " + shared);
    }
    if (!exists && (previous == null || previous.exists())) {
      LOG.info("reply_to {} has no reply topic {}: its responses go to the shared topic {}",
          topic.substring(prefix.length()), topic, shared);
    }
    Known k;
    synchronized (this) { // the lookup above ran without the lock, so a stream thread never waits on it
      Known last = known.containsKey(topic) ? known.get(topic) : previous; // a write may have been answered meanwhile
      k = new Known(exists, now, last == null ? now : last.usedAtNanos());
      known.put(topic, k);
      refreshing.remove(topic);
    }
    return k;
  }

  /** Where a response with this {@code reply_to} goes: its front door's reply topic, or the shared one. */
  public String responsesTopic(String replyTo) {
    return ownTopic(replyTo).orElse(shared);
  }

  @Override
  public void close() {
    if (resource != null) {
      try {
        resource.close();
      } catch (Exception e) {
        LOG.debug("closing the reply-topic lookup", e);
      }
    }
  }
}
