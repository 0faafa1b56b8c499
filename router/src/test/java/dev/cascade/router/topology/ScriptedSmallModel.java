package dev.cascade.router.topology;

import dev.cascade.models.Generation;
import dev.cascade.models.ModelInfo;
import dev.cascade.models.TextGenerator;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * A scripted stand-in for the small model in topology unit tests: a prompt starting with
 * "unsure" gets one token of log-probability −3 (Chow-Quantile-0 score 3), any other prompt only
 * confident tokens (score 0.01). The text is the prompt reversed. A '#' in a prompt is refused.
 */
final class ScriptedSmallModel implements TextGenerator {

  final List<Integer> batchSizes = Collections.synchronizedList(new ArrayList<>());
  /** Generation waits here until it is opened (open from the start). */
  volatile CountDownLatch gate = new CountDownLatch(0);
  /** A batch holding a prompt that starts with "slow" also waits here (open from the start). */
  volatile CountDownLatch slowGate = new CountDownLatch(0);
  /** Calls that have reached the gate (or passed it). */
  final java.util.concurrent.atomic.AtomicInteger entered = new java.util.concurrent.atomic.AtomicInteger();

  @Override
  public List<Generation> generate(List<String> prompts, int maxNewTokens) {
    return generate(prompts, maxNewTokens, Cancellation.NONE);
  }

  @Override
  public List<Generation> generate(List<String> prompts, int maxNewTokens, Cancellation cancellation) {
    entered.incrementAndGet();
    try {
      if (!gate.await(10, TimeUnit.SECONDS)) {
        throw new IllegalStateException("the scripted model's gate was never opened");
      }
      if (prompts.stream().anyMatch(p -> p.startsWith("slow")) && !slowGate.await(10, TimeUnit.SECONDS)) {
        throw new IllegalStateException("the scripted model's gate for slow prompts was never opened");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted at the gate", e);
    }
    batchSizes.add(prompts.size());
    List<Generation> out = new ArrayList<>();
    for (String p : prompts) {
      if (p.contains("explode")) {
        throw new IllegalStateException("scripted failure for " + p);
      }
      boolean unsure = p.startsWith("unsure");
      float[] lp = unsure ? new float[] {-0.01f, -3f, -0.01f} : new float[] {-0.01f, -0.01f, -0.01f};
      out.add(new Generation(new StringBuilder(p).reverse().toString(), new int[] {1, 2, 3}, lp,
          new float[] {0.1f, 0.2f, 0.1f}, null));
    }
    return out;
  }

  @Override
  public Optional<String> checkPrompt(String prompt) {
    if (prompt.isEmpty()) {
      return Optional.of("prompt: must not be empty");
    }
    if (prompt.contains("#")) {
      return Optional.of("prompt: character '#' is not in the model's vocabulary");
    }
    return Optional.empty();
  }

  @Override
  public ModelInfo info() {
    return new ModelInfo("scripted", "none", 0, 64, 48, false);
  }

  @Override
  public void close() {}
}
