package dev.cascade.router.cli;

import dev.cascade.router.CascadeRouter;
import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.learner.ContinuousLearner;
import dev.cascade.router.metrics.MetricsEndpoint;
import dev.cascade.router.topics.BrokerWatch;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.time.Duration;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Mixin;

/** {@code cascade learn}: the continuous trainer, its own process, until interrupted. */
@Command(name = "learn", mixinStandardHelpOptions = true,
    description = {"Runs the continuous learner against Kafka (bootstrap.servers) until interrupted: reads routing"
        + " outcomes and user feedback, keeps the newest labelled ones (learn.max-examples), retrains the learned rule"
        + " (learn.rule) every learn.retrain-every-labels labels or learn.retrain-every-ms, compares it with the rule in"
        + " force on the newest held-out slice (paired bootstrap of AUC-DF), and only when the interval's lower bound"
        + " is above zero publishes it to the rules topic with a policy naming the new version (with"
        + " learn.refresh-margin above 0, a rule it published may also be replaced by a newer one that is not worse and"
        + " whose lower bound is above minus that margin). With learn.prior naming a labelled JSONL file, both models"
        + " answer it at start and every round also trains on it, as older than all the traffic and never held out."
        + " Given what a right answer is worth in cost units (learn.tier-answer-value), it also retunes the"
        + " threshold of each exploring middle tier from the tier's outcomes, writing a policy when the new threshold"
        + " beats the one in force on held-out outcomes; with learn.small-answer-value, the small model's threshold"
        + " too, which the rules it publishes then keep in share.",
        "Its own application id (learn.application-id); its state is in changelogged stores, so a restart resumes"
        + " where it stopped. Prints learner=APPLICATION-ID bootstrap.servers=... and metrics=URL once running."})
final class LearnCommand implements Callable<Integer> {

  private static final Logger LOG = LoggerFactory.getLogger(LearnCommand.class);

  @Mixin
  ConfigOptions configOptions;

  @Override
  public Integer call() throws InterruptedException {
    CascadeConfig config = configOptions.load();
    // Its port checked before it joins the group (a start refused then would rebalance the live learner).
    boolean metricsOn = config.get(CascadeConfig.METRICS_ENABLED);
    java.net.InetAddress metricsHost = metricsOn ? config.bindAddress(CascadeConfig.METRICS_HOST) : null;
    int metricsPort = config.get(CascadeConfig.METRICS_PORT);
    new Ports().add(CascadeConfig.METRICS_PORT.name(), metricsHost, metricsOn ? metricsPort : 0).checkFree();
    PrometheusRegistry registry = new PrometheusRegistry();
    // Tribuo logs every SGD fit at INFO through java.util.logging, on stderr outside the log format.
    EvalCommand.quietTribuo();
    ContinuousLearner learner = ContinuousLearner.start(config, registry);
    // The loss of the cluster and its return, logged (the Kafka clients' own warnings are not).
    int kafkaTimeoutMs = config.get(CascadeConfig.HEALTH_KAFKA_TIMEOUT_MS);
    BrokerWatch kafka = kafkaTimeoutMs == 0 ? null : BrokerWatch.start(CascadeRouter.clientProperties(config),
        Duration.ofMillis(kafkaTimeoutMs), "the learner reads nothing until it answers", "the learner reads on");
    MetricsEndpoint endpoint;
    try {
      endpoint = metricsOn ? MetricsEndpoint.start(registry, metricsHost, metricsPort) : null;
    } catch (java.io.UncheckedIOException e) {
      // Taken since the check above.
      if (kafka != null) {
        kafka.close();
      }
      learner.close();
      throw Ports.cannotListen(CascadeConfig.METRICS_PORT.name(), metricsPort, e);
    }
    UntilStopped until = new UntilStopped();
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      until.stopping();
      long begun = System.nanoTime();
      LOG.info("learn: stopping (a signal or exit): a round in progress abandoned, stream threads closed with a"
          + " last commit");
      boolean clusterLost = kafka != null && !kafka.reachable();
      Duration wait = UntilStopped.closeTimeout(clusterLost, LOG);
      if (kafka != null) {
        kafka.close();
      }
      learner.close(wait);
      if (endpoint != null) {
        endpoint.close();
      }
      LOG.info("learn: stopped in {} ms", (System.nanoTime() - begun) / 1_000_000);
      until.stopped();
    }, "learn-shutdown"));
    System.out.println("learner=" + config.get(CascadeConfig.LEARN_APPLICATION_ID) + " bootstrap.servers="
        + config.get(CascadeConfig.BOOTSTRAP_SERVERS));
    if (endpoint != null) {
      System.out.println("metrics=" + endpoint.url(dev.cascade.router.metrics.MetricsEndpoint.machineName()));
    }
    System.out.flush();
    // Exit 3 once the learner's Kafka Streams stops without being asked (the shutdown hook closes the rest).
    return until.await("learn", "the learner", learner.unplannedStop(), LOG);
  }
}
