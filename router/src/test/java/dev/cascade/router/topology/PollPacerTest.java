package dev.cascade.router.topology;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.processor.api.MockProcessorContext;
import org.apache.kafka.streams.processor.api.MockProcessorContext.CapturedPunctuator;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.junit.jupiter.api.Test;

class PollPacerTest {

  private static final Duration SHORT = Duration.ofMillis(5);
  private static final Duration IDLE = Duration.ofMillis(100);
  private static final Duration QUIET = Duration.ofMillis(110);

  private final AtomicLong now = new AtomicLong();
  private final PollPacer pacer = new PollPacer(IDLE, QUIET, now::get);

  private void advance(Duration d) {
    now.addAndGet(d.toNanos());
  }

  @Test
  void anIdleRouterPollsLongOnlyOnceTheQuietPeriodHasPassed() {
    assertThat(pacer.mainPoll(SHORT)).as("just started: as quiet as after work").isEqualTo(SHORT);
    advance(Duration.ofMillis(111));
    assertThat(pacer.mainPoll(SHORT)).isEqualTo(IDLE);
  }

  @Test
  void recordsPolledKeepPollsShortForTheQuietPeriodSoTheCommitIsNotHeldBack() {
    advance(Duration.ofSeconds(1));
    pacer.polled(0);
    assertThat(pacer.mainPoll(SHORT)).as("an empty poll changes nothing").isEqualTo(IDLE);
    pacer.polled(3);
    assertThat(pacer.mainPoll(SHORT)).isEqualTo(SHORT);
    advance(Duration.ofMillis(110));
    assertThat(pacer.mainPoll(SHORT)).isEqualTo(SHORT);
    advance(Duration.ofMillis(1));
    assertThat(pacer.mainPoll(SHORT)).isEqualTo(IDLE);
  }

  @Test
  void workInProgressKeepsPollsShortHoweverLongItTakes() {
    advance(Duration.ofSeconds(1));
    pacer.busy();
    pacer.busy();
    advance(Duration.ofSeconds(10));
    assertThat(pacer.mainPoll(SHORT)).isEqualTo(SHORT);
    pacer.done();
    assertThat(pacer.mainPoll(SHORT)).as("one of two still busy").isEqualTo(SHORT);
    pacer.done();
    advance(Duration.ofMillis(100));
    assertThat(pacer.mainPoll(SHORT)).as("quiet after the work ended").isEqualTo(SHORT);
    advance(Duration.ofMillis(11));
    assertThat(pacer.mainPoll(SHORT)).isEqualTo(IDLE);
  }

  @Test
  void zeroAndLongTimeoutsAreKeptAndTheGlobalConsumerAlwaysPollsLong() {
    advance(Duration.ofSeconds(1));
    assertThat(pacer.mainPoll(Duration.ZERO)).isEqualTo(Duration.ZERO);
    assertThat(pacer.mainPoll(Duration.ofMillis(500))).isEqualTo(Duration.ofMillis(500));
    pacer.busy();
    assertThat(pacer.globalPoll(SHORT)).as("the global thread runs no punctuator").isEqualTo(IDLE);
    assertThat(pacer.globalPoll(Duration.ZERO)).isEqualTo(Duration.ZERO);
    assertThat(pacer.globalPoll(Duration.ofMillis(500))).isEqualTo(Duration.ofMillis(500));
  }

