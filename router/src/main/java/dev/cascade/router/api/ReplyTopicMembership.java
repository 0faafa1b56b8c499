package dev.cascade.router.api;

import java.time.Duration;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps a front door a member of the consumer group named after its reply topic for as long as it
 * runs, so that the group says whether the topic still has its reader ({@link ReplyTopicReaper}).
 * Kafka keeps a member while its consumer heartbeats, and drops it {@code session.timeout.ms}
 * (45 s by default) after the heartbeats stop: a process killed, or cut off from the brokers, or
 * paused that long. A clean stop leaves the group at once.
 *
 * <p>The consumer subscribes to the reply topic only to join the group: it pauses whatever it is
 * assigned, so it fetches nothing and commits nothing (the reply reader, assigned the partition
 * without a group, reads it). Its thread polls once a second, which also rejoins the group after
 * the member was dropped (a long pause) and the process goes on.
 */
final class ReplyTopicMembership implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(ReplyTopicMembership.class);

  private final KafkaConsumer<byte[], byte[]> consumer;
  private final String group;
  private final Thread thread;
  private final CountDownLatch stopped = new CountDownLatch(1);
  private volatile boolean running = true;

  private ReplyTopicMembership(KafkaConsumer<byte[], byte[]> consumer, String group, String instanceId) {
    this.consumer = consumer;
    this.group = group;
    this.thread = new Thread(this::run, "front-door-membership-" + instanceId);
    this.thread.setDaemon(true);
  }

  /**
   * Joins the consumer group {@code replyTopic} (the group is named after the topic) and stays in
   * it until {@link #close()}; the join itself happens on the membership's thread, so this does not wait.
   *
   * @param clientProps bootstrap servers and Kafka client overrides
   */
  static ReplyTopicMembership start(Map<String, Object> clientProps, String replyTopic, String instanceId) {
    Map<String, Object> props = new HashMap<>(clientProps);
    props.put(ConsumerConfig.GROUP_ID_CONFIG, replyTopic);
    // A static member would stay in the group across a restart; each instance is a new member.
    props.remove(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG);
    props.put(ConsumerConfig.CLIENT_ID_CONFIG, instanceId + "-member");
    props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props, new ByteArrayDeserializer(),
        new ByteArrayDeserializer());
    ReplyTopicMembership membership = new ReplyTopicMembership(consumer, replyTopic, instanceId);
    consumer.subscribe(List.of(replyTopic), new ConsumerRebalanceListener() {
      @Override
      public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
        consumer.pause(partitions); // a member, not a reader
      }

      @Override
      public void onPartitionsRevoked(Collection<TopicPartition> partitions) {}
    });
    membership.thread.start();
    return membership;
  }

  private void run() {
    boolean failing = false;
    try {
      while (running) {
        try {
          consumer.poll(Duration.ofSeconds(1));
          if (failing) {
            LOG.info("front door is a member of consumer group {} again", group);
            failing = false;
          }
        } catch (WakeupException e) {
          // close(), or nothing: the loop says
        } catch (RuntimeException e) {
          if (!failing) {
            LOG.warn("front door's membership of consumer group {} failed ({}); retrying every second. While it is"
                + " not a member, another front door may take its reply topic for an orphan once"
                + " front-door.reply-topic-reaper.grace-ms has passed", group, e.toString());
          }
          failing = true;
          Thread.sleep(1_000);
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (Throwable e) {
      LOG.error("front door's membership of consumer group {} died; another front door may take its reply topic for"
          + " an orphan once front-door.reply-topic-reaper.grace-ms has passed", group, e);
    } finally {
      // Leaves the group at once; a consumer still joining (a stop right after the start) is not
      // waited for long: its group then empties when the session times out.
      consumer.close(Duration.ofSeconds(2));
      stopped.countDown();
    }
  }

  /** Leaves the group. */
  @Override
  public void close() {
    running = false;
    consumer.wakeup();
    try {
      if (!stopped.await(10, TimeUnit.SECONDS)) {
        LOG.warn("front door's membership of consumer group {} did not stop within 10 s", group);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
