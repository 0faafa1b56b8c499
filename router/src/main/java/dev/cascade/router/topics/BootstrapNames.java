package dev.cascade.router.topics;

import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import org.apache.kafka.common.utils.Utils;

/**
 * Waits for the host names of {@code bootstrap.servers} to resolve. A Kafka client refuses to be
 * created when none of them resolves (a {@code ConfigException}, "No resolvable bootstrap urls"),
 * as if the setting were wrong; but a name that does not resolve yet is often only early: in
 * Kubernetes a Service's or a StatefulSet pod's DNS name is published a while after the pods that
 * look it up may have started. So the name is looked up again, every second, for as long as the
 * caller would wait for the broker itself; a name that never resolves ends in a
 * {@link KafkaUnreachableException} (exit 1, as a broker that never answers) naming it.
 */
public final class BootstrapNames {

  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(BootstrapNames.class);
  private static final long RETRY_MS = 1_000;

  /** Looks a host name up; throws when it does not resolve. */
  @FunctionalInterface
  interface Resolver {
    void resolve(String host) throws UnknownHostException;
  }

  /** A host name that did not resolve, and what the lookup said. */
  record Failure(String host, UnknownHostException error) {}

  /** Waits {@code millis}. */
  @FunctionalInterface
  interface Sleeper {
    void sleep(long millis) throws InterruptedException;
  }

  private BootstrapNames() {}

  /**
   * Returns once a host of {@code bootstrap} resolves, waiting up to {@code timeoutMs} (a number,
   * or its text, as a Kafka client setting is given); or at once when an entry is not
   * {@code HOST:PORT} or the timeout is not a number: the client says what is wrong with them.
   *
   * @param setting what sets that wait, for the message (e.g. {@code kafka.default.api.timeout.ms})
   * @throws KafkaUnreachableException when none resolved in time
   */
  public static void await(Object bootstrap, Object timeoutMs, String setting) {
    long millis;
    try {
      millis = timeoutMs instanceof Number n ? n.longValue() : Long.parseLong(String.valueOf(timeoutMs).trim());
    } catch (NumberFormatException e) {
      return;
    }
    await(bootstrap, millis, setting, host -> java.net.InetAddress.getAllByName(host), System::nanoTime,
        Thread::sleep);
  }

  static void await(Object bootstrap, long timeoutMs, String setting, Resolver resolver, LongSupplier nanoClock,
      Sleeper sleeper) {
    long start = nanoClock.getAsLong();
    List<Failure> failures = unresolved(entries(bootstrap), resolver);
    if (failures.isEmpty()) {
      return;
    }
    LOG.warn("bootstrap.servers {}: {} does not resolve (yet); looking it up again every {} ms for up to {} ms ({})",
        bootstrap, String.join(", ", hosts(failures)), RETRY_MS, timeoutMs, setting);
    while (TimeUnit.NANOSECONDS.toMillis(nanoClock.getAsLong() - start) + RETRY_MS <= timeoutMs) {
      try {
        sleeper.sleep(RETRY_MS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
      failures = unresolved(entries(bootstrap), resolver);
      if (failures.isEmpty()) {
        LOG.info("bootstrap.servers {}: resolves now, after {} ms", bootstrap,
            TimeUnit.NANOSECONDS.toMillis(nanoClock.getAsLong() - start));
        return;
      }
    }
    throw KafkaUnreachableException.unresolved(bootstrap, hosts(failures), timeoutMs, setting, failures.get(0).error());
  }

  /** The entries of a {@code bootstrap.servers} value: a comma-separated string or a list. */
  static List<String> entries(Object bootstrap) {
    List<String> out = new ArrayList<>();
    Iterable<?> items = bootstrap instanceof Iterable<?> list ? list : List.of(String.valueOf(bootstrap).split(","));
    for (Object item : items) {
      String entry = String.valueOf(item).trim();
      if (!entry.isEmpty()) {
        out.add(entry);
      }
    }
    return out;
  }

  /**
   * The failures of looking up each entry's host, when none resolved; empty when one did, when
   * there are none, or when an entry is not {@code HOST:PORT} (the client's own check names it).
   */
  static List<Failure> unresolved(List<String> entries, Resolver resolver) {
    List<Failure> failures = new ArrayList<>();
    for (String entry : entries) {
      String host = Utils.getHost(entry);
      if (host == null || Utils.getPort(entry) == null) {
        return List.of();
      }
      try {
        resolver.resolve(host);
        return List.of();
      } catch (UnknownHostException e) {
        failures.add(new Failure(host, e));
      }
    }
    return failures;
  }

  /** The host names that failed, each once. */
  private static List<String> hosts(List<Failure> failures) {
    return failures.stream().map(Failure::host).distinct().toList();
  }
}
