package dev.cascade.router.it;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cascade.router.api.CommandLineRun;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@code cascade bench model} and {@code cascade bench router} at a tiny size, through the picocli
 * command: the JSON has every key, with sane values.
 */
class BenchCommandIT {

  private static final ObjectMapper MAPPER = new ObjectMapper();
  /** The bundled small model's directory, to run --model with a directory (tests run in router/). */
  private static final Path SMALL_DIR = Path.of("../models/src/main/resources/cascade/models/small");

  @Test
  void benchModelPrintsEveryKey() throws Exception {
    String model = Files.isDirectory(SMALL_DIR) ? SMALL_DIR.toString() : "small";
    CommandLineRun r = CommandLineRun.of("bench", "model", "--model", model, "--batch", "1,2", "--seconds", "0.3", "--json");
    assertThat(r.exitCode()).as(r.err()).isZero();
    JsonNode json = MAPPER.readTree(r.out());
    for (String key : List.of("sequences_per_s", "tokens_per_s", "mfu")) {
      assertThat(json.get(key).isObject()).as(key).isTrue();
      assertThat(json.get(key).size()).as(key).isEqualTo(2);
      for (String batch : List.of("1", "2")) {
        assertThat(json.get(key).get(batch).asDouble()).as(key + "[" + batch + "]").isPositive();
      }
    }
    assertThat(json.get("tokens_per_s").get("1").asDouble())
        .isGreaterThanOrEqualTo(json.get("sequences_per_s").get("1").asDouble()); // at least the end-of-sequence
    assertThat(json.get("p50_ms").asDouble()).isPositive();
    assertThat(json.get("p99_ms").asDouble()).isGreaterThanOrEqualTo(json.get("p50_ms").asDouble());
    assertThat(json.get("resident_mb").asDouble()).isPositive();
    assertThat(json.get("kv_cache").asBoolean()).isTrue();
    // float32 keys and values of every layer: a multiple of 8 bytes.
    assertThat(json.get("kv_cache_bytes_per_position").asLong()).isPositive().matches(b -> b % 8 == 0, "a multiple of 8");
    assertThat(json.get("parameters").asLong()).isPositive();
    assertThat(json.get("flops_per_token").asDouble()).isEqualTo(2.0 * json.get("parameters").asLong());
    assertThat(json.get("peak_gflops").asDouble()).isPositive();
    double mfu1 = json.get("flops_per_token").asDouble() * json.get("tokens_per_s").get("1").asDouble()
        / (json.get("peak_gflops").asDouble() * 1e9);
    assertThat(json.get("mfu").get("1").asDouble()).isCloseTo(mfu1, org.assertj.core.data.Percentage.withPercentage(1))
        .isLessThan(1.0);
  }

  @Test
  void noKvCacheRunsTheSameModelWithoutItsCache() throws Exception {
    CommandLineRun r = CommandLineRun.of("bench", "model", "--no-kv-cache", "--batch", "1", "--seconds", "0.1", "--json");
    assertThat(r.exitCode()).as(r.err()).isZero();
    JsonNode json = MAPPER.readTree(r.out());
    assertThat(json.get("kv_cache").asBoolean()).isFalse();
    assertThat(json.get("kv_cache_bytes_per_position").isNull()).isTrue();
    assertThat(json.get("sequences_per_s").get("1").asDouble()).isPositive();
  }

