package dev.cascade.router.api;

import dev.cascade.router.learning.LearnedRule;
import dev.cascade.router.learning.RuleArtifacts;
import dev.cascade.router.learning.RuleCatalog;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The rules topic as a {@link RuleStore}: the compacted topic every router instance reads into its
 * {@link RuleCatalog} (a global store), keyed {@code NAME@VERSION} so compaction keeps every
 * version, values the {@code RuleModel} record in single-object encoding. It only writes; what
 * it writes is read back by this instance's router, whose catalog {@link #publish} watches.
 */
final class RulesTopic implements RuleStore {

  /** How often {@link #publish} looks at the catalog while it waits for the written version. */
  private static final Duration READ_BACK_POLL = Duration.ofMillis(20);

  private final String topic;
  private final RuleCatalog catalog;
  private final KafkaProducer<String, byte[]> producer;

  private RulesTopic(String topic, RuleCatalog catalog, KafkaProducer<String, byte[]> producer) {
    this.topic = topic;
    this.catalog = catalog;
    this.producer = producer;
  }

  /**
   * A writer of the rules topic.
   *
   * @param catalog the catalog this instance's router fills from the same topic
   */
  static RulesTopic start(Map<String, Object> clientProps, String topic, RuleCatalog catalog) {
    Map<String, Object> producerProps = new HashMap<>(clientProps);
    producerProps.put(ProducerConfig.ACKS_CONFIG, "all");
    producerProps.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    return new RulesTopic(topic, catalog,
        new KafkaProducer<>(producerProps, new StringSerializer(), new ByteArraySerializer()));
  }

  /** The record key of a rule version: {@code NAME@VERSION}. */
  static String key(String name, long version) {
    return name + "@" + version;
  }

  @Override
  public void publish(LearnedRule rule, Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    String key = key(rule.name(), rule.info().version());
    try {
      producer.send(new ProducerRecord<>(topic, key, RuleArtifacts.encode(rule)))
          .get(timeout.toNanos(), TimeUnit.NANOSECONDS);
    } catch (ExecutionException e) {
      throw new RuleStoreException("cannot write rule " + key + " to " + topic + ": " + e.getCause().getMessage(),
          e.getCause());
    } catch (TimeoutException e) {
      throw new RuleStoreException("writing rule " + key + " to " + topic + " timed out after " + timeout, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new RuleStoreException("interrupted while writing rule " + key, e);
    }
    while (catalog.get(rule.name(), rule.info().version()).isEmpty()) {
      if (System.nanoTime() > deadline) {
        throw new RuleStoreException("rule " + key + " was written to " + topic
            + " but this router's rule catalog did not show it within " + timeout, null);
      }
      try {
        Thread.sleep(READ_BACK_POLL.toMillis());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new RuleStoreException("interrupted while reading back rule " + key, e);
      }
    }
  }

  @Override
  public void close() {
    producer.close(Duration.ofSeconds(5));
  }
}
