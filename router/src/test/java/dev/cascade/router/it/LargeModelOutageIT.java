package dev.cascade.router.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.proto.v1.CascadeGrpc;
import dev.cascade.proto.v1.GenerateRequest;
import dev.cascade.proto.v1.GenerateResponse;
import dev.cascade.proto.v1.ServedBy;
import dev.cascade.router.demo.Example;
import dev.cascade.router.demo.Examples;
import dev.cascade.router.embedded.EmbeddedKafka;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.serde.CascadeSerdes;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A large-model outage as production has it: {@code cascade large-model} and {@code cascade serve}
 * as separate OS processes on a real broker, every request escalated, the large model killed with
 * {@code kill -9} and later restarted on the same port. Once the breaker has opened (one warning
 * in serve's log), escalated calls are answered SMALL_DEGRADED at once (escalation.fail-fast-when-open,
 * the default) instead of waiting out their 30 s; the outcome's reason names the open breaker and
 * the failure that opened it; once the model is back its answers return and the breaker's closing
 * is logged.
 */
class LargeModelOutageIT {

  private static final String FAIL_FAST = "its circuit breaker is open (escalation.fail-fast-when-open)";

  @TempDir
  Path state;

  private static JvmProcess largeModel(int port) throws Exception {
    JvmProcess large = JvmProcess.cascade(List.of("large-model", "--host", "127.0.0.1", "--port",
        Integer.toString(port), "--no-metrics"));
    large.awaitLine("large-model=", Duration.ofSeconds(180))
        .orElseThrow(() -> new AssertionError("large-model did not start:\n" + large.output()));
    return large;
  }

  private static final List<Example> PROMPTS = Examples.bundled("test");
  private static int sent;

  /** A call with a fresh prompt of the test split, waiting as long as the door lets it (30 s). */
  private static GenerateResponse call(ManagedChannel channel, String id) {
    return CascadeGrpc.newBlockingStub(channel).withDeadlineAfter(120, TimeUnit.SECONDS)
        .generate(GenerateRequest.newBuilder().setRequestId(id).setPrompt(PROMPTS.get(sent++).prompt()).build());
  }

  @Test
  void withTheLargeModelKilledEscalationsAreAnsweredDegradedAtOnceAndTheBreakerLogsItsOpeningAndClosing()
      throws Exception {
    int largePort = EmbeddedKafka.freePort();
    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
      JvmProcess large = largeModel(largePort);
      JvmProcess restarted = null;
      try (JvmProcess serve = JvmProcess.cascade(List.of("serve",
          "--set", "bootstrap.servers=" + kafka.bootstrapServers(), "--set", "large.target=127.0.0.1:" + largePort,
          "--set", "state.dir=" + state, "--set", "topic.partitions=1", "--set", "metrics.enabled=false",
          "--set", "http.enabled=false",
          // Every request escalated.
          "--set", "policy.rule=chow-sum", "--set", "policy.threshold=-1000"))) {
        String grpc = serve.awaitLine("grpc=", Duration.ofSeconds(240))
            .orElseThrow(() -> new AssertionError("serve did not start:\n" + serve.output()));
        ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1",
            Integer.parseInt(grpc.substring(grpc.lastIndexOf(':') + 1))).usePlaintext().build();
        try {
          assertThat(call(channel, "up").getServedBy()).isEqualTo(ServedBy.LARGE);

          large.kill9();
          // The first escalations after the kill fail and wait (parked) until the breaker opens.
          for (int i = 0; i < 20 && serve.count("circuit breaker opened") == 0; i++) {
            assertThat(call(channel, "down-" + i).getServedBy()).isEqualTo(ServedBy.SMALL_DEGRADED);
          }
          String opened = "tier 'large' (cascade://127.0.0.1:" + largePort + "): circuit breaker opened: ";
          assertThat(serve.await(opened, Duration.ofSeconds(10))).as(serve.output()).isTrue();
          // Now every escalation is answered with the small model's answer as soon as its call fails.
          List<String> open = new ArrayList<>();
          for (int i = 0; i < 5; i++) {
            open.add("open-" + i);
            assertThat(call(channel, "open-" + i).getServedBy()).isEqualTo(ServedBy.SMALL_DEGRADED);
          }
          assertThat(serve.count("circuit breaker opened")).as("one line for the outage, not one per trial")
              .isEqualTo(1);

          restarted = largeModel(largePort);
          boolean back = false;
          for (int i = 0; i < 60 && !back; i++) {
            back = call(channel, "back-" + i).getServedBy() == ServedBy.LARGE;
            if (!back) {
              Thread.sleep(500);
            }
          }
          assertThat(back).as("answered by the restarted large model").isTrue();
          // That answer was a trial call of the half-open breaker; once its trials are answered, it closes.
          for (int i = 0; i < 10 && serve.count("circuit breaker closed") == 0; i++) {
            assertThat(call(channel, "after-" + i).getServedBy()).isEqualTo(ServedBy.LARGE);
          }
          String closed = "tier 'large' (cascade://127.0.0.1:" + largePort + "): circuit breaker closed: its trial"
              + " calls were answered";
          assertThat(serve.await(closed, Duration.ofSeconds(10))).as(serve.output()).isTrue();

          Map<String, RoutingOutcome> outcomes = outcomes(kafka.bootstrapServers(), Set.copyOf(open));
          assertThat(outcomes.values()).hasSize(open.size()).allSatisfy(o -> {
            assertThat(o.getDegraded()).isTrue();
            // Not waited for: degraded on its first failed call, for the open breaker, naming the cause.
            assertThat(o.getDegradedReason()).startsWith("large unavailable for ").contains(FAIL_FAST + " after 1 try: ")
                .contains("UNAVAILABLE");
          });
        } finally {
          channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
      } finally {
        large.kill9();
        if (restarted != null) {
          restarted.close();
        }
      }
    }
  }

  /** The outcomes of {@code ids}, as a {@code read_committed} reader of the outcomes topic sees them. */
  private static Map<String, RoutingOutcome> outcomes(String bootstrap, Set<String> ids) {
    Map<String, Object> props = new HashMap<>();
    props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(ConsumerConfig.GROUP_ID_CONFIG, "outage-it-" + System.nanoTime());
    props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    Map<String, RoutingOutcome> found = new HashMap<>();
    try (KafkaConsumer<String, RoutingOutcome> consumer = new KafkaConsumer<>(props, new StringDeserializer(),
        CascadeSerdes.outcomes().deserializer())) {
      consumer.subscribe(List.of("cascade.outcomes"));
      long deadline = System.currentTimeMillis() + 60_000;
      while (found.size() < ids.size() && System.currentTimeMillis() < deadline) {
        for (ConsumerRecord<String, RoutingOutcome> r : consumer.poll(Duration.ofMillis(200))) {
          if (ids.contains(r.key())) {
            assertThat(found.put(r.key(), r.value())).as("one outcome per request").isNull();
          }
        }
      }
    }
    return found;
  }
}
