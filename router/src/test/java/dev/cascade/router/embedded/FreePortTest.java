package dev.cascade.router.embedded;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** freePort never hands the same port out twice in one JVM, although the system offers closed ports again. */
class FreePortTest {

  @Test
  void portsHandedOutInOneProcessAreAllDifferent() {
    Set<Integer> ports = new HashSet<>();
    for (int i = 0; i < 200; i++) {
      assertThat(ports.add(EmbeddedKafka.freePort())).as("port %d handed out again", i).isTrue();
    }
  }
}