  @Test
  void benchRouterPrintsEveryKey() throws Exception {
    CommandLineRun r = CommandLineRun.of("bench", "router", "--requests", "30", "--rounds", "1", "--warm-up", "60",
        "--json");
    assertThat(r.exitCode()).as(r.err()).isZero();
    JsonNode json = MAPPER.readTree(r.out());
    for (String key : List.of("bare_sequences_per_s", "router_requests_per_s", "ratio", "escalating_requests_per_s",
        "escalating_path_ratio")) {
      assertThat(json.get(key)).as(key).isNotNull();
      assertThat(json.get(key).asDouble()).as(key).isPositive();
    }
    assertThat(json.get("ratio").asDouble()).isCloseTo(
        json.get("router_requests_per_s").asDouble() / json.get("bare_sequences_per_s").asDouble(),
        org.assertj.core.data.Percentage.withPercentage(1));
    // One bare round before the nothing-escalated round and one after it; the round's paired ratio is
    // its rate over their mean, and with one round that is also the median.
    JsonNode pairedBare = json.get("paired_bare_sequences_per_s");
    assertThat(pairedBare).hasSize(2);
    pairedBare.forEach(v -> assertThat(v.asDouble()).isPositive());
    double expected = json.get("rounds_requests_per_s").get("nothing_escalated").get(0).asDouble()
        / ((pairedBare.get(0).asDouble() + pairedBare.get(1).asDouble()) / 2);
    assertThat(json.get("paired_ratios")).hasSize(1);
    // The rates are printed to 2 decimals: on a loaded machine they are a few per second, and their
    // rounding alone moved a ratio of 0.048 by 0.11% (CI, 2026-12-05); hence an absolute tolerance.
    assertThat(json.get("paired_ratios").get(0).asDouble()).isCloseTo(expected,
        org.assertj.core.data.Offset.offset(0.001));
    assertThat(json.get("paired_ratio").asDouble()).isEqualTo(json.get("paired_ratios").get(0).asDouble());
    // The rate over the whole round (first request sent to last answer) and the first answer's latency.
    assertThat(json.get("router_window_requests_per_s").asDouble()).isPositive();
    assertThat(json.get("rounds_window_requests_per_s").get("nothing_escalated")).hasSize(1);
    for (String phase : List.of("nothing_escalated", "escalating")) {
      assertThat(json.get("first_answer_ms").get(phase).asDouble()).as(phase).isPositive();
    }
    // The bundled model counts its forward passes: the decoding thread's busy share and rows a pass.
    for (String phase : List.of("nothing_escalated", "escalating")) {
      assertThat(json.get("decoding_busy").get(phase).asDouble()).as(phase).isGreaterThan(0.0).isLessThanOrEqualTo(1.0);
      assertThat(json.get("rows_per_pass").get(phase).asDouble()).as(phase).isGreaterThanOrEqualTo(1.0);
    }
    // Where the decoding thread's time went: four shares of its time up to its last step, adding up to 1.
    for (String group : List.of("bare_one_caller", "bare_callers", "nothing_escalated", "escalating")) {
      JsonNode time = json.get("decoding_time").get(group);
      assertThat(time.get("run").asDouble()).as(group).isPositive();
      assertThat(time.get("run").asDouble() + time.get("step_rest").asDouble() + time.get("between_steps").asDouble()
          + time.get("waiting").asDouble()).as(group).isCloseTo(1.0, org.assertj.core.data.Offset.offset(0.001));
      assertThat(time.get("passes").asDouble()).as(group).isPositive();
    }
    // Warm-up passes stop when the JIT settles, and never go past --warm-up's 60 requests (2 passes of 30).
    for (String phase : List.of("nothing_escalated", "escalating")) {
      assertThat(json.get("warm_up_passes").get(phase).asInt()).as(phase).isBetween(1, 2);
    }
    // About 30% escalated (30 requests: anything from a few to well under all of them).
    assertThat(json.get("escalated_fraction").asDouble()).isBetween(0.03, 0.8);
    for (String phase : List.of("nothing_escalated", "escalating")) {
      JsonNode cpu = json.get("cpu_ms_per_request").get(phase);
      assertThat(cpu.get("model").asDouble()).as(phase).isPositive();
      // The decoding thread runs the forward passes: part of the model group, never all of it.
      assertThat(cpu.get("model_decoding").asDouble()).as(phase).isPositive()
          .isLessThan(cpu.get("model").asDouble());
      assertThat(cpu.get("router").asDouble()).as(phase).isPositive();
      assertThat(cpu.get("broker_and_load_generator").asDouble()).as(phase).isPositive();
      assertThat(cpu.get("load_generator").asDouble()).as(phase).isPositive()
          .isLessThanOrEqualTo(cpu.get("broker_and_load_generator").asDouble());
      // Every request is remembered for de-duplication and passes through the batch store, each
      // leaving at least one changelog record (markers come on top).
      JsonNode changelogs = json.get("changelog_records_per_request").get(phase);
      assertThat(changelogs.get("request-ids-seen").asDouble()).as(phase).isGreaterThanOrEqualTo(1.0);
      assertThat(changelogs.get("small-model-batch").asDouble()).as(phase).isGreaterThanOrEqualTo(1.0);
      assertThat(cpu.has("other")).as(phase).isTrue();
      for (String part : List.of("other_jit", "other_gc")) { // null only where /proc is not there
        assertThat(cpu.has(part)).as(phase + " " + part).isTrue();
        if (!cpu.get(part).isNull()) {
          assertThat(cpu.get(part).asDouble()).as(phase + " " + part).isGreaterThanOrEqualTo(0);
        }
      }
    }
  }
}
