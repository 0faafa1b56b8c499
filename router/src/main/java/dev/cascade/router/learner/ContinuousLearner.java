package dev.cascade.router.learner;

import dev.cascade.router.CascadeRouter;
import dev.cascade.router.StateDirectory;
import dev.cascade.router.StreamsFate;
import dev.cascade.router.StreamsStartup;
import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.metrics.KafkaStreamsCollector;
import dev.cascade.router.topics.TopicProvisioner;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One running continuous learner ({@code cascade learn}): a Kafka Streams application with its own
 * application id ({@code learn.application-id}), exactly-once, its state in changelogged stores,
 * so a restart (even after {@code kill -9}) resumes where it stopped. Run one: a second instance
 * with the same id splits the outcome and feedback partitions with it, one of the two trains, and
 * either takes the other's tasks over when it dies; each logs what it is assigned at every rebalance.
 */
public final class ContinuousLearner implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(ContinuousLearner.class);

  private final KafkaStreams streams;
  private final StateDirectory stateDir;
  private final StreamsFate fate;
  /** The middle tiers' tuner ({@code learn.tier-answer-value}); null when not asked for. */
  private volatile TierTuner tierTuner;

  private ContinuousLearner(KafkaStreams streams, StateDirectory stateDir, StreamsFate fate) {
    this.streams = streams;
    this.stateDir = stateDir;
    this.fate = fate;
  }

  /** Creates missing topics, starts the learner and returns once it is RUNNING. */
  public static ContinuousLearner start(CascadeConfig config, PrometheusRegistry registry) {
    String bootstrap = config.get(CascadeConfig.BOOTSTRAP_SERVERS);
    if (bootstrap.isBlank()) {
      throw new dev.cascade.router.config.ConfigException(CascadeConfig.BOOTSTRAP_SERVERS.name(),
          "is empty: the learner needs Kafka brokers");
    }
    // The configuration, the prior included, is checked before the network is touched.
    LearnerSettings settings = LearnerSettings.from(config).withPrior(LearnerPrior.load(config));
    String applicationId = config.get(CascadeConfig.LEARN_APPLICATION_ID);
    String examplesTopic = LearnerTopology.examplesTopic(applicationId);
    short replication = config.get(CascadeConfig.TOPIC_REPLICATION).shortValue();
    List<NewTopic> specs = new ArrayList<>(TopicProvisioner.specs(config.topics(),
        config.get(CascadeConfig.TOPIC_PARTITIONS), replication));
    specs.add(new NewTopic(examplesTopic, 1, replication));
    TopicProvisioner.ensure(CascadeRouter.clientProperties(config), specs);
    LearnerMetrics metrics = new LearnerMetrics(registry);
    // The trainer and the tier tuner of this process see each other's policies before the topic does.
    PolicyWrites writes = new PolicyWrites();
    Topology topology = LearnerTopology.build(config.topics(), examplesTopic, settings, metrics, writes,
        RulesOnTopic.reader(CascadeRouter.clientProperties(config), config.topics().rules()));
    StateDirectory stateDir = StateDirectory.of(config.get(CascadeConfig.STATE_DIR), "cascade-learner-");
    Properties props = streamsProperties(config, applicationId, stateDir.path());
    KafkaStreams streams = new KafkaStreams(topology, props);
    // Its stream thread's commits and its consumers' lag, as the router exposes its own.
    registry.register(new KafkaStreamsCollector(streams::metrics));
    streams.setUncaughtExceptionHandler(e -> {
      LOG.error("learner stream thread failed; replacing it", e);
      return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.REPLACE_THREAD;
    });
    StreamsFate fate = new StreamsFate();
    // Whether the trainer's task (the examples topic's one partition) is here, as of the last rebalance.
    java.util.concurrent.atomic.AtomicBoolean trainerHere = new java.util.concurrent.atomic.AtomicBoolean(true);
    streams.setStateListener((now, before) -> {
      fate.onChange(now, before);
      if (now == KafkaStreams.State.RUNNING) {
        // After every rebalance: a second learner with this id splits the work with this one.
        try {
          List<org.apache.kafka.common.TopicPartition> assigned = new ArrayList<>();
          streams.metadataForLocalThreads().forEach(t -> t.activeTasks().forEach(
              task -> assigned.addAll(task.topicPartitions())));
          LOG.info(assignmentLine(applicationId, assigned, examplesTopic));
          trainerHere.set(assigned.stream().anyMatch(p -> p.topic().equals(examplesTopic)));
        } catch (RuntimeException e) {
          LOG.debug("learner: assignment unknown", e);
        }
      }
    });
    ContinuousLearner learner = new ContinuousLearner(streams, stateDir, fate);
    streams.setGlobalStateRestoreListener(new RestoreLog(LOG::info, LOG::debug, System::nanoTime));
    streams.start();
    // After a kill -9 this can take tens of seconds: the stores are rebuilt from their changelogs.
    LOG.info("learner: waiting to be RUNNING: joining the group {} and restoring its stores from their changelogs"
        + " (state dir {}) ...", applicationId, stateDir.path());
    StreamsStartup.awaitRunning(streams, Duration.ofMillis(config.get(CascadeConfig.STREAMS_STARTUP_TIMEOUT_MS)),
        "learner", learner::close);
    LOG.info("learner {} running: reads {} and {}, trains {}, publishes to {} and {}", applicationId,
        config.topics().outcomes(), config.topics().feedback(), settings.trial().set().ruleName(),
        config.topics().rules(), config.topics().policy());
    try {
      learner.tierTuner = TierTuner.startIfAsked(config, metrics, trainerHere::get, writes);
    } catch (RuntimeException e) {
      learner.close();
      throw e;
    }
    return learner;
  }

  /** The learner's Kafka Streams settings: exactly-once, fast failover, then {@code kafka.*} overrides. */
  static Properties streamsProperties(CascadeConfig config, String applicationId, java.nio.file.Path stateDir) {
    Properties props = new Properties();
    props.putAll(CascadeRouter.clientProperties(config));
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, applicationId);
    props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
    props.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, config.get(CascadeConfig.TOPIC_REPLICATION));
    props.putIfAbsent(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 200);
    props.putIfAbsent(StreamsConfig.POLL_MS_CONFIG, 50L);
    // A learner killed with kill -9 and started again rejoins its group in seconds, not after the
    // default session timeout of 45 s, as the router's instances do.
    CascadeRouter.putFastFailover(props);
    return props;
  }

  /**
   * The line a learner logs once a rebalance gives it its partitions: each input topic with its
   * partitions, and whether the trainer (the one task on {@code examplesTopic}) is here.
   */
  static String assignmentLine(String applicationId, java.util.Collection<org.apache.kafka.common.TopicPartition>
      assigned, String examplesTopic) {
    java.util.Map<String, java.util.SortedSet<Integer>> byTopic = new java.util.TreeMap<>();
    assigned.forEach(p -> byTopic.computeIfAbsent(p.topic(), t -> new java.util.TreeSet<>()).add(p.partition()));
    String partitions = byTopic.isEmpty() ? "no partition"
        : byTopic.entrySet().stream().map(e -> e.getKey() + " " + e.getValue())
            .collect(java.util.stream.Collectors.joining(", "));
    return "learner " + applicationId + ": assigned " + partitions + (byTopic.containsKey(examplesTopic)
        ? "; the trainer runs here" : "; the trainer runs on another instance with this application id, if any");
  }

  public KafkaStreams streams() {
    return streams;
  }

  /**
   * Completes, with the state it went to, when the learner's Kafka Streams stops without {@link
   * #close()} having asked it to; see {@link StreamsFate}.
   */
  public java.util.concurrent.CompletableFuture<KafkaStreams.State> unplannedStop() {
    return fate.unplannedStop();
  }

  @Override
  public void close() {
    close(dev.cascade.router.CascadeRouter.CLOSE_TIMEOUT);
  }

  /** Closes, waiting at most {@code timeout} for the last commit and leaving the group (see {@code CascadeRouter#close(Duration)}). */
  public void close(Duration timeout) {
    fate.closing();
    TierTuner tuner = tierTuner;
    if (tuner != null) {
      tuner.close();
    }
    streams.close(org.apache.kafka.streams.CloseOptions.groupMembershipOperation(
        org.apache.kafka.streams.CloseOptions.GroupMembershipOperation.LEAVE_GROUP).withTimeout(timeout));
    stateDir.removeIfOwned();
  }
}
