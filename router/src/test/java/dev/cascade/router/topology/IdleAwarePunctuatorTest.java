package dev.cascade.router.topology;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.streams.processor.api.MockProcessorContext;
import org.apache.kafka.streams.processor.api.MockProcessorContext.CapturedPunctuator;
import org.junit.jupiter.api.Test;

class IdleAwarePunctuatorTest {

  private final MockProcessorContext<Object, Object> context = new MockProcessorContext<>();
  private final AtomicBoolean idle = new AtomicBoolean(false);
  private final List<Long> ran = new ArrayList<>();
  private final IdleAwarePunctuator ticker =
      new IdleAwarePunctuator(context, Duration.ofMillis(5), ran::add, idle::get);

  private CapturedPunctuator last() {
    List<CapturedPunctuator> all = context.scheduledPunctuators();
    return all.get(all.size() - 1);
  }

  @Test
  void wakingTwiceSchedulesOnce() {
    ticker.wake();
    ticker.wake();
    assertThat(context.scheduledPunctuators()).hasSize(1);
    assertThat(last().getInterval()).isEqualTo(Duration.ofMillis(5));
    assertThat(ticker.awake()).isTrue();
  }

  @Test
  void itKeepsPunctuatingWhileThereIsWorkAndStopsOnceThereIsNone() {
    ticker.wake();
    CapturedPunctuator p = last();
    p.getPunctuator().punctuate(100);
    p.getPunctuator().punctuate(105);
    assertThat(ran).containsExactly(100L, 105L);
    assertThat(p.cancelled()).isFalse();

    idle.set(true);
    p.getPunctuator().punctuate(110);
    assertThat(ran).containsExactly(100L, 105L, 110L); // the last punctuation runs, then it sleeps
    assertThat(p.cancelled()).isTrue();
    assertThat(ticker.awake()).isFalse();
  }

  @Test
  void workAfterASleepSchedulesItAgain() {
    ticker.wake();
    idle.set(true);
    last().getPunctuator().punctuate(100);
    assertThat(ticker.awake()).isFalse();

    idle.set(false);
    ticker.wake();
    assertThat(context.scheduledPunctuators()).hasSize(2);
    assertThat(last().cancelled()).isFalse();
    last().getPunctuator().punctuate(200);
    assertThat(ran).containsExactly(100L, 200L);
  }

  @Test
  void refreshLeavesABusyPunctuatorAlone() {
    ticker.wake();
    ticker.refresh(0);
    assertThat(ticker.awake()).isTrue();
    assertThat(last().cancelled()).isFalse();
  }

  @Test
  void aCadenceWaitsLongerWhenTheNextWorkIsDueLaterAndIsWokenToTheBusyIntervalByWork() {
    AtomicReference<Duration> next = new AtomicReference<>(Duration.ofSeconds(30));
    IdleAwarePunctuator timed = new IdleAwarePunctuator(context, Duration.ofMillis(500), ran::add, now -> next.get());
    timed.refresh(0);
    assertThat(last().getInterval()).isEqualTo(Duration.ofSeconds(30));

    // A shorter wait to the same due time, asked later, keeps the punctuator scheduled as it is.
    next.set(Duration.ofSeconds(20));
    timed.refresh(10_000);
    assertThat(context.scheduledPunctuators()).hasSize(1);

    // Work that is due now: the wait is cancelled and it punctuates at the busy interval.
    next.set(Duration.ofMillis(500));
    timed.refresh(11_000);
    assertThat(context.scheduledPunctuators()).hasSize(2);
    assertThat(context.scheduledPunctuators().get(0).cancelled()).isTrue();
    assertThat(last().getInterval()).isEqualTo(Duration.ofMillis(500));

    // Nothing pending after that punctuation: it sleeps.
    next.set(null);
    last().getPunctuator().punctuate(11_500);
    assertThat(ran).containsExactly(11_500L);
    assertThat(last().cancelled()).isTrue();
    assertThat(timed.awake()).isFalse();

    // A wait shorter than the busy interval is the busy interval.
    next.set(Duration.ofMillis(3));
    timed.refresh(12_000);
    assertThat(timed.every()).isEqualTo(Duration.ofMillis(500));
  }
}
