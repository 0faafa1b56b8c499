package dev.cascade.router.logging;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import org.slf4j.ILoggerFactory;
import org.slf4j.IMarkerFactory;
import org.slf4j.Logger;
import org.slf4j.simple.SimpleServiceProvider;
import org.slf4j.spi.MDCAdapter;
import org.slf4j.spi.SLF4JServiceProvider;

/**
 * The SLF4J provider of the router's jars: slf4j-simple (configured by {@code
 * simplelogger.properties}, as before), with the warnings of the loggers in {@link #LIMITED}
 * written through a {@link LimitedLogger}: the first of each distinct warning, then the same one at
 * most once per interval with a count of the rest. The shaded jars list this provider alone
 * (slf4j-simple's own service entry is left out); the build's tests name it with {@code
 * -Dslf4j.provider}.
 *
 * <p>{@code FetchCollector}: while a topic a consumer is assigned is deleted, each fetch warns
 * "Received unknown topic or partition error in fetch for partition T-0". Kafka Streams' global
 * consumer (the policy and rules topics) fetches on its own pacing and has no way to stop: 237 of
 * {@code serve}'s 241 lines in the 120 s after the policy topic was deleted, about 2 a second
 * (README, "Logs during outages"). Keyed by the message, which names the consumer and the
 * partition, so each consumer's first warning per partition is still written at once.
 */
public final class LimitingServiceProvider implements SLF4JServiceProvider {

  /** Loggers whose warnings are limited, with how often the same warning is written again. */
  static final Map<String, Duration> LIMITED = Map.of(
      "org.apache.kafka.clients.consumer.internals.FetchCollector", Duration.ofMinutes(1));

  private final SimpleServiceProvider simple = new SimpleServiceProvider();
  private volatile ILoggerFactory loggers;

  @Override
  public ILoggerFactory getLoggerFactory() {
    return loggers;
  }

  @Override
  public IMarkerFactory getMarkerFactory() {
    return simple.getMarkerFactory();
  }

  @Override
  public MDCAdapter getMDCAdapter() {
    return simple.getMDCAdapter();
  }

  @Override
  public String getRequestedApiVersion() {
    return simple.getRequestedApiVersion();
  }

  @Override
  public void initialize() {
    simple.initialize();
    loggers = limiting(simple.getLoggerFactory(), LIMITED);
  }

  /** {@code loggers}, with the loggers named in {@code limited} wrapped in a {@link LimitedLogger} each. */
  static ILoggerFactory limiting(ILoggerFactory loggers, Map<String, Duration> limited) {
    ConcurrentMap<String, Logger> wrapped = new ConcurrentHashMap<>();
    return name -> {
      Duration interval = limited.get(name);
      return interval == null ? loggers.getLogger(name) : wrapped.computeIfAbsent(name,
          n -> new LimitedLogger(loggers.getLogger(n), LogLimiter.oncePer(interval)));
    };
  }
}
