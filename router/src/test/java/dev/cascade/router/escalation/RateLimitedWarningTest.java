package dev.cascade.router.escalation;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** A failing tier's degraded requests: at most one warning per interval, counting those in between. */
class RateLimitedWarningTest {

  @Test
  void theFirstIsWrittenAtOnceAndTheRestAtMostOncePerIntervalWithTheirCount() {
    AtomicLong nanos = new AtomicLong(1_000);
    List<String> lines = new ArrayList<>();
    RateLimitedWarning warning = new RateLimitedWarning("medium", Duration.ofSeconds(10), nanos::get, lines::add);
    warning.record("request a: medium unavailable for 2108 ms");
    assertThat(lines).singleElement().asString().startsWith("medium: 1 request degraded")
        .endsWith("latest: request a: medium unavailable for 2108 ms");
    for (int i = 0; i < 5; i++) {
      nanos.addAndGet(1_000_000_000L);
      warning.record("request b" + i);
    }
    assertThat(lines).as("within 10 s of the first line").hasSize(1);
    nanos.addAndGet(5_000_000_000L);
    warning.record("request c");
    assertThat(lines).hasSize(2);
    assertThat(lines.get(1)).startsWith("medium: 6 requests degraded in the last 10 s").endsWith("latest: request c");
  }

  @Test
  void eachTiersClientAndBreakerIsNamedAfterItsTier() {
    EscalationSettings settings = new EscalationSettings(4, Duration.ofSeconds(1), 0, Duration.ofMillis(1), 50,
        Duration.ofSeconds(5), 16);
    try (EscalationClient medium = new EscalationClient(new CascadeTransport(
        io.grpc.inprocess.InProcessChannelBuilder.forName("none-m").build(), true), settings, "medium");
        EscalationClient large = new EscalationClient(new CascadeTransport(
            io.grpc.inprocess.InProcessChannelBuilder.forName("none-l").build(), true), settings)) {
      assertThat(medium.name()).isEqualTo("medium");
      assertThat(medium.breaker().getName()).isEqualTo("medium");
      assertThat(large.name()).isEqualTo("large");
      assertThat(large.breaker().getName()).isEqualTo("large");
    }
  }
}
