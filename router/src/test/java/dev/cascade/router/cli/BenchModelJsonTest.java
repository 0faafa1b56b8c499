package dev.cascade.router.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cascade.router.bench.ModelBench;
import dev.cascade.router.bench.PeakFlops;
import java.util.List;
import java.util.Map;
import java.util.OptionalDouble;
import org.junit.jupiter.api.Test;

/** {@code bench model --json} for a model whose parameter count is unknown: null, as its FLOPs per token. */
class BenchModelJsonTest {

  @Test
  void anUnknownParameterCountIsNullNotMinusOne() {
    ModelBench.Result result = new ModelBench.Result("bare", -1, 2, Map.of(1, 10.0), Map.of(1, 100.0),
        OptionalDouble.of(5), OptionalDouble.of(9), 300, OptionalDouble.empty(), new PeakFlops.Result(10, 1024, 20, 2),
        Map.of(), false, java.util.OptionalLong.empty());
    ObjectNode json = BenchCommand.ModelCommand.toJson(result, new ModelBench.Options("bare", List.of(1), 1, true));
    assertThat(json.get("parameters").isNull()).as(json.toString()).isTrue();
    assertThat(json.get("flops_per_token").isNull()).isTrue();
    assertThat(json.get("kv_cache_bytes_per_position").isNull()).isTrue();

    ModelBench.Result known = new ModelBench.Result("small", 177_688, 2, Map.of(1, 10.0), Map.of(1, 100.0),
        OptionalDouble.of(5), OptionalDouble.of(9), 300, OptionalDouble.of(2 * 177_688.0),
        new PeakFlops.Result(10, 1024, 20, 2), Map.of(1, 0.1), true, java.util.OptionalLong.of(1024));
    ObjectNode knownJson = BenchCommand.ModelCommand.toJson(known, new ModelBench.Options("small", List.of(1), 1, true));
    assertThat(knownJson.get("parameters").asLong()).isEqualTo(177_688);
    assertThat(knownJson.get("kv_cache_bytes_per_position").asLong()).isEqualTo(1024);
  }

  @Test
  void theRouterBenchTableSaysWhatWasNotMeasured() {
    assertThat(BenchCommand.RouterCommand.measuredOrNa(Double.NaN)).isEqualTo("n/a");
    assertThat(BenchCommand.RouterCommand.measuredOrNa(0.125)).isEqualTo("0.13");
  }
}
