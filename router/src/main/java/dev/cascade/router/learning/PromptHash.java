package dev.cascade.router.learning;

import dev.cascade.router.policy.StableHash;

/**
 * A 64-bit hash of a prompt ({@link StableHash}), so an artifact can record which prompts a rule
 * was trained on without keeping them, and an evaluation can warn when its data overlaps. Fixed
 * forever: artifacts store these values.
 */
public final class PromptHash {

  private PromptHash() {}

  public static long of(String prompt) {
    return StableHash.of(prompt);
  }
}
