package dev.cascade.router.escalation;

/**
 * The large model's answer to one escalated request.
 *
 * @param text the generated text
 * @param tokens the generated token ids
 * @param tokenLogprobs log-probability of each generated token
 * @param millis wall time of the call, retries and backoff included
 * @param attempts how many calls it took (1 when the first succeeded)
 */
public record LargeAnswer(String text, int[] tokens, float[] tokenLogprobs, double millis, int attempts) {}
