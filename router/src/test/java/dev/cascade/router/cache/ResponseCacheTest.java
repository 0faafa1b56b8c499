package dev.cascade.router.cache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cascade.models.Generation;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class ResponseCacheTest {

  private static final Generation G = new Generation("x", new int[] {1}, new float[] {-0.1f}, new float[] {0.1f}, null);

  @Test
  void storesAndCountsHitsAndMisses() {
    ResponseCache cache = ResponseCache.create(10, Duration.ofMinutes(1));
    ResponseCache.Key key = new ResponseCache.Key("p", 48);
    assertThat(cache.get(key)).isEmpty();
    cache.put(key, G);
    assertThat(cache.get(key)).containsSame(G);
    assertThat(cache.get(new ResponseCache.Key("p", 47))).isEmpty();
    assertThat(cache.stats().hitCount()).isEqualTo(1);
    assertThat(cache.stats().missCount()).isEqualTo(2);
    assertThat(cache.enabled()).isTrue();
  }

  @Test
  void anEntryExpiresAfterItsTimeToLive() throws InterruptedException {
    ResponseCache cache = ResponseCache.create(10, Duration.ofMillis(50));
    ResponseCache.Key key = new ResponseCache.Key("p", 48);
    cache.put(key, G);
    Thread.sleep(120);
    assertThat(cache.get(key)).isEmpty();
  }

  @Test
  void zeroSizeOrZeroTtlDisablesIt() {
    for (ResponseCache cache : new ResponseCache[] {ResponseCache.create(0, Duration.ofMinutes(1)),
        ResponseCache.create(10, Duration.ZERO), ResponseCache.disabled()}) {
      ResponseCache.Key key = new ResponseCache.Key("p", 48);
      cache.put(key, G);
      assertThat(cache.get(key)).isEmpty();
      assertThat(cache.enabled()).isFalse();
      assertThat(cache.stats().requestCount()).isZero();
    }
  }

  @Test
  void negativeSettingsAreRefusedNamingTheSetting() {
    assertThatThrownBy(() -> ResponseCache.create(-1, Duration.ofMinutes(1))).hasMessageContaining("maxEntries");
    assertThatThrownBy(() -> ResponseCache.create(1, Duration.ofMillis(-1))).hasMessageContaining("ttl");
  }
}
