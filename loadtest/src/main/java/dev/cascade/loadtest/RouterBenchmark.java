package dev.cascade.loadtest;

import dev.cascade.router.cli.CascadeCommand;

/**
 * The router's overhead: a thin entry point to {@code cascade bench router} (the benchmark itself
 * is {@code dev.cascade.router.bench.RouterBench} in the router module).
 *
 * <pre>
 * java -cp router/target/cascade.jar:loadtest/target/classes dev.cascade.loadtest.RouterBenchmark [N [ROUNDS]]
 * </pre>
 *
 * Same as {@code ./cascade bench router --requests N --rounds ROUNDS} (defaults 2000 and 3).
 */
public final class RouterBenchmark {

  private RouterBenchmark() {}

  public static void main(String[] args) {
    String n = args.length > 0 ? args[0] : "2000";
    String rounds = args.length > 1 ? args[1] : "3";
    System.exit(CascadeCommand.commandLine().execute("bench", "router", "--requests", n, "--rounds", rounds));
  }
}
