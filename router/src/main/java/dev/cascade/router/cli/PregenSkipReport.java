package dev.cascade.router.cli;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cascade.models.Generation;
import dev.cascade.models.TextGenerator;
import dev.cascade.router.demo.DemoWorkload;
import dev.cascade.router.demo.Example;
import dev.cascade.router.routing.SmallStop;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.avro.ServedBy;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * What the pre-generation skip did in a demo run: from the outcomes, how many requests it skipped
 * (and who served them); then, measured here after the run, the small-model decoding they were
 * spared. The decoding a request would have needed is not in its outcome (it was not decoded), so
 * the small model decodes every prompt again, and then only the prompts the skip left, in batches
 * of {@link #BATCH}, {@link #REPEATS} times in turn: the time saved is the difference of the median
 * times (what the router would not have decoded), and the steps saved the skipped requests' share
 * of the decoding steps. The prompt pass the skip rule needs is timed over all prompts the same way,
 * and so is the router's own order: each batch scored by the pass, then the prompts it did not skip
 * decoded, starting from the prefills the pass kept (the net saving is the decoding of every prompt
 * less that).
 */
final class PregenSkipReport {

  /** Prompts per batch when the decoding is measured. */
  static final int BATCH = 32;
  /** How many times each decoding is timed (the median counts). */
  static final int REPEATS = 3;

  private PregenSkipReport() {}

  static ObjectNode measure(TextGenerator small, List<Example> examples, DemoWorkload.Result result, int maxNew,
      String idPrefix, boolean needsPass) {
    List<String> all = new ArrayList<>();
    boolean[] skipped = new boolean[examples.size()];
    int skips = 0;
    int servedLarge = 0;
    int scored = 0;
    int cacheHits = 0;
    for (int i = 0; i < examples.size(); i++) {
      all.add(examples.get(i).prompt());
      RoutingOutcome o = result.outcomes().get(idPrefix + i);
      if (o == null) {
        continue;
      }
      if (SmallStop.PREGEN_SKIP.equals(o.getSmallStop())) {
        skipped[i] = true;
        skips++;
        servedLarge += o.getServedBy() == ServedBy.LARGE ? 1 : 0;
      } else if (o.getPregenSkipScore() != null) {
        scored++;
      } else if (o.getCacheHit()) {
        cacheHits++;
      }
    }
    long stepsAll = 0;
    long stepsSkipped = 0;
    List<String> rest = new ArrayList<>();
    for (int i = 0; i < skipped.length; i++) {
      if (!skipped[i]) {
        rest.add(all.get(i));
      }
    }
    // Every prompt, and the ones the skip left, each decoded REPEATS times in turn: the saving is the
    // difference of the medians, the decoding the router would not have run.
    double[] allTimes = new double[REPEATS];
    double[] restTimes = new double[REPEATS];
    double[] passThenRestTimes = new double[REPEATS];
    for (int r = 0; r < REPEATS; r++) {
      long t0 = System.nanoTime();
      for (int start = 0; start < all.size(); start += BATCH) {
        List<String> batch = all.subList(start, Math.min(all.size(), start + BATCH));
        List<Generation> generations = small.generate(batch, maxNew);
        if (r == 0) {
          for (int j = 0; j < batch.size(); j++) {
            int steps = SmallStop.of(generations.get(j), maxNew).step();
            stepsAll += steps;
            stepsSkipped += skipped[start + j] ? steps : 0;
          }
        }
      }
      allTimes[r] = (System.nanoTime() - t0) / 1e9;
      t0 = System.nanoTime();
      for (int start = 0; start < rest.size(); start += BATCH) {
        small.generate(rest.subList(start, Math.min(rest.size(), start + BATCH)), maxNew);
      }
      restTimes[r] = (System.nanoTime() - t0) / 1e9;
      if (needsPass) {
        // The router's order: each batch scored by the pass, then the prompts it did not skip decoded,
        // starting from the pass's prefills.
        t0 = System.nanoTime();
        for (int start = 0; start < all.size(); start += BATCH) {
          int end = Math.min(all.size(), start + BATCH);
          small.scorePrompts(all.subList(start, end));
          List<String> left = new ArrayList<>();
          for (int j = start; j < end; j++) {
            if (!skipped[j]) {
              left.add(all.get(j));
            }
          }
          if (!left.isEmpty()) {
            small.generate(left, maxNew);
          }
        }
        passThenRestTimes[r] = (System.nanoTime() - t0) / 1e9;
      }
    }
    double secondsAll = median(allTimes);
    double secondsSkipped = secondsAll - median(restTimes);
    double passSeconds = 0;
    if (needsPass) {
      long t0 = System.nanoTime();
      for (int start = 0; start < all.size(); start += BATCH) {
        small.scorePrompts(all.subList(start, Math.min(all.size(), start + BATCH)));
      }
      passSeconds = (System.nanoTime() - t0) / 1e9;
    }

    ObjectNode node = JsonNodeFactory.instance.objectNode();
    node.put("requests", examples.size());
    node.put("skipped", skips);
    node.put("skipped_share", (double) skips / examples.size());
    node.put("skipped_served_large", servedLarge);
    node.put("scored_and_decoded", scored);
    node.put("cache_hits_not_scored", cacheHits);
    node.put("not_scored", examples.size() - skips - scored - cacheHits);
    node.put("decode_steps", stepsAll);
    node.put("decode_steps_saved", stepsSkipped);
    node.put("decode_steps_saved_share", stepsAll == 0 ? 0 : (double) stepsSkipped / stepsAll);
    node.put("decode_seconds", secondsAll);
    node.put("decode_seconds_saved", secondsSkipped);
    node.put("decode_time_saved_share", secondsAll == 0 ? 0 : secondsSkipped / secondsAll);
    node.put("prompt_pass", needsPass);
    node.put("prompt_pass_seconds", passSeconds);
    // With the pass, what the router spends is the pass and the decoding it did not skip, which starts
    // from the pass's prefills; without the skip, the decoding of every prompt.
    double passThenRest = needsPass ? median(passThenRestTimes) : 0;
    node.put("pass_then_decode_seconds", passThenRest);
    node.put("net_seconds_saved", needsPass ? secondsAll - passThenRest : secondsSkipped);
    node.put("method", "after the run, the small model decodes every prompt, and the prompts the skip left, in"
        + " batches of " + BATCH + ", each " + REPEATS + " times in turn; the time saved is the difference of the"
        + " medians; the prompt pass is timed once over every prompt the same way; with it, each batch is also"
        + " scored by the pass and then the prompts it did not skip decoded from the pass's prefills, and the net"
        + " saving is the decoding of every prompt less that");
    return node;
  }

  private static double median(double[] values) {
    double[] sorted = values.clone();
    java.util.Arrays.sort(sorted);
    return sorted[sorted.length / 2];
  }

  static String text(ObjectNode n) {
    return String.format(Locale.ROOT, "pre-generation skip: %d of %d requests skipped small-model decoding (%.1f%%),"
            + " %d of them served by the large model; %d scored and decoded, %d not scored (the rule could not)%n"
            + "  small-model decoding saved: %d of %d steps (%.1f%%); %.2f of %.2f s measured after the run"
            + " (%.1f%%, batches of %d, median of " + REPEATS + "); %s",
        n.get("skipped").asInt(), n.get("requests").asInt(), 100 * n.get("skipped_share").asDouble(),
        n.get("skipped_served_large").asInt(), n.get("scored_and_decoded").asInt(), n.get("not_scored").asInt(),
        n.get("decode_steps_saved").asLong(), n.get("decode_steps").asLong(),
        100 * n.get("decode_steps_saved_share").asDouble(), n.get("decode_seconds_saved").asDouble(),
        n.get("decode_seconds").asDouble(), 100 * n.get("decode_time_saved_share").asDouble(), BATCH,
        n.get("prompt_pass").asBoolean()
            ? String.format(Locale.ROOT, "the rule's prompt pass over every prompt: %.1f s; the pass and then the"
                + " decoding it left, from the pass's prefills: %.2f s, net saved %.2f s",
                n.get("prompt_pass_seconds").asDouble(), n.get("pass_then_decode_seconds").asDouble(),
                n.get("net_seconds_saved").asDouble())
            : "the rule reads the prompts' text alone: no prompt pass");
  }
}
