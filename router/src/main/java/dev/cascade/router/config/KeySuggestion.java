package dev.cascade.router.config;

import java.util.Collection;
import java.util.Comparator;
import java.util.Optional;

/** The known key a mistyped one most likely meant, for "did you mean ...?" in an unknown-key error. */
final class KeySuggestion {

  private KeySuggestion() {}

  /**
   * A key that ends with {@code .name} (the prefix left out: {@code engine} for
   * {@code model.engine}), else the key closest in edit distance when it is within a quarter of the
   * name's length (at least 2); empty when nothing is that close.
   */
  static Optional<String> nearest(String name, Collection<String> keys) {
    return nearest(name, keys, '.');
  }

  /** As {@link #nearest(String, Collection)}, with keys whose parts are separated by {@code separator}. */
  static Optional<String> nearest(String name, Collection<String> keys, char separator) {
    String typed = name.toLowerCase(java.util.Locale.ROOT);
    Optional<String> suffix = keys.stream().filter(k -> k.endsWith(separator + typed))
        .min(Comparator.comparingInt(String::length));
    if (suffix.isPresent()) {
      return suffix;
    }
    return within(typed, keys, Math.max(2, typed.length() / 4));
  }

  /** The key closest to {@code name} in edit distance, at most {@code allowed} away (ties: the first in order). */
  static Optional<String> within(String name, Collection<String> keys, int allowed) {
    return keys.stream().filter(k -> distance(name, k) <= allowed)
        .min(Comparator.comparingInt((String k) -> distance(name, k)).thenComparing(Comparator.naturalOrder()));
  }

  /** Levenshtein distance: insertions, deletions and substitutions of one character. */
  static int distance(String a, String b) {
    int[] previous = new int[b.length() + 1];
    int[] current = new int[b.length() + 1];
    for (int j = 0; j <= b.length(); j++) {
      previous[j] = j;
    }
    for (int i = 1; i <= a.length(); i++) {
      current[0] = i;
      for (int j = 1; j <= b.length(); j++) {
        int substitute = previous[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
        current[j] = Math.min(substitute, Math.min(previous[j] + 1, current[j - 1] + 1));
      }
      int[] swap = previous;
      previous = current;
      current = swap;
    }
    return previous[b.length()];
  }
}
