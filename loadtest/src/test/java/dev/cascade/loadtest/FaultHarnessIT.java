package dev.cascade.loadtest;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The fault harness's short run, as CI runs it: the broker, the large-model server and two routers
 * as separate OS processes; 1,000 requests at 20 a second; two routers killed with {@code kill -9}
 * (each restarted 10 s later) and the large-model server killed for 10 s during the load. A
 * {@code read_committed} reader must see every request answered exactly once.
 */
class FaultHarnessIT {

  @TempDir
  Path work;

  @Test
  void killedRoutersAndADeadLargeModelLoseNothingAndAnswerNothingTwice() throws Exception {
    FaultHarness.Options options = new FaultHarness.Options(1_000, 20, 2, 2, false, true, false, false, Map.of());
    FaultHarness.Result result = FaultHarness.run(options, work);
    System.out.println(result.toJson());
    assertThat(result.faults()).extracting(FaultHarness.Fault::name)
        .containsExactlyInAnyOrder("router_kill_1", "router_kill_2", "large_model_down_10s");
    assertThat(result.lost()).as(result.toJson()).isZero();
    assertThat(result.answered()).isEqualTo(1_000);
    assertThat(result.duplicates()).as(result.toJson()).isZero();
    assertThat(result.deadLettered()).as(result.toJson()).isZero();
    // Every window's outcomes reached the read_committed verifier, so each has an escalation rate.
    assertThat(result.escalationRates()).as(result.toJson()).hasSize(4).allSatisfy(r -> assertThat(r).isBetween(0.0, 1.0));
  }
}
