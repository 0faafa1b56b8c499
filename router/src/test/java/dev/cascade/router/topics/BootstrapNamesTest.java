package dev.cascade.router.topics;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Host names in bootstrap.servers that do not resolve yet (a Kubernetes Service published after
 * the pod started) are looked up again until the wait for the broker is over; on a clock that only
 * moves when the waiter sleeps.
 */
class BootstrapNamesTest {

  /** A clock moved by the sleeps, and a resolver that knows {@code known} from its {@code from}-th look-up on. */
  private static final class World {
    long nanos;
    final List<String> lookedUp = new ArrayList<>();
    final List<Long> slept = new ArrayList<>();
    final Set<String> known;
    final int from;

    World(Set<String> known, int from) {
      this.known = known;
      this.from = from;
    }

    void await(Object bootstrap, long timeoutMs) {
      BootstrapNames.await(bootstrap, timeoutMs, "kafka.default.api.timeout.ms", host -> {
        lookedUp.add(host);
        if (!known.contains(host) || lookedUp.size() < from) {
          throw new UnknownHostException(host + ": Name or service not known");
        }
      }, () -> nanos, millis -> {
        slept.add(millis);
        nanos += TimeUnit.MILLISECONDS.toNanos(millis);
      });
    }
  }

  @Test
  void aNamePublishedLateIsWaitedForAndTheWaitEndsWhenItResolves() {
    World world = new World(Set.of("kafka.cascade.svc"), 3);
    world.await("kafka.cascade.svc:9092", 60_000);
    assertThat(world.lookedUp).containsExactly("kafka.cascade.svc", "kafka.cascade.svc", "kafka.cascade.svc");
    assertThat(world.slept).hasSize(2);
  }

  @Test
  void aNameThatNeverResolvesIsNamedWhenTheWaitIsOverAsUnreachable() {
    World world = new World(Set.of(), 1);
    assertThatThrownBy(() -> world.await("kafak.invalid:9092", 5_000))
        .isInstanceOf(KafkaUnreachableException.class)
        .hasMessage("bootstrap.servers: the host name kafak.invalid (in kafak.invalid:9092) did not resolve within"
            + " 5000 ms (kafka.default.api.timeout.ms): is the name right, and published in the DNS this host uses?"
            + " (kafak.invalid: Name or service not known)")
        .hasCauseInstanceOf(UnknownHostException.class);
    // Looked up at the start and after every second of the wait, never past it.
    assertThat(world.lookedUp).hasSize(6);
    assertThat(TimeUnit.NANOSECONDS.toMillis(world.nanos)).isEqualTo(5_000);
  }

  @Test
  void everyNameIsNamedWhenNoneResolves() {
    World world = new World(Set.of(), 1);
    assertThatThrownBy(() -> world.await(List.of("a.invalid:9092", "b.invalid:9092", "a.invalid:9093"), 0))
        .hasMessageStartingWith("bootstrap.servers: the host names a.invalid, b.invalid (in [a.invalid:9092,"
            + " b.invalid:9092, a.invalid:9093]) did not resolve within 0 ms");
    assertThat(world.slept).isEmpty();
  }

  @Test
  void aLookupErrorThatOnlyRepeatsTheNameIsNotRepeated() {
    // What the JDK says of a name whose failed look-up it remembers.
    assertThatThrownBy(() -> BootstrapNames.await("kafak.invalid:9092", 0, "kafka.default.api.timeout.ms", host -> {
      throw new UnknownHostException(host);
    }, () -> 0L, millis -> { })).hasMessageEndingWith("published in the DNS this host uses?");
  }

  @Test
  void oneNameThatResolvesIsEnoughAsForTheKafkaClient() {
    World world = new World(Set.of("broker-1"), 1);
    world.await("broker-0.invalid:9092, broker-1:9092", 60_000);
    assertThat(world.lookedUp).containsExactly("broker-0.invalid", "broker-1");
    assertThat(world.slept).isEmpty();
  }

  @Test
  void anEntryThatIsNotHostColonPortIsLeftToTheClientToRefuse() {
    World world = new World(Set.of(), 1);
    world.await("kafak.invalid", 60_000);
    world.await("kafak.invalid:9092,nonsense", 60_000);
    assertThat(world.slept).isEmpty();
    BootstrapNames.await("kafak.invalid:9092", "not a number", "kafka.default.api.timeout.ms");
  }
}
