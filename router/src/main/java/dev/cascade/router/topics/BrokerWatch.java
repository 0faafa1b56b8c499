package dev.cascade.router.topics;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.DescribeClusterOptions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Whether the Kafka cluster answers: an admin client asks for the cluster's brokers every second
 * ({@code describeCluster}), and the cluster counts as lost once none of those questions has been
 * answered for {@code timeout}. Kafka Streams stays RUNNING and its consumers poll without error
 * while every broker is down, so this is what turns a router's health NOT_SERVING (and its doors to
 * UNAVAILABLE and 503) when it has lost Kafka, instead of taking calls it cannot answer. The loss
 * and the recovery are each logged once.
 */
public final class BrokerWatch implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(BrokerWatch.class);
  private static final long PERIOD_MS = 1_000;

  private final Object bootstrap;
  private final long timeoutNanos;
  private final LongSupplier nanoClock;
  private final Admin admin;
  private final ScheduledExecutorService scheduler;
  private volatile long lastAnswerNanos;
  private volatile boolean lost;

  private BrokerWatch(Map<String, Object> clientProps, Duration timeout, LongSupplier nanoClock) {
    this.bootstrap = clientProps.get(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG);
    this.timeoutNanos = timeout.toNanos();
    this.nanoClock = nanoClock;
    Map<String, Object> props = new HashMap<>(clientProps);
    // One question at a time, each given up after a second or two: a lost cluster is noticed within
    // the timeout, and a broker that is down is asked no more often than the period.
    int askMs = (int) Math.max(500, Math.min(2_000, timeout.toMillis() / 2));
    props.put(CommonClientConfigs.REQUEST_TIMEOUT_MS_CONFIG, askMs);
    props.put(CommonClientConfigs.DEFAULT_API_TIMEOUT_MS_CONFIG, askMs);
    props.putIfAbsent(CommonClientConfigs.RECONNECT_BACKOFF_MAX_MS_CONFIG, (int) PERIOD_MS);
    props.put(CommonClientConfigs.CLIENT_ID_CONFIG, "cascade-broker-watch");
    this.admin = Admin.create(props);
    this.lastAnswerNanos = nanoClock.getAsLong();
    this.scheduler = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "kafka-broker-watch");
      t.setDaemon(true);
      return t;
    });
  }

  /**
   * Starts watching the cluster at {@code clientProps}' {@code bootstrap.servers}.
   *
   * @param timeout how long no answer means the cluster is lost
   */
  public static BrokerWatch start(Map<String, Object> clientProps, Duration timeout) {
    BrokerWatch watch = new BrokerWatch(clientProps, timeout, System::nanoTime);
    watch.scheduler.scheduleWithFixedDelay(watch::ask, 0, PERIOD_MS, TimeUnit.MILLISECONDS);
    return watch;
  }

  private void ask() {
    try {
      admin.describeCluster(new DescribeClusterOptions()).nodes().get();
      answered();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (Exception e) {
      noAnswer(e);
    }
  }

  private void answered() {
    long now = nanoClock.getAsLong();
    if (lost) {
      LOG.info("Kafka at {} answers again, after {} s without an answer; health follows the router again",
          bootstrap, String.format(java.util.Locale.ROOT, "%.1f", (now - lastAnswerNanos) / 1e9));
      lost = false;
    }
    lastAnswerNanos = now;
  }

  private void noAnswer(Exception e) {
    if (!lost && !reachable()) {
      lost = true;
      Throwable cause = e instanceof java.util.concurrent.ExecutionException && e.getCause() != null ? e.getCause() : e;
      LOG.warn("Kafka at {} (bootstrap.servers) has not answered for {} ms ({}): health NOT_SERVING, new calls"
          + " refused, until it answers", bootstrap, TimeUnit.NANOSECONDS.toMillis(timeoutNanos), cause.getMessage());
    }
  }

  /** Whether the cluster answered within the timeout. */
  public boolean reachable() {
    return nanoClock.getAsLong() - lastAnswerNanos <= timeoutNanos;
  }

  /** What is wrong, when the cluster has not answered within the timeout. */
  public Optional<String> problem() {
    long silentNanos = nanoClock.getAsLong() - lastAnswerNanos;
    return silentNanos <= timeoutNanos ? Optional.empty()
        : Optional.of("Kafka at " + bootstrap + " has not answered for " + TimeUnit.NANOSECONDS.toMillis(silentNanos)
            + " ms");
  }

  @Override
  public void close() {
    scheduler.shutdownNow();
    admin.close(Duration.ofSeconds(1));
  }
}
