package dev.cascade.router.policy;

import java.nio.charset.StandardCharsets;

/**
 * A fixed 64-bit hash of a string: FNV-1a (64-bit) over its UTF-8 bytes, mixed by MurmurHash3's
 * 64-bit finaliser. Fixed forever: exploration draws and the prompt hashes artifacts store are
 * made from it.
 */
public final class StableHash {

  private StableHash() {}

  public static long of(String text) {
    long hash = 0xcbf29ce484222325L;
    for (byte b : text.getBytes(StandardCharsets.UTF_8)) {
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

  /**
   * A draw in [0, 1) fixed by {@code text}: the top 53 bits of {@link #of} scaled by 2⁻⁵³. The
   * exploration and label-sampling draws are made from it; fixed forever, as {@link #of} is.
   */
  public static double unit(String text) {
    return (of(text) >>> 11) * 0x1.0p-53;
  }
}
