package dev.cascade.router.topics;

import dev.cascade.router.logging.LogLimiter;
import java.time.Duration;
import java.time.LocalTime;
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
 * and the recovery are each logged once, and a loss that lasts once a minute in between
 * ({@link #STILL_LOST_LOG_INTERVAL}): the Kafka clients' own warning per failed connection (each
 * client's, about one a second) is not logged (the project's logging configuration), so these
 * lines are what says that the cluster is gone.
 */
public final class BrokerWatch implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(BrokerWatch.class);
  private static final long PERIOD_MS = 1_000;
  /** How often a loss that lasts is logged again. */
  static final Duration STILL_LOST_LOG_INTERVAL = Duration.ofMinutes(1);

  private final Object bootstrap;
  private final long timeoutNanos;
  private final LongSupplier nanoClock;
  private final Admin admin;
  private final ScheduledExecutorService scheduler;
  private final String whileLost;
  private final String onceBack;
  private final LogLimiter<String> stillLost;
  private volatile long lastAnswerNanos;
  private volatile boolean lost;

  /** Not started: {@link #ask} asks once (tests, with their clock). */
  BrokerWatch(Map<String, Object> clientProps, Duration timeout, LongSupplier nanoClock, String whileLost,
      String onceBack) {
    this.whileLost = whileLost;
    this.onceBack = onceBack;
    this.stillLost = new LogLimiter<>(STILL_LOST_LOG_INTERVAL, 1, 1, nanoClock);
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
    return start(clientProps, timeout, "health NOT_SERVING, new calls refused, until it answers",
        "health follows the router again");
  }

  /**
   * As above, for a process without health: {@code whileLost} and {@code onceBack} end the lines that
   * say the cluster was lost and found again (what the process does meanwhile, and once it is back).
   */
  public static BrokerWatch start(Map<String, Object> clientProps, Duration timeout, String whileLost,
      String onceBack) {
    BrokerWatch watch = new BrokerWatch(clientProps, timeout, System::nanoTime, whileLost, onceBack);
    watch.scheduler.scheduleWithFixedDelay(watch::ask, 0, PERIOD_MS, TimeUnit.MILLISECONDS);
    return watch;
  }

  void ask() {
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
      LOG.info("Kafka at {} answers again, after {} s without an answer; {}", bootstrap,
          String.format(java.util.Locale.ROOT, "%.1f", (now - lastAnswerNanos) / 1e9), onceBack);
      lost = false;
    }
    lastAnswerNanos = now;
  }

  private void noAnswer(Exception e) {
    if (reachable()) {
      return;
    }
    Throwable cause = e instanceof java.util.concurrent.ExecutionException && e.getCause() != null ? e.getCause() : e;
    if (!lost) {
      lost = true;
      stillLost.admit("lost");
      LOG.warn("Kafka at {} (bootstrap.servers) has not answered for {} ms ({}): {}; the Kafka clients' warnings per"
          + " failed connection are not logged, a line here once a minute while it lasts", bootstrap,
          TimeUnit.NANOSECONDS.toMillis(timeoutNanos), cause.getMessage(), whileLost);
      return;
    }
    LogLimiter.Pass pass = stillLost.admit("lost");
    if (pass != null) {
      long silentNanos = nanoClock.getAsLong() - lastAnswerNanos;
      LOG.warn("Kafka at {} (bootstrap.servers) still unreachable, since {} ({} s; {} more questions unanswered since"
          + " the last line; latest: {}): {}", bootstrap,
          // HH:mm:ss always: LocalTime's own text drops the seconds when they are 0 (04:03 for 04:03:00)
          LocalTime.now().minusNanos(silentNanos).format(java.time.format.DateTimeFormatter.ofPattern("HH:mm:ss")),
          Math.round(silentNanos / 1e9),
          pass.suppressed() + 1, cause.getMessage(), whileLost);
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