  @Test
  void anIdlePollNoLongerThanTheShortOneChangesNothing() {
    PollPacer off = new PollPacer(SHORT, QUIET, now::get);
    advance(Duration.ofSeconds(1));
    assertThat(off.mainPoll(SHORT)).isEqualTo(SHORT);
    assertThatThrownBy(() -> new PollPacer(Duration.ZERO, QUIET)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("idlePoll");
  }

  @Test
  void punctuatorsFindThePacerInTheConfigurationAndHoldItBusyWhileScheduledShort() {
    Properties props = new Properties();
    props.put(PollPacer.CONFIG_KEY, pacer);
    MockProcessorContext<Object, Object> context = new MockProcessorContext<>(props);
    assertThat(PollPacer.of(context.appConfigs())).isSameAs(pacer);
    assertThat(PollPacer.of(Map.of())).isNull();

    AtomicBoolean idle = new AtomicBoolean();
    IdleAwarePunctuator ticker = new IdleAwarePunctuator(context, SHORT, t -> { }, idle::get);
    advance(Duration.ofSeconds(1));
    ticker.wake();
    ticker.wake();
    advance(Duration.ofSeconds(1));
    assertThat(pacer.mainPoll(SHORT)).as("a batch waits").isEqualTo(SHORT);

    idle.set(true);
    List<CapturedPunctuator> scheduled = context.scheduledPunctuators();
    scheduled.get(scheduled.size() - 1).getPunctuator().punctuate(0);
    assertThat(ticker.awake()).isFalse();
    advance(Duration.ofMillis(111));
    assertThat(pacer.mainPoll(SHORT)).as("woken twice, cancelled once: idle").isEqualTo(IDLE);

    idle.set(false);
    ticker.wake();
    ticker.release();
    advance(Duration.ofMillis(111));
    assertThat(pacer.mainPoll(SHORT)).as("a closing processor's punctuator is released").isEqualTo(IDLE);
  }

  @Test
  void kafkaStreamsHandsThePacerToTheProcessorsThroughTheApplicationConfiguration() {
    // A real task's context (TopologyTestDriver's), not a mock: the processor's punctuator finds the
    // pacer and holds it busy while its work is pending.
    AtomicBoolean pending = new AtomicBoolean();
    Topology topology = new Topology();
    topology.addSource("in", new StringDeserializer(),
        new StringDeserializer(), "in");
    topology.addProcessor("work", () -> new Processor<String, String, Void, Void>() {
      private IdleAwarePunctuator ticker;

      @Override
      public void init(ProcessorContext<Void, Void> context) {
        ticker = new IdleAwarePunctuator(context, SHORT, t -> { }, () -> !pending.get());
      }

      @Override
      public void process(Record<String, String> record) {
        pending.set(true);
        ticker.wake();
      }
    }, "in");
    Properties props = new Properties();
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, "pacer-test");
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
    props.put(PollPacer.CONFIG_KEY, pacer);
    try (TopologyTestDriver driver = new TopologyTestDriver(topology, props)) {
      advance(Duration.ofSeconds(1));
      assertThat(pacer.mainPoll(SHORT)).isEqualTo(IDLE);
      driver.createInputTopic("in", new StringSerializer(),
          new StringSerializer()).pipeInput("k", "v");
      advance(Duration.ofSeconds(10));
      assertThat(pacer.mainPoll(SHORT)).as("work pending for 10 s").isEqualTo(SHORT);
      pending.set(false);
      driver.advanceWallClockTime(SHORT);
      advance(Duration.ofMillis(111));
      assertThat(pacer.mainPoll(SHORT)).as("the work is done and the punctuator sleeps").isEqualTo(IDLE);
    }
  }

  @Test
  void aPunctuatorWaitingLongerThanTheIdlePollDoesNotHoldPollsShort() {
    Properties props = new Properties();
    props.put(PollPacer.CONFIG_KEY, pacer);
    MockProcessorContext<Object, Object> context = new MockProcessorContext<>(props);
    // The learner's cadence: due in a minute.
    IdleAwarePunctuator ticker = new IdleAwarePunctuator(context, SHORT, t -> { }, t -> Duration.ofMinutes(1));
    ticker.refresh(0);
    assertThat(ticker.every()).isEqualTo(Duration.ofMinutes(1));
    advance(Duration.ofSeconds(1));
    assertThat(pacer.mainPoll(SHORT)).isEqualTo(IDLE);
    ticker.wake(); // now busy at the short interval
    advance(Duration.ofSeconds(1));
    assertThat(pacer.mainPoll(SHORT)).isEqualTo(SHORT);
  }
}
