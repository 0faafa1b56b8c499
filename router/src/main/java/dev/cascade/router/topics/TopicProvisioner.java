package dev.cascade.router.topics;

import dev.cascade.router.config.TopicNames;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.config.TopicConfig;

/**
 * Creates the router's topics where they are missing: every topic with {@code partitions}
 * partitions, except the policy and rules topics, which are compacted and have one partition (so
 * every instance reads versions in the order they were written).
 */
public final class TopicProvisioner {

  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(TopicProvisioner.class);

  private TopicProvisioner() {}

  /** The topic specifications for {@code names}. */
  public static List<NewTopic> specs(TopicNames names, int partitions, short replication) {
    List<NewTopic> topics = new ArrayList<>();
    for (String t : List.of(names.requests(), names.responses(), names.escalations(), names.outcomes(),
        names.feedback(), names.deadLetters())) {
      topics.add(new NewTopic(t, partitions, replication));
    }
    topics.add(new NewTopic(names.policy(), 1, replication)
        .configs(Map.of(TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT)));
    // Keyed NAME@VERSION, so compaction keeps every version (a policy may pin an old one).
    topics.add(new NewTopic(names.rules(), 1, replication)
        .configs(Map.of(TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT)));
    return topics;
  }

  /**
   * As {@link #ensure(Admin, List)}, with an admin client of its own made from {@code clientProps}
   * (which name {@code bootstrap.servers}). It waits for a broker as long as the client's
   * {@code default.api.timeout.ms} (60 s unless set), retrying no more often than every 10 s after
   * the first few tries (so a broker that is down is not one warning a second); when none answers,
   * a {@link KafkaUnreachableException} says where it looked and for how long. Before that, when no
   * host name in {@code bootstrap.servers} resolves (yet), it looks them up again for as long
   * ({@link BootstrapNames}), and the wait for a broker starts once one does.
   */
  public static List<String> ensure(Map<String, Object> clientProps, List<NewTopic> specs) {
    Map<String, Object> props = new HashMap<>(clientProps);
    props.putIfAbsent(CommonClientConfigs.RECONNECT_BACKOFF_MAX_MS_CONFIG, 10_000);
    Object bootstrap = props.get(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG);
    Object timeout = props.getOrDefault(CommonClientConfigs.DEFAULT_API_TIMEOUT_MS_CONFIG, 60_000);
    LOG.info("connecting to Kafka at {} (bootstrap.servers) to check the topics; waiting up to {} ms", bootstrap,
        timeout);
    BootstrapNames.await(bootstrap, timeout, "kafka.default.api.timeout.ms");
    try (Admin admin = Admin.create(props)) {
      return ensure(admin, specs);
    } catch (IllegalStateException e) {
      if (e.getCause() instanceof org.apache.kafka.common.errors.TimeoutException expired) {
        throw KafkaUnreachableException.of(props, timeout, "kafka.default.api.timeout.ms", expired);
      }
      throw e;
    }
  }

  /** The longest wait for topics just created to show in the broker's metadata. */
  static final java.time.Duration VISIBLE_WAIT = java.time.Duration.ofSeconds(30);

  /**
   * Waits until the broker describes each of {@code names} with its partitions, at most {@code
   * wait}: a topic's creation is acknowledged before every broker's metadata has it, and a client
   * that asks for its partitions meanwhile (Kafka Streams initialising a global store: "There are
   * no partitions available for topic ...") fails. Past the wait it returns, and that client's own
   * error says what is missing.
   */
  static void awaitVisible(Admin admin, List<String> names, java.time.Duration wait) throws InterruptedException {
    if (names.isEmpty()) {
      return;
    }
    long deadline = System.nanoTime() + wait.toNanos();
    while (true) {
      try {
        var described = admin.describeTopics(names).allTopicNames().get();
        if (described.values().stream().allMatch(d -> !d.partitions().isEmpty()
            && d.partitions().stream().allMatch(p -> p.leader() != null && !p.leader().isEmpty()))) {
          return;
        }
      } catch (ExecutionException e) {
        if (!(e.getCause() instanceof org.apache.kafka.common.errors.UnknownTopicOrPartitionException)) {
          return; // not a visibility matter: the caller's next step reports it
        }
      }
      if (System.nanoTime() > deadline) {
        return;
      }
      Thread.sleep(50);
    }
  }

  /**
   * Creates those of {@code specs} that do not exist yet; returns the names it created. A topic
   * another process created between the listing and the creation (routers, doors and learners
   * started at once) counts as there, not as a failure.
   */
  public static List<String> ensure(Admin admin, List<NewTopic> specs) {
    try {
      Set<String> existing = admin.listTopics().names().get();
      List<NewTopic> missing = specs.stream().filter(t -> !existing.contains(t.name())).toList();
      List<String> created = new java.util.ArrayList<>();
      if (!missing.isEmpty()) {
        for (var topic : admin.createTopics(missing).values().entrySet()) {
          try {
            topic.getValue().get();
            created.add(topic.getKey());
          } catch (ExecutionException e) {
            if (!(e.getCause() instanceof org.apache.kafka.common.errors.TopicExistsException)) {
              throw e;
            }
          }
        }
      }
      awaitVisible(admin, created, VISIBLE_WAIT);
      return created;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while creating topics", e);
    } catch (ExecutionException e) {
      throw new IllegalStateException("cannot create topics " + specs.stream().map(NewTopic::name).toList()
          + ": " + e.getCause().getMessage(), e.getCause());
    }
  }
}
