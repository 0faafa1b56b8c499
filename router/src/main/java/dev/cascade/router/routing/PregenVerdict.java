package dev.cascade.router.routing;

/**
 * The pre-generation skip rule's verdict on one request, as its escalation and outcome record it
 * ({@code pregen_skip_rule}, {@code pregen_skip_score}, {@code pregen_skip_threshold}).
 *
 * @param rule the skip rule, {@code NAME@VERSION}
 * @param score its score of the prompt (the predicted probability its label holds)
 * @param threshold the policy's skip threshold
 */
public record PregenVerdict(String rule, double score, double threshold) {

  /** Whether the request skips small-model decoding: score strictly above the threshold. */
  public boolean skipped() {
    return score > threshold;
  }
}
