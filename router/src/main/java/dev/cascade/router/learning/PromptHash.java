package dev.cascade.router.learning;

import java.nio.charset.StandardCharsets;

/**
 * A 64-bit hash of a prompt (FNV-1a over its UTF-8 bytes, finished by MurmurHash3's mixer), so an
 * artifact can record which prompts a rule was trained on without keeping them, and an evaluation
 * can warn when its data overlaps. Fixed forever: artifacts store these values.
 */
public final class PromptHash {

  private PromptHash() {}

  public static long of(String prompt) {
    long hash = 0xcbf29ce484222325L;
    for (byte b : prompt.getBytes(StandardCharsets.UTF_8)) {
      hash ^= b & 0xff;
      hash *= 0x100000001b3L;
    }
    hash ^= hash >>> 33;
    hash *= 0xff51afd7ed558ccdL;
    hash ^= hash >>> 33;
    hash *= 0xc4ceb9fe1a85ec53L;
    hash ^= hash >>> 33;
    return hash;
  }
}
