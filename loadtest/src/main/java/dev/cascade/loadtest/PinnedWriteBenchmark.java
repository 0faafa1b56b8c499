package dev.cascade.loadtest;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cascade.router.learning.TopicSnapshot;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.serde.AvroSerde;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What {@code schemas.write-versions} costs a write: real outcomes (the newest on a running
 * cascade's outcomes topic) encoded over and over with this release's schema and with an earlier
 * version ({@link AvroSerde#writeVersion}: encoded, read back as that version, encoded again),
 * one thread, the two alternating round by round.
 *
 * <pre>
 * java -cp ... dev.cascade.loadtest.PinnedWriteBenchmark --bootstrap-servers HOST:PORT
 *     [--version V (default: the one before this release's)] [--outcomes N (1000)] [--writes W (200000)]
 *     [--rounds R (3)] [--json]
 * </pre>
 *
 * Prints, per round, microseconds a write and bytes a record for each; with {@code --json}, one
 * JSON object. The first round includes the JIT's warm-up.
 */
public final class PinnedWriteBenchmark {

  private PinnedWriteBenchmark() {}

  public static void main(String[] args) throws Exception {
    String bootstrap = null;
    Integer version = null;
    int outcomes = 1000;
    int writes = 200_000;
    int rounds = 3;
    boolean json = false;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--json" -> json = true;
        case "--bootstrap-servers" -> bootstrap = args[++i];
        case "--version" -> version = Integer.parseInt(args[++i]);
        case "--outcomes" -> outcomes = Integer.parseInt(args[++i]);
        case "--writes" -> writes = Integer.parseInt(args[++i]);
        case "--rounds" -> rounds = Integer.parseInt(args[++i]);
        default -> throw new IllegalArgumentException("unknown argument " + args[i] + "; usage: PinnedWriteBenchmark"
            + " --bootstrap-servers HOST:PORT [--version V] [--outcomes N] [--writes W] [--rounds R] [--json]");
      }
    }
    if (bootstrap == null) {
      throw new IllegalArgumentException("--bootstrap-servers is required (a running cascade's kafka= address)");
    }
    List<RoutingOutcome> read = new ArrayList<>();
    TopicSnapshot.readNewest(Map.of("bootstrap.servers", bootstrap), "cascade.outcomes", read::add, outcomes);
    if (read.isEmpty()) {
      throw new IllegalStateException("no outcomes on cascade.outcomes at " + bootstrap);
    }
    AvroSerde<RoutingOutcome> serde = AvroSerde.forType(RoutingOutcome.class);
    int current = serde.currentVersion();
    int pinned = version == null ? current - 1 : version;
    serde.writeVersion(pinned); // refuses a version the history lacks, before any timing
    List<Map<String, Object>> perRound = new ArrayList<>();
    long sink = 0;
    for (int round = 1; round <= rounds; round++) {
      Map<String, Object> row = new LinkedHashMap<>();
      row.put("round", round);
      for (int v : new int[] {current, pinned}) {
        serde.writeVersion(v);
        long bytes = 0;
        long t0 = System.nanoTime();
        for (int i = 0; i < writes; i++) {
          bytes += serde.encode(read.get(i % read.size())).length;
        }
        double us = (System.nanoTime() - t0) / 1e3 / writes;
        sink += bytes;
        String key = v == current ? "current" : "pinned";
        row.put(key + "_us_per_write", Math.round(us * 100) / 100.0);
        row.put(key + "_bytes_per_record", Math.round(bytes * 10.0 / writes) / 10.0);
        if (!json) {
          System.out.printf(Locale.ROOT, "round %d, v%d (%s): %.2f us a write, %.1f bytes a record%n", round, v, key,
              us, bytes / (double) writes);
        }
      }
      perRound.add(row);
    }
    serde.writeVersion(current);
    if (json) {
      Map<String, Object> result = new LinkedHashMap<>();
      result.put("outcomes", read.size());
      result.put("current_version", current);
      result.put("pinned_version", pinned);
      result.put("writes_per_round", writes);
      result.put("rounds", perRound);
      System.out.println(new ObjectMapper().writeValueAsString(result));
    }
    if (sink == 42) {
      System.err.println(); // keeps the encodes from being optimised away
    }
  }
}
