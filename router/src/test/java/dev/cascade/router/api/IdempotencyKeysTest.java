package dev.cascade.router.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cascade.schemas.avro.CascadeResponse;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class IdempotencyKeysTest {

  @Test
  void theRequestIdIsTheSameForARetryAndAnotherForAnotherCallerOrKey() {
    String id = IdempotencyKeys.requestId("cmpl-", "team-a", "order-1");
    assertThat(id).startsWith("cmpl-idem-").hasSize("cmpl-idem-".length() + 32)
        .isEqualTo(IdempotencyKeys.requestId("cmpl-", "team-a", "order-1"))
        .isNotEqualTo(IdempotencyKeys.requestId("cmpl-", "team-b", "order-1"))
        .isNotEqualTo(IdempotencyKeys.requestId("cmpl-", "team-a", "order-2"));
    // The separator keeps "a" + "b\nc" and "a\nb" + "c" apart.
    assertThat(IdempotencyKeys.requestId("cmpl-", "a", "b-c")).isNotEqualTo(IdempotencyKeys.requestId("cmpl-", "a-b", "c"));
  }

  @Test
  void keysMustBeOneTo255VisibleAsciiCharacters() {
    assertThat(IdempotencyKeys.problem("0b5c9e1e-4f7a-4a34-9a55-5cb0f3d5e7a1")).isNull();
    assertThat(IdempotencyKeys.problem("x".repeat(255))).isNull();
    assertThat(IdempotencyKeys.problem("")).contains("1 to 255 characters, was 0");
    assertThat(IdempotencyKeys.problem("x".repeat(256))).contains("was 256");
    assertThat(IdempotencyKeys.problem("a b")).contains("U+0020 at 1");
    assertThat(IdempotencyKeys.problem("é")).contains("U+00E9 at 0");
  }

  @Test
  void aRetryGetsTheFirstCallsEntryAndSubmitsNothing() {
    IdempotencyKeys keys = new IdempotencyKeys(Duration.ofMinutes(1), 10);
    AtomicInteger submitted = new AtomicInteger();
    CompletableFuture<CascadeResponse> answer = new CompletableFuture<>();
    IdempotencyKeys.Claim first = keys.claim("id", "sha", () -> {
      submitted.incrementAndGet();
      return answer;
    });
    IdempotencyKeys.Claim retry = keys.claim("id", "sha", () -> {
      submitted.incrementAndGet();
      return new CompletableFuture<>();
    });
    assertThat(first.first()).isTrue();
    assertThat(retry.first()).isFalse();
    assertThat(retry.entry()).isSameAs(first.entry());
    assertThat(submitted).hasValue(1);
    // Forgotten (its call was never sent): the next claim sends it.
    keys.forget("id", first.entry());
    assertThat(keys.claim("id", "sha", CompletableFuture::new).first()).isTrue();
  }

  @Test
  void aKeyGivenUpForRoomEndsTheWaitOnItsAnswer() {
    IdempotencyKeys keys = new IdempotencyKeys(Duration.ofMinutes(1), 1);
    CompletableFuture<CascadeResponse> a = new CompletableFuture<>();
    CompletableFuture<CascadeResponse> b = new CompletableFuture<>();
    keys.claim("a", "sha", () -> a);
    keys.claim("b", "sha", () -> b);
    // Room for one: the cache gives one of them up (which one is its own policy's choice), and
    // whoever waits on that one's answer stops waiting.
    assertThat(a.isCompletedExceptionally()).isNotEqualTo(b.isCompletedExceptionally());
    CompletableFuture<CascadeResponse> givenUp = a.isCompletedExceptionally() ? a : b;
    assertThatThrownBy(givenUp::join).hasCauseInstanceOf(java.util.concurrent.TimeoutException.class)
        .hasMessageContaining("given up");
    // Its key is claimed afresh.
    assertThat(keys.claim(givenUp == a ? "a" : "b", "sha", CompletableFuture::new).first()).isTrue();
  }
}
