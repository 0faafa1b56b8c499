package dev.cascade.router.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class RateLimitTest {

  @Test
  void eachFormParsesToItsWindow() {
    assertThat(RateLimit.parse("100/s")).isEqualTo(new RateLimit(100, Duration.ofSeconds(1)));
    assertThat(RateLimit.parse(" 600 / MIN ")).isEqualTo(new RateLimit(600, Duration.ofMinutes(1)));
    assertThat(RateLimit.parse("5000/h")).isEqualTo(new RateLimit(5000, Duration.ofHours(1)));
    assertThat(RateLimit.parse("none").limits()).isFalse();
    assertThat(RateLimit.parse("600/minute").toString()).isEqualTo("600/min");
  }

  @Test
  void anythingElseIsRefusedNamingTheForms() {
    for (String bad : new String[] {"100", "0/s", "-1/s", "1.5/s", "10/day", "x/s", "1000001/s"}) {
      assertThatThrownBy(() -> RateLimit.parse(bad)).as(bad).isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("expected " + RateLimit.FORMS);
    }
  }

  @Test
  void aBadValueOfTheKeyIsAConfigErrorNamingIt() {
    assertThatThrownBy(() -> CascadeConfig.defaults().with(CascadeConfig.API_RATE_LIMIT, "10 per second"))
        .isInstanceOf(ConfigException.class).hasMessageContaining("api.rate-limit")
        .hasMessageContaining(RateLimit.FORMS);
  }
}
