package dev.cascade.loadtest;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cascade.models.LoadOptions;
import dev.cascade.models.TextGenerator;
import dev.cascade.models.TextGenerators;
import dev.cascade.router.demo.Example;
import dev.cascade.router.demo.Examples;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * What the prompt pass (the pre-generation skip's input) costs a request it does not skip, with
 * and without its prefill reused by the decoder. The small model decodes the first N test prompts a
 * batch at a time in three ways, alternated for R rounds, medians compared: decoding alone; each
 * batch scored by the prompt pass and then decoded, starting from the pass's prefills; and the same
 * on a generator loaded with {@code LoadOptions.withPrefillReuse(false)}, which runs every prefill
 * itself, as before the reuse. The pass's cost is each scored way less decoding alone.
 *
 * <pre>
 * java -cp router/target/cascade.jar:loadtest/target/classes -Dai.djl.offline=true \
 *     dev.cascade.loadtest.PrefillReuseBenchmark [--model small] [--prompts 512] [--batch 64] [--rounds 5] [--json]
 * </pre>
 */
public final class PrefillReuseBenchmark {

  private PrefillReuseBenchmark() {}

  public static void main(String[] args) {
    String model = "small";
    int prompts = 512;
    int batch = 64;
    int rounds = 5;
    boolean json = false;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--model" -> model = args[++i];
        case "--prompts" -> prompts = Integer.parseInt(args[++i]);
        case "--batch" -> batch = Integer.parseInt(args[++i]);
        case "--rounds" -> rounds = Integer.parseInt(args[++i]);
        case "--json" -> json = true;
        default -> throw new IllegalArgumentException("unknown argument " + args[i]
            + " (--model M, --prompts N, --batch B, --rounds R, --json)");
      }
    }
    List<Example> test = Examples.bundled("test");
    List<String> items = test.subList(0, Math.min(prompts, test.size())).stream().map(Example::prompt).toList();
    double[] alone = new double[rounds];
    double[] reused = new double[rounds];
    double[] separate = new double[rounds];
    double[] passAlone = new double[rounds];
    LoadOptions options = LoadOptions.DEFAULT.withMaxBatch(batch);
    try (TextGenerator reusing = TextGenerators.load(model, "OnnxRuntime", options);
        TextGenerator not = TextGenerators.load(model, "OnnxRuntime", options.withPrefillReuse(false))) {
      int limit = reusing.info().maxNewTokensLimit();
      for (TextGenerator g : List.of(reusing, not)) { // warm-up
        run(g, g, items, batch, limit, false);
        run(g, g, items, batch, limit, true);
      }
      for (int r = 0; r < rounds; r++) {
        alone[r] = run(reusing, reusing, items, batch, limit, false);
        reused[r] = run(reusing, reusing, items, batch, limit, true);
        separate[r] = run(not, not, items, batch, limit, true);
        passAlone[r] = run(null, not, items, batch, limit, true);
      }
    }
    double decode = median(alone);
    double withReuse = median(reused);
    double withoutReuse = median(separate);
    double pass = median(passAlone);
    ObjectNode out = JsonNodeFactory.instance.objectNode();
    out.put("model", model).put("prompts", items.size()).put("batch", batch).put("rounds", rounds)
        .put("cores", Runtime.getRuntime().availableProcessors());
    out.put("decode_seconds", decode);
    out.put("pass_seconds", pass);
    out.put("pass_then_decode_reused_seconds", withReuse);
    out.put("pass_then_decode_not_reused_seconds", withoutReuse);
    out.put("pass_cost_reused_seconds", withReuse - decode);
    out.put("pass_cost_not_reused_seconds", withoutReuse - decode);
    if (json) {
      System.out.println(out);
    } else {
      System.out.printf(Locale.ROOT, "%s, %d prompts in batches of %d, medians of %d rounds:%n"
              + "  decoding alone %.3f s; the prompt pass alone %.3f s%n"
              + "  pass then decoding, from the pass's prefills: %.3f s (the pass costs %.3f s)%n"
              + "  pass then decoding, each prefill run again: %.3f s (the pass costs %.3f s)%n",
          model, items.size(), batch, rounds, decode, pass, withReuse, withReuse - decode, withoutReuse,
          withoutReuse - decode);
    }
  }

  /**
   * Seconds to run the prompts a batch at a time: each batch scored by {@code scorer} (when
   * {@code score} and it is not null), then decoded by {@code decoder} (when not null).
   */
  private static double run(TextGenerator decoder, TextGenerator scorer, List<String> items, int batch, int limit,
      boolean score) {
    long t0 = System.nanoTime();
    for (int from = 0; from < items.size(); from += batch) {
      List<String> chunk = items.subList(from, Math.min(items.size(), from + batch));
      if (score && scorer != null) {
        scorer.scorePrompts(chunk);
      }
      if (decoder != null) {
        decoder.generate(chunk, limit);
      }
    }
    return (System.nanoTime() - t0) / 1e9;
  }

  private static double median(double[] values) {
    double[] sorted = values.clone();
    Arrays.sort(sorted);
    return sorted[sorted.length / 2];
  }
}
